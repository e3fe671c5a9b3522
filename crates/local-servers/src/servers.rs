//! One local server process (broker or MongoDB-protocol server) that can be
//! started, stopped gracefully, killed abruptly and restarted on the same port
//! with the same data.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::process::Command;

use crate::process::{Output, Supervised};

/// How long a server may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// tansu, Kafka protocol, SQLite storage.
    Broker,
    /// nx-27017, MongoDB protocol, one SQLite file per database.
    Mongo,
}

/// A local server with its executable, port and data directory.
pub struct LocalServer {
    kind: ServerKind,
    exe: PathBuf,
    data_dir: PathBuf,
    port: u16,
    process: Option<Supervised>,
    /// Broker only: how often its maintenance pass (retention) runs; tansu's
    /// default, 10 minutes, when `None`.
    maintenance_every: Option<Duration>,
}

impl LocalServer {
    /// Starts a server of `kind` from `exe` on loopback `port`, keeping its data
    /// and logs under `data_dir`, and waits until it answers its real client.
    pub async fn start(
        kind: ServerKind,
        exe: &Path,
        data_dir: &Path,
        port: u16,
    ) -> anyhow::Result<Self> {
        LocalServer::start_with(kind, exe, data_dir, port, None).await
    }

    /// A broker like [`LocalServer::start`] gives, whose maintenance pass
    /// (the one that applies retention, at start and every 10 minutes by
    /// default) runs every `every`: tests watch many passes in seconds.
    pub async fn start_broker_with_maintenance_every(
        exe: &Path,
        data_dir: &Path,
        port: u16,
        every: Duration,
    ) -> anyhow::Result<Self> {
        LocalServer::start_with(ServerKind::Broker, exe, data_dir, port, Some(every)).await
    }

    async fn start_with(
        kind: ServerKind,
        exe: &Path,
        data_dir: &Path,
        port: u16,
        maintenance_every: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let mut server = LocalServer {
            kind,
            exe: exe.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            port,
            process: None,
            maintenance_every,
        };
        server.launch().await?;
        Ok(server)
    }

    fn name(&self) -> &'static str {
        match self.kind {
            ServerKind::Broker => "tansu",
            ServerKind::Mongo => "nx-27017",
        }
    }

    /// Where the server keeps its data and logs.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn logs(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// The address clients use: `host:port` for the broker, a URI for MongoDB.
    pub fn address(&self) -> String {
        match self.kind {
            ServerKind::Broker => format!("127.0.0.1:{}", self.port),
            ServerKind::Mongo => {
                format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
            }
        }
    }

    fn command(&self) -> anyhow::Result<Command> {
        let mut command = Command::new(&self.exe);
        match self.kind {
            ServerKind::Broker => {
                let dir = self.data_dir.join("kafka");
                std::fs::create_dir_all(&dir)?;
                let listener = format!("tcp://127.0.0.1:{}", self.port);
                // tansu reads the maintenance interval from the storage URL.
                let storage = match self.maintenance_every {
                    Some(every) => {
                        format!(
                            "sqlite://tansu.db?maintenance_interval={}ms",
                            every.as_millis()
                        )
                    }
                    None => "sqlite://tansu.db".to_owned(),
                };
                command
                    .arg("broker")
                    .args(["--listener-url", &listener])
                    .args(["--advertised-listener-url", &listener])
                    .args(["--storage-engine", &storage])
                    .current_dir(dir)
                    .env("RUST_LOG", "warn");
            }
            ServerKind::Mongo => {
                let dir = self.data_dir.join("mongo");
                std::fs::create_dir_all(&dir)?;
                command
                    .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                    .arg("--data-dir")
                    .arg(dir)
                    .arg("--pid-file")
                    .arg(self.data_dir.join("nx-27017.pid"))
                    .arg("--log-file")
                    .arg(self.logs().join("nx-27017.log"));
            }
        }
        Ok(command)
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let logs = self.logs();
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        let output = logs.join(format!("{}.out", self.name()));
        let process = Supervised::spawn(self.name(), self.command()?, Output::File(&output))?;
        self.process = Some(process);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.process.as_mut().and_then(Supervised::exited) {
                bail!("{} exited ({status}); see {}", self.name(), logs.display());
            }
            if self.answers().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready within {READY_TIMEOUT:?}; see {}",
                    self.name(),
                    logs.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the server answers a metadata request (broker) or a ping (MongoDB).
    pub async fn answers(&self) -> bool {
        match self.kind {
            ServerKind::Broker => kafka_answers(&self.address()).await,
            ServerKind::Mongo => mongo_answers(&self.address()).await,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Supervised::pid)
    }

    /// `Some(status)` once the server process has exited by itself.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.as_mut().and_then(Supervised::exited)
    }

    /// The server's name: `tansu` or `nx-27017`.
    pub fn server_name(&self) -> &'static str {
        self.name()
    }

    /// Stops the server with SIGTERM (killing it if it hangs).
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop(Duration::from_secs(10)).await;
        }
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub async fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill().await;
        }
    }

    /// Starts the server again, on the same port with the same data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.launch().await
    }
}

async fn kafka_answers(brokers: &str) -> bool {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: Result<BaseConsumer, _> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("log_level", "0")
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
