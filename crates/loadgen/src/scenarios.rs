//! The scenarios, each a method of [`Bench`]: runs of the platform's side
//! next to runs of its baselines ([`crate::clients`]), compared by
//! [`Bench::compare`], with the figures of the processes meanwhile
//! ([`crate::processes`]).

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::producer::FutureRecord;
use shared_events::crypto::{DataKey, KeyEncryptionKey};
use shared_events::sealed::SealedChangeEnvelope;
use shared_events::{CustomerChangeEnvelope, CustomerChangeType};

use crate::clients::{self, DEADLINE, Platform, Raw, RawPipeline};
use crate::measure::{Pace, Run, Spread};
use crate::processes::{self, Instance, Own, Per};
use crate::report::{Outage, ResourceRow};
use crate::{Bench, PROPAGATION, READ_ONE, READ_PAGE, REPLAY, Result, Target, WRITES, unique};

/// How long the consumer group may take to settle after instances joined it.
const WARM_UP: Duration = Duration::from_secs(180);
/// How long the relay may take to publish a backlog.
const DRAIN: Duration = Duration::from_secs(600);

impl Bench<'_> {
    /// Scenario 1 next to raw upserts and the naive dual-write service (on a
    /// database and topic of its own), with the services' resources and
    /// round trips meanwhile, and how long the relay needed after each run to
    /// publish its backlog.
    pub(crate) async fn writes(&mut self, target: &Target) -> Result<()> {
        let plan = self.plan;
        let own = Own::new(target, "bench_naive").await?;
        let customers = [("APP__MONGODB__COLLECTION", "customers")];
        let service = "naive-dual-write";
        let (naive, _) = Instance::start(target, service, Some(&own), &customers).await?;
        let naive_target = Target {
            accounts: vec![naive.url.clone()],
            ..target.clone()
        };
        let (accounts, orders) = (&target.accounts[0], &target.orders[0]);
        let services = [
            ("accounts-domain", accounts.as_str(), Per::Operation),
            ("orders-domain", orders.as_str(), Per::AppliedEvent),
        ];
        // Orders must have joined its group for its applies to be counted.
        clients::warm_up(target, WARM_UP).await?;
        let creates = plan.writes * plan.write_clients.len() * self.reps;
        let mut drains = Vec::new();
        let work = self.measure_writes(
            target,
            Some(&naive_target),
            &plan.write_clients,
            &mut drains,
        );
        let work = processes::counted(&services, ("scenario 1 (a create)", creates), work);
        let sampled = processes::sampled(&target.pids, ("scenario 1", creates), work).await;
        naive.stop().await;
        let (((), counted), sampled) = sampled?;
        self.report
            .resources
            .extend(sampled.into_iter().chain(counted));
        // The writes were accepted faster than the relay published them.
        let (runs, drained) = (drains.len(), Spread::of(drains));
        if runs > 0 {
            self.report.notes.push(format!(
                "After each of scenario 1's {runs} platform runs, the accounts relay needed \
                 {:.1} s (median; at most {:.1} s) more to publish its backlog.",
                drained.median, drained.max
            ));
        }
        Ok(())
    }

    /// Scenario 1 with each count of `clients`: new customers created through
    /// accounts; once the relay has published them (how long that took goes
    /// to `drains`), the same documents upserted raw and, when given, created
    /// through the naive service at `naive`.
    async fn measure_writes(
        &mut self,
        target: &Target,
        naive: Option<&Target>,
        clients: &[usize],
        drains: &mut Vec<f64>,
    ) -> Result<()> {
        // Without the naive service only raw upserts are compared.
        let names = &WRITES[..if naive.is_some() { 3 } else { 2 }];
        let n = self.plan.writes;
        for &clients in clients {
            let (pace, variant) = (
                Pace::Clients(clients),
                format!("N={clients}, {}", target.instances()),
            );
            let runs = async || {
                let prefix = unique("bench-w");
                let platform = Platform::new(target, &prefix, n);
                let platform = pace.run(n, platform, Platform::create).await?;
                // The relay publishes after the answers: let it finish before
                // the baselines run, so that they do not share the cores with it.
                drains.push(clients::wait_drained(target, DRAIN).await?.as_secs_f64());
                let raw = Raw::new(target, "customers", &prefix, n).await?;
                let raw = pace.run(n, raw, Raw::upsert).await?;
                let Some(naive) = naive else {
                    return Ok([platform, raw, Run::default()]);
                };
                let naive = pace.run(n, Platform::new(naive, &prefix, n), Platform::create);
                Ok([platform, raw, naive.await?])
            };
            self.compare(names, variant, runs).await?;
        }
        Ok(())
    }

    /// Scenario 3 on customers created once, replicated to orders and
    /// upserted raw, with the round trips of orders meanwhile.
    pub(crate) async fn reads(&mut self, target: &Target) -> Result<()> {
        let (plan, reps, prefix) = (self.plan, self.reps, unique("bench-r"));
        let population = plan.reads.clamp(1, 200);
        clients::populate(target, &prefix, population).await?;
        clients::wait_replicated(target, &prefix, population).await?;
        clients::index_raw_orders(target).await?;
        let seed = (prefix.as_str(), population);
        let orders = [("orders-domain", target.orders[0].as_str(), Per::Operation)];
        for &clients in &plan.read_clients {
            let variant = format!("GET /orders/order/{{id}} N={clients}");
            let pair = async || reads(target, seed, clients, plan.reads, false).await;
            let during = format!("scenario 3 (GET /orders/order/{{id}}, N={clients})");
            let work = self.compare(&READ_ONE, variant, pair);
            let ((), rows) =
                processes::counted(&orders, (&during, plan.reads * reps), work).await?;
            self.report.resources.extend(rows);
            let variant = format!("GET /orders/list?limit=100 N={clients}");
            let pair = async || reads(target, seed, clients, plan.page_reads, true).await;
            self.compare(&READ_PAGE, variant, pair).await?;
        }
        Ok(())
    }

    /// Scenario 2 at each offered rate and at saturation, with the
    /// processes' resources meanwhile.
    pub(crate) async fn propagation(&mut self, target: &Target) -> Result<()> {
        let rates = self.plan.rates.iter().map(|&rate| Pace::PerSecond(rate));
        let paces: Vec<Pace> = rates
            .chain([Pace::Clients(self.plan.saturation_clients)])
            .collect();
        let changes = self.plan.changes * paces.len() * self.reps;
        let work = self.measure_propagation(target, &paces);
        let ((), rows) = processes::sampled(&target.pids, ("scenario 2", changes), work).await?;
        self.report.resources.extend(rows);
        Ok(())
    }

    /// Scenario 2 at each of `paces`: from a create's answer until orders has
    /// applied it ([`Platform::propagate`]), next to a raw produce → consume →
    /// upsert pipeline on a fresh topic ([`RawPipeline::propagate`]).
    async fn measure_propagation(&mut self, target: &Target, paces: &[Pace]) -> Result<()> {
        let n = self.plan.changes;
        for &pace in paces {
            let variant = format!("{pace}, {}", target.instances());
            let pair = async || {
                let platform = Platform::new(target, &unique("bench-e2e"), n);
                let platform = pace.run(n, platform, Platform::propagate).await?;
                let (pipeline, consuming) = RawPipeline::start(target, n).await?;
                let baseline = pace.run(n, pipeline, RawPipeline::propagate).await;
                consuming.abort();
                Ok([platform, baseline?])
            };
            self.compare(&PROPAGATION, variant, pair).await?;
        }
        Ok(())
    }

    /// Scenario 4: `orders-domain rebuild` over a filled topic, and with
    /// `--from-state` over its state topic, each next to a raw consumer
    /// upserting what it reads into a fresh collection.
    pub(crate) async fn replay(&mut self, target: &Target) -> Result<()> {
        let (topic, customers) = (unique("bench_replay"), self.plan.replay_customers);
        clients::create_topic(target, &topic).await?;
        let versions = self.plan.replay_versions;
        let events = fill_replay_topic(target, &topic, customers, versions).await?;
        let variant =
            format!("orders-domain rebuild, {events} sealed events of {customers} customers");
        let pair = async || replay(target, &topic, events, false).await;
        self.compare(&REPLAY, variant, pair).await?;
        // The same history through the state topic: one record per customer.
        let variant =
            format!("orders-domain rebuild --from-state, the {customers} customers' state");
        let pair = async || replay(target, &topic, customers, true).await;
        self.compare(&REPLAY, variant, pair).await
    }

    /// Scenario 5: start-to-ready and idle RSS of fresh instances.
    pub(crate) async fn startup(&mut self, target: &Target) -> Result<()> {
        for service in ["accounts-domain", "orders-domain"] {
            let (mut ready, mut idle) = (Vec::new(), Vec::new());
            for _ in 0..self.reps {
                let (time, rss) = processes::start_to_ready(target, service).await?;
                ready.push(time.as_secs_f64() * 1000.0);
                idle.push(rss);
            }
            let rows = &mut self.report.resources;
            let figure = "start-to-ready (exec → readiness 200)";
            rows.push(ResourceRow::new(service, figure.to_owned(), ready, "ms"));
            let figure = "idle RSS, 1 s after ready";
            rows.push(ResourceRow::new(service, figure.to_owned(), idle, "MiB"));
        }
        Ok(())
    }

    /// Scenario 6 ([`crate::outage`]), when the target names a broker
    /// executable.
    pub(crate) async fn outage(&mut self, target: &Target) -> Result<()> {
        let Some(tansu) = &target.tansu else {
            let skipped = "Scenario 6 (broker outage) was skipped: no --tansu executable.";
            self.report.notes.push(skipped.to_owned());
            return Ok(());
        };
        let shape = self.plan.outage;
        let rows = crate::outage::run(target, tansu, shape).await?;
        self.report.outage = Some(Outage::new(shape, rows));
        Ok(())
    }

    /// Scenarios 1 and 2 again with a second instance of each service
    /// started next to the first (same databases, same consumer group).
    pub(crate) async fn scale_out(&mut self, target: &Target) -> Result<()> {
        let (accounts, _) = Instance::start(target, "accounts-domain", None, &[]).await?;
        let (orders, _) = Instance::start(target, "orders-domain", None, &[]).await?;
        let mut both = target.clone();
        both.accounts.push(accounts.url.clone());
        both.orders.push(orders.url.clone());
        for (name, instance) in [
            ("accounts-domain-2", &accounts),
            ("orders-domain-2", &orders),
        ] {
            both.pids
                .extend(instance.pid().map(|pid| (name.to_owned(), pid)));
        }
        let measured = self.scaled_out(&both).await;
        accounts.stop().await;
        orders.stop().await;
        measured
    }

    async fn scaled_out(&mut self, both: &Target) -> Result<()> {
        // The group rebalances when the second orders instance joins; wait
        // until changes flow again before measuring.
        clients::warm_up(both, WARM_UP).await?;
        let plan = self.plan;
        let clients = plan.write_clients.iter().copied().max().unwrap_or(1);
        let fastest = plan.rates.iter().copied().fold(1.0, f64::max);
        let paces = [
            Pace::PerSecond(fastest),
            Pace::Clients(plan.saturation_clients),
        ];
        let operations = (plan.writes + plan.changes * paces.len()) * self.reps;
        let work = async {
            self.measure_writes(both, None, &[clients], &mut Vec::new())
                .await?;
            clients::wait_drained(both, DRAIN).await?;
            self.measure_propagation(both, &paces).await
        };
        let ((), rows) = processes::sampled(&both.pids, ("scale-out", operations), work).await?;
        self.report.resources.extend(rows);
        Ok(())
    }
}

