//! The `up` and `test` commands: servers, topics, services.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use platform_infra::kafka;
use shared_events::topics;
use tokio::process::Command;

use crate::install::Tools;
use crate::process::{Output, Supervised};
use crate::servers::{LocalServer, ServerKind};
pub use local_servers::{
    CHANGE_TOPIC_PARTITIONS, free_port, kafka_settings, test_env, wait_healthy,
};

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
    pub broker: LocalServer,
    pub mongo: LocalServer,
}

impl LocalServers {
    /// Starts both servers with their data under `data_dir`.
    pub async fn start(
        tools: &Tools,
        data_dir: &Path,
        kafka_port: u16,
        mongo_port: u16,
    ) -> anyhow::Result<Self> {
        let broker =
            LocalServer::start(ServerKind::Broker, &tools.tansu, data_dir, kafka_port).await?;
        match LocalServer::start(ServerKind::Mongo, &tools.nx_27017, data_dir, mongo_port).await {
            Ok(mongo) => Ok(LocalServers { broker, mongo }),
            Err(e) => {
                let mut broker = broker;
                broker.stop().await;
                Err(e)
            }
        }
    }

    /// Stops both servers.
    pub async fn stop(mut self) {
        self.broker.stop().await;
        self.mongo.stop().await;
    }

    pub fn addresses(&self) -> ServerAddresses {
        ServerAddresses {
            brokers: self.broker.address(),
            mongodb_uri: self.mongo.address(),
        }
    }
}

/// How to reach a Kafka-protocol broker and a MongoDB-protocol server.
#[derive(Debug, Clone)]
pub struct ServerAddresses {
    pub brokers: String,
    pub mongodb_uri: String,
}

/// The servers `devstack test` runs the tests against: the local ones, or, with
/// `PLATFORM_TEST_CONTAINERS=1` and the `containers` feature, real `mongo` and
/// `apache/kafka` containers.
#[allow(clippy::large_enum_variant, reason = "one value per test run")]
enum TestServers {
    Local(LocalServers),
    #[cfg(feature = "containers")]
    Containers(crate::containers::Containers),
}

impl TestServers {
    async fn start(tools: &Tools, data_dir: &Path) -> anyhow::Result<Self> {
        if std::env::var(test_env::CONTAINERS).is_ok_and(|v| v == "1") {
            #[cfg(feature = "containers")]
            return Ok(TestServers::Containers(
                crate::containers::Containers::start().await?,
            ));
            #[cfg(not(feature = "containers"))]
            bail!(
                "{}=1 needs devstack built with the `containers` feature (./dev test does that when the variable is set)",
                test_env::CONTAINERS
            );
        }
        let servers = LocalServers::start(tools, data_dir, free_port()?, free_port()?).await?;
        Ok(TestServers::Local(servers))
    }

    fn addresses(&self) -> ServerAddresses {
        match self {
            TestServers::Local(servers) => servers.addresses(),
            #[cfg(feature = "containers")]
            TestServers::Containers(containers) => containers.addresses(),
        }
    }

    async fn stop(self) {
        match self {
            TestServers::Local(servers) => servers.stop().await,
            #[cfg(feature = "containers")]
            TestServers::Containers(containers) => containers.stop().await,
        }
    }
}

