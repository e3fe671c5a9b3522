//! `Idempotency-Key` for create endpoints: a retried request with the same key
//! and the same body gets the first response again, without a second effect.
//!
//! The first request with a key claims it (a `pending` record, inserted with
//! the key as `_id`, so exactly one concurrent request wins), runs, and stores
//! its response. Later requests with that key:
//! - same method, path and body, first one finished → its stored response,
//!   with `Idempotent-Replayed: true`;
//! - same, first one still running → 409 with `Retry-After`;
//! - anything else → 422: a key names one request.
//!
//! Only a SHA-256 of the request is kept, never the body (it may hold card
//! numbers). Responses of 5xx are not kept, so the client can retry them with
//! the same key.
//!
//! Records expire: a finished one after `idempotency.retention_ms` (a day by
//! default), a `pending` one (its request crashed with the process) after
//! `idempotency.pending_timeout_ms`. Each record holds its expiry as a BSON
//! date, `expiresAt`, which three things honour: the claim treats an expired
//! record as absent; a TTL index lets MongoDB delete it; and a sweeper task
//! deletes it every `idempotency.sweep_interval_ms`, because the local
//! MongoDB-protocol server (nx-27017 0.8) keeps TTL indexes but never expires
//! anything.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mongodb::bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mongo::is_duplicate_key;
use crate::problem::Problem;
use crate::shutdown::CancellationToken;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on a replayed response.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long keys are remembered (`[idempotency]`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(default)]
pub struct IdempotencySettings {
    /// How long a finished request's key returns its first response.
    pub retention_ms: u64,
    /// How long a request may hold its key before a retry may claim it again
    /// (after a crash); keep it above `http.request_timeout_ms`.
    pub pending_timeout_ms: u64,
    /// How often expired records are deleted.
    pub sweep_interval_ms: u64,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        IdempotencySettings {
            retention_ms: 24 * 60 * 60 * 1000,
            pending_timeout_ms: 60_000,
            sweep_interval_ms: 60_000,
        }
    }
}

/// Largest response body kept for replay.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

const PENDING: &str = "pending";
const DONE: &str = "done";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(rename = "_id")]
    key: String,
    request_hash: String,
    state: String,
    /// When the record stops counting; a record of an older version without
    /// one has expired.
    #[serde(default = "long_expired")]
    expires_at: DateTime,
    #[serde(default)]
    status: i32,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    body: String,
}

/// The epoch: the expiry of a record that has none.
fn long_expired() -> DateTime {
    DateTime::from_millis(0)
}

/// The remembered keys of one service.
#[derive(Debug, Clone)]
pub struct IdempotencyKeys {
    collection: Collection<Record>,
    body_limit: usize,
    settings: IdempotencySettings,
}

impl IdempotencyKeys {
    /// Keys live in `idempotency_keys` of `database`; request bodies over
    /// `body_limit` bytes are refused with 413.
    pub fn new(database: &Database, body_limit: usize, settings: IdempotencySettings) -> Self {
        IdempotencyKeys {
            collection: database.collection("idempotency_keys"),
            body_limit,
            settings,
        }
    }

    /// Creates the TTL index on `expiresAt` (MongoDB deletes a record once
    /// that time has passed).
    pub async fn ensure_index(&self) -> mongodb::error::Result<()> {
        let ttl = IndexModel::builder()
            .keys(doc! { "expiresAt": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::ZERO)
                    .name("expiresAt_ttl".to_owned())
                    .build(),
            )
            .build();
        self.collection.create_index(ttl).await.map(|_| ())
    }

