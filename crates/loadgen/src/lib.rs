//! Load generation and the benchmark report.
//!
//! Each scenario runs next to a baseline doing the same work against the same
//! servers, repeated, and the report gives medians, spreads and ratios:
//! 1. accounts write throughput (vs. raw `mongodb` upserts and the naive
//!    dual-write service);
//! 2. end-to-end propagation latency at fixed rates and at saturation (vs. a raw
//!    produce → consume → upsert pipeline);
//! 3. orders read throughput (vs. raw `find_one` and `find`);
//! 4. replay rate of `orders-domain rebuild`, full and from the state topic
//!    (vs. raw consume + upsert);
//! 5. resources: RSS and CPU time under load, idle RSS, start-to-ready time,
//!    MongoDB commands per operation;
//! 6. a broker outage, the platform next to the naive dual-write service;
//! 7. latency against history (one customer changed again and again);
//!
//! and 1 and 2 again with a second instance of each service.
//!
//! Where things are: `scenarios`, one method per scenario; `clients`, the
//! platform's and the baselines' operations; [`measure`], load shapes and
//! statistics; [`processes`], the services' processes and their figures;
//! [`report`] and its templates, the Markdown.
//!
//! A scenario that fails is reported as failed; the others still run.

pub mod capacity;
mod clients;
pub mod growth;
pub mod measure;
pub mod outage;
pub mod plots;
pub mod processes;
pub mod report;
mod scenarios;

use std::path::PathBuf;
use std::time::Duration;

use measure::{Run, Summary};
pub use report::Report;
use report::{Comparison, Histogram};

pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// The stack under test: the services, the servers under them, and the
/// processes whose resources are sampled.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Base URL of an accounts instance; repeat for several.
    #[arg(long, required = true)]
    pub accounts: Vec<String>,
    /// Base URL of an orders instance; repeat for several.
    #[arg(long, required = true)]
    pub orders: Vec<String>,
    #[arg(long)]
    pub mongodb_uri: String,
    #[arg(long)]
    pub brokers: String,
    /// `name=pid` of a running process whose RSS and CPU time are sampled; repeat.
    #[arg(long = "pid", value_parser = parse_pid)]
    pub pids: Vec<(String, u32)>,
    /// Directory with the `accounts-domain`, `orders-domain` and
    /// `naive-dual-write` executables.
    #[arg(long)]
    pub bin_dir: PathBuf,
    /// The key-encryption key of the services under test, for the instances
    /// and commands loadgen starts itself.
    #[arg(long, env = "APP__CRYPTO__KEK", hide_env_values = true)]
    pub kek: Option<String>,
    /// The local broker's executable, for the broker outage (scenario 6),
    /// which runs on a private broker; without it, scenario 6 is skipped.
    #[arg(long)]
    pub tansu: Option<PathBuf>,
    /// Where to write CPU profiles: after the measured run, a profiled pass
    /// on fresh instances (built with the `profiling` feature) writes them
    /// there, and the report shows them.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
}

fn parse_pid(value: &str) -> Result<(String, u32), String> {
    let (name, pid) = value.split_once('=').ok_or("expected name=pid")?;
    Ok((name.to_owned(), pid.parse().map_err(|e| format!("{e}"))?))
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
        let base = &self.accounts[i % self.accounts.len()];
        format!("{base}/accounts/customer/create")
    }
}

/// How much of each scenario to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub repetitions: usize,
    /// Scenario 1: concurrent clients, and creates per run.
    pub write_clients: Vec<usize>,
    pub writes: usize,
    /// Scenario 3: concurrent clients, and reads per run of one customer each
    /// and of a page of 100.
    pub read_clients: Vec<usize>,
    pub reads: usize,
    pub page_reads: usize,
    /// Scenario 2: offered rates (changes per second), clients at saturation
    /// (each waiting for its change to arrive before making the next), and
    /// changes per run.
    pub rates: Vec<f64>,
    pub saturation_clients: usize,
    pub changes: usize,
    /// Scenario 4: customers in the replayed topic, and versions of each.
    pub replay_customers: usize,
    pub replay_versions: i64,
    /// Scenarios 1 and 2 once more with two instances of each service.
    pub scale_out: bool,
    /// Scenario 6: the broker outage.
    pub outage: outage::Shape,
    /// Scenario 7: changes of one customer, then orders of that customer.
    pub growth: (usize, usize),
}

