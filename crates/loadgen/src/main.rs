//! `loadgen`: runs the benchmark against running services and writes
//! `BENCHMARKS.md` and `benchmarks.json`. Started by `./dev bench`.

use std::path::PathBuf;

use clap::Parser;
use loadgen::scenarios::Target;
use loadgen::{Plan, report, run};

#[derive(Parser)]
#[command(about = "Benchmark the platform next to raw-client baselines")]
struct Cli {
    #[arg(long)]
    accounts: String,
    #[arg(long)]
    orders: String,
    #[arg(long)]
    mongodb_uri: String,
    #[arg(long)]
    brokers: String,
    /// Where to write BENCHMARKS.md and benchmarks.json.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// A tiny run, to check that the benchmark works.
    #[arg(long)]
    tiny: bool,
    /// How the run was started, for the report.
    #[arg(long, default_value = "./dev bench")]
    command: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let target = Target {
        accounts: cli.accounts,
        orders: cli.orders,
        mongodb_uri: cli.mongodb_uri,
        brokers: cli.brokers,
    };
    let plan = if cli.tiny { Plan::tiny() } else { Plan::full() };
    let (comparisons, mut notes) = run(&target, &plan, |line| eprintln!("loadgen: {line}")).await?;
    notes.extend([
        "Not measured yet (issue #6 remains open): replay rate, RSS and start-to-ready time, \
         two instances per service, latency plots, the capacity model, and profiling."
            .to_owned(),
        "Services run as release builds with their default settings, on loopback, with \
         the broker and MongoDB-protocol server on the same 2 cores."
            .to_owned(),
    ]);
    let report = report(&cli.command, comparisons, notes);
    std::fs::create_dir_all(&cli.out)?;
    std::fs::write(
        cli.out.join("benchmarks.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(cli.out.join("BENCHMARKS.md"), report.to_markdown())?;
    eprintln!("loadgen: wrote {}", cli.out.join("BENCHMARKS.md").display());
    Ok(())
}
