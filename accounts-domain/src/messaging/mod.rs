//! Kafka side of the accounts service.

mod relay;

pub use relay::{OutboxRelay, OutboxStatus, RelayReport};
