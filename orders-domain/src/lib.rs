//! The orders service: system of record for orders, with a local replica of the
//! customer data it needs, kept current by consuming `CustomerChangeEvent`s.
//!
//! The [`messaging::ReplicaProjector`] applies an event only when its version is
//! newer than the replica's, writes only the replicated customer fields (never the
//! orders this service owns), and lets its consumer offset advance only after the
//! MongoDB write succeeded.

pub mod domain;
pub mod http;
pub mod messaging;
pub mod settings;
pub mod startup;
pub mod store;

pub use settings::Settings;
pub use startup::{Application, build};
