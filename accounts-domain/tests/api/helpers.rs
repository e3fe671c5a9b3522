//! `TestApp`: an accounts service on a free port with its own database and topic.

use accounts_domain::settings::RelaySettings;
use accounts_domain::{Application, Settings};
use platform_infra::config::HttpSettings;
use platform_infra::shutdown::CancellationToken;
use platform_testkit as kit;

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

    pub async fn post_customer(&self, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/accounts/customer/create", self.base))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
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
