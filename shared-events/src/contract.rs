//! The published description of the contract: a JSON Schema of the record value
//! and an AsyncAPI document of the topic, both generated from the Rust types.
//!
//! The generated documents are checked in under `contract/`, for consumers that do
//! not compile against this crate; a test fails when they drift from the types
//! (run it with `UPDATE_CONTRACT=1` to rewrite them).

use serde_json::{Value, json};
use utoipa::openapi::{ComponentsBuilder, RefOr, Schema};

use crate::crypto::{Sealed, WrappedKey};
use crate::customer::{Address, AddressType, Contact, Name};
use crate::envelope::{DATA_CONTENT_TYPE, SPEC_VERSION, STRUCTURED_CONTENT_TYPE};
use crate::event::{CustomerChangeEvent, CustomerChangeType, SOURCE};
use crate::sealed::{PersonalData, SealedChangeType, SealedCustomerChange};
use crate::topics::{self, headers};

/// File name of the JSON Schema of version 1 (plaintext) under `contract/`.
pub const SCHEMA_FILE: &str = "customer-change-event.schema.json";

/// File name of the JSON Schema of version 2 (sealed) under `contract/`.
pub const SEALED_SCHEMA_FILE: &str = "customer-change-event.v2.schema.json";

/// File name of the JSON Schema of a keys topic record under `contract/`.
pub const KEY_SCHEMA_FILE: &str = "customer-key.schema.json";

/// File name of the AsyncAPI document under `contract/`.
pub const ASYNCAPI_FILE: &str = "asyncapi.json";

/// `$id` of the schemas, after the file name.
const SCHEMA_BASE: &str = "https://cqrs-platform.example/contract/";

/// One schema of the contract and the directory of its releases.
pub struct Subject {
    /// The schema's file under `contract/`.
    pub file: &'static str,
    /// Where its released versions are kept, relative to the crate:
    /// `NNNN.schema.json`, oldest first. The compatibility gate
    /// (`tests/compatibility.rs`) checks the current schema against each.
    pub history: &'static str,
    /// The current schema, generated from the types.
    pub schema: fn() -> Value,
}

/// Every schema of the contract. A breaking change to one of them is a new
/// subject (new event types), never a new release of an existing one.
pub const SUBJECTS: [Subject; 3] = [
    Subject {
        file: SCHEMA_FILE,
        history: "contract/history/customer-change-event",
        schema: json_schema,
    },
    Subject {
        file: SEALED_SCHEMA_FILE,
        history: "contract/history/customer-change-event.v2",
        schema: sealed_json_schema,
    },
    Subject {
        file: KEY_SCHEMA_FILE,
        history: "contract/history/customer-key",
        schema: key_json_schema,
    },
];

/// The data types' schemas, keyed by name, with references between them
/// pointing into `$defs`.
fn definitions(components: ComponentsBuilder) -> serde_json::Map<String, Value> {
    components
        .build()
        .schemas
        .into_iter()
        .map(|(name, schema): (String, RefOr<Schema>)| {
            let mut value = serde_json::to_value(schema).unwrap_or_default();
            rewrite_refs(&mut value);
            (name, value)
        })
        .collect()
}

/// The customer value types, with the address type extensible: readers keep
/// address types they do not know (a tolerant reader).
fn customer_types(components: ComponentsBuilder) -> ComponentsBuilder {
    components
        .schema_from::<Name>()
        .schema_from::<Contact>()
        .schema_from::<Address>()
        .schema("AddressType", AddressType::extensible_schema())
}

/// utoipa writes OpenAPI references; a standalone schema keeps them in `$defs`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                *target = target.replace("#/components/schemas/", "#/$defs/");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// A JSON Schema (2020-12) of a CloudEvents envelope of `types` whose `data`
/// is `$defs/{data}`.
fn envelope_schema(
    file: &str,
    title: &str,
    description: &str,
    types: Vec<&str>,
    data: &str,
    defs: serde_json::Map<String, Value>,
) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{SCHEMA_BASE}{file}"),
        "title": title,
        "description": description,
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
        "properties": {
            "specversion": { "const": SPEC_VERSION },
            "id": { "type": "string", "format": "uuid",
                    "description": "Unique per event; a republished event keeps its id." },
            "source": { "const": SOURCE },
            "type": { "enum": types },
            "subject": { "type": "string", "minLength": 1, "description": "The customer id." },
            "time": { "type": "string", "format": "date-time" },
            "datacontenttype": { "const": DATA_CONTENT_TYPE },
            "data": { "$ref": format!("#/$defs/{data}") }
        },
        "$defs": defs,
    })
}

