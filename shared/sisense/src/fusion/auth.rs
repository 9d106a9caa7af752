//! Token cache with single-flight login: concurrent 401s cause one fresh login, not many.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::Credentials;
use crate::error::Error;

/// A token and the generation it belongs to (bumped at every login).
#[derive(Clone)]
pub(super) struct Token {
    pub(super) value: SecretString,
    pub(super) generation: u64,
}

pub(super) struct TokenCache {
    /// `Some` once a token is known. Held across the login request so that only one login runs at a time.
    current: Mutex<(u64, Option<SecretString>)>,
    can_refresh: bool,
}

#[derive(Deserialize)]
pub(super) struct LoginResponse {
    #[serde(default)]
    pub(super) success: Option<bool>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) access_token: Option<SecretString>,
}

impl TokenCache {
    pub(super) fn new(credentials: &Credentials) -> Self {
        let (token, can_refresh) = match credentials {
            Credentials::Password { .. } => (None, true),
            Credentials::Token(token) => (Some(token.clone()), false),
        };
        TokenCache {
            current: Mutex::new((0, token)),
            can_refresh,
        }
    }

    /// Whether a 401 can be cured by logging in again.
    pub(super) fn can_refresh(&self) -> bool {
        self.can_refresh
    }

    /// The cached token, or the one `login` returns (called at most once however many tasks wait).
    pub(super) async fn get<F, Fut>(&self, login: F) -> Result<Token, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SecretString, Error>>,
    {
        let mut current = self.current.lock().await;
        if let Some(value) = &current.1 {
            return Ok(Token {
                value: value.clone(),
                generation: current.0,
            });
        }
        let value = login().await?;
        current.0 += 1;
        current.1 = Some(value.clone());
        Ok(Token {
            value,
            generation: current.0,
        })
    }

    /// Forgets the token of `generation` (a later token, from another task's login, is kept).
    pub(super) async fn invalidate(&self, generation: u64) {
        if !self.can_refresh {
            return;
        }
        let mut current = self.current.lock().await;
        if current.0 == generation {
            current.1 = None;
        }
    }
}

impl LoginResponse {
    /// The token, or an `Unauthorized` error that says why there is none.
    pub(super) fn into_token(self) -> Result<SecretString, Error> {
        match (self.success, self.access_token) {
            (Some(false), _) | (_, None) => Err(Error::Unauthorized {
                code: None,
                message: self
                    .message
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "login returned no access_token".into()),
                body: String::new(),
            }),
            (_, Some(token)) if token.expose_secret().is_empty() => Err(Error::Unauthorized {
                code: None,
                message: "login returned an empty access_token".into(),
                body: String::new(),
            }),
            (_, Some(token)) => Ok(token),
        }
    }
}
