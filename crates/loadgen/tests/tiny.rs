//! A tiny benchmark run against real service processes: every scenario and
//! baseline completes, and the report holds their figures.

use fault_tests::Cluster;
use loadgen::scenarios::Target;
use loadgen::{Plan, report, run};
use platform_testkit as kit;

#[tokio::test]
async fn a_tiny_benchmark_measures_every_scenario_next_to_its_baseline() {
    let cluster = Cluster::start(1, 1).await;
    let target = Target {
        accounts: cluster.accounts[0].url(),
        orders: cluster.orders[0].url(),
        mongodb_uri: kit::mongodb_uri(),
        brokers: cluster.broker.server.address(),
    };
    let plan = Plan::tiny();
    let (comparisons, notes) = run(&target, &plan, |line| eprintln!("{line}"))
        .await
        .expect("benchmark runs");
    cluster.shutdown().await;

    let scenarios: Vec<&str> = comparisons.iter().map(|c| c.scenario.as_str()).collect();
    assert_eq!(
        scenarios,
        [
            "1 accounts writes",
            "3 orders reads",
            "3 orders reads",
            "2 end-to-end propagation"
        ]
    );
    for c in &comparisons {
        assert!(c.platform.throughput.median > 0.0, "{c:?}");
        assert!(c.baseline.throughput.median > 0.0, "{c:?}");
        assert!(
            c.platform.p50_ms.median > 0.0 && c.platform.p99_ms.median >= c.platform.p50_ms.median,
            "{c:?}"
        );
    }
    let e2e = &comparisons[3];
    // Propagation passes through the relay, the broker and the projector:
    // slower than one HTTP read of the replica.
    assert!(
        e2e.platform.p50_ms.median > comparisons[1].platform.p50_ms.median,
        "{e2e:?}"
    );
    assert!(notes[0].contains("relay needed"), "{notes:?}");
    let markdown = report("test", comparisons, notes).to_markdown();
    assert!(
        markdown.contains("| 1 accounts writes | N=2 (vs raw mongodb upserts) |"),
        "{markdown}"
    );
}