impl Plan {
    /// The benchmark, or with `tiny` a run small enough for the test suite.
    pub fn new(tiny: bool) -> Plan {
        Plan {
            repetitions: if tiny { 1 } else { 5 },
            write_clients: if tiny { vec![2] } else { vec![1, 8, 32] },
            writes: if tiny { 20 } else { 200 },
            read_clients: if tiny { vec![2] } else { vec![8, 32] },
            reads: if tiny { 20 } else { 500 },
            page_reads: if tiny { 5 } else { 100 },
            rates: if tiny { vec![20.0] } else { vec![50.0, 200.0] },
            saturation_clients: if tiny { 2 } else { 32 },
            changes: if tiny { 5 } else { 200 },
            replay_customers: if tiny { 10 } else { 10_000 },
            replay_versions: if tiny { 2 } else { 20 },
            scale_out: !tiny,
            growth: if tiny { (20, 10) } else { (3000, 1000) },
            outage: outage::Shape {
                rate: if tiny { 10.0 } else { 20.0 },
                run: Duration::from_secs(if tiny { 6 } else { 40 }),
                kill_at: Duration::from_secs(if tiny { 1 } else { 5 }),
                down_for: Duration::from_secs(if tiny { 3 } else { 20 }),
                // Shorter than the default (30 s) so that a 20 s outage
                // outlasts it, as a longer outage outlasts the default.
                message_timeout: Duration::from_secs(if tiny { 2 } else { 5 }),
            },
        }
    }
}

/// `prefix` and 8 random hex digits: a name no other run uses.
pub fn unique(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &random[..8])
}

/// Scenarios and, after them, their baselines, as the report names them.
const WRITES: [&str; 3] = ["1 accounts writes", "raw mongodb upserts", NAIVE];
const PROPAGATION: [&str; 2] = ["2 end-to-end propagation", "raw produce→consume→upsert"];
const READ_ONE: [&str; 2] = [
    "3 orders reads",
    "raw find_one of the customer and find of its orders",
];
const READ_PAGE: [&str; 2] = ["3 orders reads", "raw find of 100 sorted by id"];
const REPLAY: [&str; 2] = ["4 replay", "raw consume + upsert"];
/// The baseline service of the seed's design (`crates/naive-dual-write`).
pub const NAIVE: &str = "naive dual-write service";

/// Runs every scenario of `plan`; a failed scenario is recorded and the next
/// one runs. The report is not yet [`stamped`](Report::stamped).
pub async fn run(target: &Target, plan: &Plan, log: impl Fn(&str)) -> Report {
    let (reps, report) = (plan.repetitions.max(1), Report::default());
    let mut bench = Bench { plan, reps, report };
    let result = bench.writes(target).await;
    bench.settle(WRITES[0], result, &log);
    let result = bench.reads(target).await;
    bench.settle(READ_ONE[0], result, &log);
    let result = bench.propagation(target).await;
    bench.settle(PROPAGATION[0], result, &log);
    let result = bench.replay(target).await;
    bench.settle(REPLAY[0], result, &log);
    let result = bench.startup(target).await;
    bench.settle("5 start-to-ready", result, &log);
    let result = bench.outage(target).await;
    bench.settle("6 broker outage", result, &log);
    let (changes, orders) = plan.growth;
    match growth::run(target, changes, orders).await {
        Ok(rows) => bench.report.growth = rows,
        Err(e) => bench.settle("7 growth", Err(e), &log),
    }
    if plan.scale_out {
        let result = bench.scale_out(target).await;
        bench.settle("1 and 2 with two instances", result, &log);
    }
    bench.report
}

/// A run in progress: what it runs, and the report so far.
struct Bench<'a> {
    plan: &'a Plan,
    reps: usize,
    report: Report,
}

impl Bench<'_> {
    fn settle(&mut self, scenario: &str, result: Result<()>, log: impl Fn(&str)) {
        match result {
            Ok(()) => log(&format!("{scenario} done")),
            Err(e) => {
                log(&format!("{scenario} FAILED: {e:#}"));
                self.report.failures.push(format!("{scenario}: {e:#}"));
            }
        }
    }

    /// Repeats `pair` (a run of the platform, then one of each baseline named
    /// after the scenario in `names`) and adds the platform's comparison with
    /// each baseline as `variant` of `names[0]`; for scenario 2, also their
    /// latency histogram.
    async fn compare<F, const N: usize>(
        &mut self,
        names: &[&str],
        variant: String,
        mut pair: F,
    ) -> Result<()>
    where
        F: AsyncFnMut() -> Result<[Run; N]>,
    {
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); names.len()];
        for _ in 0..self.reps {
            for (runs, run) in runs.iter_mut().zip(pair().await?) {
                runs.push(run);
            }
        }
        let summaries: Vec<Summary> = runs.iter().map(|runs| Summary::of(runs)).collect();
        let scenario = names[0].to_owned();
        for (baseline, summary) in names.iter().zip(&summaries).skip(1) {
            self.report.comparisons.push(Comparison {
                scenario: scenario.clone(),
                variant: variant.clone(),
                platform: summaries[0].clone(),
                baseline_name: (*baseline).to_owned(),
                baseline: summary.clone(),
            });
        }
        if scenario == PROPAGATION[0] {
            let samples = |runs: &[Run]| runs.iter().flat_map(|r| r.samples_ms.clone()).collect();
            self.report.histograms.push(Histogram {
                title: format!("{scenario}, {variant}"),
                platform: samples(&runs[0]),
                baseline_name: names[1].to_owned(),
                baseline: samples(&runs[1]),
            });
        }
        Ok(())
    }
}
