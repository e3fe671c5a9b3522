//! `TestApp`: an accounts service on a free port with its own database and topic.

use accounts_domain::settings::RelaySettings;
use std::time::Duration;

use accounts_domain::store::CustomerStore;
use accounts_domain::{Application, Settings};
use platform_infra::config::HttpSettings;
use platform_infra::shutdown::CancellationToken;
use platform_testkit as kit;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use shared_events::crypto::{DataKey, KeyEncryptionKey, WrappedKey};
use shared_events::{CustomerChange, CustomerRecord};

/// Collection name on the local server (it rejects dotted names).
pub const COLLECTION: &str = "customer_accounts";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub db: mongodb::Database,
    shutdown: CancellationToken,
    app: Application,
    /// Keeps span export running when this app installed the subscriber.
    _telemetry: platform_infra::telemetry::TelemetryGuard,
}

/// Settings with a fresh database and a fresh 3-partition topic.
pub async fn fresh_settings() -> Settings {
    let topic = kit::unique("accounts_test_change");
    kit::create_topic(&topic, 3).await;
    kit::create_compacted_topics(&topic, 3).await;
    Settings {
        http: HttpSettings::default(),
        mongodb: kit::mongo_settings(&kit::unique("accounts"), COLLECTION),
        kafka: kit::kafka_settings(&topic),
        relay: RelaySettings {
            poll_interval_ms: 200,
            batch_size: 100,
            shutdown_drain_ms: 2000,
        },
        log: kit::log_settings(),
        auth: Default::default(),
        idempotency: Default::default(),
        crypto: kit::crypto_settings(),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(fresh_settings().await).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        let telemetry = platform_infra::telemetry::init(&settings.log, "accounts");
        let shutdown = CancellationToken::new();
        let app = accounts_domain::build(settings.clone(), shutdown.clone())
            .await
            .expect("accounts service starts");
        TestApp {
            base: format!("http://{}", app.addr()),
            client: reqwest::Client::new(),
            db: kit::mongo_database(&settings.mongodb.database).await,
            settings,
            shutdown,
            app,
            _telemetry: telemetry,
        }
    }

    pub fn topic(&self) -> &str {
        &self.settings.kafka.topic
    }

    /// A published record as the change it announces, opened with its
    /// customer's data key, which must be on the keys topic.
    pub async fn opened(&self, record: &OwnedMessage) -> (CustomerRecord, CustomerChange) {
        let payload = record.payload().expect("payload");
        let decoded = CustomerRecord::decode(payload).expect("a change event");
        let key = match decoded.key_id() {
            Some(key_id) => Some(self.data_key(decoded.customer_id(), key_id).await),
            None => None,
        };
        let change = decoded
            .clone()
            .upcast(key.as_ref())
            .expect("its key opens it");
        (decoded, change)
    }

    /// Data key `key_id` of `customer`, read from the keys topic.
    pub async fn data_key(&self, customer: &str, key_id: &str) -> DataKey {
        let topic = &self.settings.kafka.keys_topic;
        let records = kit::read_all(&kit::kafka_brokers(), topic, Duration::from_secs(20)).await;
        let kek = kek();
        records
            .iter()
            .filter(|r| r.key() == Some(customer.as_bytes()))
            .find_map(|r| {
                let wrapped: WrappedKey = serde_json::from_slice(r.payload()?).ok()?;
                (wrapped.key_id == key_id).then(|| kek.unwrap(&wrapped).expect("unwraps"))
            })
            .unwrap_or_else(|| panic!("key {key_id} of {customer} is not on {topic}"))
    }

    pub async fn post_customer(&self, body: &serde_json::Value) -> reqwest::Response {
        let url = format!("{}/accounts/customer/create", self.base);
        platform_testkit::send(self.client.post(url).json(body)).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        platform_testkit::send(self.client.get(url)).await
    }

    /// The raw stored document of customer `id`.
    pub async fn stored(&self, id: &str) -> Option<mongodb::bson::Document> {
        self.db
            .collection::<mongodb::bson::Document>(COLLECTION)
            .find_one(mongodb::bson::doc! { "_id": id })
            .await
            .expect("find_one")
    }

    /// Graceful shutdown: waits for the server and the relay to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.app.wait().await.expect("clean shutdown");
    }
}

/// The key-encryption key the test services use.
pub fn kek() -> KeyEncryptionKey {
    let crypto = kit::crypto_settings();
    KeyEncryptionKey::from_base64(&crypto.kek_id, crypto.kek_base64().expect("set"))
        .expect("a valid key")
}

/// A customer store of `collection`, with the key-encryption key the test
/// services use.
pub fn customer_store(db: &mongodb::Database, collection: &str) -> CustomerStore {
    CustomerStore::new(db, collection, std::sync::Arc::new(kek()))
}
