//! `loadgen`: runs the benchmark against running services and writes
//! `BENCHMARKS.md`, `benchmarks.json` and the latency histograms. Started by
//! `./dev bench` (through `devstack bench`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use loadgen::{Plan, Target, run};

#[derive(Parser)]
#[command(about = "Benchmark the platform next to raw-client baselines")]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Where to write BENCHMARKS.md, benchmarks.json and the plots.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// A tiny run, to check that the benchmark works.
    #[arg(long)]
    tiny: bool,
    /// A note for the report (repeatable), such as how the services were run.
    #[arg(long = "note")]
    notes: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let plan = Plan::new(cli.tiny);
    let mut report = run(&cli.target, &plan, |line| eprintln!("loadgen: {line}")).await;
    report.notes.extend(cli.notes);
    if let Some(dir) = &cli.target.profiles {
        let n = if cli.tiny { 20 } else { 3000 };
        match loadgen::processes::profile(&cli.target, dir, n, n).await {
            Ok(profiles) => (report.profiles, report.profiled_operations) = (profiles, n),
            Err(e) => report.failures.push(format!("profiles: {e:#}")),
        }
    }
    let failed = !report.failures.is_empty();
    report.stamped("./dev bench").write(&cli.out)?;
    eprintln!("loadgen: wrote {}", cli.out.join("BENCHMARKS.md").display());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
