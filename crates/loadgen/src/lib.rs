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

pub mod capacity;
pub mod plots;
pub mod processes;
pub mod report;
pub mod scenarios;
pub mod stats;

use processes::{Binaries, RssSampler};
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

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs every scenario of `plan`; a failed scenario is recorded and the next
/// one runs.
pub async fn run(target: &Target, services: &Services, plan: &Plan, log: impl Fn(&str)) -> Outcome {
    let mut outcome = Outcome::default();
    let reps = plan.repetitions.max(1);
    let mut scenarios = vec![
        ("1 accounts writes", Scenario::Writes),
        ("3 orders reads", Scenario::Reads),
        ("2 end-to-end propagation", Scenario::Propagation),
        ("4 replay", Scenario::Replay),
        ("5 start-to-ready", Scenario::Startup),
    ];
    if plan.scale_out {
        scenarios.push(("1 and 2 with two instances", Scenario::ScaleOut));
    }
    for (name, scenario) in scenarios {
        let result = match scenario {
            Scenario::Writes => writes(target, services, plan, reps, &mut outcome).await,
            Scenario::Reads => reads(target, plan, reps, &mut outcome).await,
            Scenario::Propagation => propagation(target, services, plan, reps, &mut outcome).await,
            Scenario::Replay => replay(target, services, plan, reps, &mut outcome).await,
            Scenario::Startup => startup(target, services, reps, &mut outcome).await,
            Scenario::ScaleOut => scale_out(target, services, plan, reps, &mut outcome).await,
        };
        match result {
            Ok(()) => log(&format!("{name} done")),
            Err(e) => {
                log(&format!("{name} FAILED: {e:#}"));
                outcome.failures.push(format!("{name}: {e:#}"));
            }
        }
    }
    outcome
}

#[derive(Clone, Copy)]
enum Scenario {
    Writes,
    Reads,
    Propagation,
    Replay,
    Startup,
    ScaleOut,
}

async fn writes(
    target: &Target,
    services: &Services,
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let sampler = RssSampler::start(services.pids.iter().map(|(_, pid)| *pid).collect());
    measure_writes(target, &plan.write_clients, plan, reps, outcome).await?;
    let operations = plan.writes * plan.write_clients.len() * reps;
    record_rss(
        outcome,
        services,
        "scenario 1",
        operations,
        sampler.finish().await,
    );
    // The writes above were accepted faster than the relay publishes them:
    // let it catch up before anything else is measured, and report how long.
    let drain = scenarios::wait_drained(target, std::time::Duration::from_secs(600)).await?;
    outcome.notes.push(format!(
        "After scenario 1 ({} creates in all), the accounts relay needed {:.1} s more to publish its backlog.",
        plan.writes * plan.write_clients.len() * reps,
        drain.as_secs_f64()
    ));
    Ok(())
}

async fn measure_writes(
    target: &Target,
    clients: &[usize],
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    for &clients in clients {
        let (mut platform, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let prefix = unique("bench-w");
            platform.push(scenarios::accounts_writes(target, &prefix, clients, plan.writes).await?);
            baseline.push(
                scenarios::raw_upserts(target, "customers", &prefix, clients, plan.writes).await?,
            );
        }
        outcome.comparisons.push(compare(
            "1 accounts writes",
            &format!("N={clients}, {}", target.instances()),
            &platform,
            "raw mongodb upserts",
            &baseline,
        ));
    }
    Ok(())
}

