//! The scenarios, each next to its raw-client baseline against the same servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::join_all;
use mongodb::bson::{Document, doc};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::Value;

use crate::stats::Run;

/// Where the services and the servers under them are.
#[derive(Debug, Clone)]
pub struct Target {
    pub accounts: String,
    pub orders: String,
    pub mongodb_uri: String,
    pub brokers: String,
}

/// Partitions of the raw pipeline's topic, as many as the change topic's.
const RAW_PARTITIONS: i32 = 3;

/// How long a change may take to show in orders before the run fails.
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(30);

/// A customer body of the seed's shape for `id`.
pub fn customer(id: &str) -> Value {
    // Parsed once: this runs inside the measured loops, on the same 2 cores as
    // the services.
    static PARSED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut body = PARSED
        .get_or_init(|| serde_json::from_str(SEED).unwrap_or_default())
        .clone();
    body["id"] = id.into();
    body
}

const SEED: &str = include_str!("../../platform-testkit/fixtures/seed-customer.json");

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

/// Runs `total` operations over `clients` concurrent workers; `op(i)` is the
/// i-th operation and returns its latency.
async fn concurrently<F, Fut>(clients: usize, total: usize, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Duration>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let workers = (0..clients).map(|worker| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while i < total {
                latencies.push(op(i).await?);
                i += clients;
            }
            anyhow::Ok(latencies)
        })
    });
    let mut latencies = Vec::with_capacity(total);
    for result in join_all(workers).await {
        latencies.extend(result.context("worker panicked")??);
    }
    Ok(Run::from_latencies(latencies, started.elapsed()))
}

/// Scenario 1: customers created through accounts by `clients` clients.
pub async fn accounts_writes(
    target: &Target,
    prefix: &str,
    clients: usize,
    total: usize,
) -> anyhow::Result<Run> {
    let client = http();
    let url = format!("{}/accounts/customer/create", target.accounts);
    let prefix = prefix.to_owned();
    concurrently(clients, total, move |i| {
        let request = client.post(&url).json(&customer(&format!("{prefix}-{i}")));
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "create answered {}",
                response.status()
            );
            response.bytes().await?;
            Ok(started.elapsed())
        }
    })
    .await
}

async fn raw_collection(
    target: &Target,
    name: &str,
) -> anyhow::Result<mongodb::Collection<Document>> {
    let client = mongodb::Client::with_uri_str(&target.mongodb_uri).await?;
    Ok(client.database("bench_raw").collection(name))
}

/// Baseline of 1: the same documents upserted with the raw driver.
pub async fn raw_upserts(
    target: &Target,
    collection: &str,
    prefix: &str,
    clients: usize,
    total: usize,
) -> anyhow::Result<Run> {
    let collection = raw_collection(target, collection).await?;
    let prefix = prefix.to_owned();
    concurrently(clients, total, move |i| {
        let collection = collection.clone();
        let id = format!("{prefix}-{i}");
        async move {
            let mut document = mongodb::bson::to_document(&customer(&id))?;
            document.insert("_id", &id);
            let started = Instant::now();
            collection
                .replace_one(doc! { "_id": &id }, document)
                .upsert(true)
                .await?;
            Ok(started.elapsed())
        }
    })
    .await
}

/// Scenario 3: `GET path(i)` on orders by `clients` clients.
pub async fn orders_reads(
    target: &Target,
    clients: usize,
    total: usize,
    path: impl Fn(usize) -> String + Send + Sync + 'static,
) -> anyhow::Result<Run> {
    let client = http();
    let base = target.orders.clone();
    concurrently(clients, total, move |i| {
        let request = client.get(format!("{base}{}", path(i)));
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "read answered {}",
                response.status()
            );
            response.bytes().await?;
            Ok(started.elapsed())
        }
    })
    .await
}

/// Baseline of 3: `find_one` by id on the raw collection.
pub async fn raw_reads(
    target: &Target,
    collection: &str,
    prefix: &str,
    ids: usize,
    clients: usize,
    total: usize,
) -> anyhow::Result<Run> {
    let collection = raw_collection(target, collection).await?;
    let prefix = prefix.to_owned();
    concurrently(clients, total, move |i| {
        let collection = collection.clone();
        let id = format!("{prefix}-{}", i % ids.max(1));
        async move {
            let started = Instant::now();
            let found = collection.find_one(doc! { "_id": &id }).await?;
            anyhow::ensure!(found.is_some(), "{id} missing");
            Ok(started.elapsed())
        }
    })
    .await
}

