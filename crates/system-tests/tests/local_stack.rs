//! `./dev up` as a user runs it: the `devstack up` binary with a data
//! directory of its own and free ports. The event store and the replica
//! survive stopping it with Ctrl-C (SIGINT) and starting it again without
//! `--clean`; a clean stop ends quickly without an ERROR line; and when one of
//! the servers it started dies, it says so and stops everything else.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use platform_testkit as kit;
use rdkafka::Message;
use serde_json::Value;
use tokio::process::{Child, Command};

const CUSTOMERS: usize = 12;
const START_WITHIN: Duration = Duration::from_secs(120);

/// One `devstack up` process and the ports it was given.
struct LocalStack {
    child: Child,
    output: PathBuf,
    kafka: u16,
    accounts: u16,
    orders: u16,
}

struct Ports {
    kafka: u16,
    mongo: u16,
    accounts: u16,
    orders: u16,
}

impl Ports {
    fn free() -> Ports {
        let port = || devstack::stack::free_port().expect("free port");
        Ports {
            kafka: port(),
            mongo: port(),
            accounts: port(),
            orders: port(),
        }
    }
}

impl LocalStack {
    /// Starts `devstack up` on `data_dir` and waits until both services are
    /// healthy.
    async fn up(data_dir: &Path, ports: &mut Ports, run: usize) -> LocalStack {
        LocalStack::up_with(data_dir, ports, run, &[]).await
    }

    /// [`LocalStack::up`] with extra arguments. A first run whose ports were
    /// taken by another test between choosing and binding them (devstack then
    /// exits at once) is retried on fresh ports; later runs keep their ports.
    async fn up_with(data_dir: &Path, ports: &mut Ports, run: usize, extra: &[&str]) -> LocalStack {
        let attempts = if run == 1 { 3 } else { 1 };
        for attempt in 1..=attempts {
            if let Some(stack) = LocalStack::try_up_with(data_dir, ports, run, extra).await {
                return stack;
            }
            eprintln!("devstack up exited during start-up (attempt {attempt}); see its log");
            *ports = Ports::free();
        }
        panic!("devstack up did not start");
    }

    /// One start; `None` if devstack exited before both services answered.
    async fn try_up_with(
        data_dir: &Path,
        ports: &Ports,
        run: usize,
        extra: &[&str],
    ) -> Option<LocalStack> {
        let exe = std::env::var(devstack::stack::test_env::DEVSTACK_BIN)
            .expect("PLATFORM_TEST_DEVSTACK_BIN is set by ./dev test");
        let output = data_dir.with_extension(format!("run{run}.log"));
        let log = std::fs::File::create(&output).expect("log file");
        let child = Command::new(exe)
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--kafka-port", &ports.kafka.to_string()])
            .args(["--mongo-port", &ports.mongo.to_string()])
            .args(["--accounts-port", &ports.accounts.to_string()])
            .args(["--orders-port", &ports.orders.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("devstack up starts");
        let mut stack = LocalStack {
            child,
            output,
            kafka: ports.kafka,
            accounts: ports.accounts,
            orders: ports.orders,
        };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + START_WITHIN;
        for port in [stack.accounts, stack.orders] {
            let url = format!("http://127.0.0.1:{port}/actuator/health");
            loop {
                if let Ok(Some(_)) = stack.child.try_wait() {
                    return None;
                }
                let healthy = client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if healthy {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "service on {port} not healthy within {START_WITHIN:?}:\n{}",
                    stack.output()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Up once it says so: after the services answer, it waits for orders'
        // projector to get its partitions.
        while !stack.output().contains("The stack is up") {
            if let Ok(Some(_)) = stack.child.try_wait() {
                return None;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stack did not say it is up within {START_WITHIN:?}:\n{}",
                stack.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(stack)
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.kafka)
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.id().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
            signal,
        )
        .expect("signal sent");
    }

    /// Waits for the process to exit, at most `within`.
    async fn exit(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "devstack did not exit within {within:?}:\n{}",
                    self.output()
                )
            })
            .expect("wait")
    }

    /// The pid of the child process of devstack whose command line holds
    /// `name`.
    fn child_pid(&self, name: &str) -> i32 {
        let parent = self.child.id().expect("running").to_string();
        for entry in std::fs::read_dir("/proc").expect("/proc") {
            let path = entry.expect("entry").path();
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: the comm may hold spaces.
            let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let ppid = after_comm.split_whitespace().nth(1).unwrap_or_default();
            let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
            if ppid == parent && String::from_utf8_lossy(&cmdline).contains(name) {
                return path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse().ok())
                    .expect("pid");
            }
        }
        panic!("no child process {name} of devstack")
    }
}

impl Drop for LocalStack {
    /// A failed test still stops the stack, in order: devstack's children
    /// have process groups of their own and would outlive a killed devstack.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGINT);
        }
    }
}