/// JSON Schema of a version 1 record value on the customer change topic: the
/// CloudEvents envelope with a plaintext `CustomerChangeEvent` as `data`.
pub fn json_schema() -> Value {
    envelope_schema(
        SCHEMA_FILE,
        "CustomerChangeEvent",
        "A customer's full state after a change, in a CloudEvents 1.0 structured-mode envelope. \
         The record key is the customer id; `subject` and `data.id` equal it.",
        CustomerChangeType::ALL.iter().map(|t| t.as_str()).collect(),
        "CustomerChangeEvent",
        definitions(customer_types(
            ComponentsBuilder::new().schema_from::<CustomerChangeEvent>(),
        )),
    )
}

/// JSON Schema of a version 2 record value on the customer change topic: the
/// personal fields sealed with the customer's data key; the erasure event.
/// `PersonalData` describes the sealed plaintext.
pub fn sealed_json_schema() -> Value {
    envelope_schema(
        SEALED_SCHEMA_FILE,
        "SealedCustomerChange",
        "A customer's state after a change, with the personal fields (name, contact, addresses) \
         encrypted with the customer's data key (AES-256-GCM; `personal.keyId` names the key on \
         the keys topic; the associated data is the customer id and the version, joined by a \
         newline). `personal` decrypts to a `PersonalData` JSON document. \
         accounts.customer.erased.v1 carries no `personal`; its data key is gone.",
        SealedChangeType::ALL.iter().map(|t| t.as_str()).collect(),
        "SealedCustomerChange",
        definitions(customer_types(
            ComponentsBuilder::new()
                .schema_from::<SealedCustomerChange>()
                .schema_from::<Sealed>()
                .schema_from::<PersonalData>(),
        )),
    )
}

/// JSON Schema of a record value on the keys topic: a customer's data key,
/// wrapped with the key-encryption key. A tombstone (no value) erases it.
pub fn key_json_schema() -> Value {
    let mut defs = definitions(ComponentsBuilder::new().schema_from::<WrappedKey>());
    let mut schema = defs.remove("WrappedKey").unwrap_or_default();
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert(
            "$id".into(),
            json!(format!("{SCHEMA_BASE}{KEY_SCHEMA_FILE}")),
        );
        map.insert("title".into(), json!("WrappedKey"));
        map.insert(
            "description".into(),
            json!(
                "A customer's data key, wrapped (AES-256-GCM) with the key-encryption key `kekId`; \
                   the associated data is the customer id and the key id, joined by a newline. \
                   The record key is the customer id; a record without a value (a tombstone) \
                   means the key was erased."
            ),
        );
    }
    schema
}

/// AsyncAPI 3.0 document of the customer change topic, its dead-letter
/// topic, the state topic and the keys topic.
pub fn asyncapi() -> Value {
    let messages = messages();
    let change: Vec<String> = messages
        .keys()
        .filter(|name| *name != KEY_MESSAGE)
        .cloned()
        .collect();
    let sealed: Vec<String> = SealedChangeType::ALL
        .iter()
        .map(|t| t.as_str().replace('.', "_"))
        .collect();
    let keys = [KEY_MESSAGE.to_owned()];
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Customer change events",
            "version": "2.0.0",
            "description": "Event-carried state transfer of customers from the accounts service. \
                            The change topic is the event store: infinite retention, not compacted; \
                            replaying it from offset 0 rebuilds any replica. Since version 2 the \
                            personal fields are sealed with a per-customer data key, published on \
                            the keys topic; erasing a customer deletes its key (crypto-shredding)."
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "channels": channels(&change, &sealed, &keys),
        "operations": operations(&change, &sealed, &keys),
        "components": { "messages": messages }
    })
}

/// The name of the keys topic's message.
const KEY_MESSAGE: &str = "customerKey";

/// The messages: each change event type of version 1 and 2, and the keys
/// topic's record.
fn messages() -> serde_json::Map<String, Value> {
    let record_headers = json!({
        "type": "object",
        "properties": {
            headers::CONTENT_TYPE: { "const": STRUCTURED_CONTENT_TYPE },
            "traceparent": { "type": "string",
                             "description": "W3C trace context of the request that made the change." }
        }
    });
    let key = json!({ "type": "string", "description": "The customer id." });
    let mut messages = serde_json::Map::new();
    let v1 = CustomerChangeType::ALL.map(|t| (t.as_str(), SCHEMA_FILE));
    let v2 = SealedChangeType::ALL.map(|t| (t.as_str(), SEALED_SCHEMA_FILE));
    for (event_type, file) in v1.into_iter().chain(v2) {
        let name = event_type.replace('.', "_");
        messages.insert(
            name,
            json!({
                "name": event_type,
                "title": format!("CloudEvents type {event_type}"),
                "contentType": STRUCTURED_CONTENT_TYPE,
                "headers": record_headers,
                "payload": {
                    "schemaFormat": "application/schema+json;version=draft-2020-12",
                    "schema": { "$ref": format!("./{file}") }
                },
                "bindings": { "kafka": { "key": key, "bindingVersion": "0.5.0" } }
            }),
        );
    }
    messages.insert(
        KEY_MESSAGE.to_owned(),
        json!({
            "name": KEY_MESSAGE,
            "title": "A customer's wrapped data key, or its tombstone",
            "contentType": "application/json",
            "payload": {
                "schemaFormat": "application/schema+json;version=draft-2020-12",
                "schema": { "$ref": format!("./{KEY_SCHEMA_FILE}") }
            },
            "bindings": { "kafka": { "key": key, "bindingVersion": "0.5.0" } }
        }),
    );
    messages
}

