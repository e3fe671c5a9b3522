//! Load generation and the benchmark report (issue #6).
//!
//! Each scenario runs next to a raw-client baseline doing the same work against
//! the same servers, repeated, and the report gives medians, spreads and ratios:
//! 1. accounts write throughput (vs. raw `mongodb` upserts);
//! 2. end-to-end propagation latency at fixed rates and at saturation (vs. a raw
//!    produce → consume → upsert pipeline);
//! 3. orders read throughput (vs. raw `find_one`);
//! 4. replay rate of `orders-domain rebuild` (vs. raw consume + upsert);
//! 5. resources: RSS under load and idle, start-to-ready time;
//!
//! and 1 and 2 again with a second instance of each service.
//!
//! A scenario that fails is reported as failed; the others still run.

pub mod baselines;
pub mod capacity;
pub mod plots;
pub mod processes;
pub mod report;
pub mod scenarios;
pub mod stats;

use std::future::Future;
use std::time::Duration;

use anyhow::Context;

use baselines as raw;
use processes::{Binaries, RssFigure, RssSampler};
use report::{Comparison, Histogram, Report, ResourceRow};
use scenarios::{Pace, Target};
use stats::{Run, Spread, Summary};

/// How much of each scenario to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub repetitions: usize,
    /// Concurrent clients of scenario 1.
    pub write_clients: Vec<usize>,
    /// Requests per run of scenario 1.
    pub writes: usize,
    /// Concurrent clients of scenario 3.
    pub read_clients: Vec<usize>,
    /// Requests per run of scenario 3, one customer each.
    pub reads: usize,
    /// Requests per run of scenario 3's list of 100.
    pub list_reads: usize,
    /// Offered rates (changes per second) of scenario 2.
    pub rates: Vec<f64>,
    /// Clients of scenario 2 at saturation, each waiting for its change to
    /// arrive before making the next.
    pub saturation_clients: usize,
    /// Changes per run of scenario 2.
    pub changes: usize,
    /// Scenario 4: customers in the replayed topic, and versions of each.
    pub replay_customers: usize,
    pub replay_versions: u64,
    /// Scenarios 1 and 2 once more with two instances of each service.
    pub scale_out: bool,
}

impl Plan {
    /// A run small enough for the test suite.
    pub fn tiny() -> Plan {
        Plan {
            repetitions: 1,
            write_clients: vec![2],
            writes: 20,
            read_clients: vec![2],
            reads: 20,
            list_reads: 5,
            rates: vec![20.0],
            saturation_clients: 2,
            changes: 5,
            replay_customers: 10,
            replay_versions: 2,
            scale_out: false,
        }
    }

    /// The benchmark.
    pub fn full() -> Plan {
        Plan {
            repetitions: 5,
            write_clients: vec![1, 8, 32],
            writes: 200,
            read_clients: vec![8, 32],
            reads: 500,
            list_reads: 100,
            rates: vec![50.0, 200.0],
            saturation_clients: 32,
            changes: 200,
            replay_customers: 10_000,
            replay_versions: 5,
            scale_out: true,
        }
    }
}

/// Everything a benchmark run measured, including what failed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub comparisons: Vec<Comparison>,
    pub resources: Vec<ResourceRow>,
    pub histograms: Vec<Histogram>,
    pub notes: Vec<String>,
    /// Scenarios that failed, with why; their figures are missing.
    pub failures: Vec<String>,
}

/// The running services: their processes and executables, when known.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// (name, pid) of every running service instance, for RSS.
    pub pids: Vec<(String, u32)>,
    /// For start-to-ready and the rebuild command.
    pub binaries: Option<Binaries>,
}

impl Services {
    fn pids(&self) -> Vec<u32> {
        self.pids.iter().map(|(_, pid)| *pid).collect()
    }

    fn names(&self) -> Vec<String> {
        self.pids.iter().map(|(name, _)| name.clone()).collect()
    }

