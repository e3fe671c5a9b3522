//! The fault-injection suite: each test injects faults while customer changes
//! flow, then asserts with the convergence checker that nothing was lost and
//! nothing diverged, and prints its figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use fault_tests::{Cluster, Figures, write_changes};
use rdkafka::Message;

/// How long the replica may take to converge after the last fault.
const CONVERGE_WITHIN: Duration = Duration::from_secs(120);

fn assert_converged(figures: &Figures) {
    println!("{figures}");
    assert_eq!(
        (figures.convergence.lost, figures.convergence.divergent),
        (0, 0),
        "{figures}"
    );
}

/// How long the replica may take after the last fault where the issue sets a
/// bound: orders restarted from its committed offsets.
const CONVERGE_AFTER_RESTART: Duration = Duration::from_secs(60);
/// ... and after a long broker outage ends.
const CONVERGE_AFTER_OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_three_times_then_orders_killed_and_restarted_from_its_commits_loses_nothing()
{
    let mut cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let mut stats = write_changes(&urls, 200, 0..250, 8).await;
    let mut faults = 0;
    for round in 1..=3 {
        // Kill the broker while the relay publishes the last burst, write the
        // next burst while it is down, then bring it back.
        cluster.broker.server.kill().await;
        faults += 1;
        let burst = write_changes(&urls, 200, round * 250..(round + 1) * 250, 8).await;
        stats.accepted += burst.accepted;
        cluster
            .broker
            .server
            .restart()
            .await
            .expect("broker restarts");
    }
    // Kill orders while it still applies what the relay republishes after the
    // last restart; the restarted instance resumes from the group's commits.
    let before_kill = cluster.check().await;
    cluster.orders[0].kill().await;
    cluster.orders[0].start().await.expect("orders restarts");
    faults += 1;
    let figures = Figures {
        scenario: "broker kill/restart x3, then orders SIGKILL/restart",
        changes: stats.accepted,
        faults,
        convergence: cluster.converge(CONVERGE_AFTER_RESTART).await,
        dead_letters: cluster.dead_letters().await,
    };
    println!("when orders was killed: {before_kill:?}");
    assert_converged(&figures);
    assert_eq!(
        (figures.changes, figures.convergence.customers),
        (1000, 200)
    );
    assert_eq!(figures.dead_letters, 0);
    assert!(figures.convergence.time <= CONVERGE_AFTER_RESTART);
    // The group's commits reached the end through all of it (they once
    // stopped advancing, and a restart resumed far behind).
    cluster.wait_caught_up(CONVERGE_WITHIN).await;
    cluster.shutdown().await;
}