/// Creates the customer change topic (the event store), its dead-letter
/// topic, and the keys and state topics.
pub async fn create_topics(brokers: &str) -> anyhow::Result<()> {
    for topic in [topics::CUSTOMER_CHANGE, topics::CUSTOMER_CHANGE_DLT] {
        kafka::ensure_topic(&kafka_settings(brokers), topic, CHANGE_TOPIC_PARTITIONS)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    kafka::ensure_compacted_topics(&kafka_settings(brokers), CHANGE_TOPIC_PARTITIONS, 1)
        .await
        .context("cannot create the keys and state topics")?;
    Ok(())
}

/// Servers `devstack up` uses instead of starting its own.
#[derive(Debug, Clone, Default)]
pub struct ExternalServers {
    /// Kafka bootstrap servers, such as `localhost:9092` of the compose stack.
    pub kafka: Option<String>,
    /// A MongoDB connection string.
    pub mongodb: Option<String>,
}

/// `devstack up`.
pub async fn up(
    clean: bool,
    data_dir: &Path,
    ports: StackPorts,
    external: ExternalServers,
) -> anyhow::Result<()> {
    if clean && data_dir.exists() {
        std::fs::remove_dir_all(data_dir)
            .with_context(|| format!("cannot remove {}", data_dir.display()))?;
        eprintln!("devstack: removed {}", data_dir.display());
    }
    let data_dir = absolute(data_dir)?;
    crate::process::use_own_process_groups();
    // Listening from here on: a Ctrl-C during start-up stops what has started
    // once start-up returns, instead of killing devstack and orphaning them.
    let stop = platform_infra::shutdown::on_signal();
    let mut servers = Vec::new();
    let started = start_stack(&data_dir, ports, &external, &mut servers).await;
    let (addresses, mut services) = match started {
        Ok(started) => started,
        Err(e) => {
            stop_servers(servers).await;
            return Err(e);
        }
    };
    print_addresses(&data_dir, ports, &addresses, &external);
    println!("Press Ctrl-C to stop everything.");
    let exited = tokio::select! {
        () = stop.cancelled() => None,
        exited = first_exit(&mut servers, &mut services) => Some(exited),
    };
    if let Some(what) = &exited {
        eprintln!("devstack: {what}; stopping everything else");
    }
    // Services first: the relay drains and the projector commits while the
    // broker and MongoDB still run.
    for service in services {
        service.stop(SERVICE_GRACE).await;
    }
    stop_servers(servers).await;
    match exited {
        None => {
            eprintln!("devstack: stopped");
            Ok(())
        }
        Some(what) => bail!("{what}"),
    }
}

/// Starts the local servers (into `servers`, which the caller stops whatever
/// happens) unless `external` names them, then the services with the local
/// key-encryption key; returns where the servers are, and the services.
async fn start_stack(
    data_dir: &Path,
    ports: StackPorts,
    external: &ExternalServers,
    servers: &mut Vec<LocalServer>,
) -> anyhow::Result<(ServerAddresses, Vec<Supervised>)> {
    let addresses = start_local_servers(data_dir, ports, external, servers).await?;
    let kek = local_kek(data_dir)?;
    let settings = [
        ("APP__CONSUMER__INSTANCE_ID", LOCAL_ORDERS_INSTANCE_ID),
        (KEK_VARIABLE, kek.as_str()),
    ];
    let services = start_services(&addresses, ports, &settings).await?;
    Ok((addresses, services))
}

/// What `./dev up` started, and where.
fn print_addresses(
    data_dir: &Path,
    ports: StackPorts,
    addresses: &ServerAddresses,
    external: &ExternalServers,
) {
    let origin = |local: bool| if local { "local" } else { "external" };
    println!();
    println!("The stack is up (data in {}):", data_dir.display());
    println!(
        "  accounts API     http://127.0.0.1:{}/accounts/customers",
        ports.accounts
    );
    println!(
        "  orders API       http://127.0.0.1:{}/orders/list",
        ports.orders
    );
    println!(
        "  accounts health  http://127.0.0.1:{}/actuator/health",
        ports.accounts
    );
    println!(
        "  orders health    http://127.0.0.1:{}/actuator/health",
        ports.orders
    );
    println!(
        "  Kafka            {} (topic {}, {})",
        addresses.brokers,
        topics::CUSTOMER_CHANGE,
        origin(external.kafka.is_none())
    );
    println!(
        "  MongoDB          {} ({})",
        addresses.mongodb_uri,
        origin(external.mongodb.is_none())
    );
}

/// Starts the local servers that `external` does not replace (installing
/// them first if needed), pushing each onto `started`, and returns where
/// the services find Kafka and MongoDB.
async fn start_local_servers(
    data_dir: &Path,
    ports: StackPorts,
    external: &ExternalServers,
    started: &mut Vec<LocalServer>,
) -> anyhow::Result<ServerAddresses> {
    let tools = if external.kafka.is_none() || external.mongodb.is_none() {
        Some(Tools::ensure().await?)
    } else {
        None
    };
    let local = |kind, port| {
        let tools = tools.as_ref();
        async move {
            let tools = tools.context("tools are installed when a local server is needed")?;
            let exe = match kind {
                ServerKind::Broker => &tools.tansu,
                ServerKind::Mongo => &tools.nx_27017,
            };
            LocalServer::start(kind, exe, data_dir, port).await
        }
    };
    let brokers = match &external.kafka {
        Some(brokers) => brokers.clone(),
        None => {
            let broker = local(ServerKind::Broker, ports.kafka).await?;
            let address = broker.address();
            started.push(broker);
            address
        }
    };
    let mongodb_uri = match &external.mongodb {
        Some(uri) => uri.clone(),
        None => {
            let mongo = local(ServerKind::Mongo, ports.mongo).await?;
            let address = mongo.address();
            started.push(mongo);
            address
        }
    };
    Ok(ServerAddresses {
        brokers,
        mongodb_uri,
    })
}

async fn stop_servers(servers: Vec<LocalServer>) {
    for mut server in servers {
        server.stop().await;
    }
}

/// How long a service may take to stop on SIGTERM before it is killed.
const SERVICE_GRACE: Duration = Duration::from_secs(8);

/// Resolves as soon as any server or service of the stack exits by itself,
/// naming it and how it ended.
async fn first_exit(servers: &mut [LocalServer], services: &mut [Supervised]) -> String {
    loop {
        for server in servers.iter_mut() {
            if let Some(status) = server.exited() {
                return format!(
                    "{} exited ({status}); its log is in {}",
                    server.server_name(),
                    server.data_dir().join("logs").display()
                );
            }
        }
        for service in services.iter_mut() {
            if let Some(status) = service.exited() {
                return format!("{} exited ({status})", service.name);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `consumer.fetch_wait_max_ms` of the local stack: tansu 0.6 holds a fetch
/// for the whole wait even when records arrive, so the default 500 ms would be
/// the latency of every change.
pub const LOCAL_FETCH_WAIT_MS: &str = "50";

/// `consumer.instance_id` of the local stack's single orders instance: static
/// membership, so that an orders process killed and started again gets its
/// partitions back at once instead of after the dead member's session timeout
/// (45 s). Only `up` sets it: the benchmark adds a second orders instance to
/// the group, and a group of several static members never settled on tansu.
/// (The accounts service ignores the setting.)
pub const LOCAL_ORDERS_INSTANCE_ID: &str = "orders-local-0";

/// The variable of the key-encryption key (`crypto.kek`).
const KEK_VARIABLE: &str = "APP__CRYPTO__KEK";

/// The local stack's key-encryption key: `APP__CRYPTO__KEK` if set, else the
/// one in `<data_dir>/kek`, made on first use (readable by the owner only).
/// Losing it makes every customer's personal data in the topic unreadable, as
/// an erasure would; `--clean` removes it with the data.
fn local_kek(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(kek) = std::env::var(KEK_VARIABLE) {
        return Ok(kek);
    }
    let path = data_dir.join("kek");
    if let Ok(kek) = std::fs::read_to_string(&path) {
        return Ok(kek.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir)?;
    let kek = fresh_kek()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, kek.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(kek)
}

/// A new random key-encryption key, base64.
fn fresh_kek() -> anyhow::Result<String> {
    Ok(shared_events::crypto::KeyEncryptionKey::generate_base64()?)
}

/// Service settings that keep the logs of a stack run by a command to warnings.
const QUIET: [(&str, &str); 1] = [("APP__LOG__FILTER", "warn")];

/// Creates the topics and starts both services from the binaries next to this
/// one, with `settings` (`APP__…` variables) on top of the local ones.
async fn start_services(
    servers: &ServerAddresses,
    ports: StackPorts,
    settings: &[(&str, &str)],
) -> anyhow::Result<Vec<Supervised>> {
    create_topics(&servers.brokers).await?;
    let bin_dir = bin_dir()?;
    let mut services: Vec<Supervised> = Vec::new();
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
            .env("APP__MONGODB__URI", &servers.mongodb_uri)
            .env("APP__MONGODB__COLLECTION", collection)
            .env("APP__KAFKA__BROKERS", &servers.brokers)
            .env("APP__CONSUMER__FETCH_WAIT_MAX_MS", LOCAL_FETCH_WAIT_MS);
        command.envs(settings.iter().copied());
        let mut service = Supervised::spawn(name, command, Output::Prefixed)?;
        let mut ready = wait_healthy(&mut service, port).await;
        if ready.is_ok() && name == "orders-domain" {
            ready = local_servers::wait_projector_assigned(&mut service, port).await;
        }
        if let Err(e) = ready {
            service.stop(Duration::from_secs(5)).await;
            for s in services {
                s.stop(Duration::from_secs(5)).await;
            }
            return Err(e);
        }
        services.push(service);
    }
    Ok(services)
}

/// The directory of this executable, where cargo also puts the service binaries.
fn bin_dir() -> anyhow::Result<PathBuf> {
    std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("devstack has no parent directory")
}

/// `devstack test`: lint `docker/` and `kubernetes/`, start fresh servers on
/// free ports, run the Postman collection against both services with newman,
/// then run `cargo nextest run` against the servers.
pub async fn test(nextest_args: &[String]) -> anyhow::Result<ExitCode> {
    crate::lint::run_all(&std::env::current_dir()?).await?;
    let tools = Tools::ensure().await?;
    let data_dir = std::env::temp_dir().join(format!("devstack-test-{}", std::process::id()));
    let servers = TestServers::start(&tools, &data_dir).await?;
    let addresses = servers.addresses();
    eprintln!(
        "devstack: test servers up: kafka {}, mongodb {}",
        addresses.brokers, addresses.mongodb_uri
    );
    if let Err(e) = run_api_checks(&addresses).await {
        servers.stop().await;
        return Err(e);
    }
    let status = Command::new("cargo")
        .args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ])
        .args(nextest_args)
        .env(test_env::KAFKA_BROKERS, &addresses.brokers)
        .env(test_env::MONGODB_URI, &addresses.mongodb_uri)
        .env(test_env::TANSU_BIN, &tools.tansu)
        .env(test_env::NX_27017_BIN, &tools.nx_27017)
        .env(test_env::ACCOUNTS_BIN, bin_dir()?.join("accounts-domain"))
        .env(test_env::ORDERS_BIN, bin_dir()?.join("orders-domain"))
        .env(test_env::DEVSTACK_BIN, std::env::current_exe()?)
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

/// Starts both services on the test servers, runs the Postman collection
/// against them with newman, then Schemathesis against each, and stops them.
async fn run_api_checks(servers: &ServerAddresses) -> anyhow::Result<()> {
    let ports = StackPorts {
        kafka: 0,
        mongo: 0,
        accounts: free_port()?,
        orders: free_port()?,
    };
    // Generated `minVersion` reads mostly ask for versions that never come:
    // a short wait keeps each such case fast; the wait itself is tested in Rust.
    let kek = fresh_kek()?;
    let settings = [
        QUIET[0],
        ("APP__REPLICA__READ_WAIT_MS", "20"),
        (KEK_VARIABLE, kek.as_str()),
    ];
    let services = start_services(servers, ports, &settings).await?;
    let root = std::env::current_dir()?;
    let accounts = format!("http://127.0.0.1:{}", ports.accounts);
    let orders = format!("http://127.0.0.1:{}", ports.orders);
    let mut result = crate::newman::run(&root, &accounts, &orders).await;
    for (name, url) in [("accounts", &accounts), ("orders", &orders)] {
        if result.is_ok() {
            result = crate::schemathesis::run(&root, name, url).await;
        }
    }
    for service in services {
        service.stop(Duration::from_secs(15)).await;
    }
    result
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// The `loadgen` command against the bench stack: the services at `urls`
/// (accounts, orders) and the processes to sample, the servers, the broker
/// executable for the outage scenario, and where to write (the CPU profiles of
/// its profile pass under `out/benchmarks/profiles`).
fn loadgen_command(
    tools: &Tools,
    servers: &LocalServers,
    services: &[Supervised],
    [accounts, orders]: [String; 2],
    out: &Path,
) -> anyhow::Result<Command> {
    let (out, addresses) = (absolute(out)?, servers.addresses());
    let profiles = out.join("benchmarks").join("profiles");
    let _ = std::fs::remove_dir_all(&profiles);
    let mut command = Command::new(bin_dir()?.join("loadgen"));
    command
        .args(["--accounts", &accounts, "--orders", &orders])
        .args(["--mongodb-uri", &addresses.mongodb_uri])
        .args(["--brokers", &addresses.brokers])
        .arg("--out")
        .arg(&out)
        .arg("--bin-dir")
        .arg(bin_dir()?)
        .arg("--tansu")
        .arg(&tools.tansu)
        .arg("--profiles")
        .arg(&profiles)
        .arg("--note")
        .arg(
            "Services run as release builds with their default settings, on loopback, with \
             the broker and the MongoDB-protocol server on the same 2 cores.",
        );
    let services = services.iter().map(|s| (s.name.as_str(), s.pid()));
    // The servers too: their CPU time per change shows where the time goes.
    let servers = [("tansu", &servers.broker), ("nx-27017", &servers.mongo)];
    let servers = servers.map(|(name, server)| (name, server.pid()));
    for (name, pid) in services.chain(servers) {
        if let Some(pid) = pid {
            command.arg("--pid").arg(format!("{name}={pid}"));
        }
    }
    Ok(command)
}

/// `devstack bench`: starts fresh servers and both services (from the binaries
/// next to this one: `./dev bench` builds them in release mode), runs
/// `loadgen` against them, and writes `BENCHMARKS.md` and `benchmarks.json`
/// into `out`.
pub async fn bench(out: &Path, tiny: bool) -> anyhow::Result<ExitCode> {
    let tools = Tools::ensure().await?;
    let data_dir = std::env::temp_dir().join(format!("devstack-bench-{}", std::process::id()));
    let servers = LocalServers::start(&tools, &data_dir, free_port()?, free_port()?).await?;
    let addresses = servers.addresses();
    let ports = StackPorts {
        kafka: 0,
        mongo: 0,
        accounts: free_port()?,
        orders: free_port()?,
    };
    // loadgen's own service instances share it through its environment.
    let kek = fresh_kek()?;
    // Round trips counted, for the report.
    let settings = [
        QUIET[0],
        ("APP__MONGODB__COUNT_COMMANDS", "true"),
        (KEK_VARIABLE, kek.as_str()),
    ];
    let services = match start_services(&addresses, ports, &settings).await {
        Ok(services) => services,
        Err(e) => {
            servers.stop().await;
            return Err(e);
        }
    };
    let urls = [ports.accounts, ports.orders].map(|port| format!("http://127.0.0.1:{port}"));
    let mut command = loadgen_command(&tools, &servers, &services, urls, out)?;
    if tiny {
        command.arg("--tiny");
    }
    command.env(KEK_VARIABLE, &kek);
    let status = command.status().await;
    for service in services {
        service.stop(Duration::from_secs(15)).await;
    }
    servers.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let status = status.context("cannot run loadgen (./dev bench builds it)")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
