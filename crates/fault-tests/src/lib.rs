//! The fault-injection harness.
//!
//! A [`Cluster`] is a private Kafka-protocol broker, databases of its own on the
//! test MongoDB-protocol server, and the accounts and orders services running as
//! real processes (the binaries `./dev test` built), so a test can kill any of
//! them abruptly and start them again. [`write_changes`] drives customer changes
//! through the accounts API, retrying what a fault refused, and
//! [`Cluster::converge`] is the convergence checker: it compares, for every
//! customer, the accounts state with the orders replica (name, contact,
//! addresses, version).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use accounts_domain::store::CustomerDocument;
use anyhow::Context;
use local_servers::process::{Output, Supervised};
use local_servers::{free_port, test_env, wait_healthy};
use mongodb::bson::doc;
use orders_domain::store::CustomerOrdersStore;
use platform_testkit as kit;
use shared_events::topics::dead_letter_topic;
use tokio::process::Command;

/// Accounts collection name (the local server rejects dotted names).
pub const ACCOUNTS_COLLECTION: &str = "customer_accounts";
/// Orders owned-orders collection name.
pub const ORDERS_COLLECTION: &str = "customer_orders";
/// Produce timeout of the services under test: short, so a relay lease (twice
/// this plus 5 s) left by a killed instance expires soon.
pub const MESSAGE_TIMEOUT_MS: u64 = 2000;

/// Which service a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Accounts,
    Orders,
}

/// A service running as its own process.
pub struct Service {
    pub name: String,
    exe: PathBuf,
    pub port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    process: Option<Supervised>,
}

impl Service {
    /// The service's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Supervised::pid)
    }

    /// Starts the process and waits until it answers its health endpoint.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.exe);
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut process = Supervised::spawn(&self.name, command, Output::File(&self.log))?;
        wait_healthy(&mut process, self.port)
            .await
            .with_context(|| format!("{} did not start; see {}", self.name, self.log.display()))?;
        self.process = Some(process);
        Ok(())
    }

    /// SIGKILL: the process dies without any shutdown work.
    pub async fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill().await;
        }
    }

    /// SIGTERM: graceful shutdown.
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop(Duration::from_secs(20)).await;
        }
    }
}

/// A private broker, own databases, and service processes.
pub struct Cluster {
    pub broker: kit::PrivateServer,
    pub topic: String,
    pub accounts_db: String,
    pub orders_db: String,
    pub group: String,
    pub accounts: Vec<Service>,
    pub orders: Vec<Service>,
    pub log_dir: PathBuf,
    /// Whether orders instances use static group membership.
    static_membership: bool,
}

impl Cluster {
    /// Starts a broker, creates the topics, and starts the given numbers of
    /// accounts and orders instances (all sharing the broker and databases).
    pub async fn start(accounts: usize, orders: usize) -> Cluster {
        Cluster::start_with_env(accounts, orders, &[]).await
    }

    /// Like [`Cluster::start`], with extra environment variables for every
    /// service process (such as `APP__LOG__OTLP_ENDPOINT`).
    pub async fn start_with_env(
        accounts: usize,
        orders: usize,
        extra_env: &[(&str, &str)],
    ) -> Cluster {
        Cluster::start_on(
            kit::PrivateServer::broker().await,
            accounts,
            orders,
            extra_env,
        )
        .await
    }

