//! The platform's side of each scenario, driven over HTTP, and the load shapes
//! (concurrent clients, a fixed rate) that the baselines share.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::{join_all, select_ok};
use reqwest::{RequestBuilder, Response};
use serde_json::Value;

use crate::Result;
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

    /// The create endpoint of the accounts instance taking request `i`.
    fn create_url(&self, i: usize) -> String {
        format!(
            "{}/accounts/customer/create",
            self.accounts[i % self.accounts.len()]
        )
    }
}

/// How long a change may take to show in orders before the run fails.
pub(crate) const PROPAGATION_DEADLINE: Duration = Duration::from_secs(30);

/// A customer body of the seed's shape for `id`.
pub(crate) fn customer(id: &str) -> Value {
    // Parsed once: this runs inside the measured loops, on the same 2 cores as
    // the services.
    static PARSED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    const SEED: &str = include_str!("../../platform-testkit/fixtures/seed-customer.json");
    let mut body = PARSED
        .get_or_init(|| serde_json::from_str(SEED).unwrap_or_default())
        .clone();
    body["id"] = id.into();
    body
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

/// Runs `total` operations over `clients` concurrent workers; `op(i)` is the
/// i-th operation and returns its latency.
pub(crate) async fn concurrently<F, Fut>(clients: usize, total: usize, op: F) -> Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Duration>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let workers = (0..clients).map(|worker| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (worker..total).step_by(clients) {
                latencies.push(op(i).await?);
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

/// Starts `count` operations at `rate` per second, each on its own task.
async fn at_rate<F, Fut>(rate: f64, count: usize, op: F) -> Result<Run>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Duration>> + Send + 'static,
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
    pub(crate) async fn run<F, Fut>(self, count: usize, op: F) -> Result<Run>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Duration>> + Send + 'static,
    {
        match self {
            Pace::PerSecond(rate) => at_rate(rate, count, op).await,
            Pace::Clients(clients) => concurrently(clients, count, op).await,
        }
    }
}

/// Sends `request` and fails unless it answers 2xx; `what` names it.
async fn send_ok(request: RequestBuilder, what: &str) -> Result<Response> {
    let response = request.send().await?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{what} answered {status}");
    Ok(response)
}

/// How long `request` takes to answer 2xx with its whole body.
async fn timed(request: RequestBuilder, what: &'static str) -> Result<Duration> {
    let started = Instant::now();
    send_ok(request, what).await?.bytes().await?;
    Ok(started.elapsed())
}

/// Scenario 1: customers created through accounts by `clients` clients.
pub async fn accounts_writes(
    target: &Target,
    prefix: &str,
    clients: usize,
    total: usize,
) -> Result<Run> {
    let (client, target, prefix) = (http(), target.clone(), prefix.to_owned());
    concurrently(clients, total, move |i| {
        let body = customer(&format!("{prefix}-{i}"));
        timed(client.post(target.create_url(i)).json(&body), "create")
    })
    .await
}

/// Scenario 3: `GET path(i)` on orders by `clients` clients.
pub async fn orders_reads(
    target: &Target,
    clients: usize,
    total: usize,
    path: impl Fn(usize) -> String + Send + Sync + 'static,
) -> Result<Run> {
    let (client, bases) = (http(), target.orders.clone());
    concurrently(clients, total, move |i| {
        timed(
            client.get(format!("{}{}", bases[i % bases.len()], path(i))),
            "read",
        )
    })
    .await
}

/// Scenario 2: from a create's response to the change being applied in orders,
/// observed by orders itself: `GET /orders/order/{id}?minVersion=N` answers as
/// soon as the projector has applied version N (the read-your-writes hook that
/// clients use in production), so the measurement does not poll.
pub async fn propagation(target: &Target, prefix: &str, pace: Pace, count: usize) -> Result<Run> {
    let (client, target, prefix) = (http(), target.clone(), prefix.to_owned());
    pace.run(count, move |i| {
        let (client, orders) = (client.clone(), target.orders.clone());
        let id = format!("{prefix}-{i}");
        let create = client.post(target.create_url(i)).json(&customer(&id));
        async move {
            let response = send_ok(create, "create").await?;
            let answered = Instant::now();
            let body: Value = response.json().await?;
            let version = body["version"]
                .as_u64()
                .context("no version in the answer")?;
            applied(&client, &orders, &id, version, PROPAGATION_DEADLINE).await?;
            Ok(answered.elapsed())
        }
    })
    .await
}

/// Waits until some instance in `orders` has applied version `version` of
/// customer `id`, asking again while they answer 404 (not replicated yet) or
/// 503 (not applied within the service's own wait).
async fn applied(
    client: &reqwest::Client,
    orders: &[String],
    id: &str,
    version: u64,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        // Every orders instance is asked: the one whose projector owns the
        // customer's partition hears of the apply at once, the others only
        // when they next read the replica.
        let asks = orders.iter().map(|base| {
            let request = client
                .get(format!("{base}/orders/order/{id}"))
                .query(&[("minVersion", version)]);
            Box::pin(send_ok(request, "orders"))
        });
        let error = match select_ok(asks).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "{id} v{version} not applied in orders within {within:?} ({error:#})"
        );
    }
}

/// Creates a customer and waits up to `within` until some orders instance
/// has applied it: after instances joined the consumer group, its rebalance
/// must end before anything is measured.
pub async fn warm_up(target: &Target, within: Duration) -> Result<()> {
    let (client, id) = (http(), crate::unique("bench-warm"));
    send_ok(
        client.post(target.create_url(0)).json(&customer(&id)),
        "create",
    )
    .await?;
    applied(&client, &target.orders, &id, 1, within).await
}

/// Waits until the first orders instance has applied customer `id`.
pub async fn wait_replicated(target: &Target, id: &str) -> Result<()> {
    let first = &target.orders[..1];
    applied(&http(), first, id, 1, PROPAGATION_DEADLINE).await
}

/// Waits until every accounts instance reports an empty outbox (its
/// `outbox_backlog_customers` gauge at 0) and returns how long that took.
pub async fn wait_drained(target: &Target, within: Duration) -> Result<Duration> {
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