/// `$ref`s to the messages `names`.
fn refs(names: &[String]) -> serde_json::Map<String, Value> {
    let refs = names.iter().map(|name| {
        let to = json!({ "$ref": format!("#/components/messages/{name}") });
        (name.clone(), to)
    });
    refs.collect()
}

/// The four topics, with the messages each carries: `change` (every change
/// event type), `sealed` (those of version 2) and `keys`.
fn channels(change: &[String], sealed: &[String], keys: &[String]) -> Value {
    json!({
        "customerChange": {
            "address": topics::CUSTOMER_CHANGE,
            "description": "Every change of every customer, keyed by customer id, in version order per customer. \
                            Version 1 (plaintext) and version 2 (sealed) records side by side.",
            "messages": refs(change),
            "bindings": { "kafka": {
                "topicConfiguration": { "retention.ms": -1, "cleanup.policy": ["delete"] },
                "bindingVersion": "0.5.0"
            } }
        },
        "customerChangeDeadLetters": {
            "address": topics::CUSTOMER_CHANGE_DLT,
            "description": format!(
                "Records of {} that a consumer could not decode or apply, unchanged, with the headers {}, {}, {}, {} and {}.",
                topics::CUSTOMER_CHANGE,
                headers::DLT_REASON,
                headers::DLT_ORIGINAL_TOPIC,
                headers::DLT_ORIGINAL_PARTITION,
                headers::DLT_ORIGINAL_OFFSET,
                headers::DLT_TIME
            )
        },
        "customerState": {
            "address": topics::CUSTOMER_STATE,
            "description": "Each customer's newest state: the record value of its newest change event \
                            (version 2), keyed by customer id, published before the events it covers. \
                            An erased customer's state is its erasure event, which holds no personal data. \
                            A rebuild from it reads one record per customer.",
            "messages": refs(sealed),
            "bindings": { "kafka": {
                "topicConfiguration": { "cleanup.policy": ["compact"] },
                "bindingVersion": "0.5.0"
            } }
        },
        "customerKeys": {
            "address": topics::CUSTOMER_KEYS,
            "description": "Each customer's data key, wrapped with the key-encryption key, keyed by customer id; \
                            published before the first event sealed with it. A tombstone erases the key.",
            "messages": refs(keys),
            "bindings": { "kafka": {
                "topicConfiguration": { "cleanup.policy": ["compact"] },
                "bindingVersion": "0.5.0"
            } }
        }
    })
}

/// Who sends and who receives on each channel.
fn operations(change: &[String], sealed: &[String], keys: &[String]) -> Value {
    json!({
        "publishCustomerChange": operation("send", "customerChange",
            "The accounts service's outbox relay publishes each change after it is stored.".to_owned(),
            change),
        "replicateCustomerChange": operation("receive", "customerChange",
            format!(
                "The orders service (consumer group {}) applies each change whose version is newer than its replica's.",
                topics::ORDERS_CONSUMER_GROUP
            ),
            change),
        "publishCustomerState": operation("send", "customerState",
            "The outbox relay publishes a customer's newest state before the events of each batch.".to_owned(),
            sealed),
        "rebuildFromState": operation("receive", "customerState",
            "`orders-domain rebuild --from-state` reads the whole topic into a new replica generation.".to_owned(),
            sealed),
        "publishCustomerKey": operation("send", "customerKeys",
            "The outbox relay publishes a customer's key before the first event sealed with it, and its tombstone on erasure.".to_owned(),
            keys),
        "cacheCustomerKey": operation("receive", "customerKeys",
            "The orders service reads the whole topic into its key cache, and follows it.".to_owned(),
            keys)
    })
}

/// An operation `action` on `channel` with the messages `names`.
fn operation(action: &str, channel: &str, summary: String, names: &[String]) -> Value {
    let messages: Vec<Value> = names
        .iter()
        .map(|name| json!({ "$ref": format!("#/channels/{channel}/messages/{name}") }))
        .collect();
    json!({
        "action": action,
        "channel": { "$ref": format!("#/channels/{channel}") },
        "summary": summary,
        "messages": messages
    })
}
