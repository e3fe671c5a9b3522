//! Orders service tests: events produced onto a real topic, the replica read
//! back through the HTTP API and the MongoDB driver.

mod helpers;
mod operations;
mod ordering;
mod projection;
mod reads;
mod round_trips;
