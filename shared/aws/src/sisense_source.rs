//! The Sisense client a function builds from its secret on first use and keeps for the sandbox's lifetime.

use std::num::NonZeroU32;
use std::time::Duration;

use sisense::SisenseClient;
use tokio::sync::Mutex;

use crate::env::{ConfigError, flag, parsed, required};
use crate::function_error::FunctionError;
use crate::secret::{SecretError, load_client_config};

/// Why no Sisense client could be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// An environment variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Sisense secret could not be read or used.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl SetupError {
    /// The stable error type reported to Lambda.
    pub fn error_type(&self) -> &'static str {
        match self {
            SetupError::Config(_) => "ConfigError",
            SetupError::Secret(_) => "SecretError",
        }
    }
}

/// Builds the client from `SISENSE_SECRET_ID` (plus `SISENSE_RATE_LIMIT`, `SISENSE_READ_RATE_LIMIT`,
/// `SISENSE_REQUEST_TIMEOUT_SECS`,
/// `SISENSE_NOTIFY_NEW_USERS`) once
/// and hands out clones; [`SisenseSource::forget_if_unauthorized`] drops it so a rotated secret is read again.
pub struct SisenseSource {
    secrets: aws_sdk_secretsmanager::Client,
    cached: Mutex<Option<SisenseClient>>,
}

impl SisenseSource {
    /// A source reading secrets with `secrets`.
    pub fn new(secrets: aws_sdk_secretsmanager::Client) -> Self {
        SisenseSource {
            secrets,
            cached: Mutex::new(None),
        }
    }

    /// The client, reading the secret on first use.
    pub async fn client(&self) -> Result<SisenseClient, SetupError> {
        let mut cached = self.cached.lock().await;
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let secret_id = required("SISENSE_SECRET_ID")?;
        let rate_limit =
            NonZeroU32::new(parsed("SISENSE_RATE_LIMIT", sisense::DEFAULT_RATE_LIMIT)?);
        let reads = sisense::DEFAULT_READ_RATE_LIMIT;
        let read_rate_limit = NonZeroU32::new(parsed("SISENSE_READ_RATE_LIMIT", reads)?);
        let timeout = Duration::from_secs(parsed("SISENSE_REQUEST_TIMEOUT_SECS", 30)?);
        let mut config = load_client_config(&self.secrets, &secret_id).await?;
        config.rate_limit = rate_limit;
        config.read_rate_limit = read_rate_limit;
        config.request_timeout = timeout;
        config.notify_new_users = flag("SISENSE_NOTIFY_NEW_USERS", false)?;
        let client = SisenseClient::new(config).map_err(|e| SecretError::Invalid {
            id: secret_id,
            reason: e.to_string(),
        })?;
        *cached = Some(client.clone());
        Ok(client)
    }

    /// Forgets the client when Sisense refused its credentials, so the next run re-reads the secret.
    pub async fn forget_if_unauthorized<T>(&self, result: &Result<T, FunctionError>) {
        if let Err(e) = result
            && matches!(e.sisense(), Some(sisense::Error::Unauthorized { .. }))
        {
            *self.cached.lock().await = None;
        }
    }
}
