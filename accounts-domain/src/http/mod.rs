//! HTTP API of the accounts service.

mod error;
pub mod routes;

pub use error::ApiError;
pub use routes::{ApiDoc, AppState, router};
