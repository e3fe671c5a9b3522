//! The two sides of every scenario: [`Platform`], the services over HTTP,
//! and the baselines, the same work done with the `mongodb` and `rdkafka`
//! clients alone against the same servers ([`Raw`], [`RawPipeline`]); and the
//! waits that tell when the services have caught up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::TryStreamExt;
use futures::future::select_ok;
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use tokio::sync::broadcast::{self, Sender};
use tokio::task::JoinHandle;

use crate::measure::Pace;
use crate::{Result, Target, processes, unique};

/// How long a change may take to show in orders before the run fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Partitions of the raw topics, as many as the change topic's.
const RAW_PARTITIONS: i32 = 3;

/// Creates the customers `{prefix}-0` to `{prefix}-{n - 1}` through accounts,
/// and the same documents in the raw baseline's collection.
pub(crate) async fn populate(target: &Target, prefix: &str, n: usize) -> Result<()> {
    let platform = Platform::new(target, prefix, n);
    Pace::Clients(8).run(n, platform, Platform::create).await?;
    let raw = Raw::new(target, "customers", prefix, n).await?;
    Pace::Clients(8).run(n, raw, Raw::upsert).await?;
    Ok(())
}

/// Indexes the raw baseline's orders by customer id, as the orders service
/// indexes its own.
pub(crate) async fn index_raw_orders(target: &Target) -> Result<()> {
    let raw = Raw::new(target, "customers", "", 1).await?;
    let index = mongodb::IndexModel::builder().keys(doc! { "customerId": 1 });
    raw.orders().create_index(index.build()).await?;
    Ok(())
}

/// The platform's side of a run: the services over HTTP, on the customers
/// `{prefix}-0` to `{prefix}-{count - 1}`, operation `i` on customer `i % count`.
#[derive(Clone)]
pub(crate) struct Platform {
    http: reqwest::Client,
    target: Arc<Target>,
    prefix: String,
    count: usize,
}

impl Platform {
    pub(crate) fn new(target: &Target, prefix: &str, count: usize) -> Platform {
        let (target, prefix) = (Arc::new(target.clone()), prefix.to_owned());
        let http = http();
        Platform {
            http,
            target,
            prefix,
            count,
        }
    }

    pub(crate) fn id(&self, i: usize) -> String {
        format!("{}-{}", self.prefix, i % self.count)
    }

    fn orders(&self, i: usize) -> &str {
        &self.target.orders[i % self.target.orders.len()]
    }

    pub(crate) async fn create(self, i: usize) -> Result<Duration> {
        let body = customer(&self.id(i));
        timed(self.http.post(self.target.create_url(i)).json(&body)).await
    }

    pub(crate) async fn read(self, i: usize) -> Result<Duration> {
        let url = format!("{}/orders/order/{}", self.orders(i), self.id(i));
        timed(self.http.get(url)).await
    }

    pub(crate) async fn page(self, i: usize) -> Result<Duration> {
        let url = format!("{}/orders/list?limit=100", self.orders(i));
        timed(self.http.get(url)).await
    }

    /// From a create's answer to the change being applied in orders, observed
    /// by orders itself: `GET /orders/order/{id}?minVersion=N` answers as soon
    /// as the projector has applied version N (the read-your-writes hook that
    /// clients use in production), so the measurement does not poll.
    pub(crate) async fn propagate(self, i: usize) -> Result<Duration> {
        let id = self.id(i);
        let create = self.http.post(self.target.create_url(i));
        let response = send(create.json(&customer(&id))).await?;
        let answered = Instant::now();
        let body: Value = response.json().await?;
        let version = body["version"].as_i64().context("no version answered")?;
        applied(&self.http, &self.target.orders, &id, version, DEADLINE).await?;
        Ok(answered.elapsed())
    }
}

/// The baseline's side of a run: a collection of the raw database, on the
/// customers as [`Platform`] names them.
#[derive(Clone)]
pub(crate) struct Raw {
    collection: Collection<Document>,
    prefix: String,
    count: usize,
}

