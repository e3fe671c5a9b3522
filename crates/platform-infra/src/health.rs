//! Actuator-compatible health and info endpoints, the paths the seed's probes
//! and users know:
//!
//! - `/actuator/health/liveness`: the process answers (no dependency checks, so a
//!   database outage never gets a healthy pod restarted);
//! - `/actuator/health/readiness`: `200` while MongoDB answers a ping within a
//!   short timeout, else `503`. Only MongoDB gates readiness: the accounts
//!   outbox takes writes while the broker is down, and orders serves its
//!   replica, so a broker outage must not take every pod out of the load
//!   balancer. Kafka (a metadata request) and the service's own components
//!   (outbox backlog, projector lag and stall) are reported beside it; when
//!   one of them is not `UP` the overall status reads `DEGRADED`, still `200`;
//! - `/actuator/health`: the same aggregate as readiness;
//! - `/actuator/info`: service name, version, git commit, build time;
//! - `/actuator/prometheus`: metrics in Prometheus text format (see
//!   [`crate::metrics`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use mongodb::Database;
use mongodb::bson::doc;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

/// How long each dependency check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A service's own health component: a JSON object with at least `status`
/// (`UP` when all is well), computed from what the service already knows.
pub type ComponentReport = Arc<dyn Fn() -> Value + Send + Sync>;

/// What the health endpoints check.
#[derive(Clone)]
pub struct HealthChecks {
    service: &'static str,
    version: &'static str,
    database: Database,
    kafka: Arc<BaseConsumer>,
    components: Vec<(&'static str, ComponentReport)>,
}

impl HealthChecks {
    /// `kafka` is the service's client config; a metadata-only client is made
    /// from it.
    pub fn new(
        service: &'static str,
        version: &'static str,
        database: Database,
        kafka: &ClientConfig,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        crate::metrics::handle();
        let mut config = kafka.clone();
        config.set("group.id", format!("{service}-health"));
        Ok(HealthChecks {
            service,
            version,
            database,
            kafka: Arc::new(config.create()?),
            components: Vec::new(),
        })
    }

    /// Adds a component reported under `name`, which never gates readiness.
    pub fn with_component(
        self,
        name: &'static str,
        report: impl Fn() -> Value + Send + Sync + 'static,
    ) -> Self {
        self.with_component_report(name, Arc::new(report))
    }

    /// [`HealthChecks::with_component`] with a shared report.
    pub fn with_component_report(mut self, name: &'static str, report: ComponentReport) -> Self {
        self.components.push((name, report));
        self
    }

    async fn mongodb_up(&self) -> bool {
        let ping = self.database.run_command(doc! { "ping": 1 });
        matches!(tokio::time::timeout(CHECK_TIMEOUT, ping).await, Ok(Ok(_)))
    }

    async fn kafka_up(&self) -> bool {
        let consumer = self.kafka.clone();
        tokio::task::spawn_blocking(move || consumer.fetch_metadata(None, CHECK_TIMEOUT).is_ok())
            .await
            .unwrap_or(false)
    }

    /// The readiness body and status.
    pub async fn readiness(&self) -> (StatusCode, Json<Value>) {
        let (mongodb, kafka) = tokio::join!(self.mongodb_up(), self.kafka_up());
        let status = |up: bool| if up { "UP" } else { "DOWN" };
        let mut components = serde_json::Map::new();
        components.insert(
            "mongodb".into(),
            json!({ "status": status(mongodb), "gatesReadiness": true }),
        );
        components.insert(
            "kafka".into(),
            json!({ "status": status(kafka), "gatesReadiness": false }),
        );
        let mut degraded = !kafka;
        for (name, report) in &self.components {
            let mut component = report();
            degraded |= component["status"] != "UP";
            if let Some(object) = component.as_object_mut() {
                object.insert("gatesReadiness".into(), false.into());
            }
            components.insert((*name).into(), component);
        }
        let (code, overall) = match (mongodb, degraded) {
            (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "DOWN"),
            (true, true) => (StatusCode::OK, "DEGRADED"),
            (true, false) => (StatusCode::OK, "UP"),
        };
        (
            code,
            Json(json!({ "status": overall, "components": components })),
        )
    }

    /// The routes under `/actuator`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/actuator/health", get(readiness))
            .route("/actuator/health/readiness", get(readiness))
            .route("/actuator/health/liveness", get(liveness))
            .route("/actuator/info", get(info))
            .route("/actuator/prometheus", get(prometheus))
            .with_state(self)
    }
}

async fn readiness(State(checks): State<HealthChecks>) -> (StatusCode, Json<Value>) {
    checks.readiness().await
}

async fn liveness() -> Json<Value> {
    Json(json!({ "status": "UP" }))
}

async fn prometheus() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::handle().render(),
    )
}

async fn info(State(checks): State<HealthChecks>) -> Json<Value> {
    Json(json!({
        "app": { "name": checks.service, "version": checks.version },
        "git": { "commit": env!("PLATFORM_GIT_COMMIT") },
        "build": { "time": env!("PLATFORM_BUILD_TIME") },
    }))
}
