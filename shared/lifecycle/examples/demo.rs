//! Local demo: the export job against the embedded Sisense simulator, written to `./demo-out/`.
//!
//! `cargo run -p lifecycle --example demo -- [USERS] [OUT_DIR]` (defaults 2000, demo-out).

use lifecycle::export::{ExportOptions, export_users};
use lifecycle::{LocalStore, SystemClock};
use sisense::{ClientConfig, Credentials, FusionClient, SecretString};
use sisense_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(2_000);
    let out = std::env::args().nth(2).unwrap_or_else(|| "demo-out".into());
    let sim = Simulator::start(SimConfig {
        users,
        ..SimConfig::default()
    })
    .await?;
    println!("Sisense simulator with {users} users at {}", sim.base_url());

    let credentials = Credentials::Password {
        username: sim.username().to_string(),
        password: SecretString::from(sim.password().to_string()),
    };
    let mut config = ClientConfig::new(sim.base_url(), credentials)?;
    config.prefetch = 2;
    let client = FusionClient::new(config)?;
    let store = LocalStore::new(&out);
    let outcome = export_users(&client, &store, &SystemClock, &ExportOptions::default()).await?;

    println!("exported {} users ({} bytes)", outcome.users, outcome.bytes);
    println!("  CSV:     {out}/{}", outcome.key);
    println!("  latest:  {out}/{}", outcome.latest_key);
    println!("  summary: {out}/{}", outcome.summary_key);
    let summary = std::fs::read_to_string(format!("{out}/{}", outcome.summary_key))?;
    println!("{summary}");
    Ok(())
}
