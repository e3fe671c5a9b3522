//! Layered configuration: built-in defaults, then an optional file, then
//! environment variables.
//!
//! Environment variables use the prefix `APP` and `__` between levels, for example
//! `APP__HTTP__PORT=9090` or `APP__MONGODB__URI=mongodb+srv://…`. The optional file
//! is named by `APP_CONFIG_FILE` (TOML).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Environment variable naming an optional TOML file layered over the defaults.
pub const CONFIG_FILE_ENV: &str = "APP_CONFIG_FILE";

/// Defaults every service shares, under each service's own defaults: local
/// servers, the seed's topic, pretty logs.
pub const COMMON_DEFAULTS: &str = r#"
[http]
host = "127.0.0.1"

[mongodb]
uri = "mongodb://127.0.0.1:27017"
server_selection_timeout_ms = 5000
count_commands = false

[kafka]
brokers = "127.0.0.1:9092"
topic = "accounts.customer.change"
message_timeout_ms = 30000

[crypto]
kek_id = "local-1"

[log]
format = "pretty"
filter = "info"
"#;

/// Settings every service has that have no default (so an example settings
/// file names them commented out).
pub const OPTIONAL_SETTINGS: [&str; 14] = [
    "crypto.kek",
    "idempotency.retention_ms",
    "idempotency.pending_timeout_ms",
    "idempotency.sweep_interval_ms",
    "log.otlp_endpoint",
    "auth.enabled",
    "auth.protect_reads",
    "auth.hs256_secret",
    "auth.rs256_public_key_pem",
    "auth.issuer",
    "auth.audience",
    "http.body_limit_bytes",
    "http.request_timeout_ms",
    "http.max_concurrent_requests",
];

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] ::config::ConfigError);

/// Loads settings of type `T`: [`COMMON_DEFAULTS`], `defaults_toml`, then the file named by
/// `APP_CONFIG_FILE` if set, then `APP__…` environment variables.
pub fn load<T: DeserializeOwned>(defaults_toml: &str) -> Result<T, ConfigError> {
    load_layers(
        defaults_toml,
        std::env::var(CONFIG_FILE_ENV).ok().as_deref(),
    )
}

/// [`load`] with the file named explicitly.
pub fn load_layers<T: DeserializeOwned>(
    defaults_toml: &str,
    file: Option<&str>,
) -> Result<T, ConfigError> {
    let mut builder = ::config::Config::builder();
    for defaults in [COMMON_DEFAULTS, defaults_toml] {
        builder = builder.add_source(::config::File::from_str(
            defaults,
            ::config::FileFormat::Toml,
        ));
    }
    if let Some(path) = file {
        builder = builder
            .add_source(::config::File::new(path, ::config::FileFormat::Toml).required(true));
    }
    let settings = builder
        .add_source(
            ::config::Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__"),
        )
        .build()?
        .try_deserialize()?;
    Ok(settings)
}

/// The settings a TOML text names, as `section.key`, counting commented-out
/// ones (`# key = …`): what an example settings file documents. Comments
/// after a value and `[section.sub]` tables of pass-through properties are
/// not settings.
pub fn named_settings(toml: &str) -> std::collections::BTreeSet<String> {
    let mut section = String::new();
    let mut named = std::collections::BTreeSet::new();
    for line in toml.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = header.to_owned();
            continue;
        }
        let setting = line.strip_prefix('#').map_or(line, str::trim_start);
        let Some((key, _)) = setting.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let is_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if is_key && !section.contains('.') {
            named.insert(format!("{section}.{key}"));
        }
    }
    named
}

/// The settings that an example settings file at `path` does not name: those
/// of the defaults, [`OPTIONAL_SETTINGS`] and the service's own `optional`
/// ones (which have no default). The example must also parse, over the
/// defaults, into `T`.
pub fn undocumented_settings<T: DeserializeOwned>(
    defaults_toml: &str,
    path: &str,
    optional: &[&str],
) -> Result<Vec<String>, ConfigError> {
    load_layers::<T>(defaults_toml, Some(path))?;
    let example = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(::config::ConfigError::Foreign(Box::new(e))))?;
    let named = named_settings(&example);
    let mut wanted = named_settings(COMMON_DEFAULTS);
    wanted.extend(named_settings(defaults_toml));
    wanted.extend(
        OPTIONAL_SETTINGS
            .iter()
            .chain(optional)
            .map(|s| (*s).to_owned()),
    );
    Ok(wanted.into_iter().filter(|s| !named.contains(s)).collect())
}

/// A service's defaults, loaded into `T`, after asserting that the example
/// settings file at `example` parses over them and names every setting (see
/// [`undocumented_settings`]); for each service's settings test.
pub fn checked_defaults<T: DeserializeOwned>(
    defaults_toml: &str,
    example: &str,
    optional: &[&str],
) -> T {
    let missing = undocumented_settings::<T>(defaults_toml, example, optional)
        .unwrap_or_else(|e| panic!("{example} does not parse: {e}"));
    assert!(missing.is_empty(), "{example} does not name {missing:?}");
    load_layers(defaults_toml, None).unwrap_or_else(|e| panic!("the defaults do not parse: {e}"))
}

