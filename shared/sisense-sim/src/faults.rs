//! Fault injection and the request log, as one axum middleware in front of every route.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

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
    /// Fraction answered 502/503/504 (nothing applied; 502/504 as proxy HTML pages).
    pub rate_5xx: f64,
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
    /// The injected fault, if any: `429`, `502`, `503`, `504`, `drop`, `lost-response`.
    pub fault: Option<&'static str>,
}

impl RecordedRequest {
    /// Whether this request asked for a change (anything but GET and login).
    pub fn is_write(&self) -> bool {
        self.method != "GET" && !self.path.ends_with("/authentication/login")
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
            Some(Injected::Server([502, 503, 504][rng.random_range(0..3)]))
        } else if roll < faults.rate_429 + faults.rate_5xx + faults.rate_drop {
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
    let (response, fault) = match injected {
        Some(Injected::TooMany) => (too_many(&faults), Some("429")),
        Some(Injected::Server(status)) => (
            server_error(status, &faults),
            Some(["502", "503", "504"][usize::from(status - 502)]),
        ),
        Some(Injected::Drop) => (dropped(), Some("drop")),
        None => {
            let response = next.run(request).await;
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
    });
    response
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
