//! Scenario 6: creates through a broker outage, the platform next to the
//! naive dual-write service, each on its own database and topic of a private
//! broker that is killed (SIGKILL) and restarted mid-run. Afterwards every
//! customer saved in MongoDB is looked for in its service's topic: the
//! platform's outbox publishes every accepted change once the broker is back;
//! the naive service answers 503 for a change it saved but could not publish,
//! and that change never reaches the event store.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::TryStreamExt;
use local_servers::free_port;
use local_servers::servers::{LocalServer, ServerKind};
use mongodb::bson::{Document, doc};
use rdkafka::Message;
use serde::{Deserialize, Serialize};

use crate::measure::Pace;
use crate::processes::{Instance, Own};
use crate::{Result, Target, unique};

/// How long the count waits for a topic that has stopped growing.
const QUIET: Duration = Duration::from_secs(15);

/// How the outage run is shaped.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Creates offered per second to each service.
    pub rate: f64,
    /// Length of the run.
    pub run: Duration,
    /// When the broker is killed, and for how long it stays down.
    pub kill_at: Duration,
    pub down_for: Duration,
    /// `kafka.message_timeout_ms` of both services: how long a produce may
    /// wait for the broker.
    pub message_timeout: Duration,
}

/// What one service did through the outage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutageRow {
    pub service: String,
    pub requests: usize,
    /// Answered 2xx.
    pub accepted: usize,
    /// Answered otherwise, or not within 30 s.
    pub refused: usize,
    /// Customers in the service's database afterwards.
    pub saved: usize,
    /// Distinct customers with an event in the service's topic afterwards.
    pub published: usize,
    /// Customers saved (the change happened) with no event: lost to every
    /// consumer and to any replay.
    pub lost: usize,
    /// Accepted creates with no event.
    pub accepted_lost: usize,
    /// The slowest answer, in milliseconds.
    pub max_ms: f64,
    /// How long after the broker's restart the last event was in the topic.
    pub caught_up_s: f64,
}

/// One service under test: how it is started and where it keeps its data.
struct Subject {
    name: &'static str,
    instance: Instance,
    /// Its database and topic.
    own: Own,
    collection: &'static str,
}

/// Runs the scenario on a private broker from the `tansu` executable and the
/// target's MongoDB-protocol server.
pub async fn run(target: &Target, tansu: &Path, shape: Shape) -> Result<Vec<OutageRow>> {
    let dir = std::env::temp_dir().join(unique("bench_outage"));
    let mut broker = LocalServer::start(ServerKind::Broker, tansu, &dir, free_port()?).await?;
    let measured = measure(target, &mut broker, shape).await;
    broker.stop().await;
    if measured.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    measured.with_context(|| format!("the broker's logs are in {}", dir.display()))
}

async fn measure(
    target: &Target,
    broker: &mut LocalServer,
    shape: Shape,
) -> Result<Vec<OutageRow>> {
    let mut private = target.clone();
    private.brokers = broker.address();
    let timeout = shape.message_timeout.as_millis().to_string();
    let mut subjects = Vec::new();
    for (name, service, collection) in [
        ("accounts-domain", "accounts-domain", "customer_accounts"),
        (crate::NAIVE, "naive-dual-write", "customers"),
    ] {
        let own = Own::new(&private, "bench_outage").await;
        let own = own.context("creating a topic on the private broker")?;
        let settings = [
            ("APP__MONGODB__COLLECTION", collection),
            ("APP__KAFKA__MESSAGE_TIMEOUT_MS", timeout.as_str()),
        ];
        let (instance, _) = Instance::start(&private, service, Some(&own), &settings).await?;
        subjects.push(Subject {
            name,
            instance,
            own,
            collection,
        });
    }
    let answers = subjects.iter().map(|s| offer(&s.instance.url, shape));
    let outage = async {
        tokio::time::sleep(shape.kill_at).await;
        broker.kill().await;
        tokio::time::sleep(shape.down_for).await;
        broker.restart().await
    };
    let (answers, restarted) = tokio::join!(futures::future::join_all(answers), outage);
    restarted.context("restarting the broker")?;
    let back = Instant::now();
    // Counted side by side: each one's catch-up time is its own.
    let counts = subjects
        .iter()
        .zip(answers)
        .map(async |(subject, answers)| {
            let counted = count(&private, subject, answers?, back).await;
            counted.with_context(|| format!("counting {}", subject.name))
        });
    let rows = futures::future::join_all(counts).await;
    let rows = rows.into_iter().collect::<Result<Vec<_>>>()?;
    for subject in subjects {
        subject.instance.stop().await;
    }
    Ok(rows)
}

