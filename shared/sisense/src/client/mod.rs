//! The Sisense REST client: one transport (auth, retries, rate limit) and the `Directory` of each API family.

mod auth;
mod directory;
mod fusion;
mod jwt;
mod legacy;
mod periscope;
mod transport;

use std::fmt;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::{ClientConfig, Family};
use crate::error::Error;

/// A cloneable client for one Sisense installation, speaking the API family its credentials name; clones share
/// the token, the connection pool and the rate limit.
#[derive(Clone)]
pub struct SisenseClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    http: reqwest::Client,
    limiter: Option<DefaultDirectRateLimiter>,
    auth: auth::Auth,
}

impl fmt::Debug for SisenseClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SisenseClient")
            .field("family", &self.family())
            .field("base_url", &self.inner.config.base_url.as_str())
            .field("credentials", &self.inner.config.credentials)
            .finish_non_exhaustive()
    }
}

impl SisenseClient {
    /// Builds the client. TLS certificate verification is always on.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(
                config
                    .request_timeout
                    .min(std::time::Duration::from_secs(10)),
            )
            .user_agent(concat!("sisense-lifecycle/", env!("CARGO_PKG_VERSION")))
            .https_only(config.base_url.scheme() == "https")
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?;
        let limiter = config
            .rate_limit
            .map(|rps| RateLimiter::direct(Quota::per_second(rps)));
        let auth = auth::Auth::new(&config.credentials);
        Ok(SisenseClient {
            inner: Arc::new(Inner {
                config,
                http,
                limiter,
                auth,
            }),
        })
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The API family the client speaks.
    pub fn family(&self) -> Family {
        self.inner.config.credentials.family()
    }
}
