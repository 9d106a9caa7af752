//! `sisense-lifecycle`: the operator CLI over the same `lifecycle` jobs the Lambda functions run.

mod access_review;
mod args;
mod aws;
mod commands;
mod confirm;
mod connect;
mod error;
mod location;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use args::{Cli, Command};
use commands::Context;
use error::Exit;
use progress::Bars;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The jobs' own warnings repeat what the summary says; -v shows them.
    let level = match cli.verbose {
        0 => "warn,lifecycle=error",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .init();
    let ctx = Context {
        connection: &cli.connection,
        aws: aws::Aws::default(),
        bars: Bars::new(!cli.quiet && !cli.json),
        quiet: cli.quiet,
        json: cli.json,
    };
    let result = match &cli.command {
        Command::Export(args) => commands::export::run(&ctx, args).await,
        Command::Import(args) => commands::import::run(&ctx, args).await,
        Command::Deactivate(args) => commands::deactivate::run(&ctx, args).await,
        Command::Restore(args) => commands::restore::run(&ctx, args).await,
        Command::Roles => commands::listing::roles(&ctx).await,
        Command::Groups => commands::listing::groups(&ctx).await,
        Command::Demo(args) => commands::demo::run(&ctx, args).await,
        Command::Report(args) => commands::report::run(&ctx, args).await,
        Command::Simulator(args) => commands::simulator::run(args).await,
        Command::Doctor(args) => commands::doctor::run(&ctx, args).await,
    };
    ctx.bars.finish();
    match result {
        Ok(outcome) => {
            outcome.print(cli.json);
            outcome.exit.into()
        }
        Err(e) => {
            eprintln!("error: {e}");
            if e.exit() == Exit::Usage {
                eprintln!("(see sisense-lifecycle --help)");
            }
            e.exit().into()
        }
    }
}
