//! The local stack without Docker, as a library: installing and supervising the
//! Kafka-protocol broker (tansu) and the MongoDB-protocol server (nx-27017), and
//! the `up` and `test` commands of the `devstack` binary. The servers as child
//! processes are the `local-servers` crate, which tests use without this one.

#[cfg(feature = "containers")]
pub mod containers;
pub mod contracts;
pub mod install;
pub mod lint;
pub mod newman;
pub mod schemathesis;
pub mod stack;

pub use local_servers::{process, servers};