/// Offers creates of new customers to the service at `base` at the shape's
/// rate for its run; returns the latency in milliseconds of each accepted
/// create, and `None` for each refused one.
async fn offer(base: &str, shape: Shape) -> Result<Vec<Option<f64>>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let create = Arc::<str>::from(format!("{base}/accounts/customer/create"));
    let creates = (shape.run.as_secs_f64() * shape.rate).ceil() as usize;
    let context = (http, create, Arc::<str>::from(unique("outage")));
    Pace::PerSecond(shape.rate)
        .each(creates, context, offer_one)
        .await
}

/// Create `i`: its latency if accepted.
async fn offer_one(
    (http, url, prefix): (reqwest::Client, Arc<str>, Arc<str>),
    i: usize,
) -> Result<Option<f64>> {
    let body = crate::clients::customer(&format!("{prefix}-{i}"));
    let sent = Instant::now();
    let answer = http.post(&*url).json(&body).send().await;
    let accepted = answer.is_ok_and(|a| a.status().is_success());
    Ok(accepted.then(|| sent.elapsed().as_secs_f64() * 1000.0))
}

/// Compares what `subject` saved with what reached its topic, once nothing
/// new has arrived in the topic for a while (the platform's relay publishes
/// its backlog after the broker is back).
async fn count(
    target: &Target,
    subject: &Subject,
    answers: Vec<Option<f64>>,
    back: Instant,
) -> Result<OutageRow> {
    let client = mongodb::Client::with_uri_str(&target.mongodb_uri).await?;
    let customers = client.database(&subject.own.0);
    let customers = customers.collection::<Document>(subject.collection);
    let saved: Vec<Document> = customers
        .find(doc! {})
        .projection(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    let saved: BTreeSet<String> = saved
        .iter()
        .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
        .collect();
    let (mut published, mut caught_up) = (BTreeSet::new(), back.elapsed());
    let mut progress = Instant::now();
    // What the naive service lost never comes: the wait ends when the topic
    // has not grown for `QUIET`.
    while !saved.is_subset(&published) && progress.elapsed() < QUIET {
        // The restarted broker may still refuse a first connection.
        let keys = match topic_keys(&target.brokers, &subject.own.0).await {
            Err(e) if progress.elapsed() >= QUIET => return Err(e),
            Err(_) => published.clone(),
            Ok(keys) => keys,
        };
        if keys.len() > published.len() {
            (caught_up, progress) = (back.elapsed(), Instant::now());
        }
        published = keys;
        if !saved.is_subset(&published) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let lost = saved.difference(&published).count();
    let accepted: Vec<f64> = answers.iter().flatten().copied().collect();
    let refused = answers.len() - accepted.len();
    let max_ms = accepted.iter().copied().fold(0.0, f64::max);
    Ok(OutageRow {
        service: subject.name.to_owned(),
        requests: answers.len(),
        accepted: accepted.len(),
        refused,
        saved: saved.len(),
        published: published.len(),
        lost,
        accepted_lost: lost.saturating_sub(refused),
        max_ms,
        caught_up_s: caught_up.as_secs_f64(),
    })
}

/// The distinct record keys of `topic`, read up to the ends it has now.
async fn topic_keys(brokers: &str, topic: &str) -> Result<BTreeSet<String>> {
    let records = local_servers::read_all(brokers, topic, Duration::from_secs(60)).await?;
    let keys = records.iter().filter_map(|record| record.key());
    Ok(keys
        .map(|key| String::from_utf8_lossy(key).into_owned())
        .collect())
}
