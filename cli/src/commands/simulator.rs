//! `simulator`: the demo's simulated Sisense, served until Ctrl-C, so every other command can be tried by hand.

use std::path::Path;

use serde_json::json;
use sisense_sim::Simulator;

use super::demo::demo_config;
use crate::args::SimulatorArgs;
use crate::error::{CliError, Exit};
use crate::output::Outcome;

/// Starts the simulator, prints how to reach it, and serves until Ctrl-C (or SIGTERM).
pub async fn run(args: &SimulatorArgs) -> Result<Outcome, CliError> {
    let sim = Simulator::start(demo_config(args.users))
        .await
        .map_err(|e| CliError::io("starting the simulator on", Path::new("127.0.0.1"), e))?;
    // Printed at once (stdout is line-buffered), before waiting: scripts read the URL from here.
    println!(
        "Sisense simulator with {} users at {url}\n\
         In another terminal:\n\
         \x20 export SISENSE_URL={url} SISENSE_USERNAME={user} SISENSE_PASSWORD={password}\n\
         \x20 sisense-lifecycle export --out users.csv\n\
         (simulated credentials, not secrets; Ctrl-C stops the simulator and forgets every change)",
        args.users,
        url = sim.base_url(),
        user = sim.username(),
        password = sim.password(),
    );
    wait_for_stop()
        .await
        .map_err(|e| CliError::io("waiting for Ctrl-C in", Path::new("."), e))?;
    let requests = sim.requests().len();
    Ok(Outcome {
        exit: Exit::Success,
        json: json!({"url": sim.base_url(), "users": args.users, "requests": requests}),
        text: format!("simulator stopped after {requests} requests\n"),
    })
}

/// Ctrl-C, or SIGTERM where there are signals.
async fn wait_for_stop() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
