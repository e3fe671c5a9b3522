//! The capacity model on paper for 10 million customers and 10 000 changes
//! per second, derived from the figures this run measured. Every assumption
//! that is not a measured figure is stated as one.

use std::fmt::Write as _;

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

/// The model as Markdown.
pub fn model(report: &Report) -> String {
    let mut out = String::new();
    let accounts_cpu = resource(
        report,
        "accounts-domain",
        "CPU per change during scenario 1",
    );
    // Scenario 1 has orders only consume and apply; in scenario 2 it also
    // answers the benchmark's reads.
    let orders_cpu = resource(report, "orders-domain", "CPU per change during scenario 1");
    let orders_read_cpu = resource(report, "orders-domain", "CPU per change during scenario 2");
    let writes = throughput(report, "1 accounts writes", "N=32, 1 instance");
    let saturation = throughput(report, "2 end-to-end", "saturation");
    let replay = throughput(report, "4 replay", "");
    let pods = |cpu_ms: Option<f64>| {
        cpu_ms.map(|ms| (CHANGES_PER_SECOND * ms / 1000.0 / TARGET_UTILIZATION).ceil())
    };
    let event = event_bytes();
    let per_year = CHANGES_PER_SECOND * SECONDS_PER_YEAR;
    let stored_tb = per_year * event * COMPRESSION * REPLICATION / 1e12;
    // Partitions: each applies its records one at a time, so enough of them
    // must be busy at once to carry the rate with MongoDB's write latency.
    let busy_partitions = CHANGES_PER_SECOND * MONGODB_WRITE_MS / 1000.0;

    let _ = writeln!(
        out,
        "\n## Capacity model: 10 million customers, 10 000 changes/s\n"
    );
    let _ = writeln!(
        out,
        "On paper, from this run's per-instance figures. On this machine every figure is \
         bound by the local MongoDB-protocol server (a single-threaded Python process on \
         SQLite, busy near 100 % of a core under load) rather than by the services, so the \
         throughputs below are far below what the services do against MongoDB Atlas; the \
         model therefore sizes the services by the **CPU time they use per change**, which \
         does not depend on the database's speed, and states every assumption.\n"
    );
    let _ = writeln!(out, "| quantity | value | from |");
    let _ = writeln!(out, "|---|---|---|");
    let rows = [
        (
            "accounts CPU per write",
            format!("{} ms", or_unknown(accounts_cpu, 2)),
            "measured, scenario 1",
        ),
        (
            "orders CPU per change applied",
            format!("{} ms", or_unknown(orders_cpu, 2)),
            "measured, scenario 1 (consume and apply only)",
        ),
        (
            "orders CPU per change applied and read back once",
            format!("{} ms", or_unknown(orders_read_cpu, 2)),
            "measured, scenario 2",
        ),
        (
            "accounts writes/s of one instance here (N=32)",
            or_unknown(writes, 0),
            "measured, bound by nx-27017",
        ),
        (
            "end-to-end changes/s at saturation here",
            or_unknown(saturation, 0),
            "measured, bound by nx-27017",
        ),
        (
            "replay events/s here",
            or_unknown(replay, 0),
            "measured, scenario 4",
        ),
        (
            "event size",
            format!("{event:.0} bytes of JSON"),
            "the golden sample, compact",
        ),
        (
            "pod size",
            format!("1 vCPU at ≤ {:.0} % busy", TARGET_UTILIZATION * 100.0),
            "assumption",
        ),
        (
            "MongoDB single-document write",
            format!("{MONGODB_WRITE_MS} ms"),
            "assumption (Atlas, same region)",
        ),
        (
            "replay read rate from Confluent Cloud",
            format!("{REAL_REPLAY_RATE:.0} events/s per rebuild process"),
            "assumption",
        ),
        (
            "compression of the JSON events (lz4)",
            format!("to {:.0} %", COMPRESSION * 100.0),
            "assumption",
        ),
    ];
    for (quantity, value, from) in rows {
        let _ = writeln!(out, "| {quantity} | {value} | {from} |");
    }
    let _ = writeln!(out, "\nDerived:\n");
    let _ = writeln!(
        out,
        "- **accounts instances**: 10 000 writes/s × CPU per write ÷ {:.0} % → **{}** pods \
         (plus one for a rolling update). Each write is a read and a compare-and-set of one \
         document; the relay adds three reads/writes per batch of up to 100 customers.",
        TARGET_UTILIZATION * 100.0,
        or_unknown(pods(accounts_cpu), 0)
    );
    let _ = writeln!(
        out,
        "- **orders instances**: 10 000 changes/s × CPU per applied change ÷ {:.0} % → **{}** \
         pods for the projection, plus reads: {} pods if every change is also read back once \
         (scenario 2's figure). A partition is consumed by one instance at a time, so the \
         projecting instances ≤ partitions.",
        TARGET_UTILIZATION * 100.0,
        or_unknown(pods(orders_cpu), 0),
        or_unknown(pods(orders_read_cpu), 0)
    );
    let _ = writeln!(
        out,
        "- **partitions**: a partition applies its records one after the other, each a \
         {MONGODB_WRITE_MS} ms write, so 10 000/s keeps {busy_partitions:.0} partitions \
         busy. Choose **48** (×2.4 headroom; divisible by 1, 2, 3, 4, 6, 8, 12, 16, 24): the \
         count must be fixed up front, because adding partitions moves keys to other \
         partitions and breaks per-customer order while old records drain."
    );
    let _ = writeln!(
        out,
        "- **MongoDB**: accounts takes ~2 operations per change (read, compare-and-set) plus \
         the relay's batched claim and mark: ~21 000 ops/s; orders ~1 write per change \
         (2 for a new customer): ~10 000 ops/s. Shard both customer collections on a \
         **hashed `_id`** (the customer id): every API operation and every apply targets \
         one document by `_id`, so each goes to one shard and the load spreads evenly. \
         The relay's scan of the `pendingEvents` index is the one scatter-gather query, \
         once per batch. At 10 000/s a single replica set is near its write ceiling; two \
         or three shards leave headroom. {:.0} million replica documents of about one \
         event's size are ~{:.0} GB; the accounts documents grow with their audit history \
         (about 150 bytes per change), which at this rate should move to its own collection.",
        CUSTOMERS / 1e6,
        CUSTOMERS * event / 1e9
    );
    let _ = writeln!(
        out,
        "- **Kafka storage** (the event store, kept forever): {:.1} × 10¹¹ events a year × \
         {event:.0} bytes × {COMPRESSION} compression × {REPLICATION} replicas ≈ \
         **{stored_tb:.0} TB a year**; Confluent Cloud's infinite storage tiers it to \
         object storage.",
        per_year / 1e11
    );
    let replay_days = replay.map(|rate| per_year / rate / 86_400.0);
    let _ = writeln!(
        out,
        "- **Replaying the whole topic** after a year means reading {:.1} × 10¹¹ events. At \
         this run's local rebuild rate that is {} days for one rebuild process, and {:.0} days \
         at an assumed {REAL_REPLAY_RATE:.0} events/s from Confluent Cloud; the rebuild folds \
         each round to one write per customer, so the writes are bounded by the 10 million \
         customers, but the read is not. A full replay is therefore only practical with a \
         snapshot: keep a compacted companion topic (or a periodic replica snapshot with its \
         offsets) and replay from there, keeping the full log for audit and for rebuilding \
         projections that need history. Within one rebuild, partitions can be read by \
         parallel workers, one per partition, since order only matters per customer.",
        per_year / 1e11,
        or_unknown(replay_days, 0),
        per_year / REAL_REPLAY_RATE / 86_400.0
    );
    out
}
