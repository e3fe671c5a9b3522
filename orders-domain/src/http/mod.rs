//! HTTP API of the orders service.

mod error;
mod routes;

pub use error::ApiError;
pub use routes::{ApiDoc, AppState, CustomerOrdersResponse, router};
