//! What applying a change event to the replica can do. The version guard that
//! decides it (only a strictly newer version changes anything) is the filter of
//! the replica's conditional write in `store::replica`.

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
