//! The client's one error type and the pure retry decision over it.

use std::time::Duration;

use reqwest::StatusCode;

/// How many bytes of a response body an error keeps.
const BODY_KEEP: usize = 4096;

/// Everything that can go wrong talking to Sisense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client was configured with something it refuses to use (bad URL, plain http to a remote host, ...).
    #[error("invalid Sisense client configuration: {0}")]
    Config(String),

    /// Sisense refused the credentials, or still answered 401 after one fresh login.
    #[error("Sisense answered 401 Unauthorized ({}): {message}", .code.map_or_else(|| "no error code".to_string(), |c| format!("code {c}")))]
    Unauthorized {
        /// Sisense error code, when the body carried one.
        code: Option<i64>,
        /// The message Sisense (or a proxy) gave.
        message: String,
        /// The raw body, truncated.
        body: String,
    },

    /// Sisense answered with a non-success HTTP status.
    #[error("Sisense answered HTTP {status} to {request}{}: {message}", .code.map_or_else(String::new, |c| format!(" (code {c})")))]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// Method and path of the request (no query, no host), e.g. `GET /api/v1/users`.
        request: String,
        /// Sisense error code, when the body carried one.
        code: Option<i64>,
        /// The message extracted from the body (JSON error, HTML title or first text line).
        message: String,
        /// The raw body, truncated.
        body: String,
        /// The server's `Retry-After`, when present and parseable.
        retry_after: Option<Duration>,
    },

    /// The request did not complete within the per-request timeout.
    #[error("{method} {path} timed out")]
    Timeout {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },

    /// No connection could be made; the request was never sent.
    #[error("could not connect to Sisense for {method} {path}: {source}")]
    Connect {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The server's TLS certificate was refused (an unknown authority, a wrong name, expired): final, never
    /// retried; the message says what to do.
    #[error(
        "the server's certificate is not trusted for {method} {path} ({reason}): if Sisense uses a certificate from \
         your own certificate authority, add that CA as caCertificate in the secret (CLI: --ca-cert FILE or \
         SISENSE_CA_CERT); TLS verification is never turned off"
    )]
    Tls {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// What the TLS library said about the certificate.
        reason: String,
    },

    /// The connection failed after the request was (possibly) sent, e.g. dropped mid-response.
    #[error("connection to Sisense failed during {method} {path}: {source}")]
    Transport {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The answer's body was being read when the runtime shut down; whether the request took effect is unknown.
    #[error("reading the answer to {method} {path} was interrupted: the runtime is shutting down")]
    Interrupted {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },

    /// A success status whose body is not the JSON we expected (e.g. an HTML login page from a proxy).
    #[error(
        "Sisense answered {method} {path} with a body that is not the expected JSON ({detail}); body starts: {snippet:?}"
    )]
    Decode {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// What was wrong (serde's message or the content type).
        detail: String,
        /// The start of the body.
        snippet: String,
    },

    /// Listing cannot be trusted (e.g. the server ignored `sort=_id`), so it stops rather than miss users.
    #[error("paging failed: {0}")]
    Paging(String),

    /// A create could not be confirmed: the POST may or may not have been applied and reconciling failed too.
    #[error("could not confirm whether user {email} was created: {source}")]
    Unconfirmed {
        /// The email the create was for.
        email: String,
        /// Why the create failed.
        #[source]
        source: Box<Error>,
    },

    /// The API family has no way to do what was asked (e.g. deactivate a Periscope user).
    #[error("not supported by {family}: {what}")]
    Unsupported {
        /// The API family, as people name it.
        family: &'static str,
        /// What cannot be done, and what to do instead when there is an alternative.
        what: String,
    },
}

impl Error {
    /// Whether retrying the same request may succeed: 429, 500, 502, 503, 504, timeouts and transport failures.
    /// Idempotent requests are resent on these; a create only after reconciling (it may have been applied).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => is_retryable_status(*status),
            Error::Timeout { .. } | Error::Connect { .. } | Error::Transport { .. } => true,
            Error::Config(_)
            | Error::Tls { .. }
            | Error::Unauthorized { .. }
            | Error::Decode { .. }
            | Error::Paging(_)
            | Error::Unconfirmed { .. }
            | Error::Unsupported { .. }
            | Error::Interrupted { .. } => false,
        }
    }

    /// Whether a non-idempotent request (POST create) certainly had no effect, so sending it again is safe:
    /// a 429 (rejected before processing) or a connection that never opened.
    pub fn is_retryable_without_effect(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status == StatusCode::TOO_MANY_REQUESTS,
            Error::Connect { .. } => true,
            _ => false,
        }
    }

    /// The server's requested wait before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            _ => None,
        }
    }

    /// Whether this is a 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Classifies a reqwest failure into timeout, connect or transport.
    pub(crate) fn from_reqwest(method: &str, path: &str, source: reqwest::Error) -> Self {
        let (method, path) = (method.to_string(), path.to_string());
        if let Some(reason) = certificate_problem(&source) {
            return Error::Tls {
                method,
                path,
                reason,
            };
        }
        if source.is_timeout() {
            Error::Timeout { method, path }
        } else if source.is_connect() {
            Error::Connect {
                method,
                path,
                source,
            }
        } else {
            Error::Transport {
                method,
                path,
                source,
            }
        }
    }
}

