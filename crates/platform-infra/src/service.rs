//! The skeleton both services start from: connect to MongoDB, bind the HTTP
//! port, wrap the service's routes in health, API docs, authentication and the
//! standard layers, and supervise the tasks.
//!
//! A service's own `startup.rs` builds only what is its own (its store, relay
//! or projector, its routes) between [`ServiceStart::connect`] and
//! [`ServiceStart::serve`]:
//!
//! ```text
//! let mut start = ServiceStart::connect(SERVICE, &settings, shutdown).await?;
//! let store = Store::new(&start.database, ...);
//! start.add_component("outbox", ...);
//! start.tasks.spawn("outbox relay", ...);
//! let running = start.serve(router(state), ApiDoc::openapi(), &settings).await?;
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use mongodb::Database;
use serde_json::Value;

use crate::auth::{self, AuthSettings, Authenticator};
use crate::config::{HttpSettings, KafkaSettings, MongoSettings};
use crate::health::HealthChecks;
use crate::idempotency::{IdempotencyKeys, IdempotencySettings};
use crate::shutdown::CancellationToken;
use crate::supervisor::Supervisor;
use crate::{http, kafka, mongo};

/// A service binary's command line: an optional subcommand.
#[derive(clap::Parser)]
struct ServiceCli<C: clap::Subcommand> {
    #[command(subcommand)]
    command: Option<C>,
}

/// Parses the command line of the binary `name` (described by `about`): its
/// subcommand, or `default` (serving) when none is given. Exits with clap's
/// message on bad arguments and for `--help`.
pub fn command_line<C: clap::Subcommand>(name: &'static str, about: &'static str, default: C) -> C {
    use clap::{CommandFactory, FromArgMatches};
    let matches = ServiceCli::<C>::command()
        .name(name)
        .about(about)
        .get_matches();
    match ServiceCli::<C>::from_arg_matches(&matches) {
        Ok(cli) => cli.command.unwrap_or(default),
        Err(e) => e.exit(),
    }
}

/// A service's name (as in logs, health and MongoDB's `appName`) and version.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// The settings every service has. Implement it with
/// [`service_settings!`](crate::service_settings).
pub trait ServiceSettings {
    fn http(&self) -> &HttpSettings;
    fn mongodb(&self) -> &MongoSettings;
    fn kafka(&self) -> &KafkaSettings;
    fn auth(&self) -> &AuthSettings;
    fn idempotency(&self) -> &IdempotencySettings;
}

/// Declares a service's settings struct: the settings every service has
/// (`http`, `mongodb`, `kafka`, `log`, and the optional `auth` and
/// `idempotency`) followed by the service's own fields; implements
/// [`ServiceSettings`] for it, and gives it `load()`:
/// [`COMMON_DEFAULTS`](crate::config::COMMON_DEFAULTS), then `$defaults`, then
/// the file named by `APP_CONFIG_FILE`, then `APP__…` environment variables.
/// The calling crate needs `serde` (with `derive`).
#[macro_export]
macro_rules! service_settings {
    (
        $(#[$meta:meta])*
        pub struct $settings:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)*
        }
        defaults = $defaults:expr;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, ::serde::Deserialize)]
        pub struct $settings {
            pub http: $crate::config::HttpSettings,
            pub mongodb: $crate::config::MongoSettings,
            pub kafka: $crate::config::KafkaSettings,
            pub log: $crate::config::LogSettings,
            /// The key-encryption key of the customers' data keys.
            pub crypto: $crate::config::CryptoSettings,
            /// Bearer-JWT authentication; off unless configured.
            #[serde(default)]
            pub auth: $crate::auth::AuthSettings,
            /// How long `Idempotency-Key`s are remembered.
            #[serde(default)]
            pub idempotency: $crate::idempotency::IdempotencySettings,
            $($(#[$field_meta])* pub $field: $type,)*
        }

        impl $settings {
            /// Defaults, then `APP_CONFIG_FILE`, then `APP__…` environment
            /// variables.
            pub fn load() -> Result<Self, $crate::config::ConfigError> {
                $crate::config::load($defaults)
            }
        }

        impl $crate::service::ServiceSettings for $settings {
            fn http(&self) -> &$crate::config::HttpSettings {
                &self.http
            }
            fn mongodb(&self) -> &$crate::config::MongoSettings {
                &self.mongodb
            }
            fn kafka(&self) -> &$crate::config::KafkaSettings {
                &self.kafka
            }
            fn auth(&self) -> &$crate::auth::AuthSettings {
                &self.auth
            }
            fn idempotency(&self) -> &$crate::idempotency::IdempotencySettings {
                &self.idempotency
            }
        }
    };
}