/// Scenario 3 by `clients` clients on the `population` customers written as
/// `seed`: `n` × `GET /orders/order/{id}` (the baseline: `find_one` of the
/// customer and `find` of its orders), or with `page`,
/// `GET /orders/list?limit=100` (the first 100 documents by id).
pub(crate) async fn reads(
    target: &Target,
    (prefix, population): (&str, usize),
    clients: usize,
    n: usize,
    page: bool,
) -> Result<[Run; 2]> {
    let pace = Pace::Clients(clients);
    let platform = Platform::new(target, prefix, population);
    let raw = Raw::new(target, "customers", prefix, population).await?;
    if page {
        return Ok([
            pace.run(n, platform, Platform::page).await?,
            pace.run(n, raw, Raw::page).await?,
        ]);
    }
    Ok([
        pace.run(n, platform, Platform::read).await?,
        pace.run(n, raw, Raw::find).await?,
    ])
}

/// Scenario 4 once: `orders-domain rebuild` over `topic`, or its state topic
/// `from_state`, which hold `records`; then the baseline reads the same
/// topic from the beginning and upserts every record with the raw driver.
async fn replay(
    target: &Target,
    topic: &str,
    records: usize,
    from_state: bool,
) -> Result<[Run; 2]> {
    let (read, elapsed) = processes::rebuild(target, topic, from_state).await?;
    anyhow::ensure!(
        read == records,
        "the rebuild read {read} records of {records}"
    );
    let [_, state] = processes::compacted_topics(topic);
    let source = if from_state { state.as_str() } else { topic };
    let raw = Raw::new(target, &unique("raw_replay"), "", records).await?;
    let consumer = clients::raw_consumer(target, source)?;
    let started = Instant::now();
    for _ in 0..records {
        let message = tokio::time::timeout(DEADLINE, consumer.recv()).await;
        raw.apply(&message.context("the raw replay stalled")??)
            .await?;
    }
    let baseline = Run::new(records, started.elapsed(), Vec::new());
    Ok([Run::new(read, elapsed, Vec::new()), baseline])
}

