//! Supervision of a service's tasks (HTTP server, outbox relay, projector,
//! watchdog).
//!
//! Every task runs until the shutdown token is cancelled. A task that ends
//! before that, with or without an error, or panics, takes the whole service
//! down: the supervisor logs an ERROR naming it, cancels the token so the
//! others wind down (the relay drains, the projector commits), and
//! [`Supervisor::wait`] returns an error, which makes `main` exit non-zero so
//! that an orchestrator restarts the process. A service never keeps serving
//! HTTP with a dead pipeline.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};

use crate::shutdown::CancellationToken;

/// The running tasks of one service.
pub struct Supervisor {
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, &'static str>,
}

impl Supervisor {
    /// Tasks supervised under `shutdown`, the service's shutdown switch.
    pub fn new(shutdown: CancellationToken) -> Self {
        Supervisor {
            shutdown,
            tasks: JoinSet::new(),
            names: HashMap::new(),
        }
    }

    /// Starts `task` under the name `name`.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits until every task has ended. `Err` if any ended before shutdown
    /// was asked for, failed or panicked (then the others were asked to stop).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let early = !self.shutdown.is_cancelled();
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome),
                Err(e) => {
                    let id = e.id();
                    let what = if e.is_panic() {
                        "panicked"
                    } else {
                        "was cancelled"
                    };
                    (id, Err(anyhow::anyhow!("{what}")))
                }
            };
            let name = self.names.get(&id).copied().unwrap_or("a task");
            match outcome {
                Ok(()) if !early => tracing::info!(task = name, "stopped"),
                Ok(()) => {
                    tracing::error!(
                        task = name,
                        "ended while the service was running; stopping the service"
                    );
                    failures.push(format!("{name} ended unexpectedly"));
                }
                Err(e) => {
                    tracing::error!(
                        task = name,
                        error = format!("{e:#}"),
                        "failed; stopping the service"
                    );
                    failures.push(format!("{name}: {e:#}"));
                }
            }
            if !failures.is_empty() {
                self.shutdown.cancel();
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(failures.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A task that runs until shutdown, as the real ones do.
    async fn until_shutdown(shutdown: CancellationToken) -> anyhow::Result<()> {
        shutdown.cancelled().await;
        Ok(())
    }

    async fn wait_bounded(supervisor: Supervisor) -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(10), supervisor.wait())
            .await
            .expect("the supervisor returns once the tasks stop")
    }

    #[tokio::test]
    async fn a_panicking_task_stops_the_others_and_fails_the_service() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn("http", until_shutdown(shutdown.clone()));
        supervisor.spawn("projector", async {
            tokio::task::yield_now().await;
            panic!("boom")
        });
        let error = wait_bounded(supervisor).await.expect_err("service fails");
        assert!(error.to_string().contains("projector"), "{error}");
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn a_task_that_returns_before_shutdown_fails_the_service() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn("http", until_shutdown(shutdown.clone()));
        supervisor.spawn("relay", async { Ok(()) });
        let error = wait_bounded(supervisor).await.expect_err("service fails");
        assert!(
            error.to_string().contains("relay ended unexpectedly"),
            "{error}"
        );
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn tasks_that_stop_on_shutdown_end_the_service_cleanly() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn("http", until_shutdown(shutdown.clone()));
        supervisor.spawn("relay", until_shutdown(shutdown.clone()));
        shutdown.cancel();
        wait_bounded(supervisor).await.expect("clean stop");
    }
}
