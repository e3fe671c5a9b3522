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

use crate::Result;
use crate::report::ResourceRow;
use crate::scenarios::Target;
use crate::stats::Spread;

/// The service executables, for starting instances of their own.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub accounts: PathBuf,
    pub orders: PathBuf,
}

/// Resident set size of process `pid` in MiB (`VmRSS` in `/proc/<pid>/status`).
fn rss_mib(pid: u32) -> Option<f64> {
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
fn cpu_seconds(pid: u32) -> Option<f64> {
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
    processes: Vec<(String, u32)>,
    cpu_before: Vec<Option<f64>>,
}

impl RssSampler {
    /// Starts sampling `processes`, each a name and a pid.
    pub fn start(processes: Vec<(String, u32)>) -> RssSampler {
        let cpu_before = processes.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
        let (stop, mut stopped) = oneshot::channel();
        let sampled: Vec<u32> = processes.iter().map(|(_, pid)| *pid).collect();
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
            processes,
            cpu_before,
        }
    }

    /// Peak and median RSS of each process over the scenario `during`, and
    /// its CPU time per platform operation of the scenario (`operations`).
    pub async fn finish(self, during: &str, operations: usize) -> Vec<ResourceRow> {
        let _ = self.stop.send(());
        let samples = self.task.await.unwrap_or_default();
        let mut rows = Vec::new();
        let processes = self.processes.iter().zip(self.cpu_before);
        for (((name, pid), before), series) in processes.zip(samples) {
            let peak = series.iter().copied().fold(0.0, f64::max);
            let cpu = before
                .zip(cpu_seconds(*pid))
                .map_or(0.0, |(before, after)| after - before);
            let figures = [
                ("peak RSS during", peak, "MiB"),
                (
                    "steady (median) RSS during",
                    Spread::of(series).median,
                    "MiB",
                ),
            ];
            for (figure, value, unit) in figures {
                rows.push(ResourceRow::new(
                    name,
                    format!("{figure} {during}"),
                    [value],
                    unit,
                ));
            }
            let figure = format!("CPU per change during {during} ({operations} changes)");
            let cpu_ms = cpu * 1000.0 / operations.max(1) as f64;
            rows.push(ResourceRow::new(name, figure, [cpu_ms], "ms"));
        }
        rows
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
pub struct Instance {
    port: u16,
    child: Child,
}

impl Instance {
    /// Starts `exe` on a free port with `env` and waits for its readiness
    /// probe; returns the instance and the time from `exec` to ready.
    async fn ready(exe: &Path, env: Vec<(&str, String)>) -> Result<(Instance, Duration)> {
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

    /// Another instance of `exe` next to the running ones, with the same
    /// databases, topic and consumer group (the local stack's settings).
    pub async fn next_to(target: &Target, exe: &Path, collection: &str) -> Result<Instance> {
        let (instance, _) = Instance::ready(exe, service_env(target, None, collection)).await?;
        Ok(instance)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, as an orchestrator scaling in would; SIGKILL after 15 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let exited = tokio::time::timeout(Duration::from_secs(15), self.child.wait());
        if exited.await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// How long a fresh instance takes from `exec` to its readiness probe answering
/// 200 (MongoDB and Kafka reachable), and its RSS once it has sat idle for a
/// second after that. The instance is stopped with SIGTERM afterwards.
pub async fn start_to_ready(
    target: &Target,
    exe: &Path,
    collection: &str,
) -> Result<(Duration, f64)> {
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
    let idle = instance.pid().and_then(rss_mib).unwrap_or(0.0);
    instance.stop().await;
    Ok((ready, idle))
}

/// Runs `orders-domain rebuild` over `topic` into a fresh database and returns
/// the records it read and how long the command took.
pub async fn rebuild(target: &Target, exe: &Path, topic: &str) -> Result<(usize, Duration)> {
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

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
