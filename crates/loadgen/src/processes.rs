//! Service processes: resident memory, start-to-ready time, and the rebuild
//! command (scenarios 4 and 5).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::scenarios::Target;
use crate::stats::Spread;

/// The service executables, for starting instances of their own.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub accounts: PathBuf,
    pub orders: PathBuf,
}

/// Resident set size of process `pid` in MiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) that process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line, in clock ticks.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Some(ticks / per_second)
}

/// Samples the RSS of some processes every 100 ms while a scenario runs, and
/// the CPU time they use meanwhile.
pub struct RssSampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Vec<f64>>>,
    pids: Vec<u32>,
    cpu_before: Vec<Option<f64>>,
}

/// Peak and median RSS of one process over a scenario, in MiB, and the CPU
/// seconds it used.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RssFigure {
    pub peak_mib: f64,
    pub steady_mib: f64,
    pub cpu_seconds: f64,
}

impl RssSampler {
    pub fn start(pids: Vec<u32>) -> RssSampler {
        let cpu_before = pids.iter().map(|pid| cpu_seconds(*pid)).collect();
        let sampled = pids.clone();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = vec![Vec::new(); sampled.len()];
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = &mut stopped => return samples,
                    _ = tick.tick() => {}
                }
                for (pid, series) in sampled.iter().zip(samples.iter_mut()) {
                    series.extend(rss_mib(*pid));
                }
            }
        });
        RssSampler {
            stop,
            task,
            pids,
            cpu_before,
        }
    }

    /// One figure per process, in the order of the pids given to `start`.
    pub async fn finish(self) -> Vec<RssFigure> {
        let _ = self.stop.send(());
        let samples = self.task.await.unwrap_or_default();
        samples
            .into_iter()
            .zip(self.pids.iter().zip(&self.cpu_before))
            .map(|(series, (pid, before))| RssFigure {
                peak_mib: series.iter().copied().fold(0.0, f64::max),
                steady_mib: Spread::of(series).median,
                cpu_seconds: match (before, cpu_seconds(*pid)) {
                    (Some(before), Some(after)) => after - before,
                    _ => 0.0,
                },
            })
            .collect()
    }
}

/// The local-profile settings of a service process against the target's
/// servers, in `database` (the service's default when `None`).
fn service_env(
    target: &Target,
    database: Option<&str>,
    collection: &str,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("APP__MONGODB__URI", target.mongodb_uri.clone()),
        ("APP__MONGODB__COLLECTION", collection.to_owned()),
        ("APP__KAFKA__BROKERS", target.brokers.clone()),
        ("APP__LOG__FILTER", "warn".to_owned()),
        // As the local stack (devstack) runs the services.
        ("APP__CONSUMER__FETCH_WAIT_MAX_MS", "50".to_owned()),
    ];
    env.extend(database.map(|d| ("APP__MONGODB__DATABASE", d.to_owned())));
    env
}

/// A service process started by the benchmark, stopped on drop at the latest.
struct Instance {
    port: u16,
    child: Child,
}

impl Instance {
    /// Starts `exe` on a free port with `env` and waits for its readiness
    /// probe; returns the instance and the time from `exec` to ready.
    async fn ready(exe: &Path, env: Vec<(&str, String)>) -> anyhow::Result<(Instance, Duration)> {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}/actuator/health/readiness");
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut child = Command::new(exe)
            .envs(env)
            .env("APP__HTTP__PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let name = exe.display();
        loop {
            let answer = client.get(&url).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok((Instance { port, child }, started.elapsed()));
            }
            let waited = started.elapsed();
            anyhow::ensure!(
                waited < Duration::from_secs(30),
                "{name} not ready within 30 s"
            );
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{name} exited during start-up ({status})");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, as an orchestrator scaling in would; SIGKILL after 15 s.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let exited = tokio::time::timeout(Duration::from_secs(15), self.child.wait());
        if exited.await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// A second instance of each service next to the running ones, with the same
/// databases, topic and consumer group (the local stack's settings).
pub struct SecondInstances {
    accounts: Instance,
    orders: Instance,
}

impl SecondInstances {
    pub async fn start(target: &Target, binaries: &Binaries) -> anyhow::Result<SecondInstances> {
        let env = |collection| service_env(target, None, collection);
        let (accounts, _) = Instance::ready(&binaries.accounts, env("customer_accounts")).await?;
        let (orders, _) = Instance::ready(&binaries.orders, env("customer_orders")).await?;
        Ok(SecondInstances { accounts, orders })
    }

    pub fn accounts_url(&self) -> String {
        self.accounts.url()
    }

    pub fn orders_url(&self) -> String {
        self.orders.url()
    }

    pub fn pids(&self) -> Vec<u32> {
        [&self.accounts, &self.orders]
            .iter()
            .filter_map(|i| i.child.id())
            .collect()
    }

    pub async fn stop(self) {
        self.accounts.stop().await;
        self.orders.stop().await;
    }
}

/// How long a fresh instance takes from `exec` to its readiness probe answering
/// 200 (MongoDB and Kafka reachable), and its RSS once it has sat idle for a
/// second after that. The instance is stopped with SIGTERM afterwards.
pub async fn start_to_ready(
    target: &Target,
    exe: &Path,
    collection: &str,
) -> anyhow::Result<(Duration, f64)> {
    // Its own database, topic and group: the instance must neither join the
    // running orders instances' group nor replay the change topic.
    let name = crate::unique("bench_start").replace('-', "_");
    crate::baselines::create_topic(target, &name).await?;
    let mut env = service_env(target, Some(&name), collection);
    env.extend([
        ("APP__KAFKA__TOPIC", name.clone()),
        ("APP__CONSUMER__GROUP_ID", name.clone()),
    ]);
    let (instance, ready) = Instance::ready(exe, env).await?;
    // Idle: what the instance holds once started, before any load.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = instance.child.id().and_then(rss_mib).unwrap_or(0.0);
    instance.stop().await;
    Ok((ready, idle))
}

/// Runs `orders-domain rebuild` over `topic` into a fresh database and returns
/// the records it read and how long the command took.
pub async fn rebuild(
    target: &Target,
    exe: &Path,
    topic: &str,
) -> anyhow::Result<(usize, Duration)> {
    let database = crate::unique("bench_replay").replace('-', "_");
    let started = Instant::now();
    let output = Command::new(exe)
        .arg("rebuild")
        .envs(service_env(target, Some(&database), "customer_orders"))
        .env("APP__HTTP__PORT", "0")
        .env("APP__KAFKA__TOPIC", topic)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {} rebuild", exe.display()))?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "rebuild failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let records = stdout
        .split_once(" from ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no record count in the rebuild's output: {stdout}"))?;
    Ok((records, elapsed))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