/// Creates [`CUSTOMERS`] customers named `{prefix}-00`, `{prefix}-01`, …
async fn create_customers(accounts: u16, prefix: &str) -> Vec<String> {
    let ids: Vec<String> = (0..CUSTOMERS).map(|i| format!("{prefix}-{i:02}")).collect();
    let client = reqwest::Client::new();
    for (i, id) in ids.iter().enumerate() {
        let response = client
            .post(format!(
                "http://127.0.0.1:{accounts}/accounts/customer/create"
            ))
            .json(&kit::seed_customer(id))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "customer {i}");
    }
    ids
}

/// The ids the orders replica serves.
async fn replicated(orders: u16) -> Vec<String> {
    let body: Value = reqwest::get(format!("http://127.0.0.1:{orders}/orders/list?limit=1000"))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    body.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every record of the change topic, read from offset 0, as (partition,
/// offset, payload).
async fn event_store(brokers: &str, count: usize) -> Vec<(i32, i64, Vec<u8>)> {
    let mut records: Vec<_> = kit::read_from_offset_zero(
        brokers,
        shared_events::topics::CUSTOMER_CHANGE,
        devstack::stack::CHANGE_TOPIC_PARTITIONS,
        count,
        Duration::from_secs(60),
    )
    .await
    .iter()
    .map(|r| {
        (
            r.partition(),
            r.offset(),
            r.payload().unwrap_or_default().to_vec(),
        )
    })
    .collect();
    records.sort();
    records
}

fn assert_no_error_lines(output: &str) {
    let errors: Vec<&str> = output.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "ERROR lines:\n{}", errors.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_keeps_every_record_across_ctrl_c_and_up_and_stops_cleanly_within_10_s() {
    let data_dir = std::env::temp_dir().join(kit::unique("devstack_up"));
    let mut ports = Ports::free();
    let mut stack = LocalStack::up(&data_dir, &mut ports, 1).await;
    let expected = create_customers(stack.accounts, "up").await;
    kit::eventually(
        Duration::from_secs(60),
        "every customer in orders",
        || async { (replicated(stack.orders).await.len() == CUSTOMERS).then_some(()) },
    )
    .await;
    let before = event_store(&stack.brokers(), CUSTOMERS).await;

    let stopping = Instant::now();
    stack.signal(nix::sys::signal::Signal::SIGINT);
    let status = stack.exit(Duration::from_secs(10)).await;
    let stop_time = stopping.elapsed();
    let output = stack.output();
    assert!(status.success(), "{status}:\n{output}");
    assert_no_error_lines(&output);
    println!("clean stop of ./dev up took {stop_time:.1?}");

    let mut stack = LocalStack::up(&data_dir, &mut ports, 2).await;
    let after = event_store(&stack.brokers(), CUSTOMERS).await;
    assert_eq!(after, before, "the event store changed across a restart");
    let mut ids = replicated(stack.orders).await;
    ids.sort();
    assert_eq!(ids, expected);

    stack.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(stack.exit(Duration::from_secs(10)).await.success());
    assert_no_error_lines(&stack.output());
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_broker_dies_the_local_stack_says_so_and_stops_everything() {
    let data_dir = std::env::temp_dir().join(kit::unique("devstack_broker_dies"));
    let mut ports = Ports::free();
    let mut stack = LocalStack::up(&data_dir, &mut ports, 1).await;
    let broker = stack.child_pid("tansu");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(broker),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("broker killed");

    let status = stack.exit(Duration::from_secs(30)).await;
    let output = stack.output();
    assert!(!status.success(), "devstack exited successfully:\n{output}");
    assert!(output.contains("tansu exited"), "{output}");
    for port in [stack.accounts, stack.orders] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a service still listens on {port}"
        );
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_external_servers_the_stack_starts_only_the_services_and_creates_the_topics_there()
{
    let broker = kit::PrivateServer::broker().await;
    let brokers = broker.server.address();
    let database_prefix = kit::unique("external");
    let data_dir = std::env::temp_dir().join(&database_prefix);
    let mut ports = Ports::free();
    let mut stack = LocalStack::up_with(
        &data_dir,
        &mut ports,
        1,
        &["--kafka", &brokers, "--mongodb", &kit::mongodb_uri()],
    )
    .await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ports.kafka)).is_err(),
        "a local broker was started"
    );
    let mut settings = kit::kafka_settings(shared_events::topics::CUSTOMER_CHANGE);
    settings.brokers = brokers.clone();
    let configs = platform_infra::kafka::describe_topic_configs(
        &settings,
        shared_events::topics::CUSTOMER_CHANGE,
    )
    .await
    .expect("the change topic exists on the external broker");
    assert_eq!(
        configs.get("retention.ms").map(String::as_str),
        Some(platform_infra::kafka::RETENTION_FOREVER_MS)
    );
    // The external MongoDB is shared with other tests: ids of this run only.
    let ids = create_customers(stack.accounts, &database_prefix).await;
    kit::eventually(
        Duration::from_secs(60),
        "every customer in orders",
        || async {
            let replicated = replicated(stack.orders).await;
            ids.iter().all(|id| replicated.contains(id)).then_some(())
        },
    )
    .await;
    stack.signal(nix::sys::signal::Signal::SIGINT);
    assert!(stack.exit(Duration::from_secs(10)).await.success());
    assert!(
        broker.server.answers().await,
        "devstack stopped the external broker"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
