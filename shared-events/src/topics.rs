//! Kafka topic names of the contract.

/// Every change of a customer, keyed by customer id. Infinite retention, not
/// compacted: this topic is the event store that rebuilds the orders replica.
pub const CUSTOMER_CHANGE: &str = "accounts.customer.change";

/// Records of [`CUSTOMER_CHANGE`] that a consumer could not decode or apply.
pub const CUSTOMER_CHANGE_DLT: &str = "accounts.customer.change.DLT";

/// Each customer's data key, wrapped, keyed by customer id; a tombstone
/// erases it. Compacted: only the latest record per customer matters.
pub const CUSTOMER_KEYS: &str = "accounts.customer.keys";

/// Each customer's latest sealed state (the newest change event's record
/// value), keyed by customer id. Compacted: a rebuild from it reads one
/// record per customer.
pub const CUSTOMER_STATE: &str = "accounts.customer.state";

/// The consumer group of the orders service's live projection.
pub const ORDERS_CONSUMER_GROUP: &str = "orders";

/// Name of the dead-letter topic that belongs to `topic`.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.DLT")
}

/// Record header names used on the customer change topic and its dead-letter topic.
pub mod headers {
    /// MIME type of the record value (`application/cloudevents+json`).
    pub const CONTENT_TYPE: &str = "content-type";
    /// Why a record was dead-lettered.
    pub const DLT_REASON: &str = "dlt.reason";
    /// Topic the dead-lettered record was read from.
    pub const DLT_ORIGINAL_TOPIC: &str = "dlt.original.topic";
    /// Partition the dead-lettered record was read from.
    pub const DLT_ORIGINAL_PARTITION: &str = "dlt.original.partition";
    /// Offset of the dead-lettered record in its partition.
    pub const DLT_ORIGINAL_OFFSET: &str = "dlt.original.offset";
    /// RFC 3339 time at which the record was dead-lettered.
    pub const DLT_TIME: &str = "dlt.time";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_topic_of_the_change_topic_is_the_dlt_constant() {
        assert_eq!(dead_letter_topic(CUSTOMER_CHANGE), CUSTOMER_CHANGE_DLT);
    }
}
