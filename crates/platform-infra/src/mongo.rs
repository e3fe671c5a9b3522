//! MongoDB client setup with the official driver.

use std::time::Duration;

use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use secrecy::ExposeSecret;

use crate::config::MongoSettings;

/// MongoDB's error code for a duplicate key.
pub const DUPLICATE_KEY: i32 = 11000;

/// Connects (lazily: the driver opens sockets on first use) and returns the
/// configured database. With `count_commands`, every command the driver
/// sends is counted in `mongodb_commands_total{command}` (command
/// monitoring): round trips per operation, as the benchmark reports them.
pub async fn connect(settings: &MongoSettings, app_name: &str) -> Result<Database, Error> {
    let mut options = ClientOptions::parse(settings.uri.expose_secret()).await?;
    options.app_name = Some(app_name.to_owned());
    if settings.count_commands {
        // The driver copies each command into the event it hands over.
        options.command_event_handler = Some(EventHandler::callback(|event| {
            if let CommandEvent::Started(started) = event {
                metrics::counter!("mongodb_commands_total", "command" => started.command_name)
                    .increment(1);
            }
        }));
    }
    options.server_selection_timeout =
        Some(Duration::from_millis(settings.server_selection_timeout_ms));
    let client = Client::with_options(options)?;
    Ok(client.database(&settings.database))
}

/// Whether `error` is a duplicate-key write error.
pub fn is_duplicate_key(error: &Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// Whether `error` is an unordered `insert_many` whose only failures were
/// duplicate keys: every other document was inserted.
pub fn only_duplicate_keys(error: &Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::InsertMany(e) => {
            e.write_concern_error.is_none()
                && e.write_errors
                    .as_ref()
                    .is_some_and(|errors| errors.iter().all(|w| w.code == DUPLICATE_KEY))
        }
        _ => is_duplicate_key(error),
    }
}

/// Whether `error` means MongoDB could not be reached or is failing over, so the
/// same operation can succeed later, as opposed to an error in the request.
pub fn is_transient(error: &Error) -> bool {
    matches!(
        error.kind.as_ref(),
        ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
    ) || error.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
}
