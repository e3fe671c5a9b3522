//! Kafka side of the orders service.

mod dead_letter;
mod projector;

pub use dead_letter::DeadLetterPublisher;
pub use projector::{ProjectorReport, ReplicaProjector};
