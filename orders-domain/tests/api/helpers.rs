//! `TestApp`: an orders service on a free port with its own database, topic
//! and consumer group, plus a producer to feed it.

use std::time::Duration;

use orders_domain::settings::{ConsumerSettings, ReplicaSettings};
use orders_domain::{Application, Settings};
use platform_infra::config::HttpSettings;
use platform_infra::shutdown::CancellationToken;
use platform_testkit as kit;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use shared_events::crypto::{DataKey, KeyEncryptionKey};
use shared_events::topics::dead_letter_topic;
use shared_events::{
    Address, AddressType, Contact, CustomerChange, CustomerChangeEnvelope, CustomerChangeEvent,
    CustomerChangeType, CustomerRecord, Name, SealedChangeEnvelope,
};

/// Collection name on the local server (it rejects dotted names).
pub const COLLECTION: &str = "customer_orders";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub db: mongodb::Database,
    producer: FutureProducer,
    shutdown: CancellationToken,
    app: Application,
    /// Keeps span export running when this app installed the subscriber.
    _telemetry: platform_infra::telemetry::TelemetryGuard,
}

impl TestApp {
    /// A service with a fresh 3-partition topic, its DLT, a database and a group.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with_mongodb(None).await
    }

    /// Like [`TestApp::spawn`], on the MongoDB server at `uri` if given.
    pub async fn spawn_with_mongodb(uri: Option<String>) -> TestApp {
        let topic = kit::unique("orders_test_change");
        kit::create_topic(&topic, 3).await;
        kit::create_compacted_topics(&topic, 3).await;
        kit::create_topic(&dead_letter_topic(&topic), 1).await;
        let settings = Settings {
            http: HttpSettings::default(),
            mongodb: kit::mongo_settings(&kit::unique("orders"), COLLECTION),
            kafka: kit::kafka_settings(&topic),
            consumer: ConsumerSettings {
                group_id: kit::unique("orders_group"),
                auto_offset_reset: platform_infra::kafka::OffsetReset::Earliest,
                max_backoff_ms: 500,
                lag_check_interval_ms: 500,
                stall_after_ms: 10_000,
                session_timeout_ms: 45_000,
                fetch_wait_max_ms: 50,
                instance_id: None,
            },
            replica: ReplicaSettings { read_wait_ms: 1000 },
            log: kit::log_settings(),
            auth: Default::default(),
            idempotency: Default::default(),
            crypto: kit::crypto_settings(),
        };
        let mut settings = settings;
        if let Some(uri) = uri {
            settings.mongodb.uri = uri.into();
        }
        let telemetry = platform_infra::telemetry::init(&settings.log, "orders");
        let shutdown = CancellationToken::new();
        let app = orders_domain::build(settings.clone(), shutdown.clone())
            .await
            .expect("orders service starts");
        let producer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", kit::kafka_brokers())
            .create()
            .expect("producer");
        TestApp {
            base: format!("http://{}", app.addr()),
            client: reqwest::Client::new(),
            db: mongodb::Client::with_uri_str(secrecy::ExposeSecret::expose_secret(
                &settings.mongodb.uri,
            ))
            .await
            .expect("mongodb client")
            .database(&settings.mongodb.database),
            settings,
            producer,
            shutdown,
            app,
            _telemetry: telemetry,
        }
    }

    pub fn topic(&self) -> &str {
        &self.settings.kafka.topic
    }

    /// Produces a raw record onto the service's topic, to `partition` if given.
    pub async fn produce_raw(&self, key: &str, payload: &[u8], partition: Option<i32>) {
        let mut record = FutureRecord::to(self.topic()).key(key).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(e, _)| e)
            .expect("record acknowledged");
    }

    /// Produces `payload` onto the service's state topic, as the relay does
    /// before the events.
    pub async fn produce_state(&self, key: &str, payload: &[u8]) {
        let record = FutureRecord::to(&self.settings.kafka.state_topic)
            .key(key)
            .payload(payload);
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(e, _)| e)
            .expect("state acknowledged");
    }

    /// Produces a change event of customer `id` at `version` with `first_name`.
    pub async fn produce_change(
        &self,
        id: &str,
        version: i64,
        first_name: &str,
        partition: Option<i32>,
    ) {
        let event = change_event(id, version, first_name);
        self.produce_raw(id, &event.to_json_vec(), partition).await;
    }

    /// Publishes `key` of customer `id` on the keys topic, wrapped with the
    /// test key-encryption key, as accounts does.
    pub async fn produce_key(&self, id: &str, key: &DataKey) {
        let crypto = kit::crypto_settings();
        let kek = KeyEncryptionKey::from_base64(&crypto.kek_id, crypto.kek_base64().expect("set"))
            .expect("a valid key");
        let wrapped = serde_json::to_vec(&kek.wrap(id, key).expect("wrapped")).expect("json");
        let record = FutureRecord::to(&self.settings.kafka.keys_topic)
            .key(id)
            .payload(&wrapped);
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(e, _)| e)
            .expect("key acknowledged");
    }

    /// Erases customer `id`'s key: a tombstone on the keys topic.
    pub async fn produce_key_tombstone(&self, id: &str) {
        let record = FutureRecord::<str, [u8]>::to(&self.settings.kafka.keys_topic).key(id);
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(e, _)| e)
            .expect("tombstone acknowledged");
    }

    /// Produces [`change_event`] sealed with `key` (its key must be on the
    /// keys topic first).
    pub async fn produce_sealed(&self, id: &str, version: i64, first_name: &str, key: &DataKey) {
        let sealed = SealedChangeEnvelope::seal(&change_event(id, version, first_name), key)
            .expect("sealed");
        self.produce_raw(id, &sealed.to_json_vec(), None).await;
    }

    /// Produces the erasure of customer `id` at `version`.
    pub async fn produce_erased(&self, id: &str, version: i64) {
        let erased = SealedChangeEnvelope::erased(id, version, chrono::Utc::now());
        self.produce_raw(id, &erased.to_json_vec(), None).await;
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        platform_testkit::send(self.client.get(url)).await
    }

    /// Polls `GET /orders/order/{id}` until it shows `version`.
    /// The `/actuator/prometheus` text.
    pub async fn metrics(&self) -> String {
        self.get("/actuator/prometheus")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn replica_at_version(&self, id: &str, version: i64) -> serde_json::Value {
        // Generous: joining a new consumer group can take a while on a loaded
        // machine; polling returns as soon as the version shows.
        kit::eventually(
            Duration::from_secs(45),
            &format!("{id} at version {version}"),
            || async {
                let response = self.get(&format!("/orders/order/{id}")).await;
                if !response.status().is_success() {
                    return None;
                }
                let body: serde_json::Value = response.json().await.ok()?;
                (body["version"] == version).then_some(body)
            },
        )
        .await
    }

    /// Graceful shutdown: waits for the server and the projector to finish.
    pub async fn stop(self) -> orders_domain::messaging::ProjectorReport {
        self.shutdown.cancel();
        self.app.wait().await.expect("clean shutdown")
    }
}

