//! A tiny benchmark run against real service processes: every scenario and
//! baseline completes, and the report holds their figures.

use std::path::PathBuf;

use fault_tests::Cluster;
use loadgen::{Plan, Report, Target, run};
use local_servers::test_env;
use platform_testkit as kit;

/// The directory of the service executables that the test environment names.
fn bin_dir() -> PathBuf {
    let [accounts, orders] = [test_env::ACCOUNTS_BIN, test_env::ORDERS_BIN].map(|variable| {
        let unset = |_| panic!("{variable} is not set: run the tests with ./dev test");
        PathBuf::from(std::env::var(variable).unwrap_or_else(unset)).with_file_name("")
    });
    assert_eq!(accounts, orders, "the services' executables apart");
    accounts
}

#[tokio::test]
async fn a_tiny_benchmark_measures_every_scenario_next_to_its_baseline() {
    // Round trips are counted by the services only when asked.
    let count = [("APP__MONGODB__COUNT_COMMANDS", "true")];
    let cluster = Cluster::start_with_env(1, 1, &count).await;
    let services = [&cluster.accounts[0], &cluster.orders[0]];
    let target = Target {
        accounts: vec![services[0].url()],
        orders: vec![services[1].url()],
        mongodb_uri: kit::mongodb_uri(),
        brokers: cluster.broker.server.address(),
        pids: services
            .map(|s| (s.name.clone(), s.pid().expect("up")))
            .to_vec(),
        bin_dir: bin_dir(),
        tansu: std::env::var(test_env::TANSU_BIN).ok().map(PathBuf::from),
        profiles: None,
        kek: Some(kit::kek_base64()),
    };
    let plan = Plan::new(true);
    let report = run(&target, &plan, |line| eprintln!("{line}")).await;
    cluster.shutdown().await;

    assert!(report.failures.is_empty(), "{:?}", report.failures);
    every_scenario_is_compared(&report);
    every_service_has_its_resources(&report);
    the_outage_lost_nothing_the_platform_accepted(&report);
    let growth = &report.growth;
    assert_eq!(growth.len(), 2, "{growth:?}");
    assert!(
        growth.iter().all(|g| g.first_ms > 0.0 && g.last_ms > 0.0),
        "{growth:?}"
    );
    assert_eq!(report.histograms.len(), 2);
    assert_eq!(report.histograms[0].platform.len(), plan.changes);
    let notes = &report.notes;
    assert!(notes[0].contains("relay needed"), "{notes:?}");
    the_report_shows_the_figures_and_plots(report.stamped("test"));
}

fn every_scenario_is_compared(report: &Report) {
    let scenarios = report.comparisons.iter().map(|c| c.scenario.as_str());
    let (reads, e2e) = ("3 orders reads", "2 end-to-end propagation");
    let writes = "1 accounts writes";
    // Scenario 4 twice: the full replay and the rebuild from state.
    let expected = [
        writes, writes, reads, reads, e2e, e2e, "4 replay", "4 replay",
    ];
    assert_eq!(scenarios.collect::<Vec<_>>(), expected);
    assert_eq!(report.comparisons[1].baseline_name, loadgen::NAIVE);
    let from_state = &report.comparisons[7].variant;
    assert!(from_state.contains("--from-state"), "{from_state}");
    for c in &report.comparisons {
        assert!(c.platform.throughput.median > 0.0, "{c:?}");
        assert!(c.baseline.throughput.median > 0.0, "{c:?}");
        let (p50, p99) = (c.platform.p50_ms.median, c.platform.p99_ms.median);
        let rate_only = c.scenario == "4 replay";
        assert!(rate_only || (p50 > 0.0 && p99 >= p50), "{c:?}");
    }
}

fn every_service_has_its_resources(report: &Report) {
    // Each service: RSS under scenarios 1 and 2 (peak, steady) and CPU per
    // change; start-to-ready and idle RSS of a fresh instance.
    let rows = |service: &str, what: &str| {
        let rows = report.resources.iter();
        rows.filter(|r| r.service == service && r.figure.contains(what))
            .collect::<Vec<_>>()
    };
    for service in ["accounts-0", "orders-0"] {
        let rss = rows(service, "RSS");
        assert_eq!(rss.len(), 4, "{service}: {rss:?}");
        assert!(rss.iter().all(|r| r.value.median > 0.0), "{rss:?}");
        assert_eq!(rows(service, "CPU per change").len(), 2, "{service}");
    }
    for service in ["accounts-domain", "orders-domain"] {
        let ready = rows(service, "start-to-ready");
        assert!(ready.len() == 1 && ready[0].value.median > 0.0, "{ready:?}");
        // Round trips counted by the services' command monitoring: a create
        // is at least one write in accounts and one apply in orders.
        let commands = rows(service, "during scenario 1");
        let commands: Vec<_> = commands
            .into_iter()
            .filter(|r| r.figure.starts_with("MongoDB"))
            .collect();
        let rows = &report.resources;
        assert!(
            commands.len() == 1 && commands[0].value.median >= 1.0,
            "{rows:?}"
        );
    }
    let reads = rows(
        "orders-domain",
        "MongoDB commands per operation during scenario 3",
    );
    assert!(
        reads.len() == 1 && reads[0].value.median >= 1.0,
        "{reads:?}"
    );
}

/// Through the broker outage the platform accepted every create and every
/// saved customer reached its topic; the naive service's figures are
/// whatever the outage did to it.
fn the_outage_lost_nothing_the_platform_accepted(report: &Report) {
    let outage = report.outage.as_ref().expect("scenario 6 ran");
    let [platform, naive] = [0, 1].map(|i| &outage.rows[i]);
    assert_eq!(platform.service, "accounts-domain");
    assert!(platform.requests > 0 && naive.requests > 0, "{outage:?}");
    assert_eq!(platform.accepted, platform.requests, "{platform:?}");
    assert_eq!(platform.saved, platform.accepted, "{platform:?}");
    assert_eq!(
        (platform.published, platform.lost),
        (platform.saved, 0),
        "{platform:?}"
    );
}

fn the_report_shows_the_figures_and_plots(report: Report) {
    let dir = std::env::temp_dir().join(kit::unique("tiny_bench"));
    report.write(&dir).expect("written");
    let markdown = std::fs::read_to_string(dir.join("BENCHMARKS.md")).expect("the report");
    let writes = "| 1 accounts writes | N=2, 1 instance (vs raw mongodb upserts) |";
    assert!(markdown.contains(writes), "{markdown}");
    let ready = "| ≤ 0.3 s start-to-ready (orders-domain) |";
    assert!(markdown.contains(ready), "{markdown}");
    for histogram in &report.histograms {
        assert!(dir.join("benchmarks").join(histogram.file_name()).exists());
        assert!(markdown.contains(&histogram.file_name()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
