//! `CustomerChangeEvent`: the state of a customer after a change, as the accounts
//! service announces it.
//!
//! The event carries the full replicated state (event-carried state transfer), so a
//! consumer never has to call back. Card data is deliberately absent: the orders
//! context has no use for it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::customer::{Address, Contact, Name};
use crate::envelope::{CloudEvent, DATA_CONTENT_TYPE, DecodeError, SPEC_VERSION};

/// CloudEvents `source` of every customer change.
pub const SOURCE: &str = "/accounts";

/// The replicated state of one customer at one `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerChangeEvent {
    /// The customer id, also the Kafka record key and the CloudEvents `subject`.
    pub id: String,
    /// Starts at 1 and grows by exactly 1 per change of this customer.
    // One integer type from the API through Kafka to both databases (BSON
    // Int64), so no conversion can clamp or fail.
    #[schema(minimum = 1)]
    pub version: i64,
    pub name: Name,
    pub contact: Contact,
    pub addresses: Vec<Address>,
}

/// Whether the change created the customer or changed an existing one: the
/// CloudEvents `type` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CustomerChangeType {
    #[serde(rename = "accounts.customer.created.v1")]
    Created,
    #[serde(rename = "accounts.customer.updated.v1")]
    Updated,
    /// The customer was deleted; the data is its last state, at a new version.
    #[serde(rename = "accounts.customer.deleted.v1")]
    Deleted,
}

impl CustomerChangeType {
    /// Every change type of the contract.
    pub const ALL: [CustomerChangeType; 3] = [
        CustomerChangeType::Created,
        CustomerChangeType::Updated,
        CustomerChangeType::Deleted,
    ];

    /// The CloudEvents `type` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerChangeType::Created => "accounts.customer.created.v1",
            CustomerChangeType::Updated => "accounts.customer.updated.v1",
            CustomerChangeType::Deleted => "accounts.customer.deleted.v1",
        }
    }

    /// Parses a CloudEvents `type` attribute.
    pub fn parse(value: &str) -> Option<Self> {
        CustomerChangeType::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
    }
}

/// A [`CustomerChangeEvent`] in its CloudEvents envelope: the record value on
/// [`crate::topics::CUSTOMER_CHANGE`].
pub type CustomerChangeEnvelope = CloudEvent<CustomerChangeEvent, CustomerChangeType>;

impl CustomerChangeEnvelope {
    /// Wraps a change in a new envelope with a fresh event id.
    pub fn customer_change(
        change_type: CustomerChangeType,
        data: CustomerChangeEvent,
        time: DateTime<Utc>,
    ) -> Self {
        let subject = data.id.clone();
        accounts_event(change_type, Uuid::new_v4(), subject, time, data)
    }

    /// Decodes a record value and checks it against the contract: known type,
    /// non-empty id equal to the subject, version ≥ 1.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let event = Self::from_json_slice(bytes)?;
        check_identity(&event.subject, &event.data.id, event.data.version)?;
        Ok(event)
    }
}

/// A CloudEvent from the accounts service about customer `subject`.
pub(crate) fn accounts_event<T, K>(
    event_type: K,
    id: Uuid,
    subject: String,
    time: DateTime<Utc>,
    data: T,
) -> CloudEvent<T, K> {
    CloudEvent {
        specversion: SPEC_VERSION.to_owned(),
        id,
        source: SOURCE.to_owned(),
        event_type,
        subject,
        time,
        datacontenttype: DATA_CONTENT_TYPE.to_owned(),
        data,
    }
}

/// The checks every change event's identity passes, whatever its version:
/// a non-empty id equal to the subject, and a version of at least 1.
pub(crate) fn check_identity(subject: &str, id: &str, version: i64) -> Result<(), DecodeError> {
    if id.trim().is_empty() {
        return Err(DecodeError::Invalid("data.id is empty".into()));
    }
    if subject != id {
        return Err(DecodeError::Invalid(format!(
            "subject {subject:?} differs from data.id {id:?}"
        )));
    }
    if version < 1 {
        return Err(DecodeError::Invalid(
            "data.version must be at least 1".into(),
        ));
    }
    Ok(())
}
