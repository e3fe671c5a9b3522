//! Settings of the orders service. Every value has a local default; see
//! `platform_infra::config` for how files and `APP__…` variables override them.

use std::time::Duration;

use serde::Deserialize;

/// Built-in defaults over `platform_infra::config::COMMON_DEFAULTS`: the
/// seed's port and names.
pub const DEFAULTS: &str = r#"
[http]
port = 8085

[mongodb]
database = "orders"
collection = "customer.orders"

[consumer]
group_id = "orders"
auto_offset_reset = "earliest"
max_backoff_ms = 5000
lag_check_interval_ms = 5000
stall_after_ms = 60000
session_timeout_ms = 45000
fetch_wait_max_ms = 500

[replica]
read_wait_ms = 5000
"#;

platform_infra::service_settings! {
    /// All settings of the orders service.
    pub struct Settings {
        pub consumer: ConsumerSettings,
        pub replica: ReplicaSettings,
    }
    defaults = DEFAULTS;
}

/// How the replica projector consumes.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsumerSettings {
    pub group_id: String,
    /// Where a new group starts: `earliest` replays the whole event store.
    pub auto_offset_reset: platform_infra::kafka::OffsetReset,
    /// Longest pause between retries of an event MongoDB did not take.
    pub max_backoff_ms: u64,
    /// How often the watchdog compares each partition's position with the
    /// broker's end offset (the lag).
    pub lag_check_interval_ms: u64,
    /// A partition with lag whose position has not moved for this long is
    /// stalled: an ERROR, a count, `STALLED` in health, and a fresh fetch.
    pub stall_after_ms: u64,
    /// How long the group waits for a silent member before moving its
    /// partitions to the others (a crashed instance's partitions are idle that
    /// long). librdkafka's default, 45 s: with the local broker (tansu 0.6) a
    /// shorter timeout left a restarted member without partitions.
    pub session_timeout_ms: u64,
    /// Longest a fetch waits for records (`fetch.wait.max.ms`). Kafka answers
    /// as soon as a record arrives, so this only sets how often an idle
    /// consumer asks again; the local broker (tansu 0.6) waits the whole time,
    /// so it is also the local end-to-end latency floor: the local stack sets
    /// 50. The default is librdkafka's, 500.
    pub fetch_wait_max_ms: u64,
    /// Static group membership (`group.instance.id`): an instance restarted
    /// with the same id takes its partitions back at once instead of waiting
    /// for a rebalance. Use a stable name such as a StatefulSet pod name; unset
    /// by default.
    #[serde(default)]
    pub instance_id: Option<String>,
}

impl ConsumerSettings {
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }

    /// The watchdog's settings.
    pub fn watchdog(&self) -> crate::messaging::lag::WatchdogSettings {
        crate::messaging::lag::WatchdogSettings {
            interval: Duration::from_millis(self.lag_check_interval_ms),
            stall_after: Duration::from_millis(self.stall_after_ms),
            reset: self.auto_offset_reset,
        }
    }
}

/// How reads meet the replica.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplicaSettings {
    /// Longest a read with `minVersion` waits for the replica to reach that
    /// version; keep it below `http.request_timeout_ms`.
    pub read_wait_ms: u64,
}

impl ReplicaSettings {
    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_the_seed_names_and_the_example_names_every_setting() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/orders.example.toml");
        let settings: Settings =
            platform_infra::config::checked_defaults(DEFAULTS, example, &["consumer.instance_id"]);
        assert_eq!(settings.http.port, 8085);
        assert_eq!(
            (
                settings.mongodb.database.as_str(),
                settings.mongodb.collection.as_str()
            ),
            ("orders", "customer.orders")
        );
        let group = shared_events::topics::ORDERS_CONSUMER_GROUP;
        assert_eq!(settings.consumer.group_id, group);
    }
}
