//! The right to erasure in an event store that keeps everything: after a
//! customer is erased, their name, e-mail, phone and address are in no record
//! of any topic, no document of either database and no log line, and no
//! sealed record of theirs can be opened with the keys that are left; a
//! rebuild afterwards gives everyone else back exactly as accounts has them.

use std::time::{Duration, Instant};

use fault_tests::Cluster;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use platform_testkit as kit;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use serde_json::{Value, json};
use shared_events::crypto::{DataKey, KeyEncryptionKey, WrappedKey};
use shared_events::{CustomerRecord, SealedChangeType};

const WITHIN: Duration = Duration::from_secs(60);

/// What identifies the erased person, each unique to this run.
struct Person {
    id: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    street: String,
}

impl Person {
    fn new() -> Person {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let digits: String = tag
            .bytes()
            .filter(u8::is_ascii_digit)
            .chain(std::iter::repeat(b'7'))
            .take(8)
            .map(char::from)
            .collect();
        Person {
            id: format!("erase-{}", &tag[..8]),
            first_name: format!("Zeno{}", &tag[..6]),
            last_name: format!("Quist{}", &tag[6..12]),
            email: format!("zeno.{}@example.org", &tag[..10]),
            phone: format!("+31 6 {digits}"),
            street: format!("{} Erasure Lane", &tag[12..18]),
        }
    }

    /// Every way the person's data could be written down.
    fn needles(&self) -> Vec<String> {
        vec![
            self.first_name.clone(),
            self.last_name.clone(),
            self.email.clone(),
            self.phone.clone(),
            self.phone.replace(' ', ""),
            self.street.clone(),
        ]
    }

    fn body(&self) -> Value {
        let mut body = kit::seed_customer(&self.id);
        body["name"]["firstName"] = self.first_name.clone().into();
        body["name"]["lastName"] = self.last_name.clone().into();
        body["contact"]["email"] = self.email.clone().into();
        body["contact"]["primaryPhone"] = self.phone.clone().into();
        body["contact"]["secondaryPhone"] = self.phone.clone().into();
        for address in body["addresses"].as_array_mut().expect("addresses") {
            address["address1"] = self.street.clone().into();
        }
        body
    }
}

/// How many times the needles occur in `haystack`.
fn hits(needles: &[String], haystack: &str) -> usize {
    needles
        .iter()
        .map(|n| haystack.matches(n.as_str()).count())
        .sum()
}

fn kek() -> KeyEncryptionKey {
    let crypto = kit::crypto_settings();
    KeyEncryptionKey::from_base64(&crypto.kek_id, crypto.kek_base64().expect("set"))
        .expect("a valid key")
}

/// Every topic on the broker.
async fn topics(brokers: &str) -> Vec<String> {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .expect("metadata client");
        let metadata = client
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    })
    .await
    .expect("metadata task")
}

/// A record as text: key, value and headers.
fn text(record: &OwnedMessage) -> String {
    use rdkafka::message::Headers;
    let mut text = String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned();
    text.push_str(&String::from_utf8_lossy(
        record.payload().unwrap_or_default(),
    ));
    if let Some(headers) = record.headers() {
        for header in headers.iter() {
            text.push_str(&String::from_utf8_lossy(header.value.unwrap_or_default()));
        }
    }
    text
}

/// Every document of every collection of `database`, as text.
async fn documents(database: &str) -> Vec<String> {
    let db = kit::mongo_database(database).await;
    let mut all = Vec::new();
    for name in db.list_collection_names().await.expect("collections") {
        let found: Vec<Document> = db
            .collection::<Document>(&name)
            .find(doc! {})
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read");
        all.extend(found.iter().map(|d| format!("{name}: {d}")));
    }
    all
}

/// The data keys anyone could still get: wrapped in accounts' documents and
/// on the keys topic, unwrapped with the key-encryption key.
async fn keys_left(cluster: &Cluster, keys_topic: &[OwnedMessage]) -> Vec<DataKey> {
    let kek = kek();
    let mut wrapped: Vec<WrappedKey> = keys_topic
        .iter()
        .filter_map(|r| serde_json::from_slice(r.payload()?).ok())
        .collect();
    let accounts = kit::mongo_database(&cluster.accounts_db).await;
    for name in accounts.list_collection_names().await.expect("collections") {
        let found: Vec<Document> = accounts
            .collection::<Document>(&name)
            .find(doc! { "dataKey": { "$exists": true } })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read");
        for document in found {
            if let Some(key) = document.get("dataKey") {
                wrapped.extend(mongodb::bson::from_bson::<WrappedKey>(key.clone()).ok());
            }
        }
    }
    wrapped.iter().filter_map(|w| kek.unwrap(w).ok()).collect()
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("json")
}

