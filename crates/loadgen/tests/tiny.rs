//! A tiny benchmark run against real service processes: every scenario and
//! baseline completes, and the report holds their figures.

use std::path::PathBuf;

use devstack::stack::test_env;
use fault_tests::Cluster;
use loadgen::{Plan, Report, Target, plots, run};
use platform_testkit as kit;

/// The directory of the service executables that the test environment names.
fn bin_dir() -> PathBuf {
    let [accounts, orders] = [test_env::ACCOUNTS_BIN, test_env::ORDERS_BIN].map(|variable| {
        let path = std::env::var(variable)
            .unwrap_or_else(|_| panic!("{variable} is not set: run the tests with `./dev test`"));
        PathBuf::from(path)
            .parent()
            .expect("a directory")
            .to_owned()
    });
    assert_eq!(
        accounts, orders,
        "the services' executables in one directory"
    );
    accounts
}

#[tokio::test]
async fn a_tiny_benchmark_measures_every_scenario_next_to_its_baseline() {
    let cluster = Cluster::start(1, 1).await;
    let target = Target {
        accounts: vec![cluster.accounts[0].url()],
        orders: vec![cluster.orders[0].url()],
        mongodb_uri: kit::mongodb_uri(),
        brokers: cluster.broker.server.address(),
        pids: [&cluster.accounts[0], &cluster.orders[0]]
            .iter()
            .map(|s| (s.name.clone(), s.pid().expect("running")))
            .collect(),
        bin_dir: bin_dir(),
    };
    let plan = Plan::new(true);
    let outcome = run(&target, &plan, |line| eprintln!("{line}")).await;
    cluster.shutdown().await;

    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    every_scenario_is_compared(&outcome);
    every_service_has_its_resources(&outcome);
    assert_eq!(outcome.histograms.len(), 2);
    assert_eq!(outcome.histograms[0].platform.len(), plan.changes);
    assert!(
        outcome.notes[0].contains("relay needed"),
        "{:?}",
        outcome.notes
    );
    the_report_shows_the_figures_and_plots(outcome.stamped("test"));
}

fn every_scenario_is_compared(outcome: &Report) {
    let scenarios: Vec<&str> = outcome
        .comparisons
        .iter()
        .map(|c| c.scenario.as_str())
        .collect();
    assert_eq!(
        scenarios,
        [
            "1 accounts writes",
            "3 orders reads",
            "3 orders reads",
            "2 end-to-end propagation",
            "2 end-to-end propagation",
            "4 replay",
        ]
    );
    for c in &outcome.comparisons {
        assert!(c.platform.throughput.median > 0.0, "{c:?}");
        assert!(c.baseline.throughput.median > 0.0, "{c:?}");
        if c.scenario != "4 replay" {
            assert!(
                c.platform.p50_ms.median > 0.0
                    && c.platform.p99_ms.median >= c.platform.p50_ms.median,
                "{c:?}"
            );
        }
    }
}

fn every_service_has_its_resources(outcome: &Report) {
    // Each service: RSS under scenarios 1 and 2 (peak, steady) and CPU per
    // change; start-to-ready and idle RSS of a fresh instance.
    for service in ["accounts-0", "orders-0"] {
        let rows = |what: &str| {
            outcome
                .resources
                .iter()
                .filter(|r| r.service == service && r.figure.contains(what))
                .collect::<Vec<_>>()
        };
        let rss = rows("RSS");
        assert_eq!(rss.len(), 4, "{service}: {rss:?}");
        assert!(rss.iter().all(|r| r.value.median > 0.0), "{rss:?}");
        assert_eq!(rows("CPU per change").len(), 2, "{service}");
    }
    for service in ["accounts-domain", "orders-domain"] {
        let ready = outcome
            .resources
            .iter()
            .find(|r| r.service == service && r.figure.starts_with("start-to-ready"))
            .unwrap_or_else(|| panic!("{service}: {:?}", outcome.resources));
        assert!(ready.value.median > 0.0, "{ready:?}");
    }
}

fn the_report_shows_the_figures_and_plots(report: Report) {
    let dir = std::env::temp_dir().join(kit::unique("tiny_bench"));
    std::fs::create_dir_all(&dir).expect("dir");
    for histogram in &report.histograms {
        plots::draw(histogram, &dir).expect("plotted");
    }
    let markdown = report.to_markdown();
    assert!(
        markdown.contains("| 1 accounts writes | N=2, 1 instance (vs raw mongodb upserts) |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| ≤ 0.3 s start-to-ready (orders-domain) |"),
        "{markdown}"
    );
    for histogram in &report.histograms {
        assert!(dir.join(histogram.file_name()).exists());
        assert!(markdown.contains(&histogram.file_name()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