/// Where the HTTP server listens.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    /// `0` picks a free port (tests do this).
    pub port: u16,
    /// Largest request body accepted; larger ones get 413.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// Longest time a request may take, reading its body included; then 503.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Requests served at once; more get 503 with `Retry-After` at once instead
    /// of queueing (health and metrics endpoints are exempt).
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_requests: usize,
}

fn default_body_limit() -> usize {
    64 * 1024
}

fn default_request_timeout() -> u64 {
    10_000
}

fn default_max_concurrent() -> usize {
    512
}

impl Default for HttpSettings {
    /// Loopback, a free port, the default limits.
    fn default() -> Self {
        HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            body_limit_bytes: default_body_limit(),
            request_timeout_ms: default_request_timeout(),
            max_concurrent_requests: default_max_concurrent(),
        }
    }
}

/// How to reach MongoDB.
#[derive(Debug, Clone, Deserialize)]
pub struct MongoSettings {
    /// Connection string; may hold credentials, so it never prints.
    pub uri: SecretString,
    pub database: String,
    pub collection: String,
    /// How long an operation waits for a reachable server before failing (and
    /// the API answering 503).
    pub server_selection_timeout_ms: u64,
    /// Count every command sent in `mongodb_commands_total` (the driver's
    /// command monitoring, which copies each command: off by default; the
    /// benchmark turns it on to report round trips per operation).
    #[serde(default)]
    pub count_commands: bool,
}

/// How to reach Kafka.
#[derive(Debug, Clone, Deserialize)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The customer change topic.
    pub topic: String,
    /// The keys topic: each customer's wrapped data key, compacted.
    #[serde(default = "default_keys_topic")]
    pub keys_topic: String,
    /// The state topic: each customer's latest sealed state, compacted; what
    /// `orders-domain rebuild --from-state` reads.
    #[serde(default = "default_state_topic")]
    pub state_topic: String,
    /// How long a produce may wait for the broker's acknowledgement.
    pub message_timeout_ms: u64,
    /// Extra librdkafka properties, passed through verbatim (for example
    /// `security.protocol`). Values never print.
    #[serde(default)]
    pub properties: BTreeMap<String, SecretString>,
}

fn default_keys_topic() -> String {
    "accounts.customer.keys".to_owned()
}

fn default_state_topic() -> String {
    "accounts.customer.state".to_owned()
}

/// The key-encryption key that wraps every customer's data key
/// (crypto-shredding: see `shared_events::crypto`). Both services need the
/// same one. It has no default: a service without it does not start.
#[derive(Debug, Clone, Deserialize)]
pub struct CryptoSettings {
    /// Names the key in every wrapped data key, so a rotated key can be told
    /// from the old one.
    pub kek_id: String,
    /// 32 bytes, base64 (`openssl rand -base64 32`). Never prints. Optional
    /// only for commands that do not need it (`create-topics`).
    #[serde(default)]
    pub kek: Option<SecretString>,
}

impl CryptoSettings {
    /// The key's base64 form; an error naming the setting when it is unset.
    pub fn kek_base64(&self) -> anyhow::Result<&str> {
        self.kek.as_ref().map(|k| k.expose_secret()).ok_or_else(|| {
            anyhow::anyhow!(
                "crypto.kek (APP__CRYPTO__KEK) is not set: the key-encryption key, 32 bytes in base64 \
                 (openssl rand -base64 32); both services need the same one"
            )
        })
    }
}

impl KafkaSettings {
    /// The extra properties with their values exposed, for building a client.
    pub fn exposed_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info,accounts_domain=debug`; `RUST_LOG`
    /// overrides it.
    pub filter: String,
    /// Base URL of an OTLP/HTTP collector (such as `http://otel-collector:4318`);
    /// spans are exported to `<url>/v1/traces` when set. Off by default.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        kafka: KafkaSettings,
    }

    const DEFAULTS: &str = r#"
[kafka]
brokers = "localhost:9092"
topic = "t"
message_timeout_ms = 1000
"#;

    #[test]
    fn a_file_adds_librdkafka_properties_with_dotted_names_that_never_print() {
        let path =
            std::env::temp_dir().join(format!("platform-config-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.password\" = \"s3cret\"\n",
        )
        .expect("write");
        let loaded: Result<Wrapper, _> = load_layers(DEFAULTS, path.to_str());
        let _ = std::fs::remove_file(&path);
        let settings = loaded.expect("file loads");
        let properties: BTreeMap<&str, &str> = settings.kafka.exposed_properties().collect();
        assert_eq!(properties.get("security.protocol"), Some(&"SASL_SSL"));
        assert_eq!(properties.get("sasl.password"), Some(&"s3cret"));
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
