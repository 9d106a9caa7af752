//! One request with rate limiting, authentication, 401 re-login and retries.

use std::time::Instant;

use chrono::Utc;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use super::SisenseClient;
use super::auth::{Auth, LoginResponse, Presented};
use crate::config::Credentials;
use crate::error::{Error, ErrorBody, keep_body, looks_like_html, truncate};
use crate::retry::{Attempts, parse_retry_after};

/// The legacy family's authentication header.
static API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// Periscope's authentication header.
static PARTNER_AUTH: HeaderName = HeaderName::from_static("http-x-partner-auth");

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Safety {
    /// Repeating it has the same effect (GET, PATCH with absolute values, DELETE).
    Idempotent,
    /// Repeat only when the failure proves it had no effect (429, connection never opened): POST creates.
    NoEffectOnly,
}

/// A request to send: method, path below the base URL, query and JSON body.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) segments: &'a [&'a str],
    pub(super) query: Vec<(&'static str, String)>,
    pub(super) body: Option<Vec<u8>>,
    pub(super) safety: Safety,
    /// Periscope: the index of the site (in the credentials) the request addresses.
    pub(super) site: usize,
    /// Extra headers (Periscope's `HTTP-X-EMAIL`).
    pub(super) headers: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    pub(super) fn get(segments: &'a [&'a str]) -> Self {
        Call {
            method: Method::GET,
            segments,
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
            site: 0,
            headers: Vec::new(),
        }
    }

    pub(super) fn on_site(mut self, site: usize) -> Self {
        self.site = site;
        self
    }

    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(super) fn with_json(
        mut self,
        method: Method,
        body: &impl serde::Serialize,
    ) -> Result<Self, Error> {
        self.method = method;
        self.body = Some(
            serde_json::to_vec(body)
                .map_err(|e| Error::Config(format!("cannot encode request: {e}")))?,
        );
        Ok(self)
    }

    pub(super) fn safety(mut self, safety: Safety) -> Self {
        self.safety = safety;
        self
    }

    pub(super) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(super) fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

/// A successful response.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

enum Failure {
    Unauthorized(Error),
    Other(Error),
}

