//! Shared set-up: a simulator at a fixed "now" and a client for it with fast retries and no rate limit.

#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
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
