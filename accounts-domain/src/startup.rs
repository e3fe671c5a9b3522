//! Building and running the accounts service: one function that the binary and
//! the tests share. What every service does at start-up is in
//! [`platform_infra::service`]; this adds the customer store, the outbox relay
//! and the routes.

use std::sync::Arc;

use anyhow::Context;
use platform_infra::service::{RunningService, ServiceInfo, ServiceStart};
use platform_infra::shutdown::CancellationToken;
use shared_events::crypto::KeyEncryptionKey;
use tokio::sync::Notify;
use utoipa::OpenApi;

use crate::http::{ApiDoc, AppState, router};
use crate::messaging::OutboxRelay;
use crate::settings::Settings;
use crate::store::CustomerStore;

/// The accounts service's name and version.
pub const SERVICE: ServiceInfo = ServiceInfo {
    name: "accounts-domain",
    version: env!("CARGO_PKG_VERSION"),
};

/// A running accounts service.
pub type Application = RunningService;

/// Connects to MongoDB, creates indexes, binds the HTTP port and starts the
/// HTTP server and the outbox relay. Everything stops when `shutdown` is
/// cancelled.
pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Application> {
    let kek = KeyEncryptionKey::from_base64(&settings.crypto.kek_id, settings.crypto.kek_base64()?)
        .context("crypto.kek")?;
    let mut start = ServiceStart::connect(SERVICE, &settings, shutdown).await?;
    let store = CustomerStore::new(&start.database, &settings.mongodb.collection, Arc::new(kek));
    store
        .ensure_indexes()
        .await
        .context("cannot reach MongoDB to create indexes")?;
    let relay_wake = Arc::new(Notify::new());
    let relay = OutboxRelay::new(
        store.clone(),
        &settings.kafka,
        relay_wake.clone(),
        settings.relay.clone(),
    )
    .context("invalid Kafka producer settings")?;
    let outbox = relay.status();
    start.add_component("outbox", move || outbox.health());
    let relay_shutdown = start.shutdown();
    start.tasks.spawn("outbox relay", async move {
        relay.run(relay_shutdown).await;
        Ok(())
    });
    let state = AppState {
        store,
        relay_wake,
        idempotency: start.idempotency_keys(&settings).await?,
    };
    start
        .serve(router(state), ApiDoc::openapi(), &settings)
        .await
}
