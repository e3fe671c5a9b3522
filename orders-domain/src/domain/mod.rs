//! Rules of the customer replica and of orders, without I/O.

pub mod order;
mod replica;

pub use replica::ApplyOutcome;
