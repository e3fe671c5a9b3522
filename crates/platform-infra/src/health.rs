//! Actuator-compatible health and info endpoints, the paths the seed's probes
//! and users know:
//!
//! - `/actuator/health/liveness`: the process answers (no dependency checks, so a
//!   database outage never gets a healthy pod restarted);
//! - `/actuator/health/readiness`: MongoDB answers a ping and Kafka answers a
//!   metadata request, each within a short timeout; `503` with per-component
//!   status otherwise;
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

/// What the health endpoints check.
#[derive(Clone)]
pub struct HealthChecks {
    service: &'static str,
    version: &'static str,
    database: Database,
    kafka: Arc<BaseConsumer>,
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
        })
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
        let ready = mongodb && kafka;
        let code = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (
            code,
            Json(json!({
                "status": status(ready),
                "components": {
                    "mongodb": { "status": status(mongodb) },
                    "kafka": { "status": status(kafka) },
                }
            })),
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
