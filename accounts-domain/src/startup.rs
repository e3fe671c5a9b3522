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
use platform_infra::{http, kafka, mongo};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::http::{ApiDoc, AppState, router};
use crate::messaging::{OutboxRelay, RelayReport};
use crate::settings::Settings;
use crate::store::CustomerStore;
use utoipa::OpenApi;

/// A running accounts service.
pub struct Application {
    addr: SocketAddr,
    server: JoinHandle<std::io::Result<()>>,
    relay: JoinHandle<RelayReport>,
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
        .context("invalid Kafka settings")?;
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

        let server = tokio::spawn(http::serve(listener, app, shutdown.clone()));
        let relay = tokio::spawn(relay.run(shutdown));
        tracing::info!(%addr, "accounts service listening");
        Ok(Application {
            addr,
            server,
            relay,
        })
    }

    /// The bound address (its port is the real one when 0 was configured).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until every task has ended and reports how each did.
    pub async fn wait(self) -> anyhow::Result<()> {
        let server = self.server.await;
        let relay = self.relay.await;
        match &server {
            Ok(Ok(())) => tracing::info!("HTTP server stopped"),
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "HTTP server task panicked"),
        }
        match &relay {
            Ok(report) => tracing::info!(?report, "outbox relay ended"),
            Err(e) => tracing::error!(error = %e, "outbox relay task panicked"),
        }
        server.context("HTTP server task")?.context("HTTP server")?;
        relay.context("outbox relay task")?;
        Ok(())
    }
}
