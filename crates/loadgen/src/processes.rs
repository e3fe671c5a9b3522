//! Service processes: their memory and CPU time under load, start-to-ready
//! time, second instances, and the rebuild command (scenarios 4 and 5).

use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::measure::Spread;
use crate::report::ResourceRow;
use crate::{Result, Target, unique};

/// `fetch.wait.max.ms` of the consumers, as the local stack (devstack) runs
/// the orders service.
pub const FETCH_WAIT_MS: &str = "50";

/// Resident set size of process `pid` in MiB (`VmRSS` in `/proc/<pid>/status`).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: f64 = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) that process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line, in clock ticks.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let [user, system] = [11, 12].map(|n| fields.get(n)?.parse::<f64>().ok());
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK);
    Some((user? + system?) / per_second.ok().flatten().unwrap_or(100) as f64)
}

/// Runs `work` while sampling the RSS of `processes` (name and pid) every
/// 100 ms; returns what `work` returned, and each process's peak and median
/// RSS and the CPU time it used per operation of `work` (`operations` in all)
/// as rows for `during`.
pub async fn sampled<T>(
    processes: &[(String, u32)],
    (during, operations): (&str, usize),
    work: impl Future<Output = Result<T>>,
) -> Result<(T, Vec<ResourceRow>)> {
    let cpu_before: Vec<_> = processes.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
    let mut samples = vec![Vec::new(); processes.len()];
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let done = loop {
        tokio::select! {
            result = &mut work => break result?,
            _ = tick.tick() => {}
        }
        for ((_, pid), series) in processes.iter().zip(&mut samples) {
            series.extend(rss_mib(*pid));
        }
    };
    let mut rows = Vec::new();
    for (((name, pid), before), series) in processes.iter().zip(cpu_before).zip(samples) {
        let peak = series.iter().copied().fold(0.0, f64::max);
        let median = Spread::of(series).median;
        let cpu = before.zip(cpu_seconds(*pid)).map_or(0.0, |(b, a)| a - b);
        let cpu_ms = cpu * 1000.0 / operations.max(1) as f64;
        let row = |figure: &str, value, unit| {
            let figure = format!("{figure} during {during}");
            ResourceRow::new(name, figure, [value], unit)
        };
        rows.push(row("peak RSS", peak, "MiB"));
        rows.push(row("steady (median) RSS", median, "MiB"));
        let cpu_figure = format!("CPU per change during {during} ({operations} changes)");
        rows.push(ResourceRow::new(name, cpu_figure, [cpu_ms], "ms"));
    }
    Ok((done, rows))
}

/// The sum of the samples of `metric` in a service's metrics text whose
/// labels contain none of `leave_out`.
fn metric_sum(text: &str, metric: &str, leave_out: &[&str]) -> f64 {
    let samples = text.lines().filter_map(|line| {
        let rest = line.strip_prefix(metric)?;
        let (labels, value) = rest.rsplit_once(' ')?;
        let wanted = !leave_out.iter().any(|l| labels.contains(l));
        wanted.then(|| value.trim().parse::<f64>().ok()).flatten()
    });
    samples.sum()
}

