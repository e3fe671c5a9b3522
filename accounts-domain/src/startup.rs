//! Building and running the accounts service: one function that the binary and
//! the tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use platform_infra::auth::{self, Authenticator};
use platform_infra::health::HealthChecks;
use platform_infra::idempotency::IdempotencyKeys;
use platform_infra::shutdown::CancellationToken;
use platform_infra::supervisor::Supervisor;
use platform_infra::{http, kafka, mongo};
use tokio::sync::Notify;

use crate::http::{ApiDoc, AppState, router};
use crate::messaging::OutboxRelay;
use crate::settings::Settings;
use crate::store::CustomerStore;
use utoipa::OpenApi;

/// A running accounts service.
pub struct Application {
    addr: SocketAddr,
    tasks: Supervisor,
}

impl Application {
    /// Connects to MongoDB, creates indexes, binds the HTTP port and starts the
    /// HTTP server and the outbox relay. Everything stops when `shutdown` is
    /// cancelled.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let database = mongo::connect(&settings.mongodb, "accounts-domain")
            .await
            .context("invalid MongoDB settings")?;
        let store = CustomerStore::new(&database, &settings.mongodb.collection);
        store
            .ensure_indexes()
            .await
            .context("cannot reach MongoDB to create indexes")?;
        let relay_wake = Arc::new(Notify::new());
        let relay = OutboxRelay::new(
            store.clone(),
            kafka::reliable_producer_config(&settings.kafka),
            settings.kafka.topic.clone(),
            relay_wake.clone(),
            settings.relay.clone(),
            Duration::from_millis(settings.kafka.message_timeout_ms),
        )
        .context("invalid Kafka producer settings")?;
        let (listener, addr) = http::bind(&settings.http).await.with_context(|| {
            format!("cannot bind {}:{}", settings.http.host, settings.http.port)
        })?;
        let health = HealthChecks::new(
            "accounts-domain",
            env!("CARGO_PKG_VERSION"),
            database.clone(),
            &kafka::client_config(&settings.kafka),
        )
        .context("invalid Kafka settings")?
        .with_component("outbox", {
            let outbox = relay.status();
            move || outbox.health()
        });
        let app = http::with_standard_layers(
            router(AppState {
                store,
                relay_wake,
                idempotency: IdempotencyKeys::new(&database, settings.http.body_limit_bytes),
            })
            .merge(health.router())
            .merge(http::api_docs(ApiDoc::openapi()))
            .layer(axum::middleware::from_fn_with_state(
                Authenticator::from_settings(&settings.auth)?,
                auth::require_bearer,
            )),
            &settings.http,
        );

        let mut tasks = Supervisor::new(shutdown.clone());
        let server = http::serve(listener, app, shutdown.clone());
        tasks.spawn("HTTP server", async move { Ok(server.await?) });
        tasks.spawn("outbox relay", async move {
            relay.run(shutdown).await;
            Ok(())
        });
        tracing::info!(%addr, "accounts service listening");
        Ok(Application { addr, tasks })
    }

    /// The bound address (its port is the real one when 0 was configured).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until every task has ended; `Err` if any ended before shutdown,
    /// failed or panicked (see [`Supervisor`]).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.tasks.wait().await
    }
}