/// What the TLS library said, when `error` is (somewhere in its chain) a refused server certificate. An
/// `io::Error` hides its payload from `source()` (and may wrap another `io::Error`), so each one is opened too.
fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(
        problem @ (rustls::Error::InvalidCertificate(_)
        | rustls::Error::InvalidCertRevocationList(_)),
    ) = error.downcast_ref::<rustls::Error>()
    {
        return Some(problem.to_string());
    }
    let payload = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|payload| payload as &(dyn std::error::Error + 'static));
    payload
        .and_then(certificate_problem)
        .or_else(|| error.source().and_then(certificate_problem))
}

/// The statuses a retry may cure. A 500 is among them: Sisense answers it for transient failures too (a node
/// restarting, a database timeout), and an idempotent request loses nothing by being sent again.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// What an error body says, parsed tolerantly (Sisense JSON, `{success:false,message}`, plain text or HTML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// Sisense error code, when present.
    pub code: Option<i64>,
    /// A human readable message; never empty.
    pub message: String,
}

impl ErrorBody {
    /// Extracts code and message from a body of any shape.
    pub fn parse(status: StatusCode, body: &str) -> Self {
        let fallback = || {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_string()
        };
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
            let err = value.get("error").unwrap_or(&value);
            let code = err.get("code").and_then(serde_json::Value::as_i64);
            let message = err
                .get("message")
                .or_else(|| value.get("message"))
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .or_else(|| err.as_str().map(str::to_string))
                .unwrap_or_else(fallback);
            return ErrorBody { code, message };
        }
        let trimmed = body.trim();
        if looks_like_html(trimmed) {
            let title = html_title(trimmed).unwrap_or_default();
            let message = if title.is_empty() {
                format!("an HTML page instead of JSON ({})", fallback())
            } else {
                format!("an HTML page instead of JSON: {title}")
            };
            return ErrorBody {
                code: None,
                message,
            };
        }
        let first_line = trimmed.lines().next().unwrap_or("").trim();
        let message = if first_line.is_empty() {
            fallback()
        } else {
            truncate(first_line, 300)
        };
        ErrorBody {
            code: None,
            message,
        }
    }
}

pub(crate) fn looks_like_html(body: &str) -> bool {
    let head = body
        .get(..body.len().min(200))
        .unwrap_or(body)
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<head")
}

fn html_title(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = lower[start..].find("</title>")? + start;
    Some(body.get(start..end)?.trim().to_string())
}

/// Keeps at most `max` bytes of `s`, cut on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The part of a body an error keeps.
pub(crate) fn keep_body(body: &str) -> String {
    truncate(body, BODY_KEEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            status: StatusCode::from_u16(status).unwrap(),
            request: "GET /api/v1/users".into(),
            code: None,
            message: String::new(),
            body: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn retryable_statuses_are_exactly_429_500_502_503_504() {
        for status in 100..600u16 {
            let Ok(code) = StatusCode::from_u16(status) else {
                continue;
            };
            assert_eq!(
                is_retryable_status(code),
                matches!(status, 429 | 500 | 502 | 503 | 504),
                "status {status}"
            );
            assert_eq!(api(status).is_retryable(), is_retryable_status(code));
        }
    }

    #[test]
    fn timeouts_are_retryable_but_not_for_posts() {
        let timeout = Error::Timeout {
            method: "POST".into(),
            path: "/x".into(),
        };
        assert!(timeout.is_retryable());
        assert!(!timeout.is_retryable_without_effect());
        assert!(api(429).is_retryable_without_effect());
        assert!(!api(503).is_retryable_without_effect());
    }

    #[test]
    fn non_transient_errors_are_not_retryable() {
        assert!(!Error::Config("x".into()).is_retryable());
        let unauthorized = Error::Unauthorized {
            code: Some(5001),
            message: "m".into(),
            body: String::new(),
        };
        assert!(!unauthorized.is_retryable());
        let decode = Error::Decode {
            method: "GET".into(),
            path: "/".into(),
            detail: "d".into(),
            snippet: "s".into(),
        };
        assert!(!decode.is_retryable());
        assert!(!api(400).is_retryable());
        assert!(!api(501).is_retryable());
        assert!(
            !api(500).is_retryable_without_effect(),
            "a 500 on a create may have been applied"
        );
    }

    #[test]
    fn parses_sisense_error_json() {
        let body = r#"{"error":{"code":5001,"message":"Invalid domain.","status":401,"httpMessage":"Unauthorized"}}"#;
        let parsed = ErrorBody::parse(StatusCode::UNAUTHORIZED, body);
        assert_eq!(
            parsed,
            ErrorBody {
                code: Some(5001),
                message: "Invalid domain.".into()
            }
        );
    }

    #[test]
    fn parses_login_failure_json() {
        let body = r#"{"success":false,"message":"Invalid username or password"}"#;
        let parsed = ErrorBody::parse(StatusCode::UNAUTHORIZED, body);
        assert_eq!(parsed.message, "Invalid username or password");
        assert_eq!(parsed.code, None);
    }

    #[test]
    fn parses_html_proxy_page() {
        let body = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
        let parsed = ErrorBody::parse(StatusCode::BAD_GATEWAY, body);
        assert_eq!(
            parsed.message,
            "an HTML page instead of JSON: 502 Bad Gateway"
        );
    }

    #[test]
    fn parses_plain_text_and_empty_bodies() {
        assert_eq!(
            ErrorBody::parse(StatusCode::SERVICE_UNAVAILABLE, "upstream busy\nmore").message,
            "upstream busy"
        );
        assert_eq!(
            ErrorBody::parse(StatusCode::SERVICE_UNAVAILABLE, "  ").message,
            "Service Unavailable"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