/// What a service's operations are counted in: `commands` sent to MongoDB
/// (`mongodb_commands_total`, the driver's command monitoring, leaving out the
/// probes' `ping`s and handshakes, which belong to no operation) and
/// `applied` events (`projector_events_total{outcome="applied"}`).
async fn counts(base: &str) -> Result<[f64; 2]> {
    let url = format!("{base}/actuator/prometheus");
    let text = reqwest::get(url).await?.error_for_status()?.text().await?;
    let probes = [r#""ping""#, r#""hello""#, r#""isMaster""#];
    let commands = metric_sum(&text, "mongodb_commands_total{", &probes);
    let applied = metric_sum(&text, r#"projector_events_total{outcome="applied"}"#, &[]);
    Ok([commands, applied])
}

/// What MongoDB commands are counted per: operations of the work, or events
/// the service applied meanwhile.
#[derive(Debug, Clone, Copy)]
pub enum Per {
    Operation,
    AppliedEvent,
}

/// Runs `work` and returns what it returned, and the MongoDB commands each of
/// the `services` (name, base URL, and what to count per) sent per operation
/// of `work` (`operations` in all) or per event it applied (waiting up to
/// 30 s for `operations` events), as rows for `during`.
pub async fn counted<T>(
    services: &[(&str, &str, Per)],
    (during, operations): (&str, usize),
    work: impl Future<Output = Result<T>>,
) -> Result<(T, Vec<ResourceRow>)> {
    let mut before = Vec::new();
    for (_, base, _) in services {
        before.push(counts(base).await?);
    }
    let done = work.await?;
    let mut rows = Vec::new();
    for ((name, base, per), [commands, applied]) in services.iter().zip(before) {
        let mut after = counts(base).await?;
        // The work's events reach orders a little after the work ends.
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(per, Per::AppliedEvent)
            && after[1] - applied < operations as f64
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            after = counts(base).await?;
        }
        let [commands_after, applied_after] = after;
        let (per, what) = match per {
            Per::Operation => (operations as f64, "operation"),
            Per::AppliedEvent => (applied_after - applied, "applied event"),
        };
        let value = (commands_after - commands) / per.max(1.0);
        let figure = format!("MongoDB commands per {what} during {during}");
        rows.push(ResourceRow::new(name, figure, [value], ""));
    }
    Ok((done, rows))
}

/// The profile pass, after the measured run: a fresh instance of each
/// service with the profiler on (`PLATFORM_PROFILE_DIR` = `dir`; built with
/// the `profiling` feature), on a database, topic and group of its own,
/// takes `creates` creates by 8 clients, orders applying them, and `reads`
/// reads of them; stopped, each writes its profile, which is returned. The
/// measured instances run without the profiler, whose sample buffer would
/// count in their memory.
pub async fn profile(
    target: &Target,
    dir: &std::path::Path,
    creates: usize,
    reads: usize,
) -> Result<Vec<platform_infra::profile::Hottest>> {
    let own = Own::new(target, "bench_profile").await?;
    let dir_setting = dir.to_string_lossy().into_owned();
    let settings = [(platform_infra::profile::PROFILE_DIR, dir_setting.as_str())];
    let (accounts, _) = Instance::start(target, "accounts-domain", Some(&own), &settings).await?;
    let (orders, _) = Instance::start(target, "orders-domain", Some(&own), &settings).await?;
    let mut profiled = target.clone();
    (profiled.accounts, profiled.orders) = (vec![accounts.url.clone()], vec![orders.url.clone()]);
    let load = async {
        crate::clients::warm_up(&profiled, Duration::from_secs(180)).await?;
        let prefix = unique("profile");
        crate::clients::populate(&profiled, &prefix, creates).await?;
        crate::clients::wait_replicated(&profiled, &prefix, creates).await?;
        let seed = (prefix.as_str(), creates);
        crate::scenarios::reads(&profiled, seed, 8, reads, false).await?;
        anyhow::Ok(())
    };
    let loaded = load.await;
    accounts.stop().await;
    orders.stop().await;
    loaded?;
    let mut profiles = Vec::new();
    for service in ["accounts-domain", "orders-domain"] {
        let path = dir.join(format!("{service}.json"));
        let bytes = std::fs::read(&path).with_context(|| format!("{service} wrote no profile"))?;
        profiles.push(serde_json::from_slice(&bytes)?);
    }
    Ok(profiles)
}

/// A database, topic (with its keys and state topics) and consumer group of
/// one name, that only the instances started on it use.
pub struct Own(pub String);

impl Own {
    /// Makes the topics of a fresh name starting with `prefix`.
    pub async fn new(target: &Target, prefix: &str) -> Result<Own> {
        let name = unique(prefix).replace('-', "_");
        crate::clients::create_topic(target, &name).await?;
        Ok(Own(name))
    }

    fn settings(&self) -> impl Iterator<Item = (&'static str, String)> {
        let names = [
            "APP__MONGODB__DATABASE",
            "APP__KAFKA__TOPIC",
            "APP__CONSUMER__GROUP_ID",
        ];
        let names = names.map(|setting| (setting, self.0.clone()));
        names.into_iter().chain(compacted_topics_env(&self.0))
    }
}

/// A service process started by the benchmark, killed on drop at the latest.
pub struct Instance {
    pub url: String,
    child: Child,
}

impl Instance {
    /// Starts `service` on a free port as `service_command` runs it (on
    /// `own` names when given), with `settings` on top, and waits for its
    /// readiness probe; returns the instance and the time from `exec` to
    /// ready.
    pub async fn start(
        target: &Target,
        service: &str,
        own: Option<&Own>,
        settings: &[(&str, &str)],
    ) -> Result<(Instance, Duration)> {
        let port = local_servers::free_port()?;
        let (url, http) = (format!("http://127.0.0.1:{port}"), reqwest::Client::new());
        let started = Instant::now();
        let mut command = service_command(target, service);
        command.envs(own.into_iter().flat_map(Own::settings));
        let mut child = command
            .envs(settings.iter().copied())
            .env("APP__HTTP__PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {service}"))?;
        loop {
            let answer = http
                .get(format!("{url}/actuator/health/readiness"))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok((Instance { url, child }, started.elapsed()));
            }
            let waited = started.elapsed();
            anyhow::ensure!(
                waited < Duration::from_secs(30),
                "{service} not ready within 30 s"
            );
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{service} exited during start-up ({status})");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
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

/// `service` from the target's executables, set up as the local stack
/// (devstack) runs it: against the target's servers, with the same databases,
/// topic and consumer group as the running instances unless told otherwise.
fn service_command(target: &Target, service: &str) -> Command {
    let mut command = Command::new(target.bin_dir.join(service));
    // The local MongoDB-protocol server needs `customer_accounts`, not the
    // services' default `customer.accounts` (and so for orders).
    let collection = format!("customer_{}", service.trim_end_matches("-domain"));
    command
        .env("APP__MONGODB__URI", &target.mongodb_uri)
        .env("APP__MONGODB__COLLECTION", collection)
        .env("APP__KAFKA__BROKERS", &target.brokers)
        .env("APP__LOG__FILTER", "warn")
        .env("APP__CONSUMER__FETCH_WAIT_MAX_MS", FETCH_WAIT_MS)
        .env("APP__MONGODB__COUNT_COMMANDS", "true")
        .stdin(Stdio::null());
    if let Some(kek) = &target.kek {
        command.env("APP__CRYPTO__KEK", kek);
    }
    command
}

/// The id of the key-encryption key that wraps scenario 4's data keys, given
/// to the rebuild with the target's key.
pub const REPLAY_KEK_ID: &str = "loadgen-replay";

/// The keys and state topics of a change topic made by
/// `clients::create_topic`.
pub fn compacted_topics(topic: &str) -> [String; 2] {
    [format!("{topic}.keys"), format!("{topic}.state")]
}

/// The settings naming [`compacted_topics`].
fn compacted_topics_env(topic: &str) -> [(&'static str, String); 2] {
    let [keys, state] = compacted_topics(topic);
    [
        ("APP__KAFKA__KEYS_TOPIC", keys),
        ("APP__KAFKA__STATE_TOPIC", state),
    ]
}

/// How long a fresh instance of `service` takes from `exec` to its readiness
/// probe answering 200 (MongoDB and Kafka reachable), and its RSS once it has
/// sat idle for a second after that. The instance is stopped afterwards.
pub async fn start_to_ready(target: &Target, service: &str) -> Result<(Duration, f64)> {
    // Its own database, topic and group: the instance must neither join the
    // running orders instances' group nor replay the change topic.
    let own = Own::new(target, "bench_start").await?;
    let (instance, ready) = Instance::start(target, service, Some(&own), &[]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = instance.pid().and_then(rss_mib).unwrap_or(0.0);
    instance.stop().await;
    Ok((ready, idle))
}

/// Runs `orders-domain rebuild` (with `--from-state` if `from_state`) over
/// `topic` into a fresh database and returns the records it read and how
/// long the command took.
pub async fn rebuild(target: &Target, topic: &str, from_state: bool) -> Result<(usize, Duration)> {
    let database = unique("bench_replay").replace('-', "_");
    let started = Instant::now();
    let from_state = from_state.then_some("--from-state");
    let output = service_command(target, "orders-domain")
        .arg("rebuild")
        .args(from_state)
        .env("APP__MONGODB__DATABASE", database)
        .env("APP__HTTP__PORT", "0")
        .env("APP__KAFKA__TOPIC", topic)
        .env("APP__CRYPTO__KEK_ID", REPLAY_KEK_ID)
        .envs(compacted_topics_env(topic))
        .output()
        .await
        .context("cannot run orders-domain rebuild")?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = output.status;
    let failed = format!("rebuild failed ({status}): {stdout}{stderr}");
    anyhow::ensure!(status.success(), failed);
    // It says "rebuilt generation … from N records …".
    let (_, count) = stdout.split_once(" from ").unzip();
    let records = count.and_then(|rest| rest.split_whitespace().next()?.parse().ok());
    let records = records.with_context(|| format!("no record count in: {stdout}"))?;
    Ok((records, elapsed))
}