    /// Like [`Cluster::start_with_env`], on the given broker.
    pub async fn start_on(
        broker: kit::PrivateServer,
        accounts: usize,
        orders: usize,
        extra_env: &[(&str, &str)],
    ) -> Cluster {
        let topic = kit::unique("faults_change");
        let settings = local_servers::kafka_settings(&broker.server.address());
        for (name, partitions) in [(topic.clone(), 3), (dead_letter_topic(&topic), 1)] {
            platform_infra::kafka::ensure_topic(&settings, &name, partitions)
                .await
                .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
        }
        let mut compacted = settings.clone();
        compacted.keys_topic = format!("{topic}.keys");
        compacted.state_topic = format!("{topic}.state");
        platform_infra::kafka::ensure_compacted_topics(&compacted, 3, 1)
            .await
            .unwrap_or_else(|e| panic!("cannot create the keys and state topics: {e}"));
        let log_dir = std::env::temp_dir().join(kit::unique("fault_logs"));
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let mut cluster = Cluster {
            broker,
            topic,
            accounts_db: kit::unique("faults_accounts"),
            orders_db: kit::unique("faults_orders"),
            group: kit::unique("faults_orders_group"),
            accounts: Vec::new(),
            orders: Vec::new(),
            log_dir,
            static_membership: orders == 1,
        };
        for i in 0..accounts {
            let service = cluster.service(Kind::Accounts, i);
            cluster.accounts.push(service);
        }
        for i in 0..orders {
            let service = cluster.service(Kind::Orders, i);
            cluster.orders.push(service);
        }
        for service in cluster.accounts.iter_mut().chain(cluster.orders.iter_mut()) {
            service.env.extend(
                extra_env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            service.start().await.unwrap_or_else(|e| panic!("{e:#}"));
        }
        cluster
    }

    /// The environment of the services and commands of this cluster.
    pub fn env(&self, kind: Kind) -> Vec<(String, String)> {
        let (database, collection) = match kind {
            Kind::Accounts => (&self.accounts_db, ACCOUNTS_COLLECTION),
            Kind::Orders => (&self.orders_db, ORDERS_COLLECTION),
        };
        [
            ("APP__MONGODB__URI", kit::mongodb_uri()),
            ("APP__MONGODB__DATABASE", database.clone()),
            ("APP__MONGODB__COLLECTION", collection.to_owned()),
            (
                "APP__MONGODB__SERVER_SELECTION_TIMEOUT_MS",
                "2000".to_owned(),
            ),
            ("APP__KAFKA__BROKERS", self.broker.server.address()),
            ("APP__KAFKA__TOPIC", self.topic.clone()),
            (
                "APP__KAFKA__MESSAGE_TIMEOUT_MS",
                MESSAGE_TIMEOUT_MS.to_string(),
            ),
            ("APP__RELAY__POLL_INTERVAL_MS", "200".to_owned()),
            ("APP__CONSUMER__GROUP_ID", self.group.clone()),
            ("APP__CONSUMER__MAX_BACKOFF_MS", "500".to_owned()),
            ("APP__LOG__FILTER", "warn".to_owned()),
            ("APP__KAFKA__KEYS_TOPIC", format!("{}.keys", self.topic)),
            ("APP__KAFKA__STATE_TOPIC", format!("{}.state", self.topic)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(kit::crypto_env())
        .collect()
    }

    fn service(&self, kind: Kind, index: usize) -> Service {
        let (name, exe_env) = match kind {
            Kind::Accounts => (format!("accounts-{index}"), test_env::ACCOUNTS_BIN),
            Kind::Orders => (format!("orders-{index}"), test_env::ORDERS_BIN),
        };
        let exe =
            PathBuf::from(std::env::var(exe_env).unwrap_or_else(|_| {
                panic!("{exe_env} is not set: run the tests with `./dev test`")
            }));
        let port = free_port().expect("free port");
        let mut env = self.env(kind);
        env.push(("APP__HTTP__PORT".to_owned(), port.to_string()));
        if kind == Kind::Orders && self.static_membership {
            // Static membership: a restarted instance takes its partitions back
            // at once. Only with a single orders instance: with tansu 0.6 a
            // group of several static members never settles, and a dynamic
            // member rejoining after a crash sometimes never gets partitions.
            env.push((
                "APP__CONSUMER__INSTANCE_ID".to_owned(),
                format!("{}-{name}", self.group),
            ));
        }
        Service {
            log: self.log_dir.join(format!("{name}.log")),
            name,
            exe,
            port,
            env,
            process: None,
        }
    }

    pub fn accounts_urls(&self) -> Vec<String> {
        self.accounts.iter().map(Service::url).collect()
    }

    /// Records on the dead-letter topic.
    pub async fn dead_letters(&self) -> u64 {
        let settings = local_servers::kafka_settings(&self.broker.server.address());
        let ends = orders_domain::messaging::topic_ends(
            platform_infra::kafka::client_config(&settings),
            &dead_letter_topic(&self.topic),
        )
        .await
        .expect("DLT watermarks");
        ends.values().map(|v| u64::try_from(*v).unwrap_or(0)).sum()
    }

    /// Waits until the orders consumer group has committed every record of the
    /// change topic (its lag is 0).
    pub async fn wait_caught_up(&self, within: Duration) {
        let brokers = self.broker.server.address();
        let (topic, group) = (self.topic.clone(), self.group.clone());
        kit::eventually(within, "the orders group to catch up", || {
            let (brokers, topic, group) = (brokers.clone(), topic.clone(), group.clone());
            async move {
                let settings = local_servers::kafka_settings(&brokers);
                let config = platform_infra::kafka::client_config(&settings);
                let ends = orders_domain::messaging::topic_ends(config, &topic)
                    .await
                    .ok()?;
                let committed = kit::committed_offsets(&brokers, &group, &topic, ends.len()).await;
                ends.iter()
                    .all(|(p, end)| committed.get(p).copied().unwrap_or(0) >= *end)
                    .then_some(())
            }
        })
        .await;
    }

    /// Polls the convergence checker until every customer of accounts is in the
    /// replica with the same state, or `within` has passed.
    pub async fn converge(&self, within: Duration) -> Convergence {
        let started = Instant::now();
        loop {
            let mut check = self.check().await;
            check.time = started.elapsed();
            if (check.lost == 0 && check.divergent == 0) || started.elapsed() > within {
                return check;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One comparison of accounts with the active orders replica.
    pub async fn check(&self) -> Convergence {
        let accounts: Vec<CustomerDocument> = {
            use futures::TryStreamExt;
            kit::mongo_database(&self.accounts_db)
                .await
                .collection::<CustomerDocument>(ACCOUNTS_COLLECTION)
                .find(doc! {})
                .await
                .expect("accounts find")
                .try_collect()
                .await
                .expect("accounts read")
        };
        let orders_db = kit::mongo_database(&self.orders_db).await;
        let store = CustomerOrdersStore::new(&orders_db, ORDERS_COLLECTION);
        let replica: BTreeMap<String, _> = match store.active_replica().await {
            Ok(active) => active
                .all()
                .await
                .expect("replica read")
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect(),
            Err(_) => BTreeMap::new(),
        };
        let mut result = Convergence {
            customers: accounts.len() as u64,
            ..Convergence::default()
        };
        for customer in &accounts {
            match replica.get(&customer.id) {
                None => result.lost += 1,
                Some(r) => {
                    let same = r.version == customer.version
                        && r.name == customer.name
                        && r.contact == customer.contact
                        && r.addresses == customer.addresses;
                    if !same {
                        result.divergent += 1;
                    }
                }
            }
        }
        result
    }

    /// Stops every process gracefully and the broker.
    pub async fn shutdown(mut self) {
        for service in self.accounts.iter_mut().chain(self.orders.iter_mut()) {
            service.stop().await;
        }
        self.broker.server.stop().await;
        let _ = std::fs::remove_dir_all(&self.log_dir);
    }
}

/// What the convergence checker found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Convergence {
    pub customers: u64,
    /// Customers of accounts missing from the replica.
    pub lost: u64,
    /// Customers whose replica differs from accounts.
    pub divergent: u64,
    pub time: Duration,
}

/// What a writer did.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteStats {
    /// Changes accepted by accounts (2xx).
    pub accepted: u64,
    /// Attempts refused or failed by a fault, retried.
    pub retried: u64,
}

/// Posts the changes numbered `changes` (change `i` goes to customer
/// `i % customers`), spread over `urls`, with `concurrency` in flight; a refused
/// attempt (fault) is retried until accepted, for at most a minute per change.
pub async fn write_changes(
    urls: &[String],
    customers: usize,
    changes: std::ops::Range<usize>,
    concurrency: usize,
) -> WriteStats {
    use futures::StreamExt;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let results: Vec<u64> = futures::stream::iter(changes)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/accounts/customer/create", urls[i % urls.len()]);
            async move {
                let mut body = kit::seed_customer(&format!("f-{:04}", i % customers));
                body["name"]["lastName"] = format!("L{i}").into();
                body["contact"]["email"] = format!("c{i}@example.com").into();
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut retries = 0u64;
                loop {
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status().is_success() => return retries,
                        Ok(r) if r.status().is_client_error() && r.status().as_u16() != 409 => {
                            panic!("change {i} rejected: {}", r.status())
                        }
                        _ => retries += 1,
                    }
                    assert!(Instant::now() < deadline, "change {i} never accepted");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    WriteStats {
        accepted: results.len() as u64,
        retried: results.iter().sum(),
    }
}

/// The figures every fault test prints at its end.
#[derive(Debug, Clone)]
pub struct Figures {
    pub scenario: &'static str,
    pub changes: u64,
    pub faults: u64,
    pub convergence: Convergence,
    pub dead_letters: u64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FAULT FIGURES {}: changes={} customers={} faults_injected={} lost={} divergent={} dlt={} time_to_converge={:.2}s",
            self.scenario,
            self.changes,
            self.convergence.customers,
            self.faults,
            self.convergence.lost,
            self.convergence.divergent,
            self.dead_letters,
            self.convergence.time.as_secs_f64()
        )
    }
}

/// Customers of the cluster whose outbox still holds events.
pub async fn pending_outbox_events(cluster: &Cluster) -> u64 {
    kit::mongo_database(&cluster.accounts_db)
        .await
        .collection::<mongodb::bson::Document>(ACCOUNTS_COLLECTION)
        .count_documents(doc! { "pendingEvents": { "$gt": 0 } })
        .await
        .expect("count")
}

impl Cluster {
    /// Records on the change topic.
    pub async fn change_records(&self) -> u64 {
        let settings = local_servers::kafka_settings(&self.broker.server.address());
        let ends = orders_domain::messaging::topic_ends(
            platform_infra::kafka::client_config(&settings),
            &self.topic,
        )
        .await
        .expect("watermarks");
        ends.values().map(|v| u64::try_from(*v).unwrap_or(0)).sum()
    }

    /// Runs `orders-domain rebuild` (with `args`) against the cluster, as an
    /// operator would: its output and how long it took.
    pub async fn rebuild(&self, args: &[&str]) -> (std::process::Output, Duration) {
        let exe = std::env::var(test_env::ORDERS_BIN).expect("orders binary");
        let started = Instant::now();
        let output = Command::new(exe)
            .arg("rebuild")
            .args(args)
            .envs(self.env(Kind::Orders))
            .output()
            .await
            .expect("rebuild runs");
        (output, started.elapsed())
    }

    /// The generation of the replica that reads use.
    pub async fn active_generation(&self) -> i64 {
        let orders_db = kit::mongo_database(&self.orders_db).await;
        CustomerOrdersStore::new(&orders_db, ORDERS_COLLECTION)
            .active_replica()
            .await
            .expect("pointer")
            .generation()
    }

    /// A plain producer to the cluster's broker, for injecting records.
    pub fn injector(&self) -> rdkafka::producer::FutureProducer {
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.broker.server.address())
            .create()
            .expect("producer")
    }
}
