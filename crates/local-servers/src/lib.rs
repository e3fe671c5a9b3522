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

/// Every record `topic` at `brokers` holds now: each partition read from its
/// low watermark to its high watermark, outside any group, each offset once
/// (the local broker sends records again after a gap that compaction left);
/// an error after `within`.
pub async fn read_all(
    brokers: &str,
    topic: &str,
    within: Duration,
) -> anyhow::Result<Vec<rdkafka::message::OwnedMessage>> {
    use rdkafka::Message;
    use rdkafka::consumer::{Consumer, StreamConsumer};

    static READERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let reader = READERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("read-all-{}-{reader}", std::process::id()),
        )
        .set("enable.auto.commit", "false");
    let bounds = watermarks(&config, topic).await?;
    let consumer: StreamConsumer = config.create()?;
    let mut assignment = rdkafka::TopicPartitionList::new();
    let mut next = std::collections::BTreeMap::new();
    for (&partition, &(low, high)) in bounds.iter().filter(|(_, (low, high))| low < high) {
        assignment.add_partition_offset(topic, partition, rdkafka::Offset::Offset(low))?;
        next.insert(partition, (low, high));
    }
    if next.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment)?;
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while next.values().any(|(at, high)| at < high) {
        let late = format!("{topic} not read to {bounds:?} within {within:?}: at {next:?}");
        let message = tokio::time::timeout_at(deadline, consumer.recv()).await;
        match message.map_err(|_| anyhow::anyhow!(late))? {
            Ok(message) => match next.get_mut(&message.partition()) {
                Some((at, _)) if message.offset() >= *at => {
                    *at = message.offset() + 1;
                    records.push(message.detach());
                }
                _ => {}
            },
            Err(e) => eprintln!("read_all: consumer error: {e}"),
        }
    }
    Ok(records)
}

/// The low and high watermark of each partition of `topic`, asked through a
/// client of `config`.
async fn watermarks(
    config: &rdkafka::ClientConfig,
    topic: &str,
) -> anyhow::Result<std::collections::BTreeMap<i32, (i64, i64)>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let (config, topic) = (config.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let metadata: BaseConsumer = config.create()?;
        let timeout = Duration::from_secs(10);
        let found = metadata.fetch_metadata(Some(&topic), timeout)?;
        let partitions = found.topics().iter().flat_map(|t| t.partitions());
        let ids: Vec<i32> = partitions.map(|p| p.id()).collect();
        let bounds = ids
            .into_iter()
            .map(|p| Ok((p, metadata.fetch_watermarks(&topic, p, timeout)?)));
        bounds.collect()
    })
    .await?
}
