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
