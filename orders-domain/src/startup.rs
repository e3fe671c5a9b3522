//! Building and running the orders service: one function that the binary and
//! the tests share. What every service does at start-up is in
//! [`platform_infra::service`]; this adds the replica store, the projector,
//! its lag watchdog and the routes.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use platform_infra::kafka;
use platform_infra::service::{RunningService, ServiceInfo, ServiceStart};
use platform_infra::shutdown::CancellationToken;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use shared_events::topics::dead_letter_topic;
use utoipa::OpenApi;

use crate::http::{ApiDoc, AppState, router};
use crate::messaging::{
    AppliedFeed, DeadLetterPublisher, KeyRing, LagWatchdog, ProjectorContext, ProjectorReport,
    ProjectorStatus, ReplicaProjector, lag,
};
use crate::settings::Settings;
use crate::store::CustomerOrdersStore;

/// The orders service's name and version.
pub const SERVICE: ServiceInfo = ServiceInfo {
    name: "orders-domain",
    version: env!("CARGO_PKG_VERSION"),
};

/// A running orders service; it reports what the projector did.
pub type Application = RunningService<ProjectorReport>;

/// Connects to MongoDB and Kafka, binds the HTTP port and starts the HTTP
/// server, the replica projector and its lag watchdog. Everything stops when
/// `shutdown` is cancelled, or when any of them ends.
pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Application> {
    let (keys, keys_consumer) = KeyRing::new(
        &settings.kafka,
        &settings.crypto,
        settings.consumer.fetch_wait_max_ms,
    )?;
    let mut start = ServiceStart::connect(SERVICE, &settings, shutdown).await?;
    let store = CustomerOrdersStore::new(&start.database, &settings.mongodb.collection);
    store
        .init()
        .await
        .context("cannot reach MongoDB to initialise the replica pointer")?;

    lag::register_metrics();
    let status = ProjectorStatus::default();
    let applied = AppliedFeed::default();
    let (projector, watchdog) = projector(&settings, &store, &keys, &applied, &status)?;
    start.add_component("projector", move || status.health());

    let report = Arc::new(Mutex::new(ProjectorReport::default()));
    let projector_report = report.clone();
    let shutdown = start.shutdown();
    start
        .tasks
        .spawn("lag watchdog", watchdog.run(shutdown.clone()));
    start
        .tasks
        .spawn("key ring", keys.follow(keys_consumer, shutdown.clone()));
    start.tasks.spawn("replica projector", async move {
        let report = projector.run(shutdown).await?;
        *projector_report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = report;
        tracing::info!(?report, "replica projector stopped");
        Ok(())
    });
    let state = AppState {
        store,
        idempotency: start.idempotency_keys(&settings).await?,
        applied,
        read_wait: settings.replica.read_wait(),
    };
    let running = start
        .serve(router(state), ApiDoc::openapi(), &settings)
        .await?;
    Ok(running.reporting(report))
}

/// The replica projector and its lag watchdog, sharing one consumer of the
/// change topic.
fn projector(
    settings: &Settings,
    store: &CustomerOrdersStore,
    keys: &KeyRing,
    applied: &AppliedFeed,
    status: &ProjectorStatus,
) -> anyhow::Result<(ReplicaProjector, LagWatchdog)> {
    let consumer: Arc<StreamConsumer<ProjectorContext>> = Arc::new(
        projector_consumer_config(settings)
            .create_with_context(ProjectorContext::new(status.clone()))
            .context("invalid Kafka consumer settings")?,
    );
    consumer
        .subscribe(&[&settings.kafka.topic])
        .context("cannot subscribe to the customer change topic")?;
    let producer: FutureProducer = kafka::reliable_producer_config(&settings.kafka)
        .create()
        .context("invalid Kafka producer settings")?;
    let dead_letters = DeadLetterPublisher::new(producer, dead_letter_topic(&settings.kafka.topic));
    let projector = ReplicaProjector::new(
        consumer.clone(),
        store.clone(),
        keys.clone(),
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
    Ok((projector, watchdog))
}

/// The projector's consumer: librdkafka commits periodically, but only the
/// offsets the projector stored after an event's effect was durable.
fn projector_consumer_config(settings: &Settings) -> ClientConfig {
    let consumer = &settings.consumer;
    let mut config = kafka::consumer_config(&settings.kafka, &consumer.group_id);
    config
        .set("enable.auto.commit", "true")
        .set("auto.offset.reset", consumer.auto_offset_reset.as_str())
        .set(
            "session.timeout.ms",
            consumer.session_timeout_ms.to_string(),
        )
        .set("fetch.wait.max.ms", consumer.fetch_wait_max_ms.to_string());
    if let Some(instance_id) = &consumer.instance_id {
        config.set("group.instance.id", instance_id);
    }
    config
}
