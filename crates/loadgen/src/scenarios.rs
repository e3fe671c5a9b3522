//! The scenarios, each next to its raw-client baseline against the same servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::TryStreamExt;
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
    /// Base URLs of the accounts instances; requests go round-robin.
    pub accounts: Vec<String>,
    /// Base URLs of the orders instances.
    pub orders: Vec<String>,
    pub mongodb_uri: String,
    pub brokers: String,
}

impl Target {
    /// Instances per service, as a variant label.
    pub fn instances(&self) -> String {
        match self.accounts.len().max(self.orders.len()) {
            1 => "1 instance".to_owned(),
            n => format!("{n} instances"),
        }
    }
}

/// `fetch.wait.max.ms` of the raw consumers: what the local stack gives the
/// orders service.
const RAW_FETCH_WAIT_MS: &str = "50";

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
    let urls: Vec<String> = target
        .accounts
        .iter()
        .map(|base| format!("{base}/accounts/customer/create"))
        .collect();
    let prefix = prefix.to_owned();
    concurrently(clients, total, move |i| {
        let request = client
            .post(&urls[i % urls.len()])
            .json(&customer(&format!("{prefix}-{i}")));
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
    let bases = target.orders.clone();
    concurrently(clients, total, move |i| {
        let request = client.get(format!("{}{}", bases[i % bases.len()], path(i)));
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

/// Baseline of the list read: the first 100 documents by id on the raw
/// collection.
pub async fn raw_pages(
    target: &Target,
    collection: &str,
    clients: usize,
    total: usize,
) -> anyhow::Result<Run> {
    let collection = raw_collection(target, collection).await?;
    concurrently(clients, total, move |_| {
        let collection = collection.clone();
        async move {
            let started = Instant::now();
            let page: Vec<Document> = collection
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .limit(100)
                .await?
                .try_collect()
                .await?;
            anyhow::ensure!(!page.is_empty(), "empty page");
            Ok(started.elapsed())
        }
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

/// Scenario 2: from a create's response to the change being applied in orders,
/// observed by orders itself: `GET /orders/order/{id}?minVersion=N` answers as
/// soon as the projector has applied version N (the read-your-writes hook that
/// clients use in production), so the measurement does not poll.
pub async fn propagation(
    target: &Target,
    prefix: &str,
    pace: Pace,
    count: usize,
) -> anyhow::Result<Run> {
    let client = http();
    let accounts = target.accounts.clone();
    let orders = target.orders.clone();
    let prefix = prefix.to_owned();
    pace.run(count, move |i| {
        let client = client.clone();
        let id = format!("{prefix}-{i}");
        let create = client
            .post(format!(
                "{}/accounts/customer/create",
                accounts[i % accounts.len()]
            ))
            .json(&customer(&id));
        let reads: Vec<String> = orders
            .iter()
            .map(|base| format!("{base}/orders/order/{id}"))
            .collect();
        async move {
            let response = create.send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "create answered {}",
                response.status()
            );
            let answered = Instant::now();
            let body: Value = response.json().await?;
            let version = body["version"]
                .as_u64()
                .context("no version in the answer")?;
            let deadline = answered + PROPAGATION_DEADLINE;
            loop {
                // Every orders instance is asked: the one whose projector owns
                // the customer's partition hears of the apply at once, the
                // others only when they next read the replica.
                let asks = reads.iter().map(|read| {
                    let request = client.get(read).query(&[("minVersion", version)]).send();
                    Box::pin(async move {
                        match request.await {
                            Ok(r) if r.status().is_success() => Ok(()),
                            Ok(r) => Err(anyhow::anyhow!("orders answered {}", r.status())),
                            Err(e) => Err(e.into()),
                        }
                    })
                });
                let seen = futures::future::select_ok(asks).await;
                if seen.is_ok() {
                    return Ok(answered.elapsed());
                }
                // 503: not applied within the service's wait; 404: not yet
                // replicated at all. Ask again until the deadline.
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{id} v{version} not applied in orders within {PROPAGATION_DEADLINE:?} ({})",
                    seen.err().map(|e| format!("{e:#}")).unwrap_or_default()
                );
            }
        }
    })
    .await
}

/// How changes are offered: at a fixed rate, or by clients each waiting for
/// the previous change to arrive (saturation).
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    PerSecond(f64),
    Clients(usize),
}

impl std::fmt::Display for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pace::PerSecond(rate) => write!(f, "{rate}/s offered"),
            Pace::Clients(clients) => write!(f, "saturation, {clients} clients"),
        }
    }
}

impl Pace {
    async fn run<F, Fut>(self, count: usize, op: F) -> anyhow::Result<Run>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Duration>> + Send + 'static,
    {
        match self {
            Pace::PerSecond(rate) => at_rate(rate, count, op).await,
            Pace::Clients(clients) => concurrently(clients, count, op).await,
        }
    }
}

/// Baseline of 2: produce to a fresh topic (acks=all, idempotent); a raw
/// consumer upserts into MongoDB and says so in-process; the waiter then reads
/// the document. From before the produce to the read.
pub async fn raw_pipeline(
    target: &Target,
    topic: &str,
    prefix: &str,
    pace: Pace,
    count: usize,
) -> anyhow::Result<Run> {
    // The local MongoDB-protocol server takes only letters, digits and `_`.
    let collection = raw_collection(target, &topic.replace(['-', '.'], "_")).await?;
    let consumer = raw_consumer(target, topic)?;
    let (applied, _) = tokio::sync::broadcast::channel::<String>(8192);
    let sink = collection.clone();
    let announce = applied.clone();
    let consuming = tokio::spawn(async move {
        loop {
            let Ok(message) = consumer.recv().await else {
                continue;
            };
            let Some((key, document)) = raw_document(&message) else {
                continue;
            };
            if sink
                .replace_one(doc! { "_id": &key }, document)
                .upsert(true)
                .await
                .is_ok()
            {
                let _ = announce.send(key);
            }
        }
    });
    let producer = raw_producer(target)?;
    let topic = topic.to_owned();
    let prefix = prefix.to_owned();
    let run = pace
        .run(count, move |i| {
            let producer = producer.clone();
            let collection = collection.clone();
            let topic = topic.clone();
            let id = format!("{prefix}-{i}");
            let mut announced = applied.subscribe();
            async move {
                let payload = customer(&id).to_string();
                let started = Instant::now();
                producer
                    .send(
                        FutureRecord::to(&topic).key(&id).payload(&payload),
                        Timeout::After(PROPAGATION_DEADLINE),
                    )
                    .await
                    .map_err(|(e, _)| e)?;
                let wait = async {
                    loop {
                        match announced.recv().await {
                            Ok(key) if key == id => return,
                            Ok(_) => {}
                            // Fell behind the announcements: the read below decides.
                            Err(_) => return,
                        }
                    }
                };
                tokio::time::timeout(PROPAGATION_DEADLINE, wait)
                    .await
                    .with_context(|| {
                        format!("{id} not upserted within {PROPAGATION_DEADLINE:?}")
                    })?;
                let found = collection.find_one(doc! { "_id": &id }).await?;
                anyhow::ensure!(found.is_some(), "{id} announced but not readable");
                Ok(started.elapsed())
            }
        })
        .await;
    consuming.abort();
    run
}

/// A consumer of every partition of `topic` from the beginning. Assigned, not
/// subscribed: no group join to wait for, as a long-running consumer would
/// have done it long before.
fn raw_consumer(target: &Target, topic: &str) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("group.id", format!("{topic}-consumer"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        // The same fetch wait as the local stack's orders consumer, so both
        // pipelines pay the same latency floor on the local broker.
        .set("fetch.wait.max.ms", RAW_FETCH_WAIT_MS)
        .create()?;
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..RAW_PARTITIONS {
        partitions.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&partitions)?;
    Ok(consumer)
}

fn raw_producer(target: &Target) -> anyhow::Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()?)
}

