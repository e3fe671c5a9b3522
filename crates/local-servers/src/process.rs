//! Child processes that devstack starts and must stop cleanly.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

static OWN_PROCESS_GROUPS: AtomicBool = AtomicBool::new(false);

/// From now on, children get process groups of their own, so that a Ctrl-C
/// at the terminal reaches only devstack, which then stops them in order
/// (services first, so that they drain and commit while the servers still
/// run). `devstack up` does this; elsewhere children stay in devstack's group,
/// so that whatever stops a test run stops them too.
pub fn use_own_process_groups() {
    OWN_PROCESS_GROUPS.store(true, Ordering::Relaxed);
}

/// Where a child's output goes.
pub enum Output<'a> {
    /// Appended to a log file (the noisy servers).
    File(&'a Path),
    /// Printed to the terminal, each line prefixed with the child's name.
    Prefixed,
}

/// A running child process with a name.
pub struct Supervised {
    pub name: String,
    child: Child,
}

impl Supervised {
    /// Starts `command`; its output goes to `output`.
    /// See [`use_own_process_groups`].
    pub fn spawn(name: &str, mut command: Command, output: Output<'_>) -> anyhow::Result<Self> {
        command.stdin(Stdio::null()).kill_on_drop(true);
        if OWN_PROCESS_GROUPS.load(Ordering::Relaxed) {
            command.process_group(0);
        }
        match output {
            Output::File(path) => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                command.stdout(log.try_clone()?).stderr(log);
            }
            Output::Prefixed => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(prefix_lines(name.to_owned(), BufReader::new(stdout)));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(prefix_lines(name.to_owned(), BufReader::new(stderr)));
        }
        Ok(Supervised {
            name: name.to_owned(),
            child,
        })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Sends SIGTERM, waits up to `grace` for the process to exit, then kills it.
    pub async fn stop(mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => eprintln!("devstack: {} stopped ({status})", self.name),
            _ => {
                eprintln!(
                    "devstack: {} did not stop within {grace:?}; killing it",
                    self.name
                );
                let _ = self.child.kill().await;
            }
        }
    }
}

async fn prefix_lines<R: tokio::io::AsyncRead + Unpin>(name: String, reader: BufReader<R>) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("[{name}] {line}");
    }
}
