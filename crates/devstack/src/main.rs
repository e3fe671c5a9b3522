//! `devstack`: the local stack without Docker.
//!
//! - `devstack up` installs (once, cached) a Kafka-protocol broker (tansu) and a
//!   MongoDB-protocol server (nx-27017), starts them on loopback with on-disk
//!   storage, creates the topics, starts both services, prints every URL and
//!   stops everything on Ctrl-C.
//! - `devstack test` starts fresh servers on free ports and runs the whole test
//!   suite against them.
//! - `devstack install` only installs the servers.
//! - `devstack lint` lints and validates what cannot run here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use devstack::{install, lint, stack};

#[derive(Parser)]
#[command(
    about = "Run the CQRS platform locally: broker, MongoDB-protocol server and both services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the local servers into the cache (done by `up` and `test` too).
    Install,
    /// Lint and validate what cannot run here (the first step of `test`): the
    /// Dockerfile, the rendered Kubernetes overlays (kubernetes-validate,
    /// checkov), the OpenAPI and AsyncAPI documents and the compose file.
    Lint,
    /// Start the whole stack and keep it running until Ctrl-C.
    Up {
        /// Delete the stack's data directory first.
        #[arg(long)]
        clean: bool,
        /// Where the stack keeps its data and logs.
        #[arg(long, default_value = ".devstack")]
        data_dir: PathBuf,
        /// Kafka-protocol port.
        #[arg(long, default_value_t = 9092)]
        kafka_port: u16,
        /// MongoDB-protocol port.
        #[arg(long, default_value_t = 27017)]
        mongo_port: u16,
        /// Accounts service port.
        #[arg(long, default_value_t = 8080)]
        accounts_port: u16,
        /// Orders service port.
        #[arg(long, default_value_t = 8085)]
        orders_port: u16,
        /// Use this Kafka (bootstrap servers, such as `localhost:9092` of the
        /// compose stack) instead of starting the local broker.
        #[arg(long, value_name = "BROKERS")]
        kafka: Option<String>,
        /// Use this MongoDB (a connection string) instead of starting the
        /// local MongoDB-protocol server.
        #[arg(long, value_name = "URI")]
        mongodb: Option<String>,
    },
    /// Benchmark: fresh servers, both services, loadgen; writes BENCHMARKS.md.
    Bench {
        /// Where to write BENCHMARKS.md and benchmarks.json.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// A tiny run, to check that everything works.
        #[arg(long)]
        tiny: bool,
    },
    /// Start throw-away servers on free ports and run every test against them.
    Test {
        /// Extra arguments for `cargo nextest run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        nextest_args: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Install => install::Tools::ensure().await.map(|tools| {
            println!("tansu:    {}", tools.tansu.display());
            println!("nx-27017: {}", tools.nx_27017.display());
            ExitCode::SUCCESS
        }),
        Command::Up {
            clean,
            data_dir,
            kafka_port,
            mongo_port,
            accounts_port,
            orders_port,
            kafka,
            mongodb,
        } => {
            let ports = stack::StackPorts {
                kafka: kafka_port,
                mongo: mongo_port,
                accounts: accounts_port,
                orders: orders_port,
            };
            let external = stack::ExternalServers { kafka, mongodb };
            stack::up(clean, &data_dir, ports, external)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Lint => match std::env::current_dir() {
            Ok(root) => lint::run_all(&root).await.map(|()| ExitCode::SUCCESS),
            Err(e) => Err(e.into()),
        },
        Command::Test { nextest_args } => stack::test(&nextest_args).await,
        Command::Bench { out, tiny } => stack::bench(&out, tiny).await,
    };
    match result.context("devstack failed") {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