/// The record's key and its JSON value as a document with that `_id`.
fn raw_document(message: &rdkafka::message::BorrowedMessage<'_>) -> Option<(String, Document)> {
    let key = String::from_utf8_lossy(message.key()?).into_owned();
    let value: Value = serde_json::from_slice(message.payload().unwrap_or_default()).ok()?;
    let mut document = mongodb::bson::to_document(&value).ok()?;
    document.insert("_id", &key);
    Some((key, document))
}

/// Fills `topic` for scenario 4: `versions` change events of each of
/// `customers` customers, each version of every customer before the next
/// version of any, as the accounts relay would publish them.
pub async fn fill_replay_topic(
    target: &Target,
    topic: &str,
    customers: usize,
    versions: u64,
) -> anyhow::Result<usize> {
    let producer = raw_producer(target)?;
    let template: Value = serde_json::from_str(shared_events::samples::CUSTOMER_CREATED)?;
    let mut sent = 0;
    for version in 1..=versions {
        let mut deliveries = Vec::with_capacity(customers);
        for c in 0..customers {
            let id = format!("replay-{c}");
            let mut event = template.clone();
            event["id"] = uuid::Uuid::new_v4().to_string().into();
            event["subject"] = id.clone().into();
            event["data"]["id"] = id.clone().into();
            event["data"]["version"] = version.into();
            event["data"]["name"]["firstName"] = format!("V{version}").into();
            if version > 1 {
                event["type"] = shared_events::CustomerChangeType::Updated.as_str().into();
            }
            let payload = event.to_string();
            let delivery = producer
                .send_result(FutureRecord::to(topic).key(&id).payload(&payload))
                .map_err(|(e, _)| e)?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            delivery
                .await
                .context("producer dropped a delivery")?
                .map_err(|(e, _)| e)?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Baseline of 4: consume `topic` from the beginning and upsert every record
/// into a fresh collection with the raw driver, until `events` are done.
pub async fn raw_replay(target: &Target, topic: &str, events: usize) -> anyhow::Result<Run> {
    let collection = raw_collection(target, &crate::unique("raw_replay").replace('-', "_")).await?;
    let consumer = raw_consumer(target, topic)?;
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        let message = tokio::time::timeout(PROPAGATION_DEADLINE, consumer.recv())
            .await
            .context("the raw replay stalled")??;
        let (key, document) = raw_document(&message).context("unreadable replay record")?;
        collection
            .replace_one(doc! { "_id": &key }, document)
            .upsert(true)
            .await?;
        done += 1;
    }
    Ok(Run::throughput_only(done, started.elapsed()))
}

/// Waits until every accounts instance reports an empty outbox (its
/// `outbox_backlog_customers` gauge at 0) and returns how long that took.
pub async fn wait_drained(target: &Target, within: Duration) -> anyhow::Result<Duration> {
    let client = http();
    let started = Instant::now();
    for base in &target.accounts {
        let url = format!("{base}/actuator/prometheus");
        loop {
            let text = client.get(&url).send().await?.text().await?;
            if text
                .lines()
                .any(|l| l.trim() == "outbox_backlog_customers 0")
            {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "the outbox did not drain within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(started.elapsed())
}

/// Creates a customer and waits up to `within` until some orders instance
/// has applied it: after instances joined the consumer group, its rebalance
/// must end before anything is measured.
pub async fn warm_up(target: &Target, within: Duration) -> anyhow::Result<()> {
    let id = crate::unique("bench-warm");
    let created = http()
        .post(format!("{}/accounts/customer/create", target.accounts[0]))
        .json(&customer(&id))
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "create answered {}",
        created.status()
    );
    let started = Instant::now();
    loop {
        for base in &target.orders {
            let url = format!("{base}/orders/order/{id}");
            let seen = http().get(&url).query(&[("minVersion", 1)]).send().await?;
            if seen.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "no orders instance applied a change within {within:?}"
        );
    }
}

/// Waits until orders has applied customer `id` (the service waits for the
/// apply; asked again while it answers 404 or 503).
pub async fn wait_replicated(target: &Target, id: &str) -> anyhow::Result<()> {
    let client = http();
    let url = format!("{}/orders/order/{id}", target.orders[0]);
    let deadline = Instant::now() + PROPAGATION_DEADLINE;
    loop {
        let response = client.get(&url).query(&[("minVersion", 1)]).send().await?;
        if response.status().is_success() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{id} not in orders within {PROPAGATION_DEADLINE:?}"
        );
    }
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
