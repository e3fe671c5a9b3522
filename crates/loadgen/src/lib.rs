//! Load generation and the benchmark report (issue #6).
//!
//! Each scenario runs next to a raw-client baseline doing the same work against
//! the same servers, repeated, and the report gives medians, spreads and ratios.
//! Implemented so far: accounts write throughput (vs. raw `mongodb` upserts),
//! orders read throughput (vs. raw `find_one`), and end-to-end propagation
//! latency at a fixed rate (vs. a raw produce → consume → upsert pipeline).

pub mod report;
pub mod scenarios;
pub mod stats;

use report::{Comparison, Report};
use scenarios::Target;
use stats::{Run, Summary};

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
    /// Requests per run of scenario 3.
    pub reads: usize,
    /// Offered rates (changes per second) of scenario 2.
    pub rates: Vec<f64>,
    /// Changes per run of scenario 2.
    pub changes: usize,
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
            rates: vec![20.0],
            changes: 5,
        }
    }

    /// The benchmark.
    pub fn full() -> Plan {
        Plan {
            repetitions: 5,
            write_clients: vec![1, 8, 32],
            writes: 500,
            read_clients: vec![8, 32],
            reads: 2000,
            rates: vec![50.0, 200.0],
            changes: 500,
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs every scenario of `plan` and returns the comparisons.
pub async fn run(
    target: &Target,
    plan: &Plan,
    log: impl Fn(&str),
) -> anyhow::Result<(Vec<Comparison>, Vec<String>)> {
    let mut comparisons = Vec::new();
    let mut notes = Vec::new();
    let reps = plan.repetitions.max(1);

    for &clients in &plan.write_clients {
        let (mut platform, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let prefix = unique("bench-w");
            platform.push(scenarios::accounts_writes(target, &prefix, clients, plan.writes).await?);
            baseline.push(
                scenarios::raw_upserts(target, "customers", &prefix, clients, plan.writes).await?,
            );
        }
        log(&format!("writes N={clients} done"));
        comparisons.push(compare(
            "1 accounts writes",
            &format!("N={clients}"),
            &platform,
            "raw mongodb upserts",
            &baseline,
        ));
    }

    // The writes above were accepted faster than the relay publishes them:
    // let it catch up before anything else is measured, and report how long.
    let drain = scenarios::wait_drained(target, std::time::Duration::from_secs(1200)).await?;
    notes.push(format!(
        "After scenario 1 ({} creates in all), the accounts relay needed {:.1} s more to publish its backlog.",
        plan.writes * plan.write_clients.len() * reps,
        drain.as_secs_f64()
    ));

    // Customers to read: created once, replicated to orders and upserted raw.
    let seed = unique("bench-r");
    let population = plan.reads.clamp(1, 200);
    scenarios::accounts_writes(target, &seed, 8, population).await?;
    scenarios::raw_upserts(target, "customers", &seed, 8, population).await?;
    for i in 0..population {
        scenarios::wait_replicated(target, &format!("{seed}-{i}")).await?;
    }
    for &clients in &plan.read_clients {
        let (mut one, mut list, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let prefix = seed.clone();
            one.push(
                scenarios::orders_reads(target, clients, plan.reads, move |i| {
                    format!("/orders/order/{prefix}-{}", i % population)
                })
                .await?,
            );
            list.push(
                scenarios::orders_reads(target, clients, plan.reads, |_| {
                    "/orders/list?limit=100".to_owned()
                })
                .await?,
            );
            baseline.push(
                scenarios::raw_reads(target, "customers", &seed, population, clients, plan.reads)
                    .await?,
            );
        }
        log(&format!("reads N={clients} done"));
        comparisons.push(compare(
            "3 orders reads",
            &format!("GET /orders/order/{{id}} N={clients}"),
            &one,
            "raw find_one",
            &baseline,
        ));
        comparisons.push(compare(
            "3 orders reads",
            &format!("GET /orders/list?limit=100 N={clients}"),
            &list,
            "raw find_one",
            &baseline,
        ));
    }

    for &rate in &plan.rates {
        let (mut platform, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            platform.push(
                scenarios::propagation(target, &unique("bench-e2e"), rate, plan.changes).await?,
            );
            let topic = unique("bench_raw_pipeline");
            scenarios::create_topic(target, &topic).await?;
            baseline.push(
                scenarios::raw_pipeline(target, &topic, &unique("raw-e2e"), rate, plan.changes)
                    .await?,
            );
        }
        log(&format!("propagation at {rate}/s done"));
        comparisons.push(compare(
            "2 end-to-end propagation",
            &format!("{rate}/s offered"),
            &platform,
            "raw produce→consume→upsert",
            &baseline,
        ));
    }
    Ok((comparisons, notes))
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

/// Wraps comparisons into a report with the environment.
pub fn report(command: &str, comparisons: Vec<Comparison>, notes: Vec<String>) -> Report {
    Report {
        date: chrono::Utc::now().to_rfc3339(),
        command: command.to_owned(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        notes,
        comparisons,
    }
}