/// Fills `topic` for scenario 4 with `versions` change events of each of
/// `customers` customers, sealed as accounts seals them (each customer's data
/// key wrapped on the keys topic first), each version of every customer before
/// the next version of any, and its state topic with the newest version of
/// each; returns how many events.
async fn fill_replay_topic(
    target: &Target,
    topic: &str,
    customers: usize,
    versions: i64,
) -> Result<usize> {
    let kek = target.kek.as_deref();
    let kek = kek.context("scenario 4 seals its events: no key-encryption key")?;
    let kek = KeyEncryptionKey::from_base64(processes::REPLAY_KEK_ID, kek)?;
    let producer = clients::raw_producer(target)?;
    let template: CustomerChangeEnvelope =
        serde_json::from_str(shared_events::samples::CUSTOMER_CREATED)?;
    let [keys_topic, state] = processes::compacted_topics(topic);
    let (mut keys, mut deliveries) = (Vec::with_capacity(customers), Vec::new());
    for c in 0..customers {
        let (id, key) = (format!("replay-{c}"), DataKey::generate()?);
        let wrapped = serde_json::to_vec(&kek.wrap(&id, &key)?)?;
        let record = FutureRecord::to(&keys_topic).key(&id).payload(&wrapped);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        keys.push((id, key));
    }
    for version in 1..=versions {
        for (id, key) in &keys {
            let mut event = template.clone();
            (event.id, event.data.id, event.data.version) =
                (uuid::Uuid::new_v4(), id.clone(), version);
            if version > 1 {
                event.event_type = CustomerChangeType::Updated;
            }
            let payload = SealedChangeEnvelope::seal(&event, key)?.to_json_vec();
            if version == versions {
                let record = FutureRecord::to(&state).key(id).payload(&payload);
                deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
            }
            let record = FutureRecord::to(topic).key(id).payload(&payload);
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        }
        for delivery in std::mem::take(&mut deliveries) {
            let delivered = delivery.await.context("producer dropped a delivery")?;
            delivered.map_err(|(e, _)| e)?;
        }
    }
    Ok(customers * versions as usize)
}
