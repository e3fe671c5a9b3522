//! Building and running the orders service: one function that the binary and
//! the tests share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use platform_infra::auth::{self, Authenticator};
use platform_infra::health::HealthChecks;
use platform_infra::idempotency::IdempotencyKeys;
use platform_infra::shutdown::CancellationToken;
use platform_infra::supervisor::Supervisor;
use platform_infra::{http, kafka, mongo};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use shared_events::topics::dead_letter_topic;

use crate::http::{ApiDoc, AppState, router};
use crate::messaging::{
    AppliedFeed, DeadLetterPublisher, LagWatchdog, ProjectorContext, ProjectorReport,
    ProjectorStatus, ReplicaProjector, lag,
};
use crate::settings::Settings;
use crate::store::CustomerOrdersStore;
use utoipa::OpenApi;

/// A running orders service.
pub struct Application {
    addr: SocketAddr,
    tasks: Supervisor,
    report: Arc<Mutex<ProjectorReport>>,
}

impl Application {
    /// Connects to MongoDB and Kafka, binds the HTTP port and starts the HTTP
    /// server, the replica projector and its lag watchdog. Everything stops
    /// when `shutdown` is cancelled, or when any of them ends (see
    /// [`Supervisor`]).
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let database = mongo::connect(&settings.mongodb, "orders-domain")
            .await
            .context("invalid MongoDB settings")?;
        let store = CustomerOrdersStore::new(&database, &settings.mongodb.collection);
        store
            .init()
            .await
            .context("cannot reach MongoDB to initialise the replica pointer")?;

        let mut consumer_config = kafka::client_config(&settings.kafka);
        consumer_config
            .set("group.id", &settings.consumer.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", &settings.consumer.auto_offset_reset)
            .set(
                "session.timeout.ms",
                settings.consumer.session_timeout_ms.to_string(),
            )
            .set(
                "fetch.wait.max.ms",
                settings.consumer.fetch_wait_max_ms.to_string(),
            );
        if let Some(instance_id) = &settings.consumer.instance_id {
            consumer_config.set("group.instance.id", instance_id);
        }
        lag::register_metrics();
        let status = ProjectorStatus::default();
        let consumer: Arc<StreamConsumer<ProjectorContext>> = Arc::new(
            consumer_config
                .create_with_context(ProjectorContext::new(status.clone()))
                .context("invalid Kafka consumer settings")?,
        );
        consumer
            .subscribe(&[&settings.kafka.topic])
            .context("cannot subscribe to the customer change topic")?;
        let producer: FutureProducer = kafka::reliable_producer_config(&settings.kafka)
            .create()
            .context("invalid Kafka producer settings")?;
        let dead_letters =
            DeadLetterPublisher::new(producer, dead_letter_topic(&settings.kafka.topic));
        let applied = AppliedFeed::default();
        let projector = ReplicaProjector::new(
            consumer.clone(),
            store.clone(),
            dead_letters,
            settings.consumer.clone(),
            applied.clone(),
            status.clone(),
        );
        let watchdog = LagWatchdog::new(
            consumer,
            status.clone(),
            settings.kafka.topic.clone(),
            settings.consumer.watchdog(),
        );

        let (listener, addr) = http::bind(&settings.http).await.with_context(|| {
            format!("cannot bind {}:{}", settings.http.host, settings.http.port)
        })?;
        let health = HealthChecks::new(
            "orders-domain",
            env!("CARGO_PKG_VERSION"),
            database.clone(),
            &kafka::client_config(&settings.kafka),
        )
        .context("invalid Kafka settings")?
        .with_component("projector", move || status.health());
        let app = http::with_standard_layers(
            router(AppState {
                store,
                idempotency: IdempotencyKeys::new(&database, settings.http.body_limit_bytes),
                applied,
                read_wait: settings.replica.read_wait(),
            })
            .merge(health.router())
            .merge(http::api_docs(ApiDoc::openapi()))
            .layer(axum::middleware::from_fn_with_state(
                Authenticator::from_settings(&settings.auth)?,
                auth::require_bearer,
            )),
            &settings.http,
        );
        let report = Arc::new(Mutex::new(ProjectorReport::default()));
        let mut tasks = Supervisor::new(shutdown.clone());
        let server = http::serve(listener, app, shutdown.clone());
        tasks.spawn("HTTP server", async move { Ok(server.await?) });
        let projector_report = report.clone();
        let projector_shutdown = shutdown.clone();
        tasks.spawn("replica projector", async move {
            let report = projector.run(projector_shutdown).await?;
            *projector_report
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = report;
            Ok(())
        });
        tasks.spawn("lag watchdog", watchdog.run(shutdown));
        tracing::info!(%addr, "orders service listening");
        Ok(Application {
            addr,
            tasks,
            report,
        })
    }

    /// The bound address (its port is the real one when 0 was configured).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until every task has ended; `Err` if any ended before shutdown or
    /// failed. Returns what the projector did.
    pub async fn wait(self) -> anyhow::Result<ProjectorReport> {
        self.tasks.wait().await?;
        let report = *self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tracing::info!(?report, "orders service stopped");
        Ok(report)
    }
}
