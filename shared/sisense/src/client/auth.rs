//! How requests authenticate: a session token (Fusion; cached with single-flight login, so concurrent 401s cause
//! one fresh login, not many), a per-request signed `x-api-key` (legacy) or a site's partner key (Periscope).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::jwt::ApiKeySigner;
use crate::config::Credentials;
use crate::error::Error;

/// The authentication of a client.
pub(super) enum Auth {
    /// Fusion: a bearer token, from a login or pre-issued.
    Session(TokenCache),
    /// Legacy: a JWT signed for every request.
    ApiKey(ApiKeySigner),
    /// Periscope: `site:api-key` of the site a request addresses (from the credentials).
    Partner,
}

/// What one attempt presents.
pub(super) enum Presented {
    /// `Authorization: Bearer <token>`.
    Bearer(Token),
    /// `x-api-key: <jwt>`.
    ApiKey(SecretString),
    /// `HTTP-X-PARTNER-AUTH: <site>:<api key>`.
    Partner(SecretString),
}

impl Auth {
    pub(super) fn new(credentials: &Credentials) -> Self {
        match credentials {
            Credentials::LegacyJwt {
                email,
                password,
                api_token,
            } => Auth::ApiKey(ApiKeySigner::new(email, password, api_token)),
            Credentials::Token(token) => Auth::Session(TokenCache::new(Some(token.clone()))),
            Credentials::Password { .. } => Auth::Session(TokenCache::new(None)),
            Credentials::Periscope { .. } => Auth::Partner,
        }
    }

    /// Whether a 401 may be cured by trying again with fresh credentials (a new login, or a re-signed key).
    pub(super) fn can_refresh(&self) -> bool {
        match self {
            Auth::Session(cache) => cache.can_refresh,
            Auth::ApiKey(_) => true,
            Auth::Partner => false,
        }
    }
}

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
    /// A cache holding a pre-issued token (a 401 is then final), or empty until the first login.
    fn new(pre_issued: Option<SecretString>) -> Self {
        TokenCache {
            can_refresh: pre_issued.is_none(),
            current: Mutex::new((0, pre_issued)),
        }
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
