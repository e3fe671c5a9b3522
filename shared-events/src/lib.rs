//! The event contract between the accounts service (producer) and the orders
//! service (consumer).
//!
//! Both services compile against these types, so a change here is a change of the
//! wire contract: the golden files under `samples/` pin the JSON shape, and the tests
//! in this crate fail when the serialized form drifts from them.

pub mod compatibility;
pub mod contract;
pub mod crypto;
pub mod customer;
pub mod envelope;
pub mod event;
pub mod fields;
pub mod samples;
pub mod sealed;
pub mod topics;
pub mod upcast;

pub use customer::{Address, AddressType, Contact, Name};
pub use envelope::{CloudEvent, DecodeError};
pub use event::{CustomerChangeEnvelope, CustomerChangeEvent, CustomerChangeType};
pub use sealed::{PersonalData, SealedChangeEnvelope, SealedChangeType, SealedCustomerChange};
pub use upcast::{ChangeKind, CustomerChange, CustomerEventType, CustomerRecord};
