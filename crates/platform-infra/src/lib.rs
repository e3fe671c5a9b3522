//! Infrastructure that both services share, so that each service crate holds only
//! its own domain, HTTP routes, store and messaging code.

pub mod auth;
pub mod config;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod json;
pub mod kafka;
pub mod metrics;
pub mod mongo;
pub mod paging;
pub mod problem;
pub mod profile;
pub mod query;
pub mod retry;
pub mod service;
pub mod shutdown;
pub mod supervisor;
pub mod telemetry;
pub mod trace_context;

pub use problem::{FieldError, Problem};