/// A valid change event with two addresses.
pub fn change_event(id: &str, version: i64, first_name: &str) -> CustomerChangeEnvelope {
    let address = |address_type| Address {
        address_type,
        description: None,
        address1: "123 Oak Street".into(),
        address2: None,
        city: "Sunrise".into(),
        state: "CA".into(),
        postal_code: "12345-6789".into(),
    };
    let change_type = if version == 1 {
        CustomerChangeType::Created
    } else {
        CustomerChangeType::Updated
    };
    CustomerChangeEnvelope::customer_change(
        change_type,
        CustomerChangeEvent {
            id: id.into(),
            version,
            name: Name {
                title: None,
                first_name: first_name.into(),
                middle_name: None,
                last_name: "Iyer".into(),
                suffix: None,
            },
            contact: Contact {
                primary_phone: "555-666-7777".into(),
                secondary_phone: None,
                email: "rajesh@example.com".into(),
            },
            addresses: vec![
                address(AddressType::Billing),
                address(AddressType::Shipping),
            ],
        },
        chrono::Utc::now(),
    )
}

/// A complete stored order document of `customer_id` with no items, as the
/// service writes them, for tests that put orders in place directly.
/// The change [`change_event`] announces, as readers work with it.
pub fn change(id: &str, version: i64, first_name: &str) -> CustomerChange {
    CustomerRecord::V1(change_event(id, version, first_name))
        .upcast(None)
        .expect("a plaintext event upcasts")
}

pub fn stored_order(customer_id: &str, guid: &str) -> mongodb::bson::Document {
    mongodb::bson::doc! {
        "_id": guid,
        "placedAt": mongodb::bson::DateTime::now(),
        "guid": guid,
        "customerId": customer_id,
        "status": "CREATED",
        "createdAt": "2026-11-28T12:00:00+00:00",
        "orderItems": [],
        "total": "0",
        "shippingAddress": {
            "type": "SHIPPING",
            "address1": "1 Main St",
            "city": "Shipville",
            "state": "CA",
            "postalCode": "90210",
        },
    }
}
