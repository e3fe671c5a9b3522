//! Customer domain types and rules, without I/O.
//!
//! Input becomes a [`CustomerSubmission`] only through [`CustomerSubmission::parse`],
//! so code past the HTTP layer never sees an unchecked field or a full card number.

mod card;
mod customer;

pub use card::{CardType, MaskedCard, RawCard};
pub use customer::{ChangeOutcome, Customer, CustomerProfile, CustomerSubmission, RawCustomer};
pub use shared_events::fields::{CustomerId, Email};
