//! Helpers for integration tests that run against the real local servers.
//!
//! `./dev test` (devstack) starts a Kafka-protocol broker and a MongoDB-protocol
//! server and passes their addresses in `PLATFORM_TEST_KAFKA_BROKERS` and
//! `PLATFORM_TEST_MONGODB_URI`. Each test then creates its own topic and
//! database names, so tests run in parallel without seeing each other.

use std::future::Future;
use std::time::{Duration, Instant};

use platform_infra::config::{
    CryptoSettings, KafkaSettings, LogFormat, LogSettings, MongoSettings,
};
use secrecy::SecretString;

use local_servers::test_env;

pub mod jwt;
pub mod otlp;
pub mod router;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `./dev test`, which starts the local servers")
    })
}

/// The test broker's bootstrap servers.
pub fn kafka_brokers() -> String {
    required_env(test_env::KAFKA_BROKERS)
}

/// The test MongoDB URI.
pub fn mongodb_uri() -> String {
    required_env(test_env::MONGODB_URI)
}

/// `prefix` plus a random suffix: a name no other test uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// MongoDB settings for the test server.
pub fn mongo_settings(database: &str, collection: &str) -> MongoSettings {
    MongoSettings {
        uri: SecretString::from(mongodb_uri()),
        database: database.to_owned(),
        collection: collection.to_owned(),
        server_selection_timeout_ms: 2000,
        count_commands: false,
    }
}

/// Kafka settings for the test broker, with a short produce timeout.
pub fn kafka_settings(topic: &str) -> KafkaSettings {
    KafkaSettings {
        brokers: kafka_brokers(),
        topic: topic.to_owned(),
        keys_topic: format!("{topic}.keys"),
        state_topic: format!("{topic}.state"),
        message_timeout_ms: 10_000,
        properties: Default::default(),
    }
}

/// The key-encryption key every service of this test process shares, in
/// base64: random per process.
pub fn kek_base64() -> String {
    static KEK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEK.get_or_init(|| {
        use base64::Engine;
        let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| u.as_bytes().to_vec())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
    .clone()
}

/// Crypto settings with [`kek_base64`].
pub fn crypto_settings() -> CryptoSettings {
    CryptoSettings {
        kek_id: "test-1".to_owned(),
        kek: Some(SecretString::from(kek_base64())),
    }
}

/// The same, as `APP__…` variables for a service process.
pub fn crypto_env() -> [(String, String); 2] {
    [
        ("APP__CRYPTO__KEK_ID".to_owned(), "test-1".to_owned()),
        ("APP__CRYPTO__KEK".to_owned(), kek_base64()),
    ]
}

/// Creates the keys and state topics of a change topic of [`kafka_settings`].
pub async fn create_compacted_topics(topic: &str, partitions: i32) {
    platform_infra::kafka::ensure_compacted_topics(&kafka_settings(topic), partitions, 1)
        .await
        .unwrap_or_else(|e| panic!("cannot create the keys and state topics of {topic}: {e}"));
}

/// Quiet logs unless `RUST_LOG` says otherwise.
pub fn log_settings() -> LogSettings {
    LogSettings {
        format: LogFormat::Pretty,
        filter: "warn".to_owned(),
        otlp_endpoint: None,
    }
}

/// Creates a fresh topic with the event-store configs.
pub async fn create_topic(topic: &str, partitions: i32) {
    platform_infra::kafka::ensure_topic(&kafka_settings(topic), topic, partitions)
        .await
        .unwrap_or_else(|e| panic!("cannot create topic {topic}: {e}"));
}

/// Polls `probe` every 25 ms until it returns `Some`, or panics after `within`
/// naming `what` was awaited.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The seed README's sample request body (with a real e-mail address).
pub const SEED_CUSTOMER_JSON: &str = include_str!("../fixtures/seed-customer.json");

/// The seed's full card numbers, in the forms they may appear in: no test may
/// find any of them in stored data, events or logs.
pub const SEED_CARD_NUMBERS: [&str; 4] = [
    "1234-6789-0000-0000",
    "1234678900000000",
    "9999-8888-7777-6666",
    "9999888877776666",
];

/// The seed body as JSON, with `id` replaced.
pub fn seed_customer(id: &str) -> serde_json::Value {
    let mut body: serde_json::Value =
        serde_json::from_str(SEED_CUSTOMER_JSON).expect("fixture is JSON");
    body["id"] = id.into();
    body
}

/// The `field` of each entry of a problem's `errors`.
pub fn error_fields(problem: &serde_json::Value) -> Vec<&str> {
    let errors = problem["errors"].as_array().into_iter().flatten();
    errors.filter_map(|e| e["field"].as_str()).collect()
}

/// The `id` of each item of a page (a JSON array) of customers.
pub fn page_ids(page: &serde_json::Value) -> Vec<&str> {
    let page = page.as_array().expect("a page is an array");
    page.iter()
        .map(|c| c["id"].as_str().expect("an id"))
        .collect()
}

/// Sends `request`, failing the test if it cannot be sent.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("request sent")
}

