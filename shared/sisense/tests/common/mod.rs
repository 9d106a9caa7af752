//! Shared set-up: a simulator and a client pointed at it with fast retries.

#![allow(dead_code)]

use std::time::Duration;

use sisense::{ClientConfig, Credentials, RetryConfig, SecretString, SisenseClient};
use sisense_sim::{Faults, SimConfig, Simulator};

pub async fn sim(users: usize, faults: Faults) -> Simulator {
    Simulator::start(SimConfig {
        users,
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 12,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(40),
        budget: Duration::from_secs(10),
    }
}

pub fn config(sim: &Simulator) -> ClientConfig {
    let credentials = Credentials::Password {
        username: sim.username().to_string(),
        password: SecretString::from(sim.password().to_string()),
    };
    let mut config =
        ClientConfig::new(sim.base_url(), credentials).expect("loopback http is allowed");
    config.retry = fast_retry();
    config.rate_limit = None;
    config.request_timeout = Duration::from_secs(5);
    config
}

pub fn client(sim: &Simulator) -> SisenseClient {
    SisenseClient::new(config(sim)).expect("client builds")
}

/// The same installation through its legacy Windows v0.9 API (`x-api-key` JWTs).
pub fn legacy_client(sim: &Simulator) -> SisenseClient {
    let mut config = config(sim);
    config.credentials = Credentials::LegacyJwt {
        email: sim.username().to_string(),
        password: SecretString::from(sim.password().to_string()),
        api_token: SecretString::from(sim.rest_api_token().to_string()),
    };
    SisenseClient::new(config).expect("client builds")
}

/// The simulator's Periscope site, at the simulator's own URL, inviting as the service account.
pub fn periscope_site(sim: &Simulator) -> sisense::PeriscopeSite {
    sisense::PeriscopeSite {
        name: sim.periscope_site().to_string(),
        api_key: SecretString::from(sim.periscope_api_key().to_string()),
        rbac: sim.periscope_rbac(),
        invited_by_email: sim.username().to_string(),
        base_url: Some(sisense::validate_base_url(sim.base_url()).expect("loopback URL")),
    }
}

/// A Periscope client for the sites the simulators answer as (one site per simulator).
pub fn periscope_client(sims: &[&Simulator]) -> SisenseClient {
    let mut config = config(sims[0]);
    config.credentials =
        Credentials::periscope(sims.iter().map(|s| periscope_site(s)).collect()).expect("sites");
    SisenseClient::new(config).expect("client builds")
}

/// A simulator answering as Periscope site `site`.
pub async fn periscope_sim(users: usize, site: &str, rbac: bool, faults: Faults) -> Simulator {
    Simulator::start(SimConfig {
        users,
        faults,
        periscope_site: site.into(),
        periscope_rbac: rbac,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}
