//! Read-your-writes across the two services: the projector announces each
//! change it has made durable, and a read that asks for a minimum version
//! (`GET /orders/order/{id}?minVersion=N`) waits for the announcement instead
//! of the client polling.
//!
//! Announcements only reach readers of the same instance. With several orders
//! instances the change may be applied by another one, so a waiting reader also
//! reads the replica again every [`RECHECK`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use platform_infra::paging::Paging;

use crate::store::{CustomerOrders, CustomerOrdersStore, StoreError};

/// How often a waiting reader looks at the replica again without an
/// announcement.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Announcements kept for slow readers; a reader that falls further behind
/// just reads the replica again.
const CAPACITY: usize = 1024;

/// A change made durable in the replica: the customer now has at least this
/// version.
#[derive(Debug, Clone)]
struct Applied {
    customer_id: Arc<str>,
    version: i64,
}

/// The projector's announcements of applied changes.
#[derive(Debug, Clone)]
pub struct AppliedFeed {
    sender: broadcast::Sender<Applied>,
}

impl Default for AppliedFeed {
    fn default() -> Self {
        AppliedFeed {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

/// What a read that must see at least a version found.
#[derive(Debug)]
pub enum VersionRead {
    /// The customer at the version asked for or newer.
    Found(Box<CustomerOrders>),
    /// Not in the replica by the deadline.
    Missing,
    /// In the replica by the deadline, but at this older version.
    Behind(i64),
}

impl AppliedFeed {
    /// Reads `customer_id` (with a page of its orders) from `store` until it
    /// is at `wanted` or newer, or
    /// `wait` has passed, reading again on each announcement of a change to it
    /// (and every [`RECHECK`]).
    pub async fn read_at_least(
        &self,
        store: &CustomerOrdersStore,
        customer_id: &str,
        orders: Paging,
        wanted: i64,
        wait: Duration,
    ) -> Result<VersionRead, StoreError> {
        let deadline = Instant::now() + wait;
        let mut watch = self.subscribe();
        loop {
            let found = store.get(customer_id, orders).await?;
            match found {
                Some(c) if c.customer.version >= wanted => {
                    return Ok(VersionRead::Found(Box::new(c)));
                }
                found if Instant::now() >= deadline => {
                    return Ok(found.map_or(VersionRead::Missing, |c| {
                        VersionRead::Behind(c.customer.version)
                    }));
                }
                _ => watch.next(customer_id, wanted, deadline).await,
            }
        }
    }

    /// Announces that `customer_id` is at `version` or newer in the replica.
    pub fn announce(&self, customer_id: &str, version: i64) {
        // No receiver is the common case: nobody is waiting.
        let _ = self.sender.send(Applied {
            customer_id: customer_id.into(),
            version,
        });
    }

    /// Starts listening. Subscribe before reading the replica, so that a change
    /// applied between the read and the wait is not missed.
    pub fn subscribe(&self) -> AppliedWatch {
        AppliedWatch {
            receiver: self.sender.subscribe(),
        }
    }
}

/// One reader's subscription.
pub struct AppliedWatch {
    receiver: broadcast::Receiver<Applied>,
}

impl AppliedWatch {
    /// Waits until `customer_id` is announced at `version` or newer, until
    /// [`RECHECK`] has passed, or until `deadline`, whichever comes first. The
    /// caller reads the replica again in every case: the announcement is a
    /// hint, the replica is the truth.
    pub async fn next(&mut self, customer_id: &str, version: i64, deadline: Instant) {
        let until = deadline.min(Instant::now() + RECHECK);
        let announced = async {
            loop {
                match self.receiver.recv().await {
                    Ok(a) if &*a.customer_id == customer_id && a.version >= version => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        let _ = tokio::time::timeout_at(until, announced).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_matching_announcement_ends_the_wait_at_once() {
        let feed = AppliedFeed::default();
        let mut watch = feed.subscribe();
        feed.announce("other", 9);
        feed.announce("42", 2);
        feed.announce("42", 3);
        let started = Instant::now();
        watch.next("42", 3, started + Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_announcement_the_wait_ends_at_the_recheck_or_deadline() {
        let feed = AppliedFeed::default();
        let mut watch = feed.subscribe();
        feed.announce("42", 2);
        let started = Instant::now();
        watch.next("42", 3, started + Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), RECHECK);
        let started = Instant::now();
        watch
            .next("42", 3, started + Duration::from_millis(50))
            .await;
        assert_eq!(started.elapsed(), Duration::from_millis(50));
    }
}
