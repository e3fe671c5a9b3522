//! Kafka side of the accounts service.

mod relay;

pub use relay::{OutboxRelay, RelayReport};
