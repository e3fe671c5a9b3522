//! Rules of the customer replica, without I/O.

mod replica;

pub use replica::{ApplyOutcome, VersionGuard};
