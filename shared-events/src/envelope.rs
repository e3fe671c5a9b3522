//! A CloudEvents 1.0 envelope in structured JSON mode.
//!
//! The whole event, attributes and `data`, is the Kafka record value, with the
//! record header `content-type: application/cloudevents+json`. See
//! <https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md>.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The only CloudEvents version this contract speaks.
pub const SPEC_VERSION: &str = "1.0";

/// Media type of a structured-mode CloudEvent.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// Media type of `data`.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// A CloudEvent carrying `data` of type `T`, whose `type` attribute is a `K`
/// (an enum of the contract's event types, or any string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent<T, K = String> {
    pub specversion: String,
    /// Unique per event; a republished event keeps its id, so consumers can spot
    /// duplicates.
    pub id: Uuid,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: K,
    pub subject: String,
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    pub data: T,
}

/// Why a record could not be read as an event of this contract. The `Display`
/// text is what goes into the dead-letter record's reason header.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record has no value")]
    Empty,
    #[error("value is not a valid event: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unsupported specversion {0:?}")]
    SpecVersion(String),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("invalid event: {0}")]
    Invalid(String),
}

/// Just the `type` attribute, to name an unknown one.
#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    event_type: String,
}

impl<T: DeserializeOwned, K: DeserializeOwned> CloudEvent<T, K> {
    /// Parses a structured-mode JSON value and checks the envelope attributes that
    /// do not depend on `T`. A `type` that is not a `K` is
    /// [`DecodeError::UnknownType`].
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        let event: Self =
            serde_json::from_slice(bytes).map_err(|e| {
                match serde_json::from_slice::<TypeOnly>(bytes) {
                    Ok(t) if serde_json::from_value::<K>(t.event_type.clone().into()).is_err() => {
                        DecodeError::UnknownType(t.event_type)
                    }
                    _ => DecodeError::Malformed(e),
                }
            })?;
        if event.specversion != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(event.specversion));
        }
        Ok(event)
    }
}

impl<T: Serialize, K: Serialize> CloudEvent<T, K> {
    /// The record value: this event as structured-mode JSON.
    pub fn to_json_vec(&self) -> Vec<u8> {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