async fn reads(
    target: &Target,
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    // Customers to read: created once, replicated to orders and upserted raw.
    let seed = unique("bench-r");
    let population = plan.reads.clamp(1, 200);
    scenarios::accounts_writes(target, &seed, 8, population).await?;
    scenarios::raw_upserts(target, "customers", &seed, 8, population).await?;
    for i in 0..population {
        scenarios::wait_replicated(target, &format!("{seed}-{i}")).await?;
    }
    for &clients in &plan.read_clients {
        let (mut one, mut list, mut baseline, mut pages) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let prefix = seed.clone();
            one.push(
                scenarios::orders_reads(target, clients, plan.reads, move |i| {
                    format!("/orders/order/{prefix}-{}", i % population)
                })
                .await?,
            );
            list.push(
                scenarios::orders_reads(target, clients, plan.list_reads, |_| {
                    "/orders/list?limit=100".to_owned()
                })
                .await?,
            );
            pages.push(scenarios::raw_pages(target, "customers", clients, plan.list_reads).await?);
            baseline.push(
                scenarios::raw_reads(target, "customers", &seed, population, clients, plan.reads)
                    .await?,
            );
        }
        outcome.comparisons.push(compare(
            "3 orders reads",
            &format!("GET /orders/order/{{id}} N={clients}"),
            &one,
            "raw find_one",
            &baseline,
        ));
        outcome.comparisons.push(compare(
            "3 orders reads",
            &format!("GET /orders/list?limit=100 N={clients}"),
            &list,
            "raw find of 100 sorted by id",
            &pages,
        ));
    }
    Ok(())
}

async fn propagation(
    target: &Target,
    services: &Services,
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let sampler = RssSampler::start(services.pids.iter().map(|(_, pid)| *pid).collect());
    let mut paces: Vec<Pace> = plan.rates.iter().map(|&r| Pace::PerSecond(r)).collect();
    paces.push(Pace::Clients(plan.saturation_clients));
    measure_propagation(target, &paces, plan, reps, outcome).await?;
    let operations = plan.changes * paces.len() * reps;
    record_rss(
        outcome,
        services,
        "scenario 2",
        operations,
        sampler.finish().await,
    );
    Ok(())
}

async fn measure_propagation(
    target: &Target,
    paces: &[Pace],
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    for &pace in paces {
        let variant = format!("{pace}, {}", target.instances());
        let (mut platform, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            platform.push(
                scenarios::propagation(target, &unique("bench-e2e"), pace, plan.changes).await?,
            );
            let topic = unique("bench_raw_pipeline");
            scenarios::create_topic(target, &topic).await?;
            baseline.push(
                scenarios::raw_pipeline(target, &topic, &unique("raw-e2e"), pace, plan.changes)
                    .await?,
            );
        }
        outcome.histograms.push(Histogram {
            title: format!("2 end-to-end propagation, {variant}"),
            platform: pooled(&platform),
            baseline_name: "raw produce→consume→upsert".to_owned(),
            baseline: pooled(&baseline),
        });
        outcome.comparisons.push(compare(
            "2 end-to-end propagation",
            &variant,
            &platform,
            "raw produce→consume→upsert",
            &baseline,
        ));
    }
    Ok(())
}

/// Scenarios 1 and 2 again with a second instance of each service started
/// next to the first (same databases, same consumer group).
async fn scale_out(
    target: &Target,
    services: &Services,
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let Some(binaries) = &services.binaries else {
        anyhow::bail!("no service executables given (--bin-dir)");
    };
    let extra = processes::SecondInstances::start(target, binaries).await?;
    let both = Target {
        accounts: [target.accounts.clone(), vec![extra.accounts_url()]].concat(),
        orders: [target.orders.clone(), vec![extra.orders_url()]].concat(),
        ..target.clone()
    };
    let measured = async {
        // The group rebalances when the second orders instance joins; wait
        // until changes flow again before measuring.
        scenarios::warm_up(&both, std::time::Duration::from_secs(180)).await?;
        let mut pids: Vec<u32> = services.pids.iter().map(|(_, pid)| *pid).collect();
        pids.extend(extra.pids());
        let sampler = RssSampler::start(pids);
        let clients = plan.write_clients.iter().copied().max().unwrap_or(1);
        measure_writes(&both, &[clients], plan, reps, outcome).await?;
        scenarios::wait_drained(&both, std::time::Duration::from_secs(600)).await?;
        let fastest = plan.rates.iter().copied().fold(1.0, f64::max);
        let paces = [
            Pace::PerSecond(fastest),
            Pace::Clients(plan.saturation_clients),
        ];
        measure_propagation(&both, &paces, plan, reps, outcome).await?;
        let mut names: Vec<String> = services.pids.iter().map(|(n, _)| n.clone()).collect();
        names.extend(["accounts-domain-2".to_owned(), "orders-domain-2".to_owned()]);
        let named = Services {
            pids: names.into_iter().map(|n| (n, 0)).collect(),
            binaries: None,
        };
        let operations = plan.writes * reps + plan.changes * paces.len() * reps;
        record_rss(
            outcome,
            &named,
            "scale-out",
            operations,
            sampler.finish().await,
        );
        anyhow::Ok(())
    }
    .await;
    extra.stop().await;
    measured
}

