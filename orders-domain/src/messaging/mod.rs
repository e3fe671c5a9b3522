//! Kafka side of the orders service.

pub mod applied;
mod dead_letter;
pub mod keys;
pub mod lag;
pub mod offsets;
mod projector;
mod rebuild;
mod redrive;

pub use applied::{AppliedFeed, VersionRead};
pub use dead_letter::DeadLetterPublisher;
pub use keys::KeyRing;
pub use lag::{LagWatchdog, ProjectorContext, ProjectorStatus};
pub use offsets::topic_ends;
pub use projector::{ProjectorReport, ReplicaProjector};
pub use rebuild::{Progress, RebuildRefused, RebuildReport, Source, rebuild, verify_rebuild};
pub use redrive::redrive_dead_letters;
