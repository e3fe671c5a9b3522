//! The capacity model on paper for 10 million customers and 10 000 changes
//! per second, derived from the figures this run measured. Every assumption
//! that is not a measured figure is stated as one.

use crate::report::Report;

/// The deployment the model sizes.
const CUSTOMERS: f64 = 10_000_000.0;
const CHANGES_PER_SECOND: f64 = 10_000.0;
/// Assumption: pods of one vCPU, run at most this busy.
const TARGET_UTILIZATION: f64 = 0.6;
/// Assumption: a single-document write by `_id` to Atlas in the same region.
const MONGODB_WRITE_MS: f64 = 2.0;
/// Assumption: lz4 shrinks the JSON events to this share of their size.
const COMPRESSION: f64 = 0.4;
/// Assumption: Confluent Cloud's replication factor.
const REPLICATION: f64 = 3.0;
/// Assumption: events per second one rebuild process reads from a real Kafka
/// cluster, where the local broker's fetches are the bound here.
const REAL_REPLAY_RATE: f64 = 100_000.0;
const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// The median of a resource row whose service and figure start as given.
fn resource(report: &Report, service: &str, figure: &str) -> Option<f64> {
    report
        .resources
        .iter()
        .find(|r| r.service.starts_with(service) && r.figure.starts_with(figure))
        .map(|r| r.value.median)
}

fn throughput(report: &Report, scenario: &str, variant: &str) -> Option<f64> {
    report
        .comparisons
        .iter()
        .find(|c| c.scenario.starts_with(scenario) && c.variant.starts_with(variant))
        .map(|c| c.platform.throughput.median)
}

fn or_unknown(value: Option<f64>, digits: usize) -> String {
    value.map_or("(not measured)".to_owned(), |v| format!("{v:.digits$}"))
}

/// The compact size in bytes of one change event (the golden sample).
fn event_bytes() -> f64 {
    serde_json::from_str::<serde_json::Value>(shared_events::samples::CUSTOMER_CREATED)
        .map(|v| v.to_string().len() as f64)
        .unwrap_or(1000.0)
}

const TEMPLATE: &str = include_str!("templates/capacity.md");

/// The model as Markdown: `templates/capacity.md` filled with this run's
/// figures and the assumptions.
pub fn model(report: &Report) -> String {
    crate::report::fill(TEMPLATE, &[measured(report), assumed()].concat())
}

/// The figures the model takes from the run, by their names in the template.
fn measured(report: &Report) -> Vec<(&'static str, String)> {
    let cpu = |service, scenario| {
        resource(
            report,
            service,
            &format!("CPU per change during {scenario}"),
        )
    };
    // Scenario 1 has orders only consume and apply; in scenario 2 it also
    // answers the benchmark's reads.
    let (accounts, orders, orders_read) = (
        cpu("accounts-domain", "scenario 1"),
        cpu("orders-domain", "scenario 1"),
        cpu("orders-domain", "scenario 2"),
    );
    let pods = |cpu_ms: Option<f64>| {
        cpu_ms.map(|ms| (CHANGES_PER_SECOND * ms / 1000.0 / TARGET_UTILIZATION).ceil())
    };
    let replay_days = throughput(report, "4 replay", "").map(|rate| per_year() / rate / 86_400.0);
    vec![
        ("accounts_cpu", or_unknown(accounts, 2)),
        ("orders_cpu", or_unknown(orders, 2)),
        ("orders_read_cpu", or_unknown(orders_read, 2)),
        (
            "writes",
            or_unknown(
                throughput(report, "1 accounts writes", "N=32, 1 instance"),
                0,
            ),
        ),
        (
            "saturation",
            or_unknown(throughput(report, "2 end-to-end", "saturation"), 0),
        ),
        ("replay", or_unknown(throughput(report, "4 replay", ""), 0)),
        ("accounts_pods", or_unknown(pods(accounts), 0)),
        ("orders_pods", or_unknown(pods(orders), 0)),
        ("orders_read_pods", or_unknown(pods(orders_read), 0)),
        ("replay_days", or_unknown(replay_days, 0)),
    ]
}

/// The figures that follow from the assumptions alone.
fn assumed() -> Vec<(&'static str, String)> {
    let event = event_bytes();
    // Partitions: each applies its records one at a time, so enough of them
    // must be busy at once to carry the rate with MongoDB's write latency.
    let busy_partitions = CHANGES_PER_SECOND * MONGODB_WRITE_MS / 1000.0;
    let stored_tb = per_year() * event * COMPRESSION * REPLICATION / 1e12;
    vec![
        ("event", format!("{event:.0}")),
        ("utilization", format!("{:.0}", TARGET_UTILIZATION * 100.0)),
        ("mongodb_write_ms", MONGODB_WRITE_MS.to_string()),
        ("real_replay_rate", format!("{REAL_REPLAY_RATE:.0}")),
        ("compression_percent", format!("{:.0}", COMPRESSION * 100.0)),
        ("compression", COMPRESSION.to_string()),
        ("replication", REPLICATION.to_string()),
        ("busy_partitions", format!("{busy_partitions:.0}")),
        ("customers_millions", format!("{:.0}", CUSTOMERS / 1e6)),
        ("replica_gb", format!("{:.0}", CUSTOMERS * event / 1e9)),
        ("events_per_year", format!("{:.1}", per_year() / 1e11)),
        ("stored_tb", format!("{stored_tb:.0}")),
        (
            "real_replay_days",
            format!("{:.0}", per_year() / REAL_REPLAY_RATE / 86_400.0),
        ),
    ]
}

/// Changes in a year at the modelled rate.
fn per_year() -> f64 {
    CHANGES_PER_SECOND * SECONDS_PER_YEAR
}
