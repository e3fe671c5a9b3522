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
use processes::{Binaries, Instance, RssSampler};
pub use report::Report;
use report::{Comparison, Histogram, ResourceRow};
use scenarios::{Pace, Target};
use stats::{Run, Summary};

pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

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

/// The running services: their processes and executables, when known.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// (name, pid) of every running service instance, for RSS.
    pub pids: Vec<(String, u32)>,
    /// For start-to-ready and the rebuild command.
    pub binaries: Option<Binaries>,
}

impl Services {
    fn binaries(&self) -> Result<&Binaries> {
        let binaries = self.binaries.as_ref();
        binaries.context("no service executables given (--bin-dir)")
    }
}

fn unique(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &random[..8])
}

/// Runs every scenario of `plan`; a failed scenario is recorded and the next
/// one runs. The report is not yet [`stamped`](Report::stamped).
pub async fn run(target: &Target, services: &Services, plan: &Plan, log: impl Fn(&str)) -> Report {
    let reps = plan.repetitions.max(1);
    let bench = Bench {
        target,
        services,
        plan,
        reps,
    };
    let mut out = Report::default();
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

impl Report {
    /// The report with how it was made: `command`, now, on this machine.
    pub fn stamped(self, command: &str) -> Report {
        Report {
            date: chrono::Utc::now().to_rfc3339(),
            command: command.to_owned(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ..self
        }
    }

    fn settle(&mut self, scenario: &str, result: Result<()>, log: impl Fn(&str)) {
        match result {
            Ok(()) => log(&format!("{scenario} done")),
            Err(e) => {
                log(&format!("{scenario} FAILED: {e:#}"));
                self.failures.push(format!("{scenario}: {e:#}"));
            }
        }
    }

    /// Adds the comparison of `platform` runs with `baseline` runs.
    fn compare(&mut self, scenario: &str, variant: String, runs: &[Vec<Run>; 2], baseline: &str) {
        self.comparisons.push(Comparison {
            scenario: scenario.to_owned(),
            variant,
            platform: Summary::of(&runs[0]),
            baseline_name: baseline.to_owned(),
            baseline: Summary::of(&runs[1]),
        });
    }
}

/// `reps` repetitions of `rep`, each giving one run of every series; the runs
/// of each series in order.
async fn repeat<const N: usize, Fut>(
    reps: usize,
    mut rep: impl FnMut() -> Fut,
) -> Result<[Vec<Run>; N]>
where
    Fut: Future<Output = Result<[Run; N]>>,
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
    async fn writes(self, out: &mut Report) -> Result<()> {
        let (target, plan) = (self.target, self.plan);
        let sampler = RssSampler::start(self.services.pids.clone());
        self.measure_writes(target, &plan.write_clients, out)
            .await?;
        let creates = plan.writes * plan.write_clients.len() * self.reps;
        out.resources
            .extend(sampler.finish("scenario 1", creates).await);
        // The writes above were accepted faster than the relay publishes them:
        // let it catch up before anything else is measured, and report how long.
        let drain = scenarios::wait_drained(target, Duration::from_secs(600)).await?;
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
        out: &mut Report,
    ) -> Result<()> {
        let writes = self.plan.writes;
        for &clients in clients {
            let runs = repeat(self.reps, || async {
                let prefix = unique("bench-w");
                let platform = scenarios::accounts_writes(target, &prefix, clients, writes);
                let platform = platform.await?;
                let baseline = raw::raw_upserts(target, &prefix, clients, writes).await?;
                Ok([platform, baseline])
            });
            let variant = format!("N={clients}, {}", target.instances());
            out.compare(
                "1 accounts writes",
                variant,
                &runs.await?,
                "raw mongodb upserts",
            );
        }
        Ok(())
    }

    /// Scenario 3 on customers created once, replicated to orders and
    /// upserted raw.
    async fn reads(self, out: &mut Report) -> Result<()> {
        let (target, plan) = (self.target, self.plan);
        let seed = unique("bench-r");
        let population = plan.reads.clamp(1, 200);
        scenarios::accounts_writes(target, &seed, 8, population).await?;
        raw::raw_upserts(target, &seed, 8, population).await?;
        for i in 0..population {
            scenarios::wait_replicated(target, &format!("{seed}-{i}")).await?;
        }
        let prefix = seed.clone();
        let one = move |i: usize| format!("/orders/order/{prefix}-{}", i % population);
        let list = |_: usize| "/orders/list?limit=100".to_owned();
        for &clients in &plan.read_clients {
            let [one, list, pages, baseline] = repeat(self.reps, || async {
                let one = scenarios::orders_reads(target, clients, plan.reads, one.clone()).await?;
                let list = scenarios::orders_reads(target, clients, plan.list_reads, list);
                let list = list.await?;
                let pages = raw::raw_pages(target, clients, plan.list_reads).await?;
                let baseline = raw::raw_reads(target, &seed, population, clients, plan.reads);
                Ok([one, list, pages, baseline.await?])
            })
            .await?;
            let variant = format!("GET /orders/order/{{id}} N={clients}");
            out.compare("3 orders reads", variant, &[one, baseline], "raw find_one");
            let variant = format!("GET /orders/list?limit=100 N={clients}");
            let baseline = "raw find of 100 sorted by id";
            out.compare("3 orders reads", variant, &[list, pages], baseline);
        }
        Ok(())
    }

    /// Scenario 2 at each offered rate and at saturation.
    async fn propagation(self, out: &mut Report) -> Result<()> {
        let plan = self.plan;
        let sampler = RssSampler::start(self.services.pids.clone());
        let rates = plan.rates.iter().map(|&rate| Pace::PerSecond(rate));
        let paces: Vec<Pace> = rates
            .chain([Pace::Clients(plan.saturation_clients)])
            .collect();
        self.measure_propagation(self.target, &paces, out).await?;
        let operations = plan.changes * paces.len() * self.reps;
        out.resources
            .extend(sampler.finish("scenario 2", operations).await);
        Ok(())
    }

    async fn measure_propagation(
        self,
        target: &Target,
        paces: &[Pace],
        out: &mut Report,
    ) -> Result<()> {
        let changes = self.plan.changes;
        for &pace in paces {
            let runs = repeat(self.reps, || async {
                let prefix = unique("bench-e2e");
                let platform = scenarios::propagation(target, &prefix, pace, changes).await?;
                let topic = unique("bench_raw_pipeline");
                raw::create_topic(target, &topic).await?;
                let prefix = unique("raw-e2e");
                let baseline = raw::raw_pipeline(target, &topic, &prefix, pace, changes).await?;
                Ok([platform, baseline])
            })
            .await?;
            let variant = format!("{pace}, {}", target.instances());
            let baseline = "raw produce→consume→upsert";
            let pooled = |runs: &[Run]| runs.iter().flat_map(|r| r.samples_ms.clone()).collect();
            out.histograms.push(Histogram {
                title: format!("2 end-to-end propagation, {variant}"),
                platform: pooled(&runs[0]),
                baseline_name: baseline.to_owned(),
                baseline: pooled(&runs[1]),
            });
            out.compare("2 end-to-end propagation", variant, &runs, baseline);
        }
        Ok(())
    }

    /// Scenarios 1 and 2 again with a second instance of each service started
    /// next to the first (same databases, same consumer group).
    async fn scale_out(self, out: &mut Report) -> Result<()> {
        let (target, binaries) = (self.target, self.services.binaries()?);
        let accounts = Instance::next_to(target, &binaries.accounts, "customer_accounts").await?;
        let orders = Instance::next_to(target, &binaries.orders, "customer_orders").await?;
        let both = Target {
            accounts: [target.accounts.clone(), vec![accounts.url()]].concat(),
            orders: [target.orders.clone(), vec![orders.url()]].concat(),
            ..target.clone()
        };
        let second = [
            ("accounts-domain-2", &accounts),
            ("orders-domain-2", &orders),
        ];
        let second = second.map(|(name, instance)| Some((name.to_owned(), instance.pid()?)));
        let measured = self
            .scaled_out(&both, second.into_iter().flatten(), out)
            .await;
        accounts.stop().await;
        orders.stop().await;
        measured
    }

    async fn scaled_out(
        self,
        both: &Target,
        second: impl Iterator<Item = (String, u32)>,
        out: &mut Report,
    ) -> Result<()> {
        let (plan, reps) = (self.plan, self.reps);
        // The group rebalances when the second orders instance joins; wait
        // until changes flow again before measuring.
        scenarios::warm_up(both, Duration::from_secs(180)).await?;
        let sampler = RssSampler::start(self.services.pids.iter().cloned().chain(second).collect());
        let clients = plan.write_clients.iter().copied().max().unwrap_or(1);
        self.measure_writes(both, &[clients], out).await?;
        scenarios::wait_drained(both, Duration::from_secs(600)).await?;
        let fastest = plan.rates.iter().copied().fold(1.0, f64::max);
        let paces = [
            Pace::PerSecond(fastest),
            Pace::Clients(plan.saturation_clients),
        ];
        self.measure_propagation(both, &paces, out).await?;
        let operations = plan.writes * reps + plan.changes * paces.len() * reps;
        out.resources
            .extend(sampler.finish("scale-out", operations).await);
        Ok(())
    }

    /// Scenario 4: `orders-domain rebuild` over a filled topic.
    async fn replay(self, out: &mut Report) -> Result<()> {
        let (target, customers) = (self.target, self.plan.replay_customers);
        let orders = &self.services.binaries()?.orders;
        let topic = unique("bench_replay");
        raw::create_topic(target, &topic).await?;
        let versions = self.plan.replay_versions;
        let events = raw::fill_replay_topic(target, &topic, customers, versions).await?;
        let runs = repeat(self.reps, || async {
            let (records, elapsed) = processes::rebuild(target, orders, &topic).await?;
            anyhow::ensure!(
                records == events,
                "the rebuild read {records} records of {events}"
            );
            let baseline = raw::raw_replay(target, &topic, events).await?;
            Ok([Run::throughput_only(records, elapsed), baseline])
        });
        let variant = format!("orders-domain rebuild, {events} events of {customers} customers");
        out.compare("4 replay", variant, &runs.await?, "raw consume + upsert");
        Ok(())
    }

    /// Scenario 5: start-to-ready and idle RSS of a fresh instance of each
    /// service.
    async fn startup(self, out: &mut Report) -> Result<()> {
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
            let figure = "start-to-ready (exec → readiness 200)".to_owned();
            out.resources
                .push(ResourceRow::new(service, figure, ready, "ms"));
            let figure = "idle RSS, 1 s after ready".to_owned();
            out.resources
                .push(ResourceRow::new(service, figure, idle, "MiB"));
        }
        Ok(())
    }
}
