//! The change topic is an event store: every record given to it can be read
//! back from offset 0 after the broker stops gracefully, crashes, and runs its
//! maintenance pass (the local broker runs one at every start, then every 10
//! minutes). Each test has a broker of its own, so it can restart it.

use std::collections::BTreeMap;
use std::time::Duration;

use platform_infra::config::KafkaSettings;
use platform_infra::kafka::{self, RETENTION_FOREVER_MS};
use platform_testkit as kit;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 90;
const WITHIN: Duration = Duration::from_secs(60);
/// 2001-09-09: records far older than any retention a broker could apply.
const OLD_TIMESTAMP_MS: i64 = 1_000_000_000_000;

/// `(partition, offset) → payload` of what the broker acknowledged.
type Acknowledged = BTreeMap<(i32, i64), Vec<u8>>;

fn settings_for(broker: &kit::PrivateServer, topic: &str) -> KafkaSettings {
    let mut settings = kit::kafka_settings(topic);
    settings.brokers = broker.server.address();
    settings
}

/// Produces `count` records, every other one with a timestamp from 2001.
async fn produce(brokers: &str, topic: &str, count: usize) -> Acknowledged {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut acknowledged = Acknowledged::new();
    for i in 0..count {
        let key = format!("customer-{i}");
        let payload = format!("record {i} of {topic}").into_bytes();
        let mut record = FutureRecord::to(topic).key(&key).payload(&payload);
        if i % 2 == 0 {
            record = record.timestamp(OLD_TIMESTAMP_MS);
        }
        let delivery = producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("record acknowledged");
        acknowledged.insert((delivery.partition, delivery.offset), payload);
    }
    acknowledged
}

/// Reads the topic from offset 0 and asserts it holds exactly what was
/// acknowledged: every record, at its offset, each partition starting at 0.
async fn assert_every_record_from_offset_zero(brokers: &str, topic: &str, expected: &Acknowledged) {
    let records =
        kit::read_from_offset_zero(brokers, topic, PARTITIONS, expected.len(), WITHIN).await;
    let read: Acknowledged = records
        .iter()
        .map(|r| {
            (
                (r.partition(), r.offset()),
                r.payload().unwrap_or_default().to_vec(),
            )
        })
        .collect();
    assert_eq!(&read, expected, "the topic does not hold what was written");
    for partition in 0..PARTITIONS {
        let offsets: Vec<i64> = read
            .keys()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        let contiguous: Vec<i64> = (0..i64::try_from(offsets.len()).expect("count")).collect();
        assert_eq!(offsets, contiguous, "partition {partition} has gaps");
    }
}

#[tokio::test]
async fn every_record_is_read_back_from_offset_zero_after_a_graceful_and_a_crashed_broker_restart()
{
    let mut broker = kit::PrivateServer::broker().await;
    let topic = kit::unique("event_store_restarts");
    kafka::ensure_topic(&settings_for(&broker, &topic), &topic, PARTITIONS)
        .await
        .expect("topic");
    let brokers = broker.server.address();
    let written = produce(&brokers, &topic, RECORDS).await;
    assert_every_record_from_offset_zero(&brokers, &topic, &written).await;

    broker.server.restart().await.expect("SIGTERM and start");
    assert_every_record_from_offset_zero(&brokers, &topic, &written).await;

    broker.server.kill().await;
    broker.server.restart().await.expect("start after SIGKILL");
    assert_every_record_from_offset_zero(&brokers, &topic, &written).await;
}

/// The maintenance pass of the local broker runs at every start and every 10
/// minutes; this broker runs it every second, so the test sees many passes.
/// A topic with the old settings (`retention.ms=-1`, `cleanup.policy=delete`)
/// shows each pass: the pass empties it, after which the broker even reports
/// its end offset as 0. The event store, under the same passes, keeps
/// everything.
#[tokio::test]
async fn maintenance_passes_delete_nothing_from_the_event_store() {
    const ROUNDS: usize = 4;
    let mut broker =
        kit::PrivateServer::broker_with_maintenance_every(Duration::from_secs(1)).await;
    let brokers = broker.server.address();
    let store = kit::unique("event_store_maintained");
    kafka::ensure_topic(&settings_for(&broker, &store), &store, PARTITIONS)
        .await
        .expect("topic");
    let control = kit::unique("retention_minus_one");
    create_with_old_retention(&brokers, &control).await;
    let written = produce(&brokers, &store, RECORDS).await;

    for round in 1..=ROUNDS {
        produce(&brokers, &control, 30).await;
        kit::eventually(
            Duration::from_secs(30),
            &format!("maintenance pass {round} to empty the control topic"),
            || async { control_emptied(&brokers, &control).await.then_some(()) },
        )
        .await;
        assert_every_record_from_offset_zero(&brokers, &store, &written).await;
    }
    // And the pass that runs when the broker starts.
    produce(&brokers, &control, 30).await;
    broker.server.restart().await.expect("restart");
    assert_every_record_from_offset_zero(&brokers, &store, &written).await;
    let configs = kafka::describe_topic_configs(&settings_for(&broker, &store), &store)
        .await
        .expect("describe");
    assert_eq!(
        configs.get("retention.ms").map(String::as_str),
        Some(RETENTION_FOREVER_MS)
    );
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("delete")
    );
}

/// Whether every partition of `topic` reports no record at all (low and high
/// watermark 0): how tansu 0.6 shows a topic its maintenance pass emptied.
/// (Should a later local broker keep these records, the test above times
/// out: then update the README's "Guarantees" section.)
async fn control_emptied(brokers: &str, topic: &str) -> bool {
    let settings = {
        let mut s = kit::kafka_settings(topic);
        s.brokers = brokers.to_owned();
        s
    };
    let config = kafka::client_config(&settings);
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = config.create().expect("consumer");
        (0..PARTITIONS).all(|p| {
            consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(5))
                .is_ok_and(|marks| marks == (0, 0))
        })
    })
    .await
    .expect("watermarks")
}

#[tokio::test]
async fn a_topic_created_with_retention_minus_one_is_corrected_and_then_keeps_every_record() {
    let mut broker = kit::PrivateServer::broker().await;
    let brokers = broker.server.address();
    let topic = kit::unique("event_store_corrected");
    create_with_old_retention(&brokers, &topic).await;
    let written = produce(&brokers, &topic, RECORDS).await;

    // What start-up scripts do: "create" the topic that exists already.
    kafka::ensure_topic(&settings_for(&broker, &topic), &topic, PARTITIONS)
        .await
        .expect("ensure_topic corrects the configs");
    let configs = kafka::describe_topic_configs(&settings_for(&broker, &topic), &topic)
        .await
        .expect("describe");
    assert_eq!(
        configs.get("retention.ms").map(String::as_str),
        Some(RETENTION_FOREVER_MS)
    );

    broker.server.restart().await.expect("restart");
    assert_every_record_from_offset_zero(&brokers, &topic, &written).await;
}

/// Creates `topic` as versions before 2026-11-28 did.
async fn create_with_old_retention(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new_topic = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))
        .set("retention.ms", "-1")
        .set("cleanup.policy", "delete");
    let results = admin
        .create_topics([&new_topic], &AdminOptions::new())
        .await
        .expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}
