//! Accounts service API tests through a real socket, against the local
//! MongoDB-protocol server and Kafka-protocol broker.

mod auth;
mod customer;
mod health;
mod helpers;
mod limits;
mod outbox;
mod round_trips;
mod telemetry;