/// Writes, lets orders converge, restarts the broker `restarts` times (with
/// `changes_between` changes after each), then runs `orders-domain rebuild`
/// and checks the rebuilt replica against accounts.
async fn rebuild_after_broker_restarts(
    scenario: &'static str,
    restarts: usize,
    changes_between: usize,
) {
    let mut cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let mut next = 300;
    let mut stats = write_changes(&urls, 100, 0..next, 8).await;
    let first = cluster.converge(CONVERGE_WITHIN).await;
    assert_eq!((first.lost, first.divergent), (0, 0), "{first:?}");
    for _ in 0..restarts {
        cluster
            .broker
            .server
            .restart()
            .await
            .expect("broker restarts");
        stats.accepted += write_changes(&urls, 100, next..next + changes_between, 8)
            .await
            .accepted;
        next += changes_between;
    }
    let live = cluster.converge(CONVERGE_WITHIN).await;
    assert_eq!((live.lost, live.divergent), (0, 0), "{live:?}");

    let (rebuild, rebuild_time) = cluster.rebuild(&[]).await;
    assert!(
        rebuild.status.success(),
        "rebuild failed: {}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    println!("{}", String::from_utf8_lossy(&rebuild.stdout).trim());
    assert_eq!(
        cluster.active_generation().await,
        2,
        "reads were not switched to the rebuilt replica"
    );
    // One comparison, no polling: the rebuilt generation must already equal
    // accounts, every field and the version of every customer. Its time is
    // the rebuild's.
    let mut convergence = cluster.check().await;
    convergence.time = rebuild_time;
    let figures = Figures {
        scenario,
        changes: stats.accepted,
        faults: restarts as u64 + 1,
        convergence,
        dead_letters: cluster.dead_letters().await,
    };
    assert_converged(&figures);
    assert_eq!(figures.convergence.customers, 100);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarted_then_a_rebuild_equals_accounts_for_every_customer() {
    rebuild_after_broker_restarts("broker restart, then rebuild", 1, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarted_twice_without_writes_then_a_rebuild_equals_accounts() {
    rebuild_after_broker_restarts("broker restart x2 without writes, then rebuild", 2, 0).await;
}

/// The reported loss, reproduced on purpose: a topic configured the old way
/// (`retention.ms=-1`) on a broker whose maintenance pass runs every second
/// loses its records; the rebuild must then refuse and leave the replica as
/// it is, instead of replacing 100 customers with what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_after_the_broker_deleted_records_refuses_and_keeps_the_replica() {
    let broker =
        platform_testkit::PrivateServer::broker_with_maintenance_every(Duration::from_secs(1))
            .await;
    let cluster = Cluster::start_on(broker, 1, 1, &[]).await;
    let urls = cluster.accounts_urls();
    let stats = write_changes(&urls, 100, 0..300, 8).await;
    let live = cluster.converge(CONVERGE_WITHIN).await;
    assert_eq!((live.lost, live.divergent), (0, 0), "{live:?}");

    platform_infra::kafka::set_topic_configs(
        &cluster.broker.server.address(),
        &cluster.topic,
        &[("retention.ms", "-1")],
    )
    .await
    .expect("old retention set");
    let settings = local_servers::kafka_settings(&cluster.broker.server.address());
    let config = platform_infra::kafka::client_config(&settings);
    platform_testkit::eventually(
        Duration::from_secs(30),
        "a maintenance pass to delete the records",
        || {
            let (config, topic) = (config.clone(), cluster.topic.clone());
            async move {
                let ends = orders_domain::messaging::topic_ends(config, &topic)
                    .await
                    .ok()?;
                ends.values().all(|end| *end == 0).then_some(())
            }
        },
    )
    .await;

    let (refused, rebuild_time) = cluster.rebuild(&[]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    println!("{}", stderr.trim());
    assert!(!refused.status.success(), "the rebuild switched: {stderr}");
    assert!(stderr.contains("rebuild refused"), "{stderr}");
    assert_eq!(cluster.active_generation().await, 1, "reads moved");
    let mut kept = cluster.check().await;
    kept.time = rebuild_time;
    let figures = Figures {
        scenario: "records deleted under the replica, then rebuild (refused)",
        changes: stats.accepted,
        faults: 1,
        convergence: kept,
        dead_letters: cluster.dead_letters().await,
    };
    assert_converged(&figures);
    assert_eq!(figures.convergence.customers, 100);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_minute_broker_outage_loses_nothing_and_orders_converges_within_30_s_of_its_return() {
    const OUTAGE: Duration = Duration::from_secs(120);
    let mut cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let mut stats = write_changes(&urls, 100, 0..200, 8).await;
    let first = cluster.converge(CONVERGE_WITHIN).await;
    assert_eq!((first.lost, first.divergent), (0, 0), "{first:?}");

    cluster.broker.server.stop().await;
    let outage = std::time::Instant::now();
    // Accounts keeps accepting writes all through the outage: a change every
    // 300 ms for two minutes (write_changes fails the test on any refusal).
    let mut during = 0;
    let mut i = 200;
    while outage.elapsed() < OUTAGE {
        stats.accepted += write_changes(&urls, 100, i..i + 1, 1).await.accepted;
        during += 1;
        i += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let lagging = cluster.check().await;
    assert!(
        lagging.divergent + lagging.lost > 0,
        "orders converged while the broker was down: the outage was not real"
    );
    cluster
        .broker
        .server
        .restart()
        .await
        .expect("broker restarts");
    let figures = Figures {
        scenario: "broker down 2 min while accounts takes writes",
        changes: stats.accepted,
        faults: 1,
        convergence: cluster.converge(CONVERGE_AFTER_OUTAGE).await,
        dead_letters: cluster.dead_letters().await,
    };
    println!(
        "outage {:.0?}, {during} changes accepted during it, orders converged {:.1?} after the broker's return",
        outage.elapsed(),
        figures.convergence.time
    );
    assert_converged(&figures);
    assert!(figures.convergence.time <= CONVERGE_AFTER_OUTAGE);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_service_killed_mid_stream_loses_and_diverges_nothing() {
    let mut cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let mut stats = write_changes(&urls, 100, 0..300, 8).await;
    cluster.orders[0].kill().await;
    let burst = write_changes(&urls, 100, 300..600, 8).await;
    cluster.orders[0].start().await.expect("orders restarts");
    let last = write_changes(&urls, 100, 600..700, 8).await;
    stats.accepted += burst.accepted + last.accepted;
    let figures = Figures {
        scenario: "orders SIGKILL mid-stream",
        changes: stats.accepted,
        faults: 1,
        convergence: cluster.converge(CONVERGE_WITHIN).await,
        dead_letters: cluster.dead_letters().await,
    };
    assert_converged(&figures);
    assert_eq!(figures.convergence.customers, 100);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_killed_between_write_and_publish_still_publishes_after_restart() {
    let mut cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    cluster.broker.server.stop().await;
    let stats = write_changes(&urls, 50, 0..150, 8).await;
    let pending = fault_tests::pending_outbox_events(&cluster).await;
    assert!(
        pending > 0,
        "every event was published although the broker was down"
    );
    cluster.accounts[0].kill().await;
    cluster
        .broker
        .server
        .restart()
        .await
        .expect("broker restarts");
    cluster.accounts[0]
        .start()
        .await
        .expect("accounts restarts");
    let figures = Figures {
        scenario: "accounts SIGKILL between DB write and publish",
        changes: stats.accepted,
        faults: 2,
        convergence: cluster.converge(CONVERGE_WITHIN).await,
        dead_letters: cluster.dead_letters().await,
    };
    println!("outbox held {pending} customers' events when accounts was killed");
    assert_converged(&figures);
    assert_eq!(fault_tests::pending_outbox_events(&cluster).await, 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_deliveries_leave_the_latest_version() {
    use rdkafka::Message;
    use rdkafka::producer::FutureRecord;
    let cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let stats = write_changes(&urls, 50, 0..300, 8).await;
    let first = cluster.converge(CONVERGE_WITHIN).await;
    assert_eq!((first.lost, first.divergent), (0, 0), "{first:?}");

    let total = usize::try_from(cluster.change_records().await).expect("count");
    let records = platform_testkit::read_records_from(
        &cluster.broker.server.address(),
        &cluster.topic,
        total,
        Duration::from_secs(60),
    )
    .await;
    let injector = cluster.injector();
    let mut injected = 0u64;
    // Every event again, newest first, twice: duplicates, and older versions
    // arriving after newer ones.
    for _ in 0..2 {
        for record in records.iter().rev() {
            let to = FutureRecord::to(&cluster.topic)
                .partition(record.partition())
                .key(record.key().expect("key"))
                .payload(record.payload().expect("payload"));
            injector
                .send(to, Duration::from_secs(10))
                .await
                .map_err(|(e, _)| e)
                .expect("injected");
            injected += 1;
        }
    }
    cluster.wait_caught_up(CONVERGE_WITHIN).await;
    let mut convergence = cluster.check().await;
    convergence.time = first.time;
    let figures = Figures {
        scenario: "duplicated + reordered deliveries",
        changes: stats.accepted,
        faults: injected,
        convergence,
        dead_letters: cluster.dead_letters().await,
    };
    assert_converged(&figures);
    assert_eq!(figures.dead_letters, 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_with_reasons_and_valid_changes_converge() {
    use rdkafka::producer::FutureRecord;
    let cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let valid = shared_events::CustomerChangeEnvelope::customer_change(
        shared_events::CustomerChangeType::Created,
        serde_json::from_value(serde_json::json!({
            "id": "p-1", "version": 1,
            "name": {"firstName": "P", "lastName": "Q"},
            "contact": {"primaryPhone": "1", "email": "p@example.com"},
            "addresses": []
        }))
        .expect("event data"),
        std::time::SystemTime::now().into(),
    );
    let mut unknown_type: serde_json::Value =
        serde_json::from_slice(&valid.to_json_vec()).expect("json");
    unknown_type["type"] = "accounts.customer.merged.v1".into();
    let mut version_zero: serde_json::Value =
        serde_json::from_slice(&valid.to_json_vec()).expect("json");
    version_zero["data"]["version"] = 0.into();
    let mut no_id: serde_json::Value = serde_json::from_slice(&valid.to_json_vec()).expect("json");
    no_id["data"].as_object_mut().expect("data").remove("id");
    let poisons: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        unknown_type.to_string().into_bytes(),
        version_zero.to_string().into_bytes(),
        no_id.to_string().into_bytes(),
    ];

    let writer = {
        let urls = urls.clone();
        tokio::spawn(async move { write_changes(&urls, 100, 0..400, 8).await })
    };
    let injector = cluster.injector();
    let mut injected = 0u64;
    for round in 0..3 {
        for (i, poison) in poisons.iter().enumerate() {
            let key = format!("f-{:04}", round * 10 + i);
            injector
                .send(
                    FutureRecord::to(&cluster.topic).key(&key).payload(poison),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("poison produced");
            injected += 1;
        }
    }
    let stats = writer.await.expect("writer");
    let convergence = cluster.converge(CONVERGE_WITHIN).await;
    cluster.wait_caught_up(CONVERGE_WITHIN).await;
    let figures = Figures {
        scenario: "poison records mixed in",
        changes: stats.accepted,
        faults: injected,
        convergence,
        dead_letters: cluster.dead_letters().await,
    };
    assert_converged(&figures);
    assert_eq!(figures.dead_letters, injected);
    let dead = platform_testkit::read_records_from(
        &cluster.broker.server.address(),
        &shared_events::topics::dead_letter_topic(&cluster.topic),
        usize::try_from(injected).expect("count"),
        Duration::from_secs(30),
    )
    .await;
    for record in &dead {
        let reason = platform_testkit::header(record, shared_events::topics::headers::DLT_REASON);
        assert!(
            reason.is_some_and(|r| !r.is_empty()),
            "a dead letter without reason"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_while_writes_continue_equals_the_live_replica_and_reads_never_fail() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let cluster = Cluster::start(1, 1).await;
    let urls = cluster.accounts_urls();
    let mut stats = write_changes(&urls, 100, 0..300, 8).await;
    let first = cluster.converge(CONVERGE_WITHIN).await;
    assert_eq!((first.lost, first.divergent), (0, 0), "{first:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failed_reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let url = format!("{}/orders/order/f-0000", cluster.orders[0].url());
        let (stop, reads, failed_reads) = (stop.clone(), reads.clone(), failed_reads.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let ok = client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                reads.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed_reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let writer = {
        let urls = urls.clone();
        tokio::spawn(async move { write_changes(&urls, 100, 300..600, 4).await })
    };
    let (rebuild, _) = cluster.rebuild(&[]).await;
    assert!(
        rebuild.status.success(),
        "rebuild failed: {}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    println!("{}", String::from_utf8_lossy(&rebuild.stdout).trim());
    stats.accepted += writer.await.expect("writer").accepted;
    let convergence = cluster.converge(CONVERGE_WITHIN).await;
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("reader");

    let generation = cluster.active_generation().await;
    let figures = Figures {
        scenario: "rebuild while writes continue",
        changes: stats.accepted,
        faults: 1,
        convergence,
        dead_letters: cluster.dead_letters().await,
    };
    println!(
        "reads during rebuild: {} ok of {}",
        reads.load(Ordering::Relaxed) - failed_reads.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed)
    );
    assert_converged(&figures);
    assert_eq!(
        generation, 2,
        "reads were not switched to the rebuilt replica"
    );
    assert_eq!(failed_reads.load(Ordering::Relaxed), 0);
    assert!(reads.load(Ordering::Relaxed) > 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_each_service_with_one_orders_instance_killed_converge_in_order() {
    use rdkafka::Message;
    let mut cluster = Cluster::start(2, 2).await;
    let urls = cluster.accounts_urls();
    let mut stats = write_changes(&urls, 200, 0..300, 8).await;
    cluster.orders[0].kill().await;
    stats.accepted += write_changes(&urls, 200, 300..1000, 8).await.accepted;
    let convergence = cluster.converge(CONVERGE_WITHIN).await;
    let figures = Figures {
        scenario: "scale-out 2+2, one orders instance killed",
        changes: stats.accepted,
        faults: 1,
        convergence,
        dead_letters: cluster.dead_letters().await,
    };
    assert_converged(&figures);

    let total = usize::try_from(cluster.change_records().await).expect("count");
    let records = platform_testkit::read_records_from(
        &cluster.broker.server.address(),
        &cluster.topic,
        total,
        Duration::from_secs(60),
    )
    .await;
    // At-least-once allows a re-send (a duplicate) after a delivery that timed
    // out; what must never happen is a new version overtaking an older one, or
    // a version missing. So: the first appearance of each version of a
    // customer is in version order, and every version appears.
    let mut first_seen: std::collections::HashMap<Vec<u8>, Vec<i64>> = Default::default();
    let mut duplicates = 0u64;
    for record in &records {
        let version = shared_events::CustomerRecord::decode(record.payload().expect("payload"))
            .expect("event")
            .version();
        let seen = first_seen
            .entry(record.key().expect("key").to_vec())
            .or_default();
        if seen.contains(&version) {
            duplicates += 1;
        } else {
            seen.push(version);
        }
    }
    let mut out_of_order = 0;
    let mut missing = 0;
    for versions in first_seen.values() {
        out_of_order += versions.windows(2).filter(|w| w[1] < w[0]).count();
        let highest = versions.iter().copied().max().unwrap_or(0);
        missing += usize::try_from(highest).expect("version") - versions.len();
    }
    println!(
        "records on the topic: {}, re-sent duplicates: {duplicates}, new versions out of order: {out_of_order}, versions missing: {missing}",
        records.len()
    );
    assert_eq!((out_of_order, missing), (0, 0));
    assert_eq!(records.len() as u64 - duplicates, stats.accepted);
    cluster.shutdown().await;
}

/// The broker stalls for 5 s while one customer is changed again and again,
/// one change after another, so that its outbox holds hundreds of events: the
/// backlog reaches the topic while the writes go on, and every change once
/// they stop. (The relay used to remove a published backlog with one `$unset`,
/// which the local MongoDB-protocol server ignores beyond 126 paths: the
/// events stayed in the outbox, counted as published, and were never claimed
/// again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_customers_backlog_is_published_while_it_keeps_being_written() {
    const PAUSE: Duration = Duration::from_secs(5);
    // The services' defaults: a produce waits out the stall instead of
    // failing, and the relay scans once a second.
    let defaults = [
        ("APP__KAFKA__MESSAGE_TIMEOUT_MS", "30000"),
        ("APP__RELAY__POLL_INTERVAL_MS", "1000"),
    ];
    let cluster = Cluster::start_with_env(1, 1, &defaults).await;
    let url = format!("{}/accounts/customer/create", cluster.accounts[0].url());
    let id = platform_testkit::unique("hot");
    let broker = cluster
        .broker
        .server
        .pid()
        .expect("broker runs")
        .to_string();
    // One writer, one change after another, until told.
    let (written, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let writer = {
        let (url, id) = (url.clone(), id.clone());
        let (written, stop) = (written.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let change = written.load(Ordering::Relaxed);
                write_change(&http, &url, &id, change).await;
                written.store(change + 1, Ordering::Relaxed);
            }
        })
    };
    // The broker stalls (as a real one does in a leader election, and the
    // local one in its maintenance pass) while the writes go on.
    signal("-STOP", &broker);
    tokio::time::sleep(PAUSE).await;
    signal("-CONT", &broker);
    let (brokers, topic) = (cluster.broker.server.address(), cluster.topic.clone());
    let (back, at_return) = (std::time::Instant::now(), written.load(Ordering::Relaxed));
    let published = platform_testkit::eventually(
        Duration::from_secs(30),
        "the backlog published while the customer is written",
        || published_versions(&brokers, &topic, &id, at_return),
    )
    .await;
    let took = back.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let written = written.load(Ordering::Relaxed);
    // And every change after it: none is stranded in the outbox.
    platform_testkit::eventually(
        Duration::from_secs(30),
        "every change published once the writes stop",
        || published_versions(&brokers, &topic, &id, written),
    )
    .await;
    let meanwhile = written - at_return;
    println!(
        "backlog of {at_return} published {took:.1?} after the broker's return ({published} versions on the topic by then), {meanwhile} changes written meanwhile, all {written} published"
    );
    assert!(meanwhile > 0, "no write overlapped the backlog");
    cluster.shutdown().await;
}

/// Sends `signal` to process `pid` with kill(1).
fn signal(signal: &str, pid: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, pid])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill {signal} {pid}");
}

/// Change `change` of customer `id`: its last name says which.
async fn write_change(http: &reqwest::Client, url: &str, id: &str, change: usize) {
    let mut body = platform_testkit::seed_customer(id);
    body["name"]["lastName"] = format!("Hot{change}").into();
    let answer = http.post(url).json(&body).send().await.expect("sent");
    assert!(answer.status().is_success(), "{:?}", answer.status());
}

/// How many distinct versions of `id` are on `topic`, once versions 1 to
/// `backlog` all are.
async fn published_versions(brokers: &str, topic: &str, id: &str, backlog: usize) -> Option<usize> {
    let records = local_servers::read_all(brokers, topic, Duration::from_secs(10))
        .await
        .ok()?;
    let versions: std::collections::BTreeSet<i64> = records
        .iter()
        .filter(|r| r.key() == Some(id.as_bytes()))
        .filter_map(|r| {
            let value: serde_json::Value = serde_json::from_slice(r.payload()?).ok()?;
            value["data"]["version"].as_i64()
        })
        .collect();
    let backlog = i64::try_from(backlog).ok()?;
    (1..=backlog)
        .all(|v| versions.contains(&v))
        .then_some(versions.len())
}