impl Raw {
    pub(crate) async fn new(
        target: &Target,
        collection: &str,
        prefix: &str,
        count: usize,
    ) -> Result<Raw> {
        let client = raw_client(target).await?;
        // The local MongoDB-protocol server takes only letters, digits and `_`.
        let name = collection.replace(['-', '.'], "_");
        let collection = client.database("bench_raw").collection(&name);
        let prefix = prefix.to_owned();
        Ok(Raw {
            collection,
            prefix,
            count,
        })
    }

    pub(crate) fn id(&self, i: usize) -> String {
        format!("{}-{}", self.prefix, i % self.count)
    }

    pub(crate) async fn upsert(self, i: usize) -> Result<Duration> {
        let id = self.id(i);
        let document = with_id(mongodb::bson::to_document(&customer(&id))?, &id);
        let started = Instant::now();
        upsert(&self.collection, &id, document).await?;
        Ok(started.elapsed())
    }

    /// The reads behind `GET /orders/order/{id}`: the customer by id, then
    /// its orders by the indexed customer id.
    pub(crate) async fn find(self, i: usize) -> Result<Duration> {
        let (id, started) = (self.id(i), Instant::now());
        let found = self.collection.find_one(doc! { "_id": &id }).await?;
        anyhow::ensure!(found.is_some(), "{id} missing");
        let orders = self.orders();
        let orders = orders.find(doc! { "customerId": &id }).limit(100);
        let _: Vec<Document> = orders.await?.try_collect().await?;
        Ok(started.elapsed())
    }

    /// Upserts the JSON value of `message` as the document of its key, which
    /// it returns.
    pub(crate) async fn apply(&self, message: &BorrowedMessage<'_>) -> Result<String> {
        let (key, document) = raw_document(message).context("unreadable record")?;
        upsert(&self.collection, &key, document).await?;
        Ok(key)
    }

    /// The baseline's orders, one document per order, next to its customers.
    fn orders(&self) -> Collection<Document> {
        let name = format!("{}_orders", self.collection.name());
        self.collection
            .client()
            .database("bench_raw")
            .collection(&name)
    }

    pub(crate) async fn page(self, _: usize) -> Result<Duration> {
        let started = Instant::now();
        let page = self.collection.find(doc! {});
        let page = page.sort(doc! { "_id": 1 }).limit(100);
        let page: Vec<Document> = page.await?.try_collect().await?;
        anyhow::ensure!(!page.is_empty(), "empty page");
        Ok(started.elapsed())
    }
}

/// The raw baselines' client, one for every run so that its connections are
/// not made in a timed run again and again (the services keep theirs).
async fn raw_client(target: &Target) -> Result<mongodb::Client> {
    static CLIENT: tokio::sync::OnceCell<mongodb::Client> = tokio::sync::OnceCell::const_new();
    let connect = async || {
        let client = mongodb::Client::with_uri_str(&target.mongodb_uri).await?;
        client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await?;
        anyhow::Ok(client)
    };
    Ok(CLIENT.get_or_try_init(connect).await?.clone())
}

/// The baseline of scenario 2: a producer (acks=all, idempotent) to a fresh
/// topic, whose consumer ([`apply_raw`]) upserts into MongoDB and announces
/// each key in-process.
#[derive(Clone)]
pub(crate) struct RawPipeline {
    raw: Raw,
    producer: FutureProducer,
    topic: String,
    announce: Sender<String>,
}

impl RawPipeline {
    /// A pipeline through a fresh topic, `n` customers, with its consumer
    /// running until the handle is aborted.
    pub(crate) async fn start(target: &Target, n: usize) -> Result<(Self, JoinHandle<()>)> {
        let topic = unique("bench_raw_pipeline");
        create_topic(target, &topic).await?;
        let raw = Raw::new(target, &topic, &unique("raw-e2e"), n).await?;
        let (announce, _) = broadcast::channel(8192);
        let consumer = raw_consumer(target, &topic)?;
        let consuming = tokio::spawn(apply_raw(consumer, raw.clone(), announce.clone()));
        let producer = raw_producer(target)?;
        let pipeline = RawPipeline {
            raw,
            producer,
            topic,
            announce,
        };
        Ok((pipeline, consuming))
    }