/// Waits until `probe` succeeds, polling every millisecond.
async fn poll_until<F, Fut>(probe: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PROPAGATION_DEADLINE;
    while !probe().await {
        anyhow::ensure!(
            Instant::now() < deadline,
            "not visible within {PROPAGATION_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Waits until `GET url` succeeds, polling every millisecond.
async fn poll_until_found(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    poll_until(|| {
        let request = client.get(url);
        async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await
}

/// Starts `count` operations at `rate` per second, each on its own task.
async fn at_rate<F, Fut>(rate: f64, count: usize, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        tasks.push(tokio::spawn(op(i)));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in join_all(tasks).await {
        latencies.push(task.context("task panicked")??);
    }
    Ok(Run::from_latencies(latencies, started.elapsed()))
}

/// Scenario 2: from a create's response to the customer showing in orders.
pub async fn propagation(
    target: &Target,
    prefix: &str,
    rate: f64,
    count: usize,
) -> anyhow::Result<Run> {
    let client = http();
    let accounts = format!("{}/accounts/customer/create", target.accounts);
    let orders = target.orders.clone();
    at_rate(rate, count, |i| {
        let client = client.clone();
        let id = format!("{prefix}-{i}");
        let create = client.post(&accounts).json(&customer(&id));
        let read = format!("{orders}/orders/order/{id}");
        async move {
            let response = create.send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "create answered {}",
                response.status()
            );
            let answered = Instant::now();
            poll_until_found(&client, &read).await?;
            Ok(answered.elapsed())
        }
    })
    .await
}

/// Baseline of 2: produce to a fresh topic (acks=all, idempotent), a raw
/// consumer upserts into MongoDB; from the produce acknowledgement to the
/// document being readable.
pub async fn raw_pipeline(
    target: &Target,
    topic: &str,
    prefix: &str,
    rate: f64,
    count: usize,
) -> anyhow::Result<Run> {
    // The local MongoDB-protocol server takes only letters, digits and `_`.
    let collection = raw_collection(target, &topic.replace(['-', '.'], "_")).await?;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("group.id", format!("{topic}-consumer"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .create()?;
    // Assigned, not subscribed: no group join to wait for, as a long-running
    // consumer would have done it long before.
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..RAW_PARTITIONS {
        partitions.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&partitions)?;
    let sink = collection.clone();
    let consuming = tokio::spawn(async move {
        loop {
            let Ok(message) = consumer.recv().await else {
                continue;
            };
            let Some(key) = message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
            else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<Value>(message.payload().unwrap_or_default())
            else {
                continue;
            };
            let Ok(mut document) = mongodb::bson::to_document(&value) else {
                continue;
            };
            document.insert("_id", &key);
            let _ = sink
                .replace_one(doc! { "_id": &key }, document)
                .upsert(true)
                .await;
        }
    });
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()?;
    let topic = topic.to_owned();
    let run = at_rate(rate, count, |i| {
        let producer = producer.clone();
        let collection = collection.clone();
        let topic = topic.clone();
        let id = format!("{prefix}-{i}");
        async move {
            let payload = customer(&id).to_string();
            producer
                .send(
                    FutureRecord::to(&topic).key(&id).payload(&payload),
                    Timeout::After(Duration::from_secs(30)),
                )
                .await
                .map_err(|(e, _)| e)?;
            let acknowledged = Instant::now();
            poll_until(|| {
                let collection = collection.clone();
                let id = id.clone();
                async move { matches!(collection.find_one(doc! { "_id": id }).await, Ok(Some(_))) }
            })
            .await?;
            Ok(acknowledged.elapsed())
        }
    })
    .await;
    consuming.abort();
    run
}

/// Waits until the accounts relay reports an empty outbox (its
/// `outbox_backlog_customers` gauge at 0) and returns how long that took.
pub async fn wait_drained(target: &Target, within: Duration) -> anyhow::Result<Duration> {
    let client = http();
    let url = format!("{}/actuator/prometheus", target.accounts);
    let started = Instant::now();
    loop {
        let text = client.get(&url).send().await?.text().await?;
        let drained = text
            .lines()
            .any(|l| l.trim() == "outbox_backlog_customers 0");
        if drained {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "the outbox did not drain within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until orders shows customer `id`.
pub async fn wait_replicated(target: &Target, id: &str) -> anyhow::Result<()> {
    poll_until_found(&http(), &format!("{}/orders/order/{id}", target.orders)).await
}

/// Creates `topic` with 3 partitions (event-store settings are not needed here).
pub async fn create_topic(target: &Target, topic: &str) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .create()?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await?;
    for result in results {
        result.map_err(|(name, e)| anyhow::anyhow!("cannot create {name}: {e}"))?;
    }
    Ok(())
}
