//! Starting the local servers and the services, and running the tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use platform_infra::config::KafkaSettings;
use platform_infra::kafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use shared_events::topics;
use tokio::process::Command;

use crate::install::Tools;
use crate::process::{Output, Supervised};

/// Partitions of the customer change topic.
pub const CHANGE_TOPIC_PARTITIONS: i32 = 3;

/// How long a server or service may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Ports of the whole stack.
#[derive(Debug, Clone, Copy)]
pub struct StackPorts {
    pub kafka: u16,
    pub mongo: u16,
    pub accounts: u16,
    pub orders: u16,
}

/// The broker and the MongoDB-protocol server, running.
pub struct LocalServers {
    broker: Supervised,
    mongo: Supervised,
    pub kafka_brokers: String,
    pub mongo_uri: String,
}

impl LocalServers {
    /// Starts both servers with their data under `data_dir` and waits until each
    /// answers through its real client.
    pub async fn start(
        tools: &Tools,
        data_dir: &Path,
        kafka_port: u16,
        mongo_port: u16,
    ) -> anyhow::Result<LocalServers> {
        let logs = data_dir.join("logs");
        let broker_dir = data_dir.join("kafka");
        let mongo_dir = data_dir.join("mongo");
        for dir in [&logs, &broker_dir, &mongo_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let listener = format!("tcp://127.0.0.1:{kafka_port}");
        let mut broker = Command::new(&tools.tansu);
        broker
            .arg("broker")
            .args(["--listener-url", &listener])
            .args(["--advertised-listener-url", &listener])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&broker_dir)
            .env("RUST_LOG", "warn");
        let broker = Supervised::spawn("tansu", broker, Output::File(&logs.join("tansu.log")))?;

        let mut mongo = Command::new(&tools.nx_27017);
        mongo
            .args(["--host", "127.0.0.1", "--port", &mongo_port.to_string()])
            .arg("--data-dir")
            .arg(&mongo_dir)
            .arg("--pid-file")
            .arg(data_dir.join("nx-27017.pid"))
            .arg("--log-file")
            .arg(logs.join("nx-27017.log"));
        let mongo = Supervised::spawn("nx-27017", mongo, Output::File(&logs.join("nx-27017.out")))?;

        let mut servers = LocalServers {
            broker,
            mongo,
            kafka_brokers: format!("127.0.0.1:{kafka_port}"),
            mongo_uri: format!("mongodb://127.0.0.1:{mongo_port}/?directConnection=true"),
        };
        if let Err(e) = servers.wait_ready(&logs).await {
            servers.stop().await;
            return Err(e);
        }
        Ok(servers)
    }

    async fn wait_ready(&mut self, logs: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            for server in [&mut self.broker, &mut self.mongo] {
                if let Some(status) = server.exited() {
                    bail!("{} exited ({status}); see {}", server.name, logs.display());
                }
            }
            let kafka_ok = kafka_answers(&self.kafka_brokers).await;
            let mongo_ok = mongo_answers(&self.mongo_uri).await;
            if kafka_ok && mongo_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "servers not ready within {READY_TIMEOUT:?} (kafka: {kafka_ok}, mongo: {mongo_ok}); see {}",
                    logs.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Settings to reach the broker, for the admin client.
    pub fn kafka_settings(&self) -> KafkaSettings {
        KafkaSettings {
            brokers: self.kafka_brokers.clone(),
            topic: topics::CUSTOMER_CHANGE.to_owned(),
            message_timeout_ms: 30_000,
            properties: Default::default(),
        }
    }

    /// Stops both servers.
    pub async fn stop(self) {
        self.broker.stop(Duration::from_secs(10)).await;
        self.mongo.stop(Duration::from_secs(10)).await;
    }
}

async fn kafka_answers(brokers: &str) -> bool {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: Result<BaseConsumer, _> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create();
        consumer.is_ok_and(|c| c.fetch_metadata(None, Duration::from_secs(2)).is_ok())
    })
    .await
    .unwrap_or(false)
}

async fn mongo_answers(uri: &str) -> bool {
    let Ok(mut options) = mongodb::options::ClientOptions::parse(uri).await else {
        return false;
    };
    options.server_selection_timeout = Some(Duration::from_secs(2));
    let Ok(client) = mongodb::Client::with_options(options) else {
        return false;
    };
    client
        .database("admin")
        .run_command(mongodb::bson::doc! { "ping": 1 })
        .await
        .is_ok()
}

