//! Examples for the OpenAPI document, derived from the seed's sample body, so the
//! documentation shows what the service really does with it (cards masked,
//! `id` returned as a string, version 1).

use crate::domain::{Customer, CustomerSubmission, RawCustomer};
use crate::http::routes::CustomerResponse;

/// The seed README's sample request body, exactly.
const SEED_CUSTOMER: &str =
    include_str!("../../crates/platform-testkit/fixtures/seed-customer.json");

/// The seed's sample body as a request example.
pub fn seed_customer() -> serde_json::Value {
    serde_json::from_str(SEED_CUSTOMER).unwrap_or_default()
}

/// What creating the seed's sample customer returns.
pub fn seed_customer_response() -> serde_json::Value {
    serde_json::from_str::<RawCustomer>(SEED_CUSTOMER)
        .ok()
        .and_then(|raw| CustomerSubmission::parse(raw).ok())
        .map(|submission| CustomerResponse::from(Customer::create(submission)))
        .and_then(|response| serde_json::to_value(response).ok())
        .unwrap_or_default()
}