/// A service between connecting and serving: its database, its tasks (spawn
/// the service's own ones here) and the health components it reports.
pub struct ServiceStart {
    info: ServiceInfo,
    /// The service's database (the driver connects lazily).
    pub database: Database,
    /// The service's supervised tasks; the HTTP server joins them in
    /// [`ServiceStart::serve`].
    pub tasks: Supervisor,
    shutdown: CancellationToken,
    components: Vec<(&'static str, crate::health::ComponentReport)>,
}

impl ServiceStart {
    /// Connects to the configured MongoDB database. Everything started from
    /// here stops when `shutdown` is cancelled.
    pub async fn connect(
        info: ServiceInfo,
        settings: &impl ServiceSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let database = mongo::connect(settings.mongodb(), info.name)
            .await
            .context("invalid MongoDB settings")?;
        Ok(ServiceStart {
            info,
            database,
            tasks: Supervisor::new(shutdown.clone()),
            shutdown,
            components: Vec::new(),
        })
    }

    /// The shutdown switch of the service, for its own tasks.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The service's idempotency keys, with their TTL index created and the
    /// sweeper of expired keys started.
    pub async fn idempotency_keys(
        &mut self,
        settings: &impl ServiceSettings,
    ) -> anyhow::Result<IdempotencyKeys> {
        let keys = IdempotencyKeys::new(
            &self.database,
            settings.http().body_limit_bytes,
            *settings.idempotency(),
        );
        keys.ensure_index()
            .await
            .context("cannot reach MongoDB to create the idempotency keys' index")?;
        let sweeper = keys.clone();
        let shutdown = self.shutdown();
        self.tasks
            .spawn("idempotency key sweeper", sweeper.sweep(shutdown));
        Ok(keys)
    }

    /// Reports `report` under `name` in the health endpoints (never gating
    /// readiness).
    pub fn add_component(
        &mut self,
        name: &'static str,
        report: impl Fn() -> Value + Send + Sync + 'static,
    ) {
        self.components.push((name, Arc::new(report)));
    }

    /// Binds the HTTP port and starts serving `routes` with health, API docs,
    /// authentication and the standard layers.
    pub async fn serve(
        mut self,
        routes: Router,
        openapi: utoipa::openapi::OpenApi,
        settings: &impl ServiceSettings,
    ) -> anyhow::Result<RunningService> {
        let mut health = HealthChecks::new(
            self.info.name,
            self.info.version,
            self.database.clone(),
            &kafka::client_config(settings.kafka()),
        )
        .context("invalid Kafka settings")?;
        for (name, report) in self.components {
            health = health.with_component_report(name, report);
        }
        let app = app(routes.merge(health.router()), openapi, settings)?;
        let http = settings.http();
        let (listener, addr) = http::bind(http)
            .await
            .with_context(|| format!("cannot bind {}:{}", http.host, http.port))?;
        let server = http::serve(listener, app, self.shutdown.clone());
        self.tasks
            .spawn("HTTP server", async move { Ok(server.await?) });
        tracing::info!(%addr, service = self.info.name, "listening");
        Ok(RunningService {
            addr,
            tasks: self.tasks,
            report: Arc::default(),
        })
    }
}

/// `routes` with the API docs, authentication and the standard layers: the
/// whole HTTP application of a service, as it is served (and as router tests
/// drive it without a socket).
pub fn app(
    routes: Router,
    openapi: utoipa::openapi::OpenApi,
    settings: &impl ServiceSettings,
) -> anyhow::Result<Router> {
    let authenticator = Authenticator::from_settings(settings.auth())?;
    Ok(http::with_standard_layers(
        routes
            .merge(http::api_docs(openapi))
            .layer(axum::middleware::from_fn_with_state(
                authenticator,
                auth::require_bearer,
            )),
        settings.http(),
    ))
}

/// A service whose tasks are running; `R` is what it reports when it stops
/// (the orders projector's counts), filled in by one of its tasks.
pub struct RunningService<R = ()> {
    addr: SocketAddr,
    tasks: Supervisor,
    report: Arc<Mutex<R>>,
}

impl RunningService<()> {
    /// Reports the value its tasks leave in `report` when it stops.
    pub fn reporting<R>(self, report: Arc<Mutex<R>>) -> RunningService<R> {
        RunningService {
            addr: self.addr,
            tasks: self.tasks,
            report,
        }
    }
}

impl<R: Clone> RunningService<R> {
    /// The bound address (its port is the real one when 0 was configured).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until every task has ended; `Err` if any ended before shutdown,
    /// failed or panicked (see [`Supervisor`]). Then returns the report.
    pub async fn wait(self) -> anyhow::Result<R> {
        self.tasks.wait().await?;
        let report = self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(report)
    }
}
