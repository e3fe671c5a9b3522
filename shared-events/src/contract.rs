//! The published description of the contract: a JSON Schema of the record value
//! and an AsyncAPI document of the topic, both generated from the Rust types.
//!
//! The generated documents are checked in under `contract/`, for consumers that do
//! not compile against this crate; a test fails when they drift from the types
//! (run it with `UPDATE_CONTRACT=1` to rewrite them).

use serde_json::{Value, json};
use utoipa::openapi::{ComponentsBuilder, RefOr, Schema};

use crate::customer::{Address, AddressType, Contact, Name};
use crate::envelope::{DATA_CONTENT_TYPE, SPEC_VERSION, STRUCTURED_CONTENT_TYPE};
use crate::event::{CustomerChangeEvent, CustomerChangeType, SOURCE};
use crate::topics::{self, headers};

/// File name of the JSON Schema under `contract/`.
pub const SCHEMA_FILE: &str = "customer-change-event.schema.json";

/// Where the released versions of the JSON Schema are kept, relative to the
/// crate: `NNNN.schema.json`, oldest first. The compatibility gate
/// (`tests/compatibility.rs`) checks the current schema against each.
pub const HISTORY_DIR: &str = "contract/history/customer-change-event";

/// File name of the AsyncAPI document under `contract/`.
pub const ASYNCAPI_FILE: &str = "asyncapi.json";

/// `$id` of the JSON Schema.
const SCHEMA_ID: &str = "https://cqrs-platform.example/contract/customer-change-event.schema.json";

/// The data types' schemas, keyed by name, with references between them
/// pointing into `$defs`.
fn definitions() -> serde_json::Map<String, Value> {
    let components = ComponentsBuilder::new()
        .schema_from::<CustomerChangeEvent>()
        .schema_from::<Name>()
        .schema_from::<Contact>()
        .schema_from::<Address>()
        // Readers keep address types they do not know (a tolerant reader),
        // so the contract lists them as extensible rather than closed.
        .schema("AddressType", AddressType::extensible_schema())
        .build();
    components
        .schemas
        .into_iter()
        .map(|(name, schema): (String, RefOr<Schema>)| {
            let mut value = serde_json::to_value(schema).unwrap_or_default();
            rewrite_refs(&mut value);
            (name, value)
        })
        .collect()
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

/// JSON Schema (2020-12) of a record value on the customer change topic: the
/// CloudEvents envelope with a `CustomerChangeEvent` as `data`.
pub fn json_schema() -> Value {
    let types: Vec<&str> = CustomerChangeType::ALL.iter().map(|t| t.as_str()).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "CustomerChangeEvent",
        "description": "A customer's full state after a change, in a CloudEvents 1.0 structured-mode envelope. \
                        The record key is the customer id; `subject` and `data.id` equal it.",
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
            "data": { "$ref": "#/$defs/CustomerChangeEvent" }
        },
        "$defs": definitions(),
    })
}

/// AsyncAPI 3.0 document of the customer change topic and its dead-letter topic.
pub fn asyncapi() -> Value {
    let payload = json!({
        "schemaFormat": "application/schema+json;version=draft-2020-12",
        "schema": { "$ref": format!("./{SCHEMA_FILE}") }
    });
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
    for change in CustomerChangeType::ALL {
        let name = change.as_str().replace('.', "_");
        messages.insert(
            name,
            json!({
                "name": change.as_str(),
                "title": format!("CloudEvents type {}", change.as_str()),
                "contentType": STRUCTURED_CONTENT_TYPE,
                "headers": record_headers,
                "payload": payload,
                "bindings": { "kafka": { "key": key, "bindingVersion": "0.5.0" } }
            }),
        );
    }
    let message_refs: serde_json::Map<String, Value> = messages
        .keys()
        .map(|name| {
            (
                name.clone(),
                json!({ "$ref": format!("#/components/messages/{name}") }),
            )
        })
        .collect();
    let channel_refs: Vec<Value> = messages
        .keys()
        .map(|name| json!({ "$ref": format!("#/channels/customerChange/messages/{name}") }))
        .collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Customer change events",
            "version": "1.0.0",
            "description": "Event-carried state transfer of customers from the accounts service. \
                            The topic is the event store: infinite retention, not compacted; \
                            replaying it from offset 0 rebuilds any replica."
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "channels": {
            "customerChange": {
                "address": topics::CUSTOMER_CHANGE,
                "description": "Every change of every customer, keyed by customer id, in version order per customer.",
                "messages": message_refs,
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
            }
        },
        "operations": {
            "publishCustomerChange": {
                "action": "send",
                "channel": { "$ref": "#/channels/customerChange" },
                "summary": "The accounts service's outbox relay publishes each change after it is stored.",
                "messages": channel_refs
            },
            "replicateCustomerChange": {
                "action": "receive",
                "channel": { "$ref": "#/channels/customerChange" },
                "summary": format!(
                    "The orders service (consumer group {}) applies each change whose version is newer than its replica's.",
                    topics::ORDERS_CONSUMER_GROUP
                ),
                "messages": channel_refs
            }
        },
        "components": { "messages": messages }
    })
}
