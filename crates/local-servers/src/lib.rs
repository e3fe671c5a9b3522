//! Starting the local servers and the services as child processes, for
//! `devstack` and for tests: the Kafka-protocol broker (tansu) and the
//! MongoDB-protocol server (nx-27017) as [`servers::LocalServer`]s that a test
//! can kill and restart, supervised children ([`process::Supervised`]), and
//! the environment through which `devstack test` tells tests where
//! everything is ([`test_env`]).

use std::time::{Duration, Instant};

use anyhow::bail;
use platform_infra::config::KafkaSettings;
use shared_events::topics;

pub mod process;
pub mod servers;

use process::Supervised;
use servers::READY_TIMEOUT;

/// Partitions of the customer change topic.
pub const CHANGE_TOPIC_PARTITIONS: i32 = 3;

/// Settings to reach a broker, for the admin client.
pub fn kafka_settings(brokers: &str) -> KafkaSettings {
    KafkaSettings {
        brokers: brokers.to_owned(),
        topic: topics::CUSTOMER_CHANGE.to_owned(),
        keys_topic: topics::CUSTOMER_KEYS.to_owned(),
        state_topic: topics::CUSTOMER_STATE.to_owned(),
        message_timeout_ms: 30_000,
        properties: Default::default(),
    }
}

/// Polls a service's health endpoint until it answers 200.
pub async fn wait_healthy(service: &mut Supervised, port: u16) -> anyhow::Result<()> {
    wait_for_health(service, port, "healthy", |_| true).await
}

/// Polls the orders service's health until its projector has partitions of
/// the change topic assigned: the consumer group takes a few seconds to form
/// on the local broker (about 5 s), and until then no change reaches the
/// replica, so a stack reported up before it would not yet replicate.
pub async fn wait_projector_assigned(service: &mut Supervised, port: u16) -> anyhow::Result<()> {
    wait_for_health(service, port, "assigned partitions", |health| {
        health["components"]["projector"]["assignedPartitions"]
            .as_array()
            .is_some_and(|partitions| !partitions.is_empty())
    })
    .await
}

/// Polls `service`'s health endpoint until it answers 200 with a body for
/// which `done` holds; fails if the service exits or after [`READY_TIMEOUT`].
async fn wait_for_health(
    service: &mut Supervised,
    port: u16,
    what: &str,
    done: fn(&serde_json::Value) -> bool,
) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/actuator/health");
    // Longer than the health endpoint's own checks (2 s each, in parallel):
    // with the broker down the Kafka check takes all of its 2 s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = service.exited() {
            bail!("{} exited during start-up ({status})", service.name);
        }
        if let Ok(response) = client.get(&url).send().await
            && response.status().is_success()
            && response.json().await.is_ok_and(|health| done(&health))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} not {what} within {READY_TIMEOUT:?}", service.name);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Environment variables through which `devstack test` tells the tests where
/// the servers and their executables are.
pub mod test_env {
    pub const KAFKA_BROKERS: &str = "PLATFORM_TEST_KAFKA_BROKERS";
    pub const MONGODB_URI: &str = "PLATFORM_TEST_MONGODB_URI";
    pub const TANSU_BIN: &str = "PLATFORM_TEST_TANSU_BIN";
    pub const NX_27017_BIN: &str = "PLATFORM_TEST_NX_27017_BIN";
    pub const ACCOUNTS_BIN: &str = "PLATFORM_TEST_ACCOUNTS_BIN";
    pub const ORDERS_BIN: &str = "PLATFORM_TEST_ORDERS_BIN";
    pub const DEVSTACK_BIN: &str = "PLATFORM_TEST_DEVSTACK_BIN";
    /// `1`: run the shared test servers as `mongo` and `apache/kafka`
    /// containers (needs Docker and the `containers` feature).
    pub const CONTAINERS: &str = "PLATFORM_TEST_CONTAINERS";
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
