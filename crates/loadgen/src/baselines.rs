//! The raw-client baselines: the same work as each scenario done with the
//! `mongodb` and `rdkafka` clients alone, against the same servers.

use std::time::Instant;

use anyhow::Context;
use futures::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::Result;
use crate::scenarios::{PROPAGATION_DEADLINE, Pace, Target, concurrently, customer};
use crate::stats::Run;

/// `fetch.wait.max.ms` of the raw consumers: what the local stack gives the
/// orders service.
const RAW_FETCH_WAIT_MS: &str = "50";

/// Partitions of the raw topics, as many as the change topic's.
const RAW_PARTITIONS: i32 = 3;

async fn raw_collection(target: &Target, name: &str) -> Result<Collection<Document>> {
    let client = mongodb::Client::with_uri_str(&target.mongodb_uri).await?;
    // The local MongoDB-protocol server takes only letters, digits and `_`.
    Ok(client
        .database("bench_raw")
        .collection(&name.replace(['-', '.'], "_")))
}

async fn upsert(collection: &Collection<Document>, id: &str, document: Document) -> Result<()> {
    collection
        .replace_one(doc! { "_id": id }, document)
        .upsert(true)
        .await?;
    Ok(())
}

/// Baseline of 1: the same documents upserted with the raw driver.
pub async fn raw_upserts(
    target: &Target,
    prefix: &str,
    clients: usize,
    total: usize,
) -> Result<Run> {
    let collection = raw_collection(target, "customers").await?;
    let prefix = prefix.to_owned();
    concurrently(clients, total, move |i| {
        let (collection, id) = (collection.clone(), format!("{prefix}-{i}"));
        async move {
            let mut document = mongodb::bson::to_document(&customer(&id))?;
            document.insert("_id", &id);
            let started = Instant::now();
            upsert(&collection, &id, document).await?;
            Ok(started.elapsed())
        }
    })
    .await
}

/// Baseline of 3: `find_one` by id on the raw collection.
pub async fn raw_reads(
    target: &Target,
    prefix: &str,
    ids: usize,
    clients: usize,
    total: usize,
) -> Result<Run> {
    let collection = raw_collection(target, "customers").await?;
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
pub async fn raw_pages(target: &Target, clients: usize, total: usize) -> Result<Run> {
    let collection = raw_collection(target, "customers").await?;
    concurrently(clients, total, move |_| {
        let collection = collection.clone();
        async move {
            let started = Instant::now();
            let page = collection.find(doc! {}).sort(doc! { "_id": 1 }).limit(100);
            let page: Vec<Document> = page.await?.try_collect().await?;
            anyhow::ensure!(!page.is_empty(), "empty page");
            Ok(started.elapsed())
        }
    })
    .await
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
) -> Result<Run> {
    let collection = raw_collection(target, topic).await?;
    let (applied, _) = broadcast::channel::<String>(8192);
    let consuming = tokio::spawn(apply_raw(
        raw_consumer(target, topic)?,
        collection.clone(),
        applied.clone(),
    ));
    let producer = raw_producer(target)?;
    let (topic, prefix) = (topic.to_owned(), prefix.to_owned());
    let run = pace
        .run(count, move |i| {
            let (producer, collection) = (producer.clone(), collection.clone());
            let (topic, id) = (topic.clone(), format!("{prefix}-{i}"));
            let announced = applied.subscribe();
            async move { raw_change(&producer, &collection, &topic, &id, announced).await }
        })
        .await;
    consuming.abort();
    run
}

/// The raw pipeline's consumer: upserts every record and announces its key.
async fn apply_raw(
    consumer: StreamConsumer,
    collection: Collection<Document>,
    applied: broadcast::Sender<String>,
) {
    loop {
        let Ok(message) = consumer.recv().await else {
            continue;
        };
        let Some((key, document)) = raw_document(&message) else {
            continue;
        };
        if upsert(&collection, &key, document).await.is_ok() {
            let _ = applied.send(key);
        }
    }
}

/// One change through the raw pipeline: produce, hear it applied, read it.
async fn raw_change(
    producer: &FutureProducer,
    collection: &Collection<Document>,
    topic: &str,
    id: &str,
    mut announced: broadcast::Receiver<String>,
) -> Result<std::time::Duration> {
    let payload = customer(id).to_string();
    let started = Instant::now();
    let record = FutureRecord::to(topic).key(id).payload(&payload);
    producer
        .send(record, Timeout::After(PROPAGATION_DEADLINE))
        .await
        .map_err(|(e, _)| e)?;
    let heard = async {
        // Falling behind the announcements ends the wait: the read decides.
        while let Ok(key) = announced.recv().await {
            if key == id {
                return;
            }
        }
    };
    tokio::time::timeout(PROPAGATION_DEADLINE, heard)
        .await
        .with_context(|| format!("{id} not upserted within {PROPAGATION_DEADLINE:?}"))?;
    let found = collection.find_one(doc! { "_id": id }).await?;
    anyhow::ensure!(found.is_some(), "{id} announced but not readable");
    Ok(started.elapsed())
}

/// A consumer of every partition of `topic` from the beginning. Assigned, not
/// subscribed: no group join to wait for, as a long-running consumer would
/// have done it long before.
fn raw_consumer(target: &Target, topic: &str) -> Result<StreamConsumer> {
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

fn raw_producer(target: &Target) -> Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()?)
}

