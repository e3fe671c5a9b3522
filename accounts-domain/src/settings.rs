//! Settings of the accounts service. Every value has a local default; see
//! `platform_infra::config` for how files and `APP__…` variables override them.

use std::time::Duration;

use platform_infra::auth::AuthSettings;
use platform_infra::config::{HttpSettings, KafkaSettings, LogSettings, MongoSettings};
use platform_infra::idempotency::IdempotencySettings;
use serde::Deserialize;

/// Built-in defaults over `platform_infra::config::COMMON_DEFAULTS`: the
/// seed's port and names.
pub const DEFAULTS: &str = r#"
[http]
port = 8080

[mongodb]
database = "accounts"
collection = "customer.accounts"

[relay]
poll_interval_ms = 1000
batch_size = 100
shutdown_drain_ms = 5000
"#;

/// All settings of the accounts service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub mongodb: MongoSettings,
    pub kafka: KafkaSettings,
    pub relay: RelaySettings,
    pub log: LogSettings,
    /// Bearer-JWT authentication; off unless configured.
    #[serde(default)]
    pub auth: AuthSettings,
    /// How long `Idempotency-Key`s are remembered.
    #[serde(default)]
    pub idempotency: IdempotencySettings,
}

/// How the outbox relay looks for pending events.
#[derive(Debug, Clone, Deserialize)]
pub struct RelaySettings {
    /// Safety-net scan interval; writes of this instance wake the relay at once.
    pub poll_interval_ms: u64,
    /// Customers with pending events read per scan.
    pub batch_size: i64,
    /// How long shutdown may spend publishing what is still pending.
    pub shutdown_drain_ms: u64,
}

impl RelaySettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_millis(self.shutdown_drain_ms)
    }
}

platform_infra::service_settings!(Settings, DEFAULTS);

#[cfg(test)]
mod tests {
    use super::*;
    use platform_infra::config;

    #[test]
    fn defaults_parse_and_use_the_seed_names() {
        let settings: Settings = config::load(DEFAULTS).expect("defaults parse");
        assert_eq!(settings.http.port, 8080);
        assert_eq!(settings.mongodb.database, "accounts");
        assert_eq!(settings.mongodb.collection, "customer.accounts");
        assert_eq!(settings.kafka.topic, shared_events::topics::CUSTOMER_CHANGE);
    }

    #[test]
    fn mongodb_uri_never_prints() {
        let settings: Settings = config::load(DEFAULTS).expect("defaults parse");
        assert!(!format!("{settings:?}").contains("27017"));
    }

    #[test]
    fn the_example_settings_file_parses_and_names_every_setting() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/accounts.example.toml"
        );
        let missing = config::undocumented_settings::<Settings>(DEFAULTS, path, &[])
            .expect("the example parses");
        assert!(missing.is_empty(), "{path} does not name {missing:?}");
    }
}
