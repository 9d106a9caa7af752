//! Fusion's (and Windows 6.5+'s) authentication: a bearer token from a form-encoded login or pre-issued, cached
//! with single-flight login, so concurrent 401s cause one fresh login, not many.

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::Error;
use crate::retry::Attempts;
use crate::transport::{Authenticator, Presented, Transport, api_error, decode, unauthorized};

/// The login path, below the base URL.
const LOGIN: [&str; 4] = ["api", "v1", "authentication", "login"];

/// `Authorization: Bearer <token>`, from a login (refreshed once on a 401) or pre-issued (a 401 is final).
pub(crate) struct SessionAuth {
    login: Option<(String, SecretString)>,
    /// The generation (bumped at every login) and the token, once known. Held across the login request so that
    /// only one login runs at a time.
    current: Mutex<(u64, Option<SecretString>)>,
}

#[derive(Deserialize)]
struct LoginResponse {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    access_token: Option<SecretString>,
}

impl SessionAuth {
    /// Logs in with `username` and `password` when a token is needed.
    pub(crate) fn login(username: &str, password: &SecretString) -> Self {
        SessionAuth {
            login: Some((username.to_string(), password.clone())),
            current: Mutex::new((0, None)),
        }
    }

    /// Presents a pre-issued token.
    pub(crate) fn token(token: &SecretString) -> Self {
        SessionAuth {
            login: None,
            current: Mutex::new((0, Some(token.clone()))),
        }
    }

    /// Logs in (form-encoded); retried like any idempotent request.
    async fn log_in(&self, transport: &Transport) -> Result<SecretString, Error> {
        let Some((username, password)) = &self.login else {
            return Err(Error::Config("no credentials to log in with".into()));
        };
        let path = "/api/v1/authentication/login";
        let url = transport.url(None, &LOGIN)?;
        let mut attempts = Attempts::new(&transport.retry);
        loop {
            let form = [
                ("username", username.as_str()),
                ("password", password.expose_secret()),
            ];
            let request = transport.post_form(url.clone(), &form);
            let err = match transport.exchange(&Method::POST, path, request).await {
                Ok((status, body)) if status.is_success() => {
                    let parsed: LoginResponse = decode(&Method::POST, path, &body.bytes)?;
                    tracing::info!(username = %username, "logged in to Sisense");
                    return parsed.into_token();
                }
                Ok((StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, body)) => {
                    return Err(unauthorized(&body.bytes));
                }
                Ok((status, body)) => api_error(&Method::POST, path, status, body),
                Err(err) => err,
            };
            let delay = if err.is_retryable() {
                attempts.next_delay(err.retry_after(), &mut rand::rng())
            } else {
                None
            };
            let Some(delay) = delay else { return Err(err) };
            tracing::warn!(attempt = attempts.made() - 1, error = %err, "Sisense login failed transiently; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

#[async_trait]
impl Authenticator for SessionAuth {
    async fn present(&self, transport: &Transport) -> Result<Presented, Error> {
        let mut current = self.current.lock().await;
        if current.1.is_none() {
            let token = self.log_in(transport).await?;
            current.0 += 1;
            current.1 = Some(token);
        }
        let token = current.1.as_ref().map(|t| t.expose_secret()).unwrap_or("");
        Ok(Presented {
            header: AUTHORIZATION,
            value: SecretString::from(format!("Bearer {token}")),
            generation: current.0,
        })
    }

    /// Forgets the refused token (unless another task already logged in again) and asks for one more try.
    async fn refresh(&self, presented: &Presented, path: &str) -> bool {
        if self.login.is_none() {
            return false;
        }
        tracing::info!(path = %path, "Sisense answered 401; logging in again once");
        let mut current = self.current.lock().await;
        if current.0 == presented.generation {
            current.1 = None;
        }
        true
    }
}

impl LoginResponse {
    /// The token, or an `Unauthorized` error that says why there is none.
    fn into_token(self) -> Result<SecretString, Error> {
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