/// Creates the customer change topic (the event store) and its dead-letter topic.
async fn create_topics(settings: &KafkaSettings) -> anyhow::Result<()> {
    for topic in [topics::CUSTOMER_CHANGE, topics::CUSTOMER_CHANGE_DLT] {
        kafka::ensure_topic(settings, topic, CHANGE_TOPIC_PARTITIONS)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    Ok(())
}

/// `devstack up`.
pub async fn up(clean: bool, data_dir: &Path, ports: StackPorts) -> anyhow::Result<()> {
    if clean && data_dir.exists() {
        std::fs::remove_dir_all(data_dir)
            .with_context(|| format!("cannot remove {}", data_dir.display()))?;
        eprintln!("devstack: removed {}", data_dir.display());
    }
    let tools = Tools::ensure().await?;
    let data_dir = absolute(data_dir)?;
    let servers = LocalServers::start(&tools, &data_dir, ports.kafka, ports.mongo).await?;
    let started = start_services(&servers, ports).await;
    let services = match started {
        Ok(services) => services,
        Err(e) => {
            servers.stop().await;
            return Err(e);
        }
    };
    println!();
    println!("The local stack is up (data in {}):", data_dir.display());
    println!(
        "  accounts API   http://127.0.0.1:{}/accounts/customers",
        ports.accounts
    );
    println!(
        "  orders API     http://127.0.0.1:{}/orders/list",
        ports.orders
    );
    println!(
        "  accounts health http://127.0.0.1:{}/actuator/health",
        ports.accounts
    );
    println!(
        "  orders health  http://127.0.0.1:{}/actuator/health",
        ports.orders
    );
    println!(
        "  Kafka          {} (topic {})",
        servers.kafka_brokers,
        topics::CUSTOMER_CHANGE
    );
    println!("  MongoDB        {}", servers.mongo_uri);
    println!("Press Ctrl-C to stop everything.");
    platform_infra::shutdown::signal().await;
    for service in services {
        service.stop(Duration::from_secs(15)).await;
    }
    servers.stop().await;
    Ok(())
}

async fn start_services(
    servers: &LocalServers,
    ports: StackPorts,
) -> anyhow::Result<Vec<Supervised>> {
    create_topics(&servers.kafka_settings()).await?;
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("devstack has no parent directory")?;
    let mut services = Vec::new();
    for (name, port, collection) in [
        ("accounts-domain", ports.accounts, "customer_accounts"),
        ("orders-domain", ports.orders, "customer_orders"),
    ] {
        let exe = bin_dir.join(name);
        if !exe.exists() {
            bail!(
                "{} is missing: build the workspace first (./dev up does)",
                exe.display()
            );
        }
        let mut command = Command::new(exe);
        command
            .env("APP__HTTP__PORT", port.to_string())
            .env("APP__MONGODB__URI", &servers.mongo_uri)
            .env("APP__MONGODB__COLLECTION", collection)
            .env("APP__KAFKA__BROKERS", &servers.kafka_brokers);
        let mut service = Supervised::spawn(name, command, Output::Prefixed)?;
        if let Err(e) = wait_healthy(&mut service, port).await {
            service.stop(Duration::from_secs(5)).await;
            for s in services {
                Supervised::stop(s, Duration::from_secs(5)).await;
            }
            return Err(e);
        }
        services.push(service);
    }
    Ok(services)
}

async fn wait_healthy(service: &mut Supervised, port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/actuator/health");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = service.exited() {
            bail!("{} exited during start-up ({status})", service.name);
        }
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} not healthy within {READY_TIMEOUT:?}", service.name);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `devstack test`: fresh servers on free ports, then `cargo nextest run`.
pub async fn test(nextest_args: &[String]) -> anyhow::Result<ExitCode> {
    let tools = Tools::ensure().await?;
    let data_dir = std::env::temp_dir().join(format!("devstack-test-{}", std::process::id()));
    let (kafka_port, mongo_port) = (free_port()?, free_port()?);
    let servers = LocalServers::start(&tools, &data_dir, kafka_port, mongo_port).await?;
    eprintln!(
        "devstack: test servers up: kafka {}, mongodb {}",
        servers.kafka_brokers, servers.mongo_uri
    );
    let status = Command::new("cargo")
        .args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ])
        .args(nextest_args)
        .env("PLATFORM_TEST_KAFKA_BROKERS", &servers.kafka_brokers)
        .env("PLATFORM_TEST_MONGODB_URI", &servers.mongo_uri)
        .status()
        .await;
    servers.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let status = status.context("cannot run cargo nextest")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}
