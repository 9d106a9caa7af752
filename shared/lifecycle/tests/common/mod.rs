//! Shared set-up: a simulator at a fixed "now" and a client for it with fast retries and no rate limit.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifecycle::MemoryStore;
use serde_json::Value;
use sisense::{ClientConfig, Credentials, RetryConfig, SecretString, SisenseClient};
use sisense_sim::{Faults, Release, SimConfig, Simulator};

pub async fn sim_at(users: usize, now: DateTime<Utc>, faults: Faults) -> Simulator {
    sim_release(users, now, faults, Release::Contract).await
}

/// A simulator answering as `release` (`Release::Newer` honours `active` in a PATCH).
pub async fn sim_release(
    users: usize,
    now: DateTime<Utc>,
    faults: Faults,
    release: Release,
) -> Simulator {
    Simulator::start(SimConfig {
        users,
        now,
        faults,
        release,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

pub fn client(sim: &Simulator) -> SisenseClient {
    let credentials = Credentials::Password {
        username: sim.username().into(),
        password: SecretString::from(sim.password().to_string()),
    };
    let mut config =
        ClientConfig::new(sim.base_url(), credentials).expect("loopback http is allowed");
    config.rate_limit = None;
    config.retry = RetryConfig {
        max_attempts: 12,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(30),
        budget: Duration::from_secs(10),
    };
    SisenseClient::new(config).expect("client builds")
}

/// A client of `family` (`fusion`, `legacy` or `periscope`) for the simulator, as the functions build them.
pub fn client_of(sim: &Simulator, family: &str) -> SisenseClient {
    let mut config = client(sim).config().clone();
    config.credentials = match family {
        "legacy" => Credentials::LegacyJwt {
            email: sim.username().into(),
            password: SecretString::from(sim.password().to_string()),
            api_token: SecretString::from(sim.rest_api_token().to_string()),
        },
        "periscope" => Credentials::periscope(vec![sisense::PeriscopeSite {
            name: sim.periscope_site().to_string(),
            api_key: SecretString::from(sim.periscope_api_key().to_string()),
            rbac: sim.periscope_rbac(),
            invited_by_email: sim.username().to_string(),
            base_url: Some(sisense::validate_base_url(sim.base_url()).expect("loopback")),
        }])
        .expect("one site"),
        _ => config.credentials,
    };
    SisenseClient::new(config).expect("client builds")
}

/// A CSV report the job wrote to `store` at `key`, one map per row.
pub fn report(store: &MemoryStore, key: &str) -> Vec<BTreeMap<String, String>> {
    let bytes = store.objects().remove(key).expect("report written");
    csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(|r| r.unwrap())
        .collect()
}

/// The `user_id`s of the rows with `status`.
pub fn ids_with(rows: &[BTreeMap<String, String>], status: &str) -> BTreeSet<String> {
    rows.iter()
        .filter(|r| r["status"] == status)
        .map(|r| r["user_id"].clone())
        .collect()
}

/// The `_id` of the simulator's role named `name` (API name, e.g. `consumer`).
pub fn role_id(sim: &Simulator, name: &str) -> Value {
    sim.roles()
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name}"))["_id"]
        .clone()
}

/// The simulator's stored users by id.
pub fn by_id(sim: &Simulator) -> BTreeMap<String, Value> {
    sim.users()
        .into_iter()
        .map(|u| (u["_id"].as_str().unwrap().to_string(), u))
        .collect()
}
