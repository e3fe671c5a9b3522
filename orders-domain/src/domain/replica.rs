//! The version guard that makes the projection idempotent and order-safe.

/// What applying one change event did to the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The customer was not in the replica; it is now, at the event's version.
    Inserted,
    /// The replica held an older version and now holds the event's.
    Updated,
    /// The replica already held this version or a newer one: nothing changed.
    Stale,
}

/// Decides whether an event may change the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionGuard {
    pub stored: Option<u64>,
}

impl VersionGuard {
    /// The outcome of applying an event of `incoming` version: only a strictly
    /// newer version changes anything, so duplicates and late redeliveries of
    /// older versions are no-ops.
    pub fn decide(self, incoming: u64) -> ApplyOutcome {
        match self.stored {
            None => ApplyOutcome::Inserted,
            Some(stored) if incoming > stored => ApplyOutcome::Updated,
            Some(_) => ApplyOutcome::Stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_inserts_newer_updates_equal_or_older_is_stale() {
        assert_eq!(
            VersionGuard { stored: None }.decide(3),
            ApplyOutcome::Inserted
        );
        assert_eq!(
            VersionGuard { stored: Some(2) }.decide(3),
            ApplyOutcome::Updated
        );
        assert_eq!(
            VersionGuard { stored: Some(3) }.decide(3),
            ApplyOutcome::Stale
        );
        assert_eq!(
            VersionGuard { stored: Some(3) }.decide(1),
            ApplyOutcome::Stale
        );
    }

    #[test]
    fn any_delivery_order_ends_at_the_highest_version() {
        let deliveries = [2u64, 1, 3, 3, 2, 5, 4, 1];
        let mut stored = None;
        for v in deliveries {
            match (VersionGuard { stored }).decide(v) {
                ApplyOutcome::Inserted | ApplyOutcome::Updated => stored = Some(v),
                ApplyOutcome::Stale => {}
            }
        }
        assert_eq!(stored, Some(5));
    }
}