    /// Deletes expired records every `sweep_interval_ms` until `shutdown`;
    /// a failed sweep is logged and tried again at the next interval.
    pub async fn sweep(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.settings.sweep_interval_ms.max(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(interval) => {}
            }
            let expired = doc! { "expiresAt": { "$lt": DateTime::now() } };
            match self.collection.delete_many(expired).await {
                Ok(result) if result.deleted_count > 0 => {
                    tracing::debug!(
                        deleted = result.deleted_count,
                        "expired idempotency keys swept"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot sweep expired idempotency keys"),
            }
        }
    }

    /// `now` plus `ms`.
    fn expiry(ms: u64) -> DateTime {
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        DateTime::from_millis(DateTime::now().timestamp_millis().saturating_add(ms))
    }
}

fn hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn unavailable(error: &mongodb::error::Error) -> Response {
    tracing::warn!(error = %error, "idempotency store unavailable");
    Problem::unavailable("the database is unavailable; nothing was changed, retry later")
        .into_response()
}

fn replay(record: &Record) -> Response {
    let status = u16::try_from(record.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, record.body.clone()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, &record.content_type),
        (header::LOCATION, &record.location),
    ] {
        if let Ok(value) = HeaderValue::from_str(value)
            && !value.is_empty()
        {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Middleware for a create route (see the module documentation).
pub async fn guard(State(keys): State<IdempotencyKeys>, request: Request, next: Next) -> Response {
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let Some(key) = key
        .to_str()
        .ok()
        .filter(|k| valid_key(k))
        .map(str::to_owned)
    else {
        return Problem::status(StatusCode::BAD_REQUEST)
            .with_detail("Idempotency-Key must be 1 to 255 visible ASCII characters")
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, keys.body_limit).await else {
        return Problem::status(StatusCode::PAYLOAD_TOO_LARGE)
            .with_detail(format!("the body exceeds {} bytes", keys.body_limit))
            .into_response();
    };
    let request_hash = hash(parts.method.as_str(), parts.uri.path(), &bytes);
    let claimed = match keys.claim(&key, &request_hash).await {
        Ok(claimed) => claimed,
        Err(answer) => return answer,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    keys.settle(&claimed, response).await
}

impl IdempotencyKeys {
    /// Claims `key` for a request with `request_hash`, or answers in its
    /// place: the first response again, or a problem. An expired record is
    /// removed and the claim tried once more.
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Record, Response> {
        let claim = Record {
            key: key.to_owned(),
            request_hash: request_hash.to_owned(),
            state: PENDING.to_owned(),
            expires_at: Self::expiry(self.settings.pending_timeout_ms),
            status: 0,
            content_type: String::new(),
            location: String::new(),
            body: String::new(),
        };
        for _ in 0..2 {
            match self.collection.insert_one(&claim).await {
                Ok(_) => return Ok(claim),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(unavailable(&e)),
            }
            let existing = match self.collection.find_one(doc! { "_id": key }).await {
                Ok(Some(existing)) => existing,
                Ok(None) => continue,
                Err(e) => return Err(unavailable(&e)),
            };
            if existing.expires_at > DateTime::now() {
                return Err(answer_for(&existing, request_hash));
            }
            let expired = doc! { "_id": key, "expiresAt": existing.expires_at };
            if let Err(e) = self.collection.delete_one(expired).await {
                return Err(unavailable(&e));
            }
        }
        Err(Problem::status(StatusCode::CONFLICT)
            .with_detail("this Idempotency-Key is contended; retry")
            .into_response())
    }

    /// Records `response` under `key` and returns it; a 5xx releases the key
    /// instead, so that the client can retry with it.
    async fn settle(&self, claimed: &Record, response: Response) -> Response {
        // Only this request's own claim: once it expired, a retry may have
        // claimed the key anew.
        let own_claim = doc! {
            "_id": &claimed.key,
            "state": PENDING,
            "requestHash": &claimed.request_hash,
            "expiresAt": claimed.expires_at,
        };
        if response.status().is_server_error() {
            if let Err(e) = self.collection.delete_one(own_claim).await {
                tracing::warn!(error = %e, "cannot release an idempotency key");
            }
            return response;
        }
        let (parts, body) = response.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_RESPONSE_BYTES).await else {
            return Problem::internal().into_response();
        };
        let done = Record {
            key: claimed.key.clone(),
            request_hash: claimed.request_hash.clone(),
            state: DONE.to_owned(),
            expires_at: Self::expiry(self.settings.retention_ms),
            status: i32::from(parts.status.as_u16()),
            content_type: header_text(&parts.headers, header::CONTENT_TYPE),
            location: header_text(&parts.headers, header::LOCATION),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        // A whole-record replace, not `$set`: the local MongoDB-protocol
        // server (nx-27017 0.8) stores a date given to `$set` on an existing
        // document as a string, which no expiry would then match.
        match self.collection.replace_one(own_claim, &done).await {
            Ok(result) if result.matched_count == 0 => tracing::warn!(
                key = %claimed.key,
                "the idempotency claim expired before the request finished; its response is not kept"
            ),
            Ok(_) => {}
            // The effect happened; a retry will see `pending` until the record
            // expires rather than repeat it.
            Err(e) => {
                tracing::warn!(error = %e, "cannot store the response of an idempotent request")
            }
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}

/// The answer to a request whose key a live record holds: the stored
/// response, or why there is none to give.
fn answer_for(existing: &Record, request_hash: &str) -> Response {
    if existing.request_hash != request_hash {
        return Problem::status(StatusCode::UNPROCESSABLE_ENTITY)
            .with_detail("this Idempotency-Key was used for a different request")
            .into_response();
    }
    if existing.state == DONE {
        return replay(existing);
    }
    let mut response = Problem::status(StatusCode::CONFLICT)
        .with_detail("a request with this Idempotency-Key is still in progress")
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(valid_key("order-2026-11-26-0001"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"k".repeat(256)));
    }

    #[test]
    fn the_hash_covers_method_path_and_body() {
        let base = hash("POST", "/a", b"{}");
        assert_eq!(base, hash("POST", "/a", b"{}"));
        assert_ne!(base, hash("POST", "/b", b"{}"));
        assert_ne!(base, hash("PUT", "/a", b"{}"));
        assert_ne!(base, hash("POST", "/a", b"{ }"));
    }
}
