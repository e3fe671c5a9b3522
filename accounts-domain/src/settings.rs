//! Settings of the accounts service. Every value has a local default; see
//! `platform_infra::config` for how files and `APP__…` variables override them.

use std::time::Duration;

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

platform_infra::service_settings! {
    /// All settings of the accounts service.
    pub struct Settings {
        pub relay: RelaySettings,
    }
    defaults = DEFAULTS;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/accounts.example.toml"
        );
        platform_infra::config::checked_defaults(DEFAULTS, example, &[])
    }

    #[test]
    fn defaults_use_the_seed_names_and_the_example_names_every_setting() {
        let settings = defaults();
        assert_eq!(settings.http.port, 8080);
        assert_eq!(
            (
                settings.mongodb.database.as_str(),
                settings.mongodb.collection.as_str()
            ),
            ("accounts", "customer.accounts")
        );
        assert_eq!(settings.kafka.topic, shared_events::topics::CUSTOMER_CHANGE);
    }

    #[test]
    fn mongodb_uri_never_prints() {
        assert!(!format!("{:?}", defaults()).contains("27017"));
    }
}
