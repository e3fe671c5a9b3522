//! `loadgen`: runs the benchmark against running services and writes
//! `BENCHMARKS.md`, `benchmarks.json` and the latency histograms. Started by
//! `./dev bench`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use loadgen::processes::Binaries;
use loadgen::report::PLOT_DIR;
use loadgen::scenarios::Target;
use loadgen::{Plan, Services, plots, run};

#[derive(Parser)]
#[command(about = "Benchmark the platform next to raw-client baselines")]
struct Cli {
    /// Base URL of an accounts instance; repeat for several.
    #[arg(long, required = true)]
    accounts: Vec<String>,
    /// Base URL of an orders instance; repeat for several.
    #[arg(long, required = true)]
    orders: Vec<String>,
    #[arg(long)]
    mongodb_uri: String,
    #[arg(long)]
    brokers: String,
    /// `name=pid` of a running service instance whose RSS is sampled; repeat.
    #[arg(long = "pid", value_parser = parse_pid)]
    pids: Vec<(String, u32)>,
    /// Directory with the `accounts-domain` and `orders-domain` executables,
    /// for start-to-ready and the rebuild command.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where to write BENCHMARKS.md, benchmarks.json and the plots.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// A tiny run, to check that the benchmark works.
    #[arg(long)]
    tiny: bool,
    /// How the run was started, for the report.
    #[arg(long, default_value = "./dev bench")]
    command: String,
    /// A note for the report (repeatable), such as how the services were run.
    #[arg(long = "note")]
    notes: Vec<String>,
}

fn parse_pid(value: &str) -> Result<(String, u32), String> {
    let (name, pid) = value.split_once('=').ok_or("expected name=pid")?;
    Ok((name.to_owned(), pid.parse().map_err(|e| format!("{e}"))?))
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let target = Target {
        accounts: cli.accounts,
        orders: cli.orders,
        mongodb_uri: cli.mongodb_uri,
        brokers: cli.brokers,
    };
    let services = Services {
        pids: cli.pids,
        binaries: cli.bin_dir.map(|dir| Binaries {
            accounts: dir.join("accounts-domain"),
            orders: dir.join("orders-domain"),
        }),
    };
    let plan = if cli.tiny { Plan::tiny() } else { Plan::full() };
    let mut report = run(&target, &services, &plan, |line| {
        eprintln!("loadgen: {line}")
    })
    .await;
    report.notes.extend(cli.notes);
    let failed = !report.failures.is_empty();
    let report = report.stamped(&cli.command);
    let plot_dir = cli.out.join(PLOT_DIR);
    std::fs::create_dir_all(&plot_dir)?;
    for histogram in &report.histograms {
        plots::draw(histogram, &plot_dir)?;
    }
    std::fs::write(
        cli.out.join("benchmarks.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(cli.out.join("BENCHMARKS.md"), report.to_markdown())?;
    eprintln!("loadgen: wrote {}", cli.out.join("BENCHMARKS.md").display());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
