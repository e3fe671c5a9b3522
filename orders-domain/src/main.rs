//! The orders service binary.
//!
//! - `orders-domain` (or `orders-domain serve`): run the service until SIGINT or
//!   SIGTERM.
//! - `orders-domain rebuild [--from-state]`: rebuild the customer replica from
//!   the event store (or from the state topic) and switch reads to it, while
//!   running instances keep serving.
//! - `orders-domain redrive-dlt`: republish dead letters to the change topic.

use clap::Subcommand;
use orders_domain::Settings;
use orders_domain::messaging::{Progress, Source, rebuild, redrive_dead_letters};
use platform_infra::{service, shutdown, telemetry};

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Rebuild the customer replica from offset 0 and switch reads to it,
    /// unless the topic lost records or the result lacks current customers.
    Rebuild {
        /// Switch even when verification finds problems.
        #[arg(long)]
        force: bool,
        /// Fill the new generation from the compacted state topic (one record
        /// per customer), then follow the change topic from where it ended.
        #[arg(long)]
        from_state: bool,
    },
    /// Republish the dead-letter topic's records to the change topic.
    RedriveDlt,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = service::command_line(
        "orders-domain",
        "The orders service; settings come from APP__… variables (see docs/configuration.md)",
        Command::Serve,
    );
    let settings = Settings::load()?;
    let _telemetry = telemetry::init(&settings.log, "orders");
    match command {
        Command::Serve => {
            // Written when the service stops (`./dev bench` profiles).
            let _profile = platform_infra::profile::start("orders-domain");
            let app = orders_domain::build(settings, shutdown::on_signal()).await?;
            app.wait().await.map(|_| ())
        }
        Command::Rebuild { force, from_state } => {
            let source = if from_state {
                Source::StateTopic
            } else {
                Source::ChangeTopic
            };
            let report = rebuild(&settings, Progress::for_terminal(), force, source).await?;
            println!(
                "rebuilt generation {} ({}) from {} records ({} skipped) in {:.1?}; generation {} is kept",
                report.generation,
                report.collection,
                report.records,
                report.skipped,
                report.elapsed,
                report.previous_generation
            );
            println!(
                "{} customers are new in it; verification: {}",
                report.new_customers,
                if report.forced_past.is_empty() {
                    "passed".to_owned()
                } else {
                    format!("switched past (--force): {}", report.forced_past.join("; "))
                }
            );
            Ok(())
        }
        Command::RedriveDlt => {
            let count = redrive_dead_letters(&settings).await?;
            println!("re-drove {count} dead letters");
            Ok(())
        }
    }
}