#[tokio::test]
async fn an_erased_customer_is_in_no_record_document_or_log_line_and_a_rebuild_keeps_everyone_else()
{
    // Compaction of the keys topic every 5 s instead of every 10 minutes.
    let broker = kit::PrivateServer::broker_with_maintenance_every(Duration::from_secs(5)).await;
    let verbose = [("APP__LOG__FILTER", "debug"), ("APP__LOG__FORMAT", "json")];
    let cluster = Cluster::start_on(broker, 1, 1, &verbose).await;
    let brokers = cluster.broker.server.address();
    let keys_topic = format!("{}.keys", cluster.topic);
    let (accounts, orders) = (cluster.accounts[0].url(), cluster.orders[0].url());
    let client = reqwest::Client::new();
    let person = Person::new();
    let needles = person.needles();

    // Others, the person, a change of the person, an order of theirs.
    let others: Vec<String> = (1..=5).map(|i| format!("other-{i}")).collect();
    for id in &others {
        let created = client
            .post(format!("{accounts}/accounts/customer/create"))
            .json(&kit::seed_customer(id))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    }
    let mut body = person.body();
    for (status, city) in [(201, "Sunrise"), (200, "Springfield")] {
        body["addresses"][0]["city"] = city.into();
        let sent = client
            .post(format!("{accounts}/accounts/customer/create"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(sent.status().as_u16(), status);
    }
    let replica = format!("{orders}/orders/order/{}", person.id);
    let seen = kit::eventually(WITHIN, "the change in orders", || async {
        let view = json_of(client.get(&replica).send().await.ok()?).await;
        (view["version"] == 2).then_some(view)
    })
    .await;
    assert_eq!(
        seen["name"]["firstName"],
        person.first_name.as_str(),
        "{seen}"
    );
    let order = json!({ "orderItems": [
        { "product": { "guid": "p-1", "title": "Mug", "price": "9.75" }, "quantity": 2 }
    ] });
    let placed = client
        .post(&replica)
        .json(&order)
        .send()
        .await
        .expect("sent");
    assert_eq!(placed.status(), reqwest::StatusCode::CREATED);
    assert_eq!(
        json_of(placed).await["shippingAddress"]["address1"],
        person.street.as_str()
    );

    // The erasure, and how long each step takes to show.
    let erasure = format!("{accounts}/accounts/customer/{}/erasure", person.id);
    let started = Instant::now();
    let erased = client.post(&erasure).send().await.expect("sent");
    assert_eq!(erased.status(), reqwest::StatusCode::ACCEPTED);
    assert_eq!(json_of(erased).await["version"], 3);
    let tombstone = kit::eventually(WITHIN, "the key's tombstone", || async {
        let records = kit::read_all(&brokers, &keys_topic, WITHIN).await;
        let last = records
            .iter()
            .filter(|r| r.key() == Some(person.id.as_bytes()))
            .max_by_key(|r| (r.partition(), r.offset()))?;
        last.payload().is_none().then(|| started.elapsed())
    })
    .await;
    let event = kit::eventually(WITHIN, "the erasure event", || async {
        let records = kit::read_all(&brokers, &cluster.topic, WITHIN).await;
        records
            .iter()
            .any(|r| {
                CustomerRecord::decode(r.payload().unwrap_or_default()).is_ok_and(|e| {
                    e.customer_id() == person.id
                        && e.event_type().as_str() == SealedChangeType::Erased.as_str()
                })
            })
            .then(|| started.elapsed())
    })
    .await;
    let anonymous = kit::eventually(WITHIN, "the anonymous customer in orders", || async {
        let view = json_of(client.get(&replica).send().await.ok()?).await;
        (view["erased"] == true).then(|| (started.elapsed(), view))
    })
    .await;
    let (in_orders, view) = anonymous;
    assert!(
        view.get("name").is_none() && view.get("contact").is_none(),
        "{view}"
    );
    assert_eq!(
        view["orders"].as_array().map(Vec::len),
        Some(1),
        "the order stays: {view}"
    );
    assert!(view["orders"][0].get("shippingAddress").is_none(), "{view}");
    let compacted = kit::eventually(WITHIN, "the key compacted away", || async {
        let records = kit::read_all(&brokers, &keys_topic, WITHIN).await;
        let keyed = records
            .iter()
            .filter(|r| r.key() == Some(person.id.as_bytes()) && r.payload().is_some())
            .count();
        (keyed == 0).then(|| started.elapsed())
    })
    .await;
    assert_eq!(
        client
            .get(format!("{accounts}/accounts/customer/{}", person.id))
            .send()
            .await
            .expect("sent")
            .status(),
        reqwest::StatusCode::NOT_FOUND
    );

    // A rebuild afterwards: everyone else as accounts has them.
    let (output, rebuild_time) = cluster.rebuild(&[]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = cluster.converge(WITHIN).await;
    assert_eq!((after.lost, after.divergent), (0, 0), "{after:?}");
    assert_eq!(after.customers, 6);
    let rebuilt = json_of(client.get(&replica).send().await.expect("sent")).await;
    assert!(
        rebuilt["erased"] == true && rebuilt.get("name").is_none(),
        "{rebuilt}"
    );

    // The scan: every record of every topic, every document, every log line.
    let mut records = 0;
    let mut record_hits = 0;
    let mut sealed_of_person = Vec::new();
    let topics = topics(&brokers).await;
    let mut keys_records = Vec::new();
    for topic in &topics {
        let all = kit::read_all(&brokers, topic, WITHIN).await;
        records += all.len();
        record_hits += all.iter().map(|r| hits(&needles, &text(r))).sum::<usize>();
        // The person's sealed records: on the change topic and the state topic.
        if *topic == cluster.topic || *topic == format!("{}.state", cluster.topic) {
            sealed_of_person.extend(
                all.iter()
                    .filter_map(|r| CustomerRecord::decode(r.payload()?).ok())
                    .filter(|e| e.customer_id() == person.id && e.key_id().is_some()),
            );
        }
        if *topic == keys_topic {
            keys_records = all;
        }
    }
    let keys = keys_left(&cluster, &keys_records).await;
    let openable = sealed_of_person
        .iter()
        .filter(|&record| {
            keys.iter()
                .filter(|k| Some(k.id()) == record.key_id())
                .any(|k| {
                    record
                        .clone()
                        .upcast(Some(k))
                        .is_ok_and(|c| c.personal.is_some())
                })
        })
        .count();
    let mut docs = documents(&cluster.accounts_db).await;
    docs.extend(documents(&cluster.orders_db).await);
    let document_hits: usize = docs.iter().map(|d| hits(&needles, d)).sum();

    let mut cluster = cluster;
    for service in cluster.accounts.iter_mut().chain(cluster.orders.iter_mut()) {
        service.stop().await;
    }
    let mut logs = String::new();
    for entry in std::fs::read_dir(&cluster.log_dir).expect("log dir") {
        logs.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("log file"));
    }
    let log_hits = hits(&needles, &logs);
    assert!(logs.contains("\"level\":\"DEBUG\""), "debug logging was on");

    println!(
        "ERASURE SCAN topics={} records={records} documents={} log_lines={} \
         sealed_records_of_person={} keys_left={}; cleartext hits: records={record_hits} \
         documents={document_hits} logs={log_hits}; openable={openable}; \
         after the request: tombstone {tombstone:?}, erasure event {event:?}, orders anonymous \
         {in_orders:?}, key compacted away {compacted:?}; rebuild {rebuild_time:?}, \
         {} customers identical to accounts",
        topics.len(),
        docs.len(),
        logs.lines().count(),
        sealed_of_person.len(),
        keys.len(),
        after.customers,
    );
    assert!(records > 10 && docs.len() > 10, "the scan read little");
    assert!(
        sealed_of_person.len() >= 2,
        "the person's sealed records were found"
    );
    assert_eq!((record_hits, document_hits, log_hits), (0, 0, 0));
    assert_eq!(openable, 0, "a sealed record of the person still opens");
    cluster.shutdown().await;
}
