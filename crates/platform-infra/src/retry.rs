//! The one retry policy of both services: exponential backoff from 100 ms,
//! doubling up to a cap, for work that must eventually happen (publishing an
//! outbox batch, applying a valid event, dead-lettering a record, loading a
//! rebuild round).

use std::future::Future;
use std::time::Duration;

use crate::shutdown::CancellationToken;

/// The first pause.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);

/// The cap where a service has no setting for it.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);

/// Exponential backoff: [`FIRST_DELAY`], doubling, at most `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

/// Shutdown was asked for during a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shutdown requested")]
pub struct Cancelled;

impl Backoff {
    /// Backoff capped at `max`.
    pub fn new(max: Duration) -> Self {
        Backoff {
            next: FIRST_DELAY.min(max),
            max,
        }
    }

    /// The pause to take now; the one after it is twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Starts again from [`FIRST_DELAY`] (after a success).
    pub fn reset(&mut self) {
        self.next = FIRST_DELAY.min(self.max);
    }

    /// Sleeps [`Backoff::next_delay`], or returns [`Cancelled`] as soon as
    /// `shutdown` is cancelled.
    pub async fn pause(&mut self, shutdown: &CancellationToken) -> Result<(), Cancelled> {
        let delay = self.next_delay();
        tokio::select! {
            () = shutdown.cancelled() => Err(Cancelled),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }
}

/// Runs `operation` until it succeeds or fails with an error that
/// `is_transient` says will not go away by waiting; each transient failure is
/// logged as a WARN naming `what`, then waited out with [`Backoff`].
pub async fn while_transient<T, E, F, Fut>(
    what: &str,
    max_delay: Duration,
    is_transient: impl Fn(&E) -> bool,
    mut operation: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(max_delay);
    loop {
        match operation().await {
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "{what}: unavailable; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_to_the_first() {
        let mut backoff = Backoff::new(Duration::from_millis(500));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), FIRST_DELAY);
    }

    #[test]
    fn a_cap_below_the_first_delay_is_kept() {
        let mut backoff = Backoff::new(Duration::from_millis(20));
        assert_eq!(backoff.next_delay(), Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_pause_ends_at_once_on_shutdown() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut backoff = Backoff::new(Duration::from_secs(3600));
        backoff.next_delay();
        assert_eq!(backoff.pause(&shutdown).await, Err(Cancelled));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_others_returned() {
        let mut calls = 0;
        let outcome: Result<u32, String> = while_transient(
            "test",
            DEFAULT_MAX_DELAY,
            |e: &String| e == "down",
            || {
                calls += 1;
                let result = match calls {
                    1 | 2 => Err("down".to_owned()),
                    _ => Ok(calls),
                };
                async move { result }
            },
        )
        .await;
        assert_eq!(outcome, Ok(3));
        let failed: Result<(), String> = while_transient(
            "test",
            DEFAULT_MAX_DELAY,
            |e: &String| e == "down",
            || async { Err("bad".to_owned()) },
        )
        .await;
        assert_eq!(failed, Err("bad".to_owned()));
    }
}
