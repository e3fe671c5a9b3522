//! The local stack without Docker, as a library: installing and supervising the
//! Kafka-protocol broker (tansu) and the MongoDB-protocol server (nx-27017), and
//! the `up` and `test` commands of the `devstack` binary. Tests use
//! [`servers::LocalServer`] to start private servers they can kill and restart.

#[cfg(feature = "containers")]
pub mod containers;
pub mod contracts;
pub mod install;
pub mod lint;
pub mod newman;
pub mod process;
pub mod schemathesis;
pub mod servers;
pub mod stack;