/// Asserts that `text` holds none of the seed's card numbers.
pub fn assert_no_card_numbers(text: &str, what: &str) {
    for number in SEED_CARD_NUMBERS {
        assert!(
            !text.contains(number),
            "{what} holds the card number {number}"
        );
    }
}

/// Reads `topic` of the test broker from the beginning with a fresh consumer
/// group until `count` records arrived, or panics after `within`.
pub async fn read_records(
    topic: &str,
    count: usize,
    within: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    read_records_from(&kafka_brokers(), topic, count, within).await
}

/// [`read_records`] from the broker at `brokers`.
pub async fn read_records_from(
    brokers: &str,
    topic: &str,
    count: usize,
    within: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};

    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("test_reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    receive(&consumer, count, within, topic).await
}

/// Receives from `consumer` until `count` records arrived, or panics after
/// `within` naming `what` was read.
async fn receive(
    consumer: &rdkafka::consumer::StreamConsumer,
    count: usize,
    within: Duration,
    what: &str,
) -> Vec<rdkafka::message::OwnedMessage> {
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while records.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => records.push(message.detach()),
            Ok(Err(e)) => eprintln!("test consumer error: {e}"),
            Err(_) => panic!(
                "timed out after {within:?} with {} of {count} records from {what}",
                records.len()
            ),
        }
    }
    records
}

/// Every record `topic` at `brokers` holds now (see
/// [`local_servers::read_all`]); panics after `within`.
pub async fn read_all(
    brokers: &str,
    topic: &str,
    within: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    let records = local_servers::read_all(brokers, topic, within).await;
    records.unwrap_or_else(|e| panic!("{e:#}"))
}

/// Reads partitions `0..partitions` of `topic` at `brokers` from offset 0
/// (not from "the beginning" the broker reports, which the local broker keeps
/// at 0 even after deleting records) until `count` records arrived, or panics
/// after `within`. No consumer group is involved.
pub async fn read_from_offset_zero(
    brokers: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    within: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer = offset_zero_consumer(brokers, topic, partitions);
    receive(
        &consumer,
        count,
        within,
        &format!("{topic} read from offset 0"),
    )
    .await
}