    fn binaries(&self) -> anyhow::Result<&Binaries> {
        self.binaries
            .as_ref()
            .context("no service executables given (--bin-dir)")
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs every scenario of `plan`; a failed scenario is recorded and the next
/// one runs.
pub async fn run(target: &Target, services: &Services, plan: &Plan, log: impl Fn(&str)) -> Outcome {
    let bench = Bench {
        target,
        services,
        plan,
        reps: plan.repetitions.max(1),
    };
    let mut out = Outcome::default();
    let result = bench.writes(&mut out).await;
    out.settle("1 accounts writes", result, &log);
    let result = bench.reads(&mut out).await;
    out.settle("3 orders reads", result, &log);
    let result = bench.propagation(&mut out).await;
    out.settle("2 end-to-end propagation", result, &log);
    let result = bench.replay(&mut out).await;
    out.settle("4 replay", result, &log);
    let result = bench.startup(&mut out).await;
    out.settle("5 start-to-ready", result, &log);
    if plan.scale_out {
        let result = bench.scale_out(&mut out).await;
        out.settle("1 and 2 with two instances", result, &log);
    }
    out
}

impl Outcome {
    fn settle(&mut self, scenario: &str, result: anyhow::Result<()>, log: impl Fn(&str)) {
        match result {
            Ok(()) => log(&format!("{scenario} done")),
            Err(e) => {
                log(&format!("{scenario} FAILED: {e:#}"));
                self.failures.push(format!("{scenario}: {e:#}"));
            }
        }
    }

    /// Adds the comparison of `platform` runs with `baseline` runs.
    fn compare(
        &mut self,
        scenario: &str,
        variant: &str,
        [platform, baseline]: &[Vec<Run>; 2],
        baseline_name: &str,
    ) {
        self.comparisons.push(Comparison {
            scenario: scenario.to_owned(),
            variant: variant.to_owned(),
            platform: Summary::of(platform),
            baseline_name: baseline_name.to_owned(),
            baseline: Summary::of(baseline),
        });
    }

    fn resource(
        &mut self,
        service: &str,
        figure: String,
        values: impl IntoIterator<Item = f64>,
        unit: &str,
    ) {
        self.resources.push(ResourceRow {
            service: service.to_owned(),
            figure,
            value: Spread::of(values),
            unit: unit.to_owned(),
        });
    }

    /// RSS rows of each of `services` over a scenario, and its CPU time per
    /// platform operation of the scenario (`operations`).
    fn record_rss(
        &mut self,
        services: &[String],
        during: &str,
        operations: usize,
        figures: Vec<RssFigure>,
    ) {
        for (name, figure) in services.iter().zip(figures) {
            self.resource(
                name,
                format!("peak RSS during {during}"),
                [figure.peak_mib],
                "MiB",
            );
            self.resource(
                name,
                format!("steady (median) RSS during {during}"),
                [figure.steady_mib],
                "MiB",
            );
            let cpu_ms = figure.cpu_seconds * 1000.0 / operations.max(1) as f64;
            self.resource(
                name,
                format!("CPU per change during {during} ({operations} changes)"),
                [cpu_ms],
                "ms",
            );
        }
    }
}

/// `reps` repetitions of `rep`, each giving one run of every series; the runs
/// of each series in order.
async fn repeat<const N: usize, Fut>(
    reps: usize,
    mut rep: impl FnMut() -> Fut,
) -> anyhow::Result<[Vec<Run>; N]>
where
    Fut: Future<Output = anyhow::Result<[Run; N]>>,
{
    let mut series: [Vec<Run>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..reps {
        for (runs, run) in series.iter_mut().zip(rep().await?) {
            runs.push(run);
        }
    }
    Ok(series)
}

/// What a run measures with: the servers, the services, the plan.
#[derive(Clone, Copy)]
struct Bench<'a> {
    target: &'a Target,
    services: &'a Services,
    plan: &'a Plan,
    reps: usize,
}

impl Bench<'_> {
    /// Scenario 1, then the time the relay needs to publish its backlog.
    async fn writes(self, out: &mut Outcome) -> anyhow::Result<()> {
        let sampler = RssSampler::start(self.services.pids());
        self.measure_writes(self.target, &self.plan.write_clients, out)
            .await?;
        let creates = self.plan.writes * self.plan.write_clients.len() * self.reps;
        out.record_rss(
            &self.services.names(),
            "scenario 1",
            creates,
            sampler.finish().await,
        );
        // The writes above were accepted faster than the relay publishes them:
        // let it catch up before anything else is measured, and report how long.
        let drain = scenarios::wait_drained(self.target, Duration::from_secs(600)).await?;
        out.notes.push(format!(
            "After scenario 1 ({creates} creates in all), the accounts relay needed {:.1} s more to publish its backlog.",
            drain.as_secs_f64()
        ));
        Ok(())
    }

    async fn measure_writes(
        self,
        target: &Target,
        clients: &[usize],
        out: &mut Outcome,
    ) -> anyhow::Result<()> {
        for &clients in clients {
            let writes = self.plan.writes;
            let runs = repeat(self.reps, || async {
                let prefix = unique("bench-w");
                let platform = scenarios::accounts_writes(target, &prefix, clients, writes).await?;
                let baseline =
                    raw::raw_upserts(target, "customers", &prefix, clients, writes).await?;
                anyhow::Ok([platform, baseline])
            })
            .await?;
            let variant = format!("N={clients}, {}", target.instances());
            out.compare("1 accounts writes", &variant, &runs, "raw mongodb upserts");
        }
        Ok(())
    }

    /// Scenario 3 on customers created once, replicated to orders and
    /// upserted raw.
    async fn reads(self, out: &mut Outcome) -> anyhow::Result<()> {
        let (target, plan) = (self.target, self.plan);
        let seed = unique("bench-r");
        let population = plan.reads.clamp(1, 200);
        scenarios::accounts_writes(target, &seed, 8, population).await?;
        raw::raw_upserts(target, "customers", &seed, 8, population).await?;
        for i in 0..population {
            scenarios::wait_replicated(target, &format!("{seed}-{i}")).await?;
        }
        for &clients in &plan.read_clients {
            let [one, list, pages, baseline] = repeat(self.reps, || async {
                let prefix = seed.clone();
                let one = scenarios::orders_reads(target, clients, plan.reads, move |i| {
                    format!("/orders/order/{prefix}-{}", i % population)
                });
                let one = one.await?;
                let list = scenarios::orders_reads(target, clients, plan.list_reads, |_| {
                    "/orders/list?limit=100".to_owned()
                });
                let list = list.await?;
                let pages = raw::raw_pages(target, "customers", clients, plan.list_reads).await?;
                let baseline =
                    raw::raw_reads(target, "customers", &seed, population, clients, plan.reads);
                anyhow::Ok([one, list, pages, baseline.await?])
            })
            .await?;
            let (one_variant, list_variant) = (
                format!("GET /orders/order/{{id}} N={clients}"),
                format!("GET /orders/list?limit=100 N={clients}"),
            );
            out.compare(
                "3 orders reads",
                &one_variant,
                &[one, baseline],
                "raw find_one",
            );
            out.compare(
                "3 orders reads",
                &list_variant,
                &[list, pages],
                "raw find of 100 sorted by id",
            );
        }
        Ok(())
    }

    /// Scenario 2 at each offered rate and at saturation.
    async fn propagation(self, out: &mut Outcome) -> anyhow::Result<()> {
        let sampler = RssSampler::start(self.services.pids());
        let mut paces: Vec<Pace> = self
            .plan
            .rates
            .iter()
            .map(|&r| Pace::PerSecond(r))
            .collect();
        paces.push(Pace::Clients(self.plan.saturation_clients));
        self.measure_propagation(self.target, &paces, out).await?;
        let operations = self.plan.changes * paces.len() * self.reps;
        out.record_rss(
            &self.services.names(),
            "scenario 2",
            operations,
            sampler.finish().await,
        );
        Ok(())
    }

    async fn measure_propagation(
        self,
        target: &Target,
        paces: &[Pace],
        out: &mut Outcome,
    ) -> anyhow::Result<()> {
        let changes = self.plan.changes;
        for &pace in paces {
            let runs = repeat(self.reps, || async {
                let platform =
                    scenarios::propagation(target, &unique("bench-e2e"), pace, changes).await?;
                let topic = unique("bench_raw_pipeline");
                raw::create_topic(target, &topic).await?;
                let prefix = unique("raw-e2e");
                let baseline = raw::raw_pipeline(target, &topic, &prefix, pace, changes).await?;
                anyhow::Ok([platform, baseline])
            })
            .await?;
            let variant = format!("{pace}, {}", target.instances());
            let baseline_name = "raw produce→consume→upsert";
            let pooled = |runs: &[Run]| runs.iter().flat_map(|r| r.samples_ms.clone()).collect();
            out.histograms.push(Histogram {
                title: format!("2 end-to-end propagation, {variant}"),
                platform: pooled(&runs[0]),
                baseline_name: baseline_name.to_owned(),
                baseline: pooled(&runs[1]),
            });
            out.compare("2 end-to-end propagation", &variant, &runs, baseline_name);
        }
        Ok(())
    }

    /// Scenarios 1 and 2 again with a second instance of each service started
    /// next to the first (same databases, same consumer group).
    async fn scale_out(self, out: &mut Outcome) -> anyhow::Result<()> {
        let extra =
            processes::SecondInstances::start(self.target, self.services.binaries()?).await?;
        let measured = self.scaled_out(&extra, out).await;
        extra.stop().await;
        measured
    }

    async fn scaled_out(
        self,
        extra: &processes::SecondInstances,
        out: &mut Outcome,
    ) -> anyhow::Result<()> {
        let (plan, reps) = (self.plan, self.reps);
        let both = Target {
            accounts: [self.target.accounts.clone(), vec![extra.accounts_url()]].concat(),
            orders: [self.target.orders.clone(), vec![extra.orders_url()]].concat(),
            ..self.target.clone()
        };
        // The group rebalances when the second orders instance joins; wait
        // until changes flow again before measuring.
        scenarios::warm_up(&both, Duration::from_secs(180)).await?;
        let sampler = RssSampler::start([self.services.pids(), extra.pids()].concat());
        let clients = plan.write_clients.iter().copied().max().unwrap_or(1);
        self.measure_writes(&both, &[clients], out).await?;
        scenarios::wait_drained(&both, Duration::from_secs(600)).await?;
        let fastest = plan.rates.iter().copied().fold(1.0, f64::max);
        let paces = [
            Pace::PerSecond(fastest),
            Pace::Clients(plan.saturation_clients),
        ];
        self.measure_propagation(&both, &paces, out).await?;
        let second = ["accounts-domain-2".to_owned(), "orders-domain-2".to_owned()];
        let names = [self.services.names(), second.to_vec()].concat();
        let operations = plan.writes * reps + plan.changes * paces.len() * reps;
        out.record_rss(&names, "scale-out", operations, sampler.finish().await);
        Ok(())
    }

    /// Scenario 4: `orders-domain rebuild` over a filled topic.
    async fn replay(self, out: &mut Outcome) -> anyhow::Result<()> {
        let (target, customers) = (self.target, self.plan.replay_customers);
        let binaries = self.services.binaries()?;
        let topic = unique("bench_replay");
        raw::create_topic(target, &topic).await?;
        let events =
            raw::fill_replay_topic(target, &topic, customers, self.plan.replay_versions).await?;
        let runs = repeat(self.reps, || async {
            let (records, elapsed) = processes::rebuild(target, &binaries.orders, &topic).await?;
            anyhow::ensure!(
                records == events,
                "the rebuild read {records} records of {events}"
            );
            let baseline = raw::raw_replay(target, &topic, events).await?;
            Ok([Run::throughput_only(records, elapsed), baseline])
        })
        .await?;
        let variant = format!("orders-domain rebuild, {events} events of {customers} customers");
        out.compare("4 replay", &variant, &runs, "raw consume + upsert");
        Ok(())
    }

    /// Scenario 5: start-to-ready and idle RSS of a fresh instance of each
    /// service.
    async fn startup(self, out: &mut Outcome) -> anyhow::Result<()> {
        let binaries = self.services.binaries()?;
        for (service, exe, collection) in [
            ("accounts-domain", &binaries.accounts, "customer_accounts"),
            ("orders-domain", &binaries.orders, "customer_orders"),
        ] {
            let (mut ready, mut idle) = (Vec::new(), Vec::new());
            for _ in 0..self.reps {
                let (time, rss) = processes::start_to_ready(self.target, exe, collection).await?;
                ready.push(time.as_secs_f64() * 1000.0);
                idle.push(rss);
            }
            out.resource(
                service,
                "start-to-ready (exec → readiness 200)".to_owned(),
                ready,
                "ms",
            );
            out.resource(service, "idle RSS, 1 s after ready".to_owned(), idle, "MiB");
        }
        Ok(())
    }
}

/// Wraps an outcome into a report with the environment.
pub fn report(command: &str, outcome: Outcome) -> Report {
    Report {
        date: chrono::Utc::now().to_rfc3339(),
        command: command.to_owned(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        notes: outcome.notes,
        failures: outcome.failures,
        comparisons: outcome.comparisons,
        resources: outcome.resources,
        histograms: outcome.histograms,
    }
}