    /// From before the produce until the document, announced, is read.
    pub(crate) async fn propagate(self, i: usize) -> Result<Duration> {
        let (mut announced, id) = (self.announce.subscribe(), self.raw.id(i));
        let payload = customer(&id).to_string();
        let started = Instant::now();
        let record = FutureRecord::to(&self.topic).key(&id).payload(&payload);
        let sent = self.producer.send(record, Timeout::After(DEADLINE)).await;
        sent.map_err(|(e, _)| e)?;
        // Falling behind the announcements ends the wait: the read decides.
        let heard = async { while announced.recv().await.is_ok_and(|key| key != id) {} };
        let heard = tokio::time::timeout(DEADLINE, heard).await;
        heard.with_context(|| format!("{id} not upserted within {DEADLINE:?}"))?;
        let found = self.raw.collection.find_one(doc! { "_id": &id }).await?;
        anyhow::ensure!(found.is_some(), "{id} announced but not readable");
        Ok(started.elapsed())
    }
}

/// The raw pipeline's consumer: upserts every record and announces its key.
async fn apply_raw(consumer: StreamConsumer, raw: Raw, announce: Sender<String>) {
    loop {
        if let Ok(message) = consumer.recv().await
            && let Ok(key) = raw.apply(&message).await
        {
            let _ = announce.send(key);
        }
    }
}

/// A customer body of the seed's shape for `id`.
pub(crate) fn customer(id: &str) -> Value {
    // Parsed once: this runs inside the measured loops, on the same 2 cores as
    // the services.
    static PARSED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    const SEED: &str = include_str!("../../platform-testkit/fixtures/seed-customer.json");
    let parsed = PARSED.get_or_init(|| serde_json::from_str(SEED).unwrap_or_default());
    let mut body = parsed.clone();
    body["id"] = id.into();
    body
}

pub(crate) fn http() -> reqwest::Client {
    let client = reqwest::Client::builder().pool_max_idle_per_host(64);
    client.build().unwrap_or_default()
}

/// Sends `request` and fails unless it answers 2xx.
pub(crate) async fn send(request: RequestBuilder) -> Result<Response> {
    Ok(request.send().await?.error_for_status()?)
}

/// How long `request` takes to answer 2xx with its whole body.
async fn timed(request: RequestBuilder) -> Result<Duration> {
    let started = Instant::now();
    send(request).await?.bytes().await?;
    Ok(started.elapsed())
}

/// Waits up to `within` until some instance in `orders` has applied version
/// `version` of customer `id`, asking again while they answer 404 (not
/// replicated yet: asked again at once, so the time it shows up is measured
/// without a polling step) or 409 (not applied within the service's own wait).
pub(crate) async fn applied(
    http: &reqwest::Client,
    orders: &[String],
    id: &str,
    version: i64,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        // Every orders instance is asked: the one whose projector owns the
        // customer's partition hears of the apply at once, the others only
        // when they next read the replica.
        let asks = orders.iter().map(|base| {
            let ask = http.get(format!("{base}/orders/order/{id}"));
            Box::pin(send(ask.query(&[("minVersion", version)])))
        });
        let Err(error) = select_ok(asks).await else {
            return Ok(());
        };
        let late = format!("{id} v{version} not applied in orders within {within:?}");
        anyhow::ensure!(Instant::now() < deadline, "{late} ({error:#})");
    }
}

/// Waits until orders has applied version 1 of each customer `{prefix}-{i}`
/// for `i` below `count`.
pub(crate) async fn wait_replicated(target: &Target, prefix: &str, count: usize) -> Result<()> {
    let http = http();
    for i in 0..count {
        applied(&http, &target.orders, &format!("{prefix}-{i}"), 1, DEADLINE).await?;
    }
    Ok(())
}