/// The record's key and its JSON value as a document with that `_id`.
fn raw_document(message: &BorrowedMessage<'_>) -> Option<(String, Document)> {
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
) -> Result<usize> {
    let producer = raw_producer(target)?;
    let template: Value = serde_json::from_str(shared_events::samples::CUSTOMER_CREATED)?;
    for version in 1..=versions {
        let mut deliveries = Vec::with_capacity(customers);
        for c in 0..customers {
            let id = format!("replay-{c}");
            let payload = replay_event(&template, &id, version);
            let record = FutureRecord::to(topic).key(&id).payload(&payload);
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        }
        for delivery in deliveries {
            let delivered = delivery.await.context("producer dropped a delivery")?;
            delivered.map_err(|(e, _)| e)?;
        }
    }
    Ok(customers * versions as usize)
}

/// Version `version` of customer `id` as a change event like `template`.
fn replay_event(template: &Value, id: &str, version: u64) -> String {
    let mut event = template.clone();
    event["id"] = uuid::Uuid::new_v4().to_string().into();
    event["subject"] = id.into();
    event["data"]["id"] = id.into();
    event["data"]["version"] = version.into();
    event["data"]["name"]["firstName"] = format!("V{version}").into();
    if version > 1 {
        event["type"] = shared_events::CustomerChangeType::Updated.as_str().into();
    }
    event.to_string()
}

/// Baseline of 4: consume `topic` from the beginning and upsert every record
/// into a fresh collection with the raw driver, until `events` are done.
pub async fn raw_replay(target: &Target, topic: &str, events: usize) -> Result<Run> {
    let collection = raw_collection(target, &crate::unique("raw_replay")).await?;
    let consumer = raw_consumer(target, topic)?;
    let started = Instant::now();
    for _ in 0..events {
        let message = tokio::time::timeout(PROPAGATION_DEADLINE, consumer.recv())
            .await
            .context("the raw replay stalled")??;
        let (key, document) = raw_document(&message).context("unreadable replay record")?;
        upsert(&collection, &key, document).await?;
    }
    Ok(Run::throughput_only(events, started.elapsed()))
}

/// Creates `topic` with 3 partitions (event-store settings are not needed here).
pub async fn create_topic(target: &Target, topic: &str) -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        .create()?;
    let topics = [NewTopic::new(
        topic,
        RAW_PARTITIONS,
        TopicReplication::Fixed(1),
    )];
    for result in admin.create_topics(&topics, &AdminOptions::new()).await? {
        result.map_err(|(name, e)| anyhow::anyhow!("cannot create {name}: {e}"))?;
    }
    Ok(())
}