async fn replay(
    target: &Target,
    services: &Services,
    plan: &Plan,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let Some(binaries) = &services.binaries else {
        anyhow::bail!("no orders-domain executable given (--bin-dir)");
    };
    let topic = unique("bench_replay");
    scenarios::create_topic(target, &topic).await?;
    let events =
        scenarios::fill_replay_topic(target, &topic, plan.replay_customers, plan.replay_versions)
            .await?;
    let (mut platform, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (records, elapsed) = processes::rebuild(target, &binaries.orders, &topic).await?;
        anyhow::ensure!(
            records == events,
            "the rebuild read {records} records of {events}"
        );
        platform.push(Run::throughput_only(records, elapsed));
        baseline.push(scenarios::raw_replay(target, &topic, events).await?);
    }
    outcome.comparisons.push(compare(
        "4 replay",
        &format!(
            "orders-domain rebuild, {events} events of {} customers",
            plan.replay_customers
        ),
        &platform,
        "raw consume + upsert",
        &baseline,
    ));
    Ok(())
}

async fn startup(
    target: &Target,
    services: &Services,
    reps: usize,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let Some(binaries) = &services.binaries else {
        anyhow::bail!("no service executables given (--bin-dir)");
    };
    for (service, exe, collection) in [
        ("accounts-domain", &binaries.accounts, "customer_accounts"),
        ("orders-domain", &binaries.orders, "customer_orders"),
    ] {
        let (mut ready, mut idle) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let (time, rss) = processes::start_to_ready(target, exe, collection).await?;
            ready.push(time.as_secs_f64() * 1000.0);
            idle.push(rss);
        }
        outcome.resources.push(ResourceRow {
            service: service.to_owned(),
            figure: "start-to-ready (exec → readiness 200)".to_owned(),
            value: Spread::of(ready),
            unit: "ms".to_owned(),
        });
        outcome.resources.push(ResourceRow {
            service: service.to_owned(),
            figure: "idle RSS, 1 s after ready".to_owned(),
            value: Spread::of(idle),
            unit: "MiB".to_owned(),
        });
    }
    Ok(())
}

/// RSS rows of each service over a scenario, and its CPU time per platform
/// operation of the scenario (`operations`).
fn record_rss(
    outcome: &mut Outcome,
    services: &Services,
    during: &str,
    operations: usize,
    figures: Vec<processes::RssFigure>,
) {
    for ((name, _), figure) in services.pids.iter().zip(figures) {
        for (what, value) in [
            ("peak", figure.peak_mib),
            ("steady (median)", figure.steady_mib),
        ] {
            outcome.resources.push(ResourceRow {
                service: name.clone(),
                figure: format!("{what} RSS during {during}"),
                value: Spread::of([value]),
                unit: "MiB".to_owned(),
            });
        }
        outcome.resources.push(ResourceRow {
            service: name.clone(),
            figure: format!("CPU per change during {during} ({operations} changes)"),
            value: Spread::of([figure.cpu_seconds * 1000.0 / operations.max(1) as f64]),
            unit: "ms".to_owned(),
        });
    }
}

fn pooled(runs: &[Run]) -> Vec<f64> {
    runs.iter()
        .flat_map(|r| r.samples_ms.iter().copied())
        .collect()
}

fn compare(
    scenario: &str,
    variant: &str,
    platform: &[Run],
    baseline_name: &str,
    baseline: &[Run],
) -> Comparison {
    Comparison {
        scenario: scenario.to_owned(),
        variant: variant.to_owned(),
        platform: Summary::of(platform),
        baseline_name: baseline_name.to_owned(),
        baseline: Summary::of(baseline),
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