/// A consumer assigned partitions `0..partitions` of `topic` at offset 0,
/// outside any group, that never moves its position by itself
/// (`auto.offset.reset=error`).
pub fn offset_zero_consumer(
    brokers: &str,
    topic: &str,
    partitions: i32,
) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::{Consumer, StreamConsumer};

    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("offset_zero_reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "error")
        .create()
        .expect("test consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, rdkafka::Offset::Offset(0))
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// The value of header `name` of `message`, as text.
pub fn header(message: &rdkafka::message::OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::Message;
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A MongoDB client for the test server, to inspect what services stored.
pub async fn mongo_database(database: &str) -> mongodb::Database {
    mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .expect("mongodb client")
        .database(database)
}

/// The commands a client sent, as the driver's command monitoring reports
/// them: one per round trip to the server.
#[derive(Debug, Clone, Default)]
pub struct CommandLog(std::sync::Arc<std::sync::Mutex<Vec<Command>>>);

/// One command sent: its name and the collection it named, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub collection: Option<String>,
}

impl CommandLog {
    /// The names of the commands sent since the last call, emptying the log.
    pub fn take(&self) -> Vec<String> {
        self.take_commands().into_iter().map(|c| c.name).collect()
    }

    /// The commands sent since the last call, emptying the log.
    pub fn take_commands(&self) -> Vec<Command> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// `database` of the test server through a client whose every command is
/// recorded in the returned log (round-trip counts per operation).
pub async fn counted_mongo_database(database: &str) -> (mongodb::Database, CommandLog) {
    let log = CommandLog::default();
    let mut options = mongodb::options::ClientOptions::parse(mongodb_uri())
        .await
        .expect("mongodb options");
    let sink = log.clone();
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(
        move |event: mongodb::event::command::CommandEvent| {
            if let mongodb::event::command::CommandEvent::Started(started) = event {
                let collection = started
                    .command
                    .get_str(&started.command_name)
                    .ok()
                    .map(str::to_owned);
                sink.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Command {
                        name: started.command_name,
                        collection,
                    });
            }
        },
    ));
    let client = mongodb::Client::with_options(options).expect("mongodb client");
    (client.database(database), log)
}

/// The seed body exactly as the seed README sends it: `id` a JSON number.
pub fn seed_customer_numeric_id(id: u64) -> serde_json::Value {
    let mut body: serde_json::Value =
        serde_json::from_str(SEED_CUSTOMER_JSON).expect("fixture is JSON");
    body["id"] = id.into();
    body
}

/// A server of this test's own, started from the executable that `devstack
/// test` installed, so the test can stop, kill and restart it.
pub struct PrivateServer {
    pub server: local_servers::servers::LocalServer,
    _dir: TempDir,
}

impl PrivateServer {
    /// A private MongoDB-protocol server on a free port.
    pub async fn mongo() -> PrivateServer {
        PrivateServer::start(
            local_servers::servers::ServerKind::Mongo,
            test_env::NX_27017_BIN,
        )
        .await
    }

    /// A private Kafka-protocol broker on a free port.
    pub async fn broker() -> PrivateServer {
        PrivateServer::start(
            local_servers::servers::ServerKind::Broker,
            test_env::TANSU_BIN,
        )
        .await
    }

    /// A private broker whose maintenance pass (retention) runs every
    /// `every` instead of every 10 minutes.
    pub async fn broker_with_maintenance_every(every: Duration) -> PrivateServer {
        let exe = required_env(test_env::TANSU_BIN);
        let dir = TempDir::new(&unique("private_server"));
        let port = local_servers::free_port().expect("free port");
        let server = local_servers::servers::LocalServer::start_broker_with_maintenance_every(
            exe.as_ref(),
            &dir.0,
            port,
            every,
        )
        .await
        .unwrap_or_else(|e| panic!("cannot start a private broker: {e:#}"));
        PrivateServer { server, _dir: dir }
    }

    async fn start(kind: local_servers::servers::ServerKind, exe_env: &str) -> PrivateServer {
        let exe = required_env(exe_env);
        let dir = TempDir::new(&unique("private_server"));
        let port = local_servers::free_port().expect("free port");
        let server = local_servers::servers::LocalServer::start(kind, exe.as_ref(), &dir.0, port)
            .await
            .unwrap_or_else(|e| panic!("cannot start private {kind:?} server: {e:#}"));
        PrivateServer { server, _dir: dir }
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The committed offsets (`partition → offset`) of `group` on partitions
/// `0..partitions` of `topic`; partitions without a commit are absent.
pub async fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: usize,
) -> std::collections::BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let (brokers, group, topic) = (brokers.to_owned(), group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .create()
            .expect("consumer");
        let mut list = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition(&topic, i32::try_from(p).expect("partition"));
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap_or_default();
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    })
    .await
    .expect("join")
}

/// Asserts that every local `$ref` of the JSON document `doc` names a part of
/// it (a schema used but not registered leaves a dangling one).
pub fn assert_refs_resolve(doc: &serde_json::Value) {
    fn walk(node: &serde_json::Value, doc: &serde_json::Value) {
        match node {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    let pointer = target.strip_prefix('#').unwrap_or(target);
                    assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
                }
                map.values().for_each(|v| walk(v, doc));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, doc)),
            _ => {}
        }
    }
    walk(doc, doc);
}

/// Environment variable that makes [`assert_file_in_sync`] rewrite the file.
pub const UPDATE_GENERATED: &str = "UPDATE_CONTRACT";

/// Asserts that the checked-in file `relative` (to the crate under test) holds
/// `generated` as pretty JSON; with `UPDATE_CONTRACT=1` rewrites it instead.
pub fn assert_file_in_sync(relative: &str, generated: &serde_json::Value) {
    // The run-time value: a test binary reused from a shared target directory
    // may have been compiled in another checkout of the workspace.
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    let path = std::path::Path::new(&root).join(relative);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(generated).expect("JSON")
    );
    if std::env::var_os(UPDATE_GENERATED).is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the file's directory");
        }
        std::fs::write(&path, &text).expect("write the generated file");
        return;
    }
    let stored =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    // Compared as JSON values: key order depends on serde_json's features,
    // which differ between building one crate and the whole workspace.
    let stored: serde_json::Value = serde_json::from_str(&stored)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert!(
        &stored == generated,
        "{} is out of date with the code; regenerate it with `{UPDATE_GENERATED}=1 ./dev test`",
        path.display()
    );
}
