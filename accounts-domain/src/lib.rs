//! The accounts service: system of record for customers.
//!
//! A customer write and the `CustomerChangeEvent` announcing it are stored in one
//! atomic MongoDB write (the event sits in an outbox embedded in the customer
//! document); the [`messaging::OutboxRelay`] publishes pending events to Kafka and
//! removes them only after the broker acknowledged them.

pub mod domain;
pub mod examples;
pub mod http;
pub mod messaging;
pub mod settings;
pub mod startup;
pub mod store;

pub use settings::Settings;
pub use startup::{Application, build};
