//! Version 2 of the change events: the personal fields sealed with the
//! customer's data key ([`crate::crypto`]), and the erasure event.
//!
//! Only `id`, `version`, the type and the time stay in clear, so record keys,
//! ordering and routing are those of version 1. A consumer reads version 1
//! and version 2 side by side through [`crate::upcast`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{CryptoError, DataKey, Sealed};
use crate::customer::{Address, Contact, Name};
use crate::envelope::{CloudEvent, DecodeError};
use crate::event::{CustomerChangeEnvelope, CustomerChangeType, accounts_event};

/// A customer's personal fields: what a sealed event encrypts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonalData {
    pub name: Name,
    pub contact: Contact,
    pub addresses: Vec<Address>,
}

/// The CloudEvents types of the sealed contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SealedChangeType {
    #[serde(rename = "accounts.customer.created.v2")]
    Created,
    #[serde(rename = "accounts.customer.updated.v2")]
    Updated,
    /// The customer was deleted; the sealed data is its last state.
    #[serde(rename = "accounts.customer.deleted.v2")]
    Deleted,
    /// The customer's personal data was erased: no personal data, and the
    /// data key is gone.
    #[serde(rename = "accounts.customer.erased.v1")]
    Erased,
}

impl SealedChangeType {
    /// Every type of the sealed contract.
    pub const ALL: [SealedChangeType; 4] = [
        SealedChangeType::Created,
        SealedChangeType::Updated,
        SealedChangeType::Deleted,
        SealedChangeType::Erased,
    ];

    /// The CloudEvents `type` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            SealedChangeType::Created => "accounts.customer.created.v2",
            SealedChangeType::Updated => "accounts.customer.updated.v2",
            SealedChangeType::Deleted => "accounts.customer.deleted.v2",
            SealedChangeType::Erased => "accounts.customer.erased.v1",
        }
    }

    /// Parses a CloudEvents `type` attribute.
    pub fn parse(value: &str) -> Option<Self> {
        SealedChangeType::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
    }

    /// The version 2 type of a version 1 change.
    pub fn of(change: CustomerChangeType) -> Self {
        match change {
            CustomerChangeType::Created => SealedChangeType::Created,
            CustomerChangeType::Updated => SealedChangeType::Updated,
            CustomerChangeType::Deleted => SealedChangeType::Deleted,
        }
    }
}

/// A customer change with its personal fields sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedCustomerChange {
    /// The customer id, also the Kafka record key and the CloudEvents `subject`.
    pub id: String,
    /// Starts at 1 and grows by exactly 1 per change of this customer.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The [`PersonalData`] as JSON, sealed with the customer's data key and
    /// bound to `id` and `version`. Absent in `accounts.customer.erased.v1`
    /// only.
    // Absent rather than null: no `oneOf` with `null` in the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Sealed)]
    pub personal: Option<Sealed>,
}

/// A [`SealedCustomerChange`] in its CloudEvents envelope.
pub type SealedChangeEnvelope = CloudEvent<SealedCustomerChange, SealedChangeType>;

/// What sealed personal data is bound to: the customer and the version.
pub fn personal_aad(id: &str, version: i64) -> Vec<u8> {
    format!("{id}\n{version}").into_bytes()
}

impl SealedChangeEnvelope {
    /// `change` with its personal fields sealed with `key`: the same event id,
    /// time and version.
    pub fn seal(change: &CustomerChangeEnvelope, key: &DataKey) -> Result<Self, CryptoError> {
        let data = &change.data;
        let personal = PersonalData {
            name: data.name.clone(),
            contact: data.contact.clone(),
            addresses: data.addresses.clone(),
        };
        // Plain structs with string keys always serialize.
        let plaintext = serde_json::to_vec(&personal).unwrap_or_default();
        let sealed = key.seal(&personal_aad(&data.id, data.version), &plaintext)?;
        Ok(Self::new(
            SealedChangeType::of(change.event_type),
            change.id,
            change.time,
            SealedCustomerChange {
                id: data.id.clone(),
                version: data.version,
                personal: Some(sealed),
            },
        ))
    }

    /// The erasure of customer `id` at `version`.
    pub fn erased(id: &str, version: i64, time: DateTime<Utc>) -> Self {
        Self::new(
            SealedChangeType::Erased,
            Uuid::new_v4(),
            time,
            SealedCustomerChange {
                id: id.to_owned(),
                version,
                personal: None,
            },
        )
    }

    fn new(
        event_type: SealedChangeType,
        id: Uuid,
        time: DateTime<Utc>,
        data: SealedCustomerChange,
    ) -> Self {
        let subject = data.id.clone();
        accounts_event(event_type, id, subject, time, data)
    }

    /// Decodes a record value and checks it against the contract: known type,
    /// non-empty id equal to the subject, version ≥ 1, sealed personal data
    /// unless erased and none if erased.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let event = Self::from_json_slice(bytes)?;
        crate::event::check_identity(&event.subject, &event.data.id, event.data.version)?;
        let erased = event.event_type == SealedChangeType::Erased;
        if erased == event.data.personal.is_some() {
            return Err(DecodeError::Invalid(format!(
                "{} {} personal data",
                event.event_type.as_str(),
                if erased {
                    "must not carry"
                } else {
                    "must carry"
                }
            )));
        }
        Ok(event)
    }

    /// The personal data, opened with `key`.
    pub fn open(&self, key: &DataKey) -> Result<Option<PersonalData>, DecodeError> {
        let Some(sealed) = &self.data.personal else {
            return Ok(None);
        };
        let plaintext = key
            .open(&personal_aad(&self.data.id, self.data.version), sealed)
            .map_err(|e| DecodeError::Invalid(format!("personal data cannot be opened: {e}")))?;
        serde_json::from_slice(&plaintext)
            .map(Some)
            .map_err(|e| DecodeError::Invalid(format!("opened personal data is not valid: {e}")))
    }
}
