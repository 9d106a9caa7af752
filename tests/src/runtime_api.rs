//! A Lambda Runtime API emulator (the protocol `lambda_runtime` speaks) that runs a real function binary as a
//! child process and hands it events one at a time, like the Lambda service does.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

#[derive(Default)]
struct Queue {
    pending: VecDeque<(String, Vec<u8>)>,
    results: HashMap<String, Result<Value, Value>>,
    init_error: Option<Value>,
    counter: u64,
}

#[derive(Default)]
struct Shared {
    /// When the binary first asked for an event.
    first_next: Mutex<Option<std::time::Instant>>,
    queue: Mutex<Queue>,
    event_ready: Notify,
    result_ready: Notify,
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Queue> {
    shared.queue.lock().unwrap_or_else(|p| p.into_inner())
}

/// A function binary under the emulated runtime.
pub struct Function {
    shared: Arc<Shared>,
    child: Child,
    server: tokio::task::JoinHandle<()>,
    log: std::path::PathBuf,
    spawned: std::time::Instant,
    /// Distinguishes this function's request ids from every other's in the process.
    instance: String,
}

/// Functions started so far in this process.
static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Drop for Function {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .first_next
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(std::time::Instant::now);
    loop {
        let notified = shared.event_ready.notified();
        if let Some((id, body)) = lock(&shared).pending.pop_front() {
            let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
            let mut headers = HeaderMap::new();
            let header =
                |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("x"));
            headers.insert("lambda-runtime-aws-request-id", header(id));
            headers.insert("lambda-runtime-deadline-ms", header(deadline.to_string()));
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:test"),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
            );
            return (StatusCode::OK, headers, body).into_response();
        }
        notified.await;
    }
}

fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    lock(&shared).results.insert(id, Ok(parse(&body)));
    shared.result_ready.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    lock(&shared).results.insert(id, Err(parse(&body)));
    shared.result_ready.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    lock(&shared).init_error = Some(parse(&body));
    shared.result_ready.notify_waiters();
    StatusCode::ACCEPTED
}

impl Function {
    /// Starts the runtime API on a loopback port and the binary with `env` (plus the Lambda variables).
    pub async fn start(binary: &Path, env: &[(String, String)]) -> Function {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime api");
        let addr = listener.local_addr().expect("runtime api address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let name = binary
            .file_name()
            .map_or("function".into(), |n| n.to_string_lossy().into_owned());
        let log =
            std::env::temp_dir().join(format!("{name}-{}-{}.log", std::process::id(), addr.port()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let spawned = std::time::Instant::now();
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "e2e")
            .env("RUST_LOG", "info")
            .envs(env.iter().cloned())
            .stdout(Stdio::from(log_file.try_clone().expect("log file")))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .expect("function binary starts");
        let instance = format!(
            "{:x}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Function {
            shared,
            child,
            server,
            log,
            spawned,
            instance,
        }
    }

    /// Time from spawning the binary to its first `next` request (its cold start), waiting up to `wait`.
    pub async fn time_to_first_next(&self, wait: Duration) -> Option<Duration> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if let Some(at) = *self
                .shared
                .first_next
                .lock()
                .unwrap_or_else(|p| p.into_inner())
            {
                return Some(at - self.spawned);
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Invokes the function with `event`; `Ok(response)` or `Err(error body)` as the function reported.
    pub async fn invoke(&mut self, event: &Value) -> Result<Value, Value> {
        let id = {
            let mut queue = lock(&self.shared);
            queue.counter += 1;
            // Unique across every Function of the test process, as Lambda's request ids are: a run keyed by its
            // request id must never meet another function's run of the same id.
            let id = format!("{}-req-{:04}", self.instance, queue.counter);
            queue.pending.push_back((
                id.clone(),
                serde_json::to_vec(event).expect("event encodes"),
            ));
            id
        };
        self.shared.event_ready.notify_waiters();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            let notified = self.shared.result_ready.notified();
            {
                let mut queue = lock(&self.shared);
                if let Some(result) = queue.results.remove(&id) {
                    return result;
                }
                if let Some(init) = &queue.init_error {
                    panic!("function failed to initialise: {init}\n{}", self.logs());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("function exited ({status}) during {id}\n{}", self.logs());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "invocation {id} timed out\n{}",
                self.logs()
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
            self.shared.event_ready.notify_waiters();
        }
    }

    /// What the function printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The CPU time the child has used so far (user plus system), on Linux: whether a run waited on the network
    /// or on the processor.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.id()?;
        process_cpu_seconds(pid)
    }

    /// The child's peak resident set size in KiB (`VmHWM`), on Linux.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// The CPU time (user plus system) process `pid` has used, from `/proc/<pid>/stat`, in seconds.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis):
    // state is field 3; utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