/// Creates a customer and waits up to `within` until some orders instance has
/// applied it: after instances joined the consumer group, its rebalance must
/// end before anything is measured.
pub(crate) async fn warm_up(target: &Target, within: Duration) -> Result<()> {
    let (http, id) = (http(), unique("bench-warm"));
    send(http.post(target.create_url(0)).json(&customer(&id))).await?;
    applied(&http, &target.orders, &id, 1, within).await
}

/// Waits until every accounts instance reports an empty outbox (its
/// `outbox_backlog_customers` gauge at 0) and returns how long that took.
pub(crate) async fn wait_drained(target: &Target, within: Duration) -> Result<Duration> {
    let (http, started) = (http(), Instant::now());
    for base in &target.accounts {
        let url = format!("{base}/actuator/prometheus");
        loop {
            let text = http.get(&url).send().await?.text().await?;
            if text
                .lines()
                .any(|l| l.trim() == "outbox_backlog_customers 0")
            {
                break;
            }
            let late = format!("the outbox did not drain within {within:?}");
            anyhow::ensure!(started.elapsed() < within, late);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(started.elapsed())
}

pub(crate) fn with_id(mut document: Document, id: &str) -> Document {
    document.insert("_id", id);
    document
}

async fn upsert(collection: &Collection<Document>, id: &str, document: Document) -> Result<()> {
    let upsert = collection.replace_one(doc! { "_id": id }, document);
    upsert.upsert(true).await?;
    Ok(())
}

/// The record's key and its JSON value as a document with that `_id`.
fn raw_document(message: &BorrowedMessage<'_>) -> Option<(String, Document)> {
    let key = String::from_utf8_lossy(message.key()?).into_owned();
    let value: Value = serde_json::from_slice(message.payload().unwrap_or_default()).ok()?;
    let document = with_id(mongodb::bson::to_document(&value).ok()?, &key);
    Some((key, document))
}

/// A consumer of every partition of `topic` from the beginning. Assigned, not
/// subscribed: no group join to wait for, as a long-running consumer would
/// have done it long before.
pub(crate) fn raw_consumer(target: &Target, topic: &str) -> Result<StreamConsumer> {
    let settings = kafka_settings(target, topic);
    let mut config = platform_infra::kafka::client_config(&settings);
    let consumer: StreamConsumer = config
        .set("group.id", format!("{topic}-consumer"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        // The local stack's orders consumer waits as long, so both pipelines
        // pay the same latency floor on the local broker.
        .set("fetch.wait.max.ms", processes::FETCH_WAIT_MS)
        .create()?;
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..RAW_PARTITIONS {
        partitions.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&partitions)?;
    Ok(consumer)
}

/// The services' producer: acks=all, idempotent.
pub(crate) fn raw_producer(target: &Target) -> Result<FutureProducer> {
    let settings = local_servers::kafka_settings(&target.brokers);
    Ok(platform_infra::kafka::reliable_producer_config(&settings).create()?)
}

/// The target's broker, with `topic` and its keys and state topics.
pub(crate) fn kafka_settings(
    target: &Target,
    topic: &str,
) -> platform_infra::config::KafkaSettings {
    let [keys_topic, state_topic] = processes::compacted_topics(topic);
    platform_infra::config::KafkaSettings {
        topic: topic.to_owned(),
        keys_topic,
        state_topic,
        ..local_servers::kafka_settings(&target.brokers)
    }
}

/// Creates `topic` with the raw topics' partitions as the services create
/// theirs (kept for ever), and its compacted keys and state topics (the local
/// broker creates no topic by itself).
pub(crate) async fn create_topic(target: &Target, topic: &str) -> Result<()> {
    let settings = kafka_settings(target, topic);
    platform_infra::kafka::ensure_topic(&settings, topic, RAW_PARTITIONS).await?;
    platform_infra::kafka::ensure_compacted_topics(&settings, RAW_PARTITIONS, 1).await
}
