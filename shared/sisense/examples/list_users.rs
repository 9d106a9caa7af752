//! Starts the embedded Sisense simulator and lists its users through the client: the local demo.
//!
//! `cargo run -p sisense --example list_users -- [USERS]` (default 250).

use std::collections::BTreeMap;

use futures::TryStreamExt;
use sisense::{
    ClientConfig, Credentials, Directory, RoleResolver, SecretString, SisenseClient, UserQuery,
};
use sisense_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(250);
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
    let client = SisenseClient::new(ClientConfig::new(sim.base_url(), credentials)?)?;
    let roles = RoleResolver::new(client.roles(None).await?);
    let listed: Vec<_> = client
        .users(UserQuery {
            expand_groups: true,
            page_size: Some(100),
            ..UserQuery::default()
        })
        .try_collect()
        .await?;

    println!(
        "\n{:<26} {:<42} {:<14} {:<7} last seen",
        "id", "email", "role", "active"
    );
    for user in listed.iter().take(15) {
        let role = user
            .role_id()
            .and_then(|id| roles.by_id(id))
            .map_or("?", |r| r.name.as_str());
        let seen = user
            .last_seen()
            .map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d").to_string());
        println!(
            "{:<26} {:<42} {:<14} {:<7} {seen}",
            user.id,
            user.email,
            role,
            user.is_active()
        );
    }
    if listed.len() > 15 {
        println!("... and {} more", listed.len() - 15);
    }

    let mut per_role: BTreeMap<&str, usize> = BTreeMap::new();
    for user in &listed {
        let role = user
            .role_id()
            .and_then(|id| roles.by_id(id))
            .map_or("?", |r| r.name.as_str());
        *per_role.entry(role).or_default() += 1;
    }
    let active = listed.iter().filter(|u| u.is_active()).count();
    let never = listed.iter().filter(|u| u.last_seen().is_none()).count();
    println!(
        "\n{} users listed: {active} active, {} inactive, {never} never logged in",
        listed.len(),
        listed.len() - active
    );
    for (role, n) in per_role {
        println!("  {role:<14} {n}");
    }
    println!("{} requests sent to the simulator", sim.requests().len());
    Ok(())
}
