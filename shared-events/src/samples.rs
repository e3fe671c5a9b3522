//! The golden samples under `samples/`, compiled in so that API documentation can
//! show real events and the tests can check them.

/// A `created` event of the seed's sample customer.
pub const CUSTOMER_CREATED: &str = include_str!("../samples/customer-created.json");

/// An `updated` event with the optional fields absent.
pub const CUSTOMER_UPDATED: &str = include_str!("../samples/customer-updated.json");
