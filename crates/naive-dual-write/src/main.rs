//! The design people would otherwise use, as the benchmark's baseline: the
//! seed project's create, which saves the customer document and then produces
//! its change event, both inside the HTTP request, with no outbox.
//!
//! Built with the platform's libraries (axum, the `mongodb` driver, `rdkafka`
//! with the same `acks=all` idempotent producer settings, the shared event
//! types) so that a comparison measures the design, not the stack. It is a
//! baseline, not a service: no validation beyond the JSON shape, no auth, no
//! metrics. Its one failure mode is the point: when the produce fails after the
//! save, the request answers 503 but the document is already changed, and the
//! change never reaches the event store.
//!
//! Settings, from the environment with the services' names: `APP__HTTP__PORT`,
//! `APP__MONGODB__URI`, `APP__MONGODB__DATABASE`, `APP__MONGODB__COLLECTION`,
//! `APP__KAFKA__BROKERS`, `APP__KAFKA__TOPIC`, `APP__KAFKA__MESSAGE_TIMEOUT_MS`.

use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mongodb::bson::{self, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde::Deserialize;
use serde_json::{Value, json};
use shared_events::{
    Address, Contact, CustomerChangeEnvelope, CustomerChangeEvent, CustomerChangeType, Name,
};

/// The create body of the seed's shape; other fields (card data) are ignored.
#[derive(Deserialize)]
struct Customer {
    id: Value,
    name: Name,
    contact: Contact,
    addresses: Vec<Address>,
}

struct App {
    customers: Collection<Document>,
    /// Replaced by a fresh one after a failed delivery, as the platform's
    /// relay does: the local broker (tansu) stops serving when an idempotent
    /// producer bumps its epoch after a crash (docs/local-servers.md).
    producer: RwLock<FutureProducer>,
    topic: String,
}

/// The platform's producer settings (`reliable_producer_config`).
fn producer() -> rdkafka::error::KafkaResult<FutureProducer> {
    ClientConfig::new()
        .set(
            "bootstrap.servers",
            setting("APP__KAFKA__BROKERS", "127.0.0.1:9092"),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            setting("APP__KAFKA__MESSAGE_TIMEOUT_MS", "30000"),
        )
        .create()
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let uri = setting("APP__MONGODB__URI", "mongodb://127.0.0.1:27017");
    let database = setting("APP__MONGODB__DATABASE", "naive");
    let collection = setting("APP__MONGODB__COLLECTION", "customers");
    let customers = Client::with_uri_str(&uri).await?;
    let customers = customers.database(&database).collection(&collection);
    let producer = RwLock::new(producer()?);
    let topic = setting("APP__KAFKA__TOPIC", "naive.customer.change");
    let app = Arc::new(App {
        customers,
        producer,
        topic,
    });
    let router = Router::new()
        .route("/accounts/customer/create", post(create))
        .route("/actuator/health/readiness", get(|| async { "UP" }))
        .with_state(app);
    let port = setting("APP__HTTP__PORT", "8090");
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

type Answer = (StatusCode, Json<Value>);

fn failed(status: StatusCode, detail: String) -> Answer {
    (
        status,
        Json(json!({ "status": status.as_u16(), "detail": detail })),
    )
}

/// Saves the customer (one upsert that also counts its version), then
/// produces the change event and waits for the broker's acknowledgement.
async fn create(State(app): State<Arc<App>>, Json(customer): Json<Customer>) -> Answer {
    let id = match &customer.id {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let version = match save(&app, &id, &customer).await {
        Ok(version) => version,
        Err(failure) => return failure,
    };
    let change_type = match version {
        1 => CustomerChangeType::Created,
        _ => CustomerChangeType::Updated,
    };
    let data = CustomerChangeEvent {
        id: id.clone(),
        version,
        name: customer.name,
        contact: customer.contact,
        addresses: customer.addresses,
    };
    let event = CustomerChangeEnvelope::customer_change(change_type, data, chrono::Utc::now());
    let payload = event.to_json_vec();
    let record = FutureRecord::to(&app.topic).key(&id).payload(&payload);
    // The dual write's gap: the document is saved; if this fails, the event is lost.
    let sender = app.producer.read().map(|p| p.clone());
    let sender = sender.unwrap_or_else(|poisoned| poisoned.into_inner().clone());
    match sender.send(record, Timeout::Never).await {
        Ok(_) => (
            StatusCode::CREATED,
            Json(json!({ "id": id, "version": version })),
        ),
        Err((e, _)) => {
            if let (Ok(fresh), Ok(mut producer)) = (producer(), app.producer.write()) {
                *producer = fresh;
            }
            failed(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

/// Upserts the customer's fields, counting its version up, and returns the
/// version saved.
async fn save(app: &App, id: &str, customer: &Customer) -> Result<i64, Answer> {
    let (Ok(name), Ok(contact), Ok(addresses)) = (
        bson::to_bson(&customer.name),
        bson::to_bson(&customer.contact),
        bson::to_bson(&customer.addresses),
    ) else {
        return Err(failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unencodable".into(),
        ));
    };
    let change = doc! {
        "$set": { "name": name, "contact": contact, "addresses": addresses },
        "$inc": { "version": 1_i64 },
    };
    let saved = app
        .customers
        .find_one_and_update(doc! { "_id": id }, change)
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await;
    let saved = saved.map_err(|e| failed(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    // The local server may store the counter as a 32-bit integer.
    Ok(
        match saved.as_ref().and_then(|saved| saved.get("version")) {
            Some(bson::Bson::Int32(v)) => i64::from(*v),
            Some(bson::Bson::Int64(v)) => *v,
            _ => 1,
        },
    )
}
