//! Publishing records that cannot be applied to the dead-letter topic.

use std::time::Duration;

use chrono::Utc;
use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use shared_events::topics::headers;

/// Copies poison records, unchanged, to the dead-letter topic with headers that
/// say why and where they came from.
#[derive(Clone)]
pub struct DeadLetterPublisher {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetterPublisher {
    pub fn new(producer: FutureProducer, topic: String) -> Self {
        DeadLetterPublisher { producer, topic }
    }

    /// The dead-letter topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes `message` with `reason` and waits for the broker's
    /// acknowledgement. Original headers are kept, the DLT headers are added.
    pub async fn publish(&self, message: &impl Message, reason: &str) -> Result<(), KafkaError> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let time = Utc::now().to_rfc3339();
        let dlt_headers = [
            (headers::DLT_REASON, reason),
            (headers::DLT_ORIGINAL_TOPIC, message.topic()),
            (headers::DLT_ORIGINAL_PARTITION, partition.as_str()),
            (headers::DLT_ORIGINAL_OFFSET, offset.as_str()),
            (headers::DLT_TIME, time.as_str()),
        ];
        let record = copy_record(message, &self.topic, |_| true, &dlt_headers);
        self.producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}

/// `message`'s key, value and the headers `keep` accepts, as a record for
/// `topic`, with `extra` headers after them: how a record moves to the
/// dead-letter topic and back.
pub(super) fn copy_record<'a>(
    message: &'a impl Message,
    topic: &'a str,
    keep: impl Fn(&str) -> bool,
    extra: &[(&'a str, &'a str)],
) -> FutureRecord<'a, [u8], [u8]> {
    let mut record_headers = OwnedHeaders::new();
    let original = message.headers().into_iter().flat_map(|h| h.iter());
    for h in original.filter(|h| keep(h.key)) {
        record_headers = record_headers.insert(h);
    }
    for &(key, value) in extra {
        record_headers = record_headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    let mut record = FutureRecord::to(topic).headers(record_headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    record
}
