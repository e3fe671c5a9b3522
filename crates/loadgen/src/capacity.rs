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
/// Changes in a year at the modelled rate.
const CHANGES_PER_YEAR: f64 = CHANGES_PER_SECOND * 365.0 * 86_400.0;

const TEMPLATE: &str = include_str!("templates/capacity.md");

/// The model as Markdown: `templates/capacity.md` filled with this run's
/// figures and the assumptions.
pub fn model(report: &Report) -> String {
    let cpu = |service: &str, scenario: &str| {
        let figure = format!("CPU per change during {scenario}");
        let mut rows = report.resources.iter();
        let row = rows.find(|r| r.service.starts_with(service) && r.figure.starts_with(&figure));
        row.map(|r| r.value.median)
    };
    let throughput = |scenario: &str, variant: &str| {
        let mut comparisons = report.comparisons.iter();
        let c = comparisons
            .find(|c| c.scenario.starts_with(scenario) && c.variant.starts_with(variant));
        c.map(|c| c.platform.throughput.median)
    };
    // Scenario 1 has orders only consume and apply; in scenario 2 it also
    // answers the benchmark's reads.
    let accounts = cpu("accounts-domain", "scenario 1");
    let orders = cpu("orders-domain", "scenario 1");
    let orders_read = cpu("orders-domain", "scenario 2");
    let pods = |cpu_ms: Option<f64>| {
        cpu_ms.map(|ms| (CHANGES_PER_SECOND * ms / 1000.0 / TARGET_UTILIZATION).ceil())
    };
    let replay = throughput("4 replay", "");
    let days = |rate: f64| CHANGES_PER_YEAR / rate / 86_400.0;
    // The compact size in bytes of one change event (the golden sample).
    let event = serde_json::from_str::<serde_json::Value>(shared_events::samples::CUSTOMER_CREATED)
        .map_or(1000.0, |v| v.to_string().len() as f64);
    // A partition applies its records one at a time, so enough of them must be
    // busy at once to carry the rate with MongoDB's write latency.
    let busy_partitions = CHANGES_PER_SECOND * MONGODB_WRITE_MS / 1000.0;
    let stored_tb = CHANGES_PER_YEAR * event * COMPRESSION * REPLICATION / 1e12;
    let show = |value: Option<f64>, digits: usize| {
        value.map_or("(not measured)".to_owned(), |v| format!("{v:.digits$}"))
    };
    let figures = [
        ("accounts_cpu", accounts, 2),
        ("orders_cpu", orders, 2),
        ("orders_read_cpu", orders_read, 2),
        (
            "writes",
            throughput("1 accounts writes", "N=32, 1 instance"),
            0,
        ),
        ("saturation", throughput("2 end-to-end", "saturation"), 0),
        ("replay", replay, 0),
        ("accounts_pods", pods(accounts), 0),
        ("orders_pods", pods(orders), 0),
        ("orders_read_pods", pods(orders_read), 0),
        ("replay_days", replay.map(days), 0),
        ("event", Some(event), 0),
        ("utilization", Some(TARGET_UTILIZATION * 100.0), 0),
        ("mongodb_write_ms", Some(MONGODB_WRITE_MS), 0),
        ("real_replay_rate", Some(REAL_REPLAY_RATE), 0),
        ("compression_percent", Some(COMPRESSION * 100.0), 0),
        ("compression", Some(COMPRESSION), 1),
        ("replication", Some(REPLICATION), 0),
        ("busy_partitions", Some(busy_partitions), 0),
        ("customers_millions", Some(CUSTOMERS / 1e6), 0),
        ("replica_gb", Some(CUSTOMERS * event / 1e9), 0),
        ("events_per_year", Some(CHANGES_PER_YEAR / 1e11), 1),
        ("stored_tb", Some(stored_tb), 0),
        ("real_replay_days", Some(days(REAL_REPLAY_RATE)), 0),
    ];
    let figures = figures.map(|(name, value, digits)| (name, show(value, digits)));
    crate::report::fill(TEMPLATE, &figures)
}
