//! The transport every family shares: one request with rate limiting, the family's authentication, one retry
//! with fresh credentials on a 401, retries of transient failures, and a debug line per request.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::body::{Answer, BodyError};
use crate::config::ClientConfig;
use crate::error::{Error, ErrorBody, keep_body, looks_like_html, truncate};
use crate::retry::{Attempts, RetryConfig, parse_retry_after};

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Repeating it has the same effect (GET, PATCH with absolute values, DELETE).
    Idempotent,
    /// Repeat only when the failure proves it had no effect (429, connection never opened): POST creates.
    NoEffectOnly,
}

/// A request to send: method, path below the base URL, query, headers and JSON body.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) segments: &'a [&'a str],
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) safety: Safety,
    /// Where the API is when it differs from the configured base URL (a Periscope site of its own).
    pub(crate) base_url: Option<&'a Url>,
    /// Extra headers (Periscope's `HTTP-X-EMAIL`).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    /// A GET of `segments`.
    pub(crate) fn get(segments: &'a [&'a str]) -> Self {
        Call {
            method: Method::GET,
            segments,
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
            base_url: None,
            headers: Vec::new(),
        }
    }

    /// A DELETE of `segments` (idempotent: a repeat deletes nothing more).
    pub(crate) fn delete(segments: &'a [&'a str]) -> Self {
        Call {
            method: Method::DELETE,
            ..Call::get(segments)
        }
    }

    /// The same call against another base URL.
    pub(crate) fn at(mut self, base_url: Option<&'a Url>) -> Self {
        self.base_url = base_url;
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn with_json(
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

    pub(crate) fn safety(mut self, safety: Safety) -> Self {
        self.safety = safety;
        self
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(crate) fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

/// Which rate budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// GETs: `ClientConfig::read_rate_limit`.
    Read,
    /// Everything else: `ClientConfig::rate_limit`.
    Write,
}

impl Budget {
    /// The budget of a request with `method`.
    pub(crate) fn of(method: &Method) -> Self {
        if *method == Method::GET {
            Budget::Read
        } else {
            Budget::Write
        }
    }
}

/// A successful response.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// The header one attempt authenticates with, and the generation of the credential (bumped at every login).
pub(crate) struct Presented {
    pub(crate) header: HeaderName,
    pub(crate) value: SecretString,
    pub(crate) generation: u64,
}

/// How one family's requests authenticate.
#[async_trait]
pub(crate) trait Authenticator: Send + Sync {
    /// The header for the next attempt (logging in first when needed).
    async fn present(&self, transport: &Transport) -> Result<Presented, Error>;
    /// After a 401 with `presented`: whether one more attempt with fresh credentials may cure it (and
    /// forgetting what was refused).
    async fn refresh(&self, presented: &Presented, path: &str) -> bool;
}

enum Failure {
    Unauthorized(Error),
    Other(Error),
}

/// The certificates of a PEM bundle (a private CA, trusted besides the public roots); an error names what is
/// wrong without echoing the text.
fn private_roots(pem: &str) -> Result<Vec<reqwest::Certificate>, Error> {
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
        Error::Config(format!(
            "caCertificate is not a PEM certificate bundle: {e}"
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::Config(
            "caCertificate holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)"
                .into(),
        ));
    }
    Ok(certs)
}

/// HTTP, rate limit and retries, shared by every request of a directory.
pub(crate) struct Transport {
    http: reqwest::Client,
    /// The write budget (every request but a GET).
    limiter: Option<DefaultDirectRateLimiter>,
    /// The read budget (GETs).
    read_limiter: Option<DefaultDirectRateLimiter>,
    pub(crate) retry: RetryConfig,
    base_url: Url,
}

impl Transport {
    /// Builds the HTTP client. TLS certificate verification is always on.
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("sisense-lifecycle/", env!("CARGO_PKG_VERSION")))
            .https_only(config.base_url.scheme() == "https");
        if let Some(pem) = &config.ca_certificates {
            builder = builder.tls_certs_merge(private_roots(pem)?);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Transport {
            http,
            limiter: config.rate_limit.map(limiter),
            read_limiter: config.read_rate_limit.map(limiter),
            retry: config.retry.clone(),
            base_url: config.base_url.clone(),
        })
    }

    /// `segments` below `base` (or the configured base URL).
    pub(crate) fn url(&self, base: Option<&Url>, segments: &[&str]) -> Result<Url, Error> {
        let mut url = base.unwrap_or(&self.base_url).clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config("base URL cannot carry a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Waits for `method`'s budget: reads and writes are limited separately.
    async fn throttle(&self, method: &Method) {
        let limiter = match Budget::of(method) {
            Budget::Read => &self.read_limiter,
            Budget::Write => &self.limiter,
        };
        if let Some(limiter) = limiter {
            limiter.until_ready().await;
        }
    }

    /// Sends `call` with `auth`, once more with fresh credentials on a 401, retrying per `call.safety`.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        auth: &dyn Authenticator,
    ) -> Result<Reply, Error> {
        let mut attempts = Attempts::new(&self.retry);
        let mut refreshed = false;
        loop {
            let presented = auth.present(self).await?;
            match self.attempt(call, &presented).await {
                Ok(reply) => return Ok(reply),
                Err(Failure::Unauthorized(err)) => {
                    if refreshed || !auth.refresh(&presented, &call.path()).await {
                        return Err(err);
                    }
                    refreshed = true;
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

    /// Sends `call` and decodes a JSON reply.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        auth: &dyn Authenticator,
    ) -> Result<T, Error> {
        let reply = self.send(call, auth).await?;
        decode(&call.method, &call.path(), &reply.body)
    }

    async fn attempt(&self, call: &Call<'_>, presented: &Presented) -> Result<Reply, Failure> {
        let url = self
            .url(call.base_url, call.segments)
            .map_err(Failure::Other)?;
        let mut auth = HeaderValue::from_str(presented.value.expose_secret()).map_err(|_| {
            Failure::Other(Error::Config(
                "the API token contains characters not allowed in a header".into(),
            ))
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(presented.header.clone(), auth);
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
                body: body.bytes,
            }),
            StatusCode::UNAUTHORIZED => Err(Failure::Unauthorized(unauthorized(&body.bytes))),
            _ => Err(Failure::Other(api_error(
                &call.method,
                &call.path(),
                status,
                body,
            ))),
        }
    }

    /// Waits for the rate limit, then sends a request and reads its whole answer in a task of their own (so the
    /// exchange goes on while the caller is not polled); transport failures are classified.
    pub(crate) async fn exchange(
        &self,
        method: &Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, RawBody), Error> {
        self.throttle(method).await;
        let Answer {
            status,
            retry_after,
            bytes,
        } = crate::body::exchange(request).await.map_err(|e| match e {
            BodyError::Read(e) => Error::from_reqwest(method.as_str(), path, e),
            BodyError::Interrupted => Error::Interrupted {
                method: method.to_string(),
                path: path.to_string(),
            },
        })?;
        let retry_after = retry_after.and_then(|v| parse_retry_after(&v, Utc::now()));
        Ok((status, RawBody { bytes, retry_after }))
    }

    /// A POST of a form (the Fusion login), to be sent with [`Transport::exchange`].
    pub(crate) fn post_form(&self, url: Url, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http.post(url).form(form)
    }
}

fn limiter(rps: NonZeroU32) -> DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(rps))
}

/// A body with the `Retry-After` that came with it.
pub(crate) struct RawBody {
    pub(crate) bytes: Vec<u8>,
    retry_after: Option<Duration>,
}

/// The `Unauthorized` error a 401 (or a refused login) body describes.
pub(crate) fn unauthorized(body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let parsed = ErrorBody::parse(StatusCode::UNAUTHORIZED, &text);
    Error::Unauthorized {
        code: parsed.code,
        message: parsed.message,
        body: keep_body(&text),
    }
}

/// The `Api` error of a failed response.
pub(crate) fn api_error(method: &Method, path: &str, status: StatusCode, body: RawBody) -> Error {
    let text = String::from_utf8_lossy(&body.bytes);
    let parsed = ErrorBody::parse(status, &text);
    Error::Api {
        status,
        request: format!("{method} {path}"),
        code: parsed.code,
        message: parsed.message,
        body: keep_body(&text),
        retry_after: body.retry_after,
    }
}

/// Decodes JSON, turning HTML or malformed bodies into a specific `Decode` error.
pub(crate) fn decode<T: DeserializeOwned>(
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

/// A 404 as "absent", for reads and deletes.
pub(crate) fn absent_if_not_found<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn gets_spend_the_read_budget_and_everything_else_the_write_budget() {
        assert_eq!(Budget::of(&Method::GET), Budget::Read);
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(Budget::of(&method), Budget::Write, "{method}");
        }
    }
}