impl SisenseClient {
    fn url(&self, segments: &[&str], site: usize) -> Result<Url, Error> {
        let mut url = self
            .sites()
            .get(site)
            .and_then(|s| s.base_url.clone())
            .unwrap_or_else(|| self.inner.config.base_url.clone());
        url.path_segments_mut()
            .map_err(|()| Error::Config("base URL cannot carry a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn throttle(&self) {
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
    }

    /// Sends `call`, logging in when needed, re-logging once on a 401, retrying per `call.safety`.
    pub(super) async fn send(&self, call: &Call<'_>) -> Result<Reply, Error> {
        let mut attempts = Attempts::new(&self.inner.config.retry);
        let mut relogged = false;
        loop {
            let presented = match &self.inner.auth {
                Auth::Session(cache) => Presented::Bearer(cache.get(|| self.login()).await?),
                Auth::ApiKey(signer) => Presented::ApiKey(signer.sign(Utc::now().timestamp())?),
                Auth::Partner => Presented::Partner(self.partner_key(call.site)?),
            };
            match self.attempt(call, &presented).await {
                Ok(reply) => return Ok(reply),
                Err(Failure::Unauthorized(err)) => {
                    if relogged || !self.inner.auth.can_refresh() {
                        return Err(err);
                    }
                    match (&self.inner.auth, &presented) {
                        (Auth::Session(cache), Presented::Bearer(token)) => {
                            tracing::info!(path = %call.path(), "Sisense answered 401; logging in again once");
                            cache.invalidate(token.generation).await;
                        }
                        _ => {
                            tracing::info!(path = %call.path(), "Sisense answered 401; signing a fresh x-api-key once");
                        }
                    }
                    relogged = true;
                }
                Err(Failure::Other(err)) => {
                    let may_retry = match call.safety {
                        Safety::Idempotent => err.is_retryable(),
                        Safety::NoEffectOnly => err.is_retryable_without_effect(),
                    };
                    let delay = if may_retry {
                        attempts.next_delay(err.retry_after(), &mut rand::rng())
                    } else {
                        None
                    };
                    let Some(delay) = delay else { return Err(err) };
                    tracing::warn!(
                        method = %call.method, path = %call.path(), attempt = attempts.made() - 1,
                        delay_ms = delay.as_millis() as u64, error = %err, "transient Sisense failure; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call<'_>, presented: &Presented) -> Result<Reply, Failure> {
        let url = self.url(call.segments, call.site).map_err(Failure::Other)?;
        let (name, value) = match presented {
            Presented::Bearer(token) => (
                AUTHORIZATION,
                format!("Bearer {}", token.value.expose_secret()),
            ),
            Presented::ApiKey(jwt) => (API_KEY.clone(), jwt.expose_secret().to_string()),
            Presented::Partner(key) => (PARTNER_AUTH.clone(), key.expose_secret().to_string()),
        };
        let mut auth = HeaderValue::from_str(&value).map_err(|_| {
            Failure::Other(Error::Config(
                "the API token contains characters not allowed in a header".into(),
            ))
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header(name, auth);
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        self.throttle().await;
        let started = Instant::now();
        let (status, body) = self
            .exchange(&call.method, &call.path(), request)
            .await
            .map_err(Failure::Other)?;
        tracing::debug!(method = %call.method, path = %call.path(), status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64, "sisense request");
        match status {
            s if s.is_success() => Ok(Reply {
                status,
                body: body.0,
            }),
            StatusCode::UNAUTHORIZED => Err(Failure::Unauthorized(unauthorized(&body.0))),
            _ => Err(Failure::Other(api_error(
                &call.method,
                &call.path(),
                status,
                body,
            ))),
        }
    }

    /// Sends a request and reads the whole body; transport failures are classified.
    async fn exchange(
        &self,
        method: &Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, RawBody), Error> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::from_reqwest(method.as_str(), path, e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::from_reqwest(method.as_str(), path, e))?;
        Ok((status, RawBody(body.to_vec(), retry_after)))
    }

    /// Logs in with username and password (form-encoded); retried like any idempotent request.
    async fn login(&self) -> Result<SecretString, Error> {
        let Credentials::Password { username, password } = &self.inner.config.credentials else {
            return Err(Error::Config("no credentials to log in with".into()));
        };
        let path = "/api/v1/authentication/login";
        let url = self.url(&["api", "v1", "authentication", "login"], 0)?;
        let mut attempts = Attempts::new(&self.inner.config.retry);
        loop {
            self.throttle().await;
            let form = [
                ("username", username.as_str()),
                ("password", password.expose_secret()),
            ];
            let request = self.inner.http.post(url.clone()).form(&form);
            let err = match self.exchange(&Method::POST, path, request).await {
                Ok((status, body)) if status.is_success() => {
                    let parsed: LoginResponse = decode(&Method::POST, path, &body.0)?;
                    tracing::info!(username = %username, "logged in to Sisense");
                    return parsed.into_token();
                }
                Ok((StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, body)) => {
                    return Err(unauthorized(&body.0));
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

    /// `site:api-key` for the Periscope site at `index`.
    fn partner_key(&self, index: usize) -> Result<SecretString, Error> {
        self.sites()
            .get(index)
            .map(|s| SecretString::from(format!("{}:{}", s.name, s.api_key.expose_secret())))
            .ok_or_else(|| Error::Config(format!("no Periscope site number {index}")))
    }

    /// Sends `call` and decodes a JSON reply.
    pub(super) async fn json<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, Error> {
        let reply = self.send(call).await?;
        decode(&call.method, &call.path(), &reply.body)
    }
}

/// A body with the `Retry-After` that came with it.
struct RawBody(Vec<u8>, Option<std::time::Duration>);

fn unauthorized(body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let parsed = ErrorBody::parse(StatusCode::UNAUTHORIZED, &text);
    Error::Unauthorized {
        code: parsed.code,
        message: parsed.message,
        body: keep_body(&text),
    }
}

fn api_error(method: &Method, path: &str, status: StatusCode, body: RawBody) -> Error {
    let text = String::from_utf8_lossy(&body.0);
    let parsed = ErrorBody::parse(status, &text);
    Error::Api {
        status,
        request: format!("{method} {path}"),
        code: parsed.code,
        message: parsed.message,
        body: keep_body(&text),
        retry_after: body.1,
    }
}

/// Decodes JSON, turning HTML or malformed bodies into a specific `Decode` error.
pub(super) fn decode<T: DeserializeOwned>(
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        let detail = if looks_like_html(text.trim_start()) {
            "got an HTML page; is the base URL right, or is a proxy or SSO page in the way?"
                .to_string()
        } else if text.trim().is_empty() {
            "the body is empty".to_string()
        } else {
            e.to_string()
        };
        Error::Decode {
            method: method.to_string(),
            path: path.to_string(),
            detail,
            snippet: truncate(text.trim(), 200),
        }
    })
}
