//! The accounts service binary.
//!
//! - `accounts-domain` (or `accounts-domain serve`): run the service until
//!   SIGINT or SIGTERM.
//! - `accounts-domain create-topics`: create the change topic (the event store)
//!   and its dead-letter topic, or correct the configs of existing ones, and
//!   the keys and state topics (compacted); the
//!   code path `./dev up` uses, for compose and the Kubernetes Job.

use accounts_domain::Settings;
use clap::Subcommand;
use platform_infra::{kafka, service, shutdown, telemetry};
use shared_events::topics::dead_letter_topic;

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Create the change topic and its DLT with the event-store settings, or
    /// correct those of existing topics. Safe to run again.
    CreateTopics {
        /// Partitions of new topics (existing ones keep theirs).
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        /// Replicas of each partition of new topics (Confluent Cloud: 3).
        #[arg(long, default_value_t = 1)]
        replication_factor: i32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = service::command_line(
        "accounts-domain",
        "The accounts service; settings come from APP__… variables (see docs/configuration.md)",
        Command::Serve,
    );
    let settings = Settings::load()?;
    let _telemetry = telemetry::init(&settings.log, "accounts");
    match command {
        Command::Serve => {
            // Written when the service stops (`./dev bench` profiles).
            let _profile = platform_infra::profile::start("accounts-domain");
            let app = accounts_domain::build(settings, shutdown::on_signal()).await?;
            app.wait().await
        }
        Command::CreateTopics {
            partitions,
            replication_factor,
        } => {
            let topic = &settings.kafka.topic;
            for name in [topic.clone(), dead_letter_topic(topic)] {
                kafka::ensure_topic_replicated(
                    &settings.kafka,
                    &name,
                    partitions,
                    replication_factor,
                )
                .await?;
                println!("topic {name} is ready (event-store settings)");
            }
            kafka::ensure_compacted_topics(&settings.kafka, partitions, replication_factor).await?;
            for name in [&settings.kafka.keys_topic, &settings.kafka.state_topic] {
                println!("topic {name} is ready (compacted)");
            }
            Ok(())
        }
    }
}
