//! Fault injection and the request log, as one axum middleware in front of every route.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::Value;

use crate::Shared;
use crate::state::SimError;

/// What the simulator does wrong, and how often. Fractions are per request, in `[0, 1]`.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added to every request.
    pub latency: Duration,
    /// Fraction of requests that get an extra `slow_latency` (to trigger client timeouts).
    pub slow_rate: f64,
    /// The extra latency of slow requests.
    pub slow_latency: Duration,
    /// Fraction answered 429 Too Many Requests (nothing applied).
    pub rate_429: f64,
    /// Fraction answered 500/502/503/504 (nothing applied; 502/504 as proxy HTML pages).
    pub rate_5xx: f64,
    /// Fraction answered 500 Internal Server Error (nothing applied), besides those of `rate_5xx`.
    pub rate_500: f64,
    /// Fraction whose connection is dropped before a complete response (nothing applied).
    pub rate_drop: f64,
    /// Fraction of successful writes (POST/PATCH/DELETE) applied but whose response is lost (dropped connection).
    pub lose_write_response_rate: f64,
    /// A login token stops working after this many authenticated requests.
    pub token_expiry_after: Option<u64>,
    /// Every token is refused (login still succeeds): the "second 401" case.
    pub reject_all_tokens: bool,
    /// `Retry-After` seconds sent with 429 and 503.
    pub retry_after: Option<u64>,
    /// PATCH and DELETE answer success but change nothing (a server that ignores writes).
    pub ignore_writes: bool,
    /// Listings answer at most this many users per page, whatever `limit` asked (the contract documents no
    /// maximum, so a server may cap silently).
    pub page_cap: Option<usize>,
    /// Listings answer an empty page from this offset on, although more users exist (a server whose result
    /// window ends early): only the user count reveals it.
    pub max_skip: Option<usize>,
    /// `GET /api/v1/users` ignores `fields` and sends every field of every user (a release or proxy that does
    /// not apply the whitelist).
    pub ignore_fields: bool,
    /// Periscope's `/api/v2/users` ignores `next_page_start` (every answer is the first page, with the same
    /// `next_page_start`).
    pub ignore_page_start: bool,
    /// `change_owner` answers 200 with the dashboard but changes nothing.
    pub ignore_change_owner: bool,
    /// `change_owner` answers 403 once this many transfers have been applied (a permission lost mid-run).
    pub change_owner_fails_after: Option<u64>,
    /// The admin logout answers this status (an error) instead of revoking.
    pub logout_status: Option<u16>,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Status sent (0 when the connection was dropped).
    pub status: u16,
    /// The injected fault, if any: `429`, `500`, `502`, `503`, `504`, `drop`, `lost-response`.
    pub fault: Option<&'static str>,
    /// The request's JSON body; a form body as an object of its field names (values withheld). Only with
    /// [`crate::SimConfig::record_bodies`].
    pub body: Option<Value>,
    /// The response's JSON body, for responses the handler produced. Only with
    /// [`crate::SimConfig::record_bodies`].
    pub response: Option<Value>,
}

impl RecordedRequest {
    /// Whether this request asked for a change (anything but GET and login, and the admin logout's GET).
    pub fn is_write(&self) -> bool {
        (self.method != "GET" && !self.path.ends_with("/authentication/login"))
            || self.path.ends_with("/authentication/admin/logout")
    }
}

enum Injected {
    TooMany,
    Server(u16),
    Drop,
}

pub(crate) async fn inject(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let faults = shared.faults();
    let (injected, slow, lose) = {
        let mut rng = shared.rng.lock().unwrap_or_else(|p| p.into_inner());
        let roll: f64 = rng.random();
        let injected = if roll < faults.rate_429 {
            Some(Injected::TooMany)
        } else if roll < faults.rate_429 + faults.rate_5xx {
            Some(Injected::Server(
                [500, 502, 503, 504][rng.random_range(0..4)],
            ))
        } else if roll < faults.rate_429 + faults.rate_5xx + faults.rate_500 {
            Some(Injected::Server(500))
        } else if roll < faults.rate_429 + faults.rate_5xx + faults.rate_500 + faults.rate_drop {
            Some(Injected::Drop)
        } else {
            None
        };
        (
            injected,
            rng.random::<f64>() < faults.slow_rate,
            rng.random::<f64>() < faults.lose_write_response_rate,
        )
    };
    let delay = faults.latency
        + if slow {
            faults.slow_latency
        } else {
            Duration::ZERO
        };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let is_write = method != Method::GET && !path.ends_with("/authentication/login");
    let (request, body) = if shared.record_bodies {
        let (request, body) = buffer_request(request).await;
        (request, body)
    } else {
        (request, None)
    };
    let mut recorded_response = None;
    let (response, fault) = match injected {
        Some(Injected::TooMany) => (too_many(&faults), Some("429")),
        Some(Injected::Server(status)) => (
            server_error(status, &faults),
            Some(match status {
                500 => "500",
                502 => "502",
                503 => "503",
                _ => "504",
            }),
        ),
        Some(Injected::Drop) => (dropped(), Some("drop")),
        None => {
            let mut response = next.run(request).await;
            if shared.record_bodies {
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                recorded_response = serde_json::from_slice(&bytes).ok();
                response = Response::from_parts(parts, Body::from(bytes));
            }
            if is_write && lose && response.status().is_success() {
                (dropped(), Some("lost-response"))
            } else {
                (response, None)
            }
        }
    };
    let status = if matches!(fault, Some("drop" | "lost-response")) {
        0
    } else {
        response.status().as_u16()
    };
    shared.record(RecordedRequest {
        method: method.to_string(),
        path,
        query,
        status,
        fault,
        body,
        response: recorded_response,
    });
    response
}

/// Reads the request body for the log and puts it back: JSON as is, a form as its field names.
async fn buffer_request(request: Request) -> (Request, Option<Value>) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let recorded = if bytes.is_empty() {
        None
    } else if is_form {
        let fields = String::from_utf8_lossy(&bytes)
            .split('&')
            .filter_map(|pair| pair.split('=').next())
            .map(|name| (name.to_string(), Value::String(String::new())))
            .collect();
        Some(Value::Object(fields))
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    (Request::from_parts(parts, Body::from(bytes)), recorded)
}

fn with_retry_after(mut response: Response, faults: &Faults) -> Response {
    if let Some(secs) = faults.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn too_many(faults: &Faults) -> Response {
    let err = SimError::new(429, 4290, "Too many requests, please slow down.");
    with_retry_after(
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(err.body())).into_response(),
        faults,
    )
}

fn server_error(status: u16, faults: &Faults) -> Response {
    match status {
        500 => {
            let err = SimError::new(500, 5000, "Internal server error");
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(err.body())).into_response()
        }
        503 => {
            let err = SimError::new(503, 5030, "Service Unavailable");
            with_retry_after(
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(err.body())).into_response(),
                faults,
            )
        }
        _ => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let reason = code.canonical_reason().unwrap_or("Gateway error");
            let html = format!(
                "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>"
            );
            (code, [(header::CONTENT_TYPE, "text/html")], html).into_response()
        }
    }
}

/// A response whose body fails after the headers: the client sees the connection close mid-response.
fn dropped() -> Response {
    let body = Body::from_stream(futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        ))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
