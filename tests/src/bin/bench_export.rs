//! Export bench: the real `export-users` binary (under the emulated Lambda runtime, writing to moto S3) against
//! the Python requests + pandas baseline, both reading the same simulator with 20 ms per-request latency.
//!
//! `cargo build --profile bench-fast --bins && cargo run --profile bench-fast -p e2e-tests --bin bench_export -- [USERS,...] [LATENCY_MS]`
//! (or `--release` for both, to measure the binary Lambda runs)
//! (defaults `10000,100000` and 20; `BENCH_ONLY=defaults` runs only the runs whose label holds that text;
//! `BENCH_REPEAT=N` measures each size N times, the baseline again each time, and ends with the median and the
//! range of each run's ratios: one run of this shared 2-core machine says little; `BENCH_ENV=NAME=VALUE,...` adds
//! those variables to every run of the function, e.g. `EXPORT_PREFETCH=12`). After each run it measures the
//! floor of that run's settings: the listing alone plus the tail that must follow its last page (see `floor`).
//! Needs `moto[server]`, `pandas` and `requests` from PyPI.

use std::time::{Duration, Instant};

use e2e_tests::function_binary;
use e2e_tests::moto::Moto;
use e2e_tests::runtime_api::Function;
use futures::StreamExt;
use lifecycle::ObjectStore;
use serde_json::json;
use sisense::Directory;
use sisense_sim::{Faults, SimConfig, Simulator};

struct Run {
    seconds: f64,
    peak_rss_mib: f64,
    /// Bytes of the CSV the run wrote (what the floor's publication sends again).
    bytes: u64,
    /// CPU seconds of the function, of moto, and of this process (the simulator) during the run.
    cpu: [f64; 3],
}

/// One run's figures over `BENCH_REPEAT` repeats.
struct Repeats {
    users: usize,
    label: &'static str,
    /// Wall time over the baseline's, each against the baseline measured just before it.
    ratios: Vec<f64>,
    /// The floor's time over the same baseline's.
    floors: Vec<f64>,
    peaks: Vec<f64>,
}

/// Median, lowest and highest of a run's figures (sorted in place).
fn spread(figures: &mut [f64]) -> (f64, f64, f64) {
    figures.sort_by(f64::total_cmp);
    let n = figures.len();
    let median = if n % 2 == 1 {
        figures[n / 2]
    } else {
        (figures[n / 2 - 1] + figures[n / 2]) / 2.0
    };
    (median, figures[0], figures[n - 1])
}

/// The variables a run gives the function: its own, then `BENCH_ENV`'s (which win).
fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = (extra.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(more) = std::env::var("BENCH_ENV") {
        env.extend(
            more.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    env
}

/// A numeric setting of a run, or the function's default for it.
fn setting(env: &[(String, String)], name: &str, default: u32) -> u32 {
    (env.iter().rev())
        .find(|(k, _)| k == name)
        .map_or(default, |(_, v)| v.parse().expect("a numeric setting"))
}

/// The least an export of this design can take here, each part measured with nothing else running: listing
/// every user with the export's query and settings (no rows written, no comparison, no upload), plus the tail
/// that can only start after the last page: sending the last part, completing the upload and copying it to
/// `latest.csv`. Setup, the comparison with the previous export and the summary are left out, so the real run
/// can only be slower. Returns (listing, tail) in seconds.
async fn floor(moto: &Moto, sim: &Simulator, bytes: u64, extra: &[(&str, &str)]) -> (f64, f64) {
    // The export-users function's defaults (functions/export-users/src/lib.rs, sisense::ClientConfig).
    let env = settings(extra);
    let page = setting(&env, "EXPORT_PAGE_SIZE", 1000);
    let prefetch = setting(&env, "EXPORT_PREFETCH", 8) as usize;
    let reads = setting(
        &env,
        "SISENSE_READ_RATE_LIMIT",
        sisense::DEFAULT_READ_RATE_LIMIT,
    );
    let part_mib = setting(&env, "EXPORT_PART_SIZE_MIB", 5) as usize;

    let listing = listing_floor(sim, page, prefetch, reads).await;

    let store = sl_aws::s3::S3Store::new(moto.s3().await, "bench")
        .with_part_size(part_mib.saturating_mul(1024 * 1024));
    let mut upload = (store.start_upload("floor/users.csv", "text/csv; charset=utf-8"))
        .await
        .expect("upload");
    let row = b"0123456789abcdef01234567,someone@example.com,Some,One,true,Viewer,Everyone,2026-01-01T00:00:00Z\n";
    let mut left = bytes as usize;
    while left > 0 {
        let chunk: Vec<u8> = row
            .iter()
            .copied()
            .cycle()
            .take(left.min(1 << 20))
            .collect();
        upload.write(&chunk).await.expect("part");
        left -= chunk.len();
    }
    // The full parts went out while the listing ran (in the function, well before its end): let them land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    upload.seal().await.expect("last part");
    upload.finish().await.expect("complete");
    store
        .copy("floor/users.csv", "floor/latest.csv")
        .await
        .expect("copy");
    (listing, started.elapsed().as_secs_f64())
}

/// The export's listing alone, in seconds: logged in first (setup is not counted), then every user read with
/// the export's query and settings and dropped. The client runs on a runtime of its own on other threads, as the
/// function runs in a process of its own, so it does not queue behind the simulator's tasks (which keep theirs).
async fn listing_floor(sim: &Simulator, page: u32, prefetch: usize, reads: u32) -> f64 {
    let credentials = sisense::Credentials::Password {
        username: sim.username().to_string(),
        password: sisense::SecretString::from(sim.password().to_string()),
    };
    let mut config = sisense::ClientConfig::new(sim.base_url(), credentials).expect("config");
    config.read_rate_limit = std::num::NonZeroU32::new(reads);
    let expected = sim.user_count();
    let client = sisense::SisenseClient::new(config).expect("client");
    let list = async move {
        client.roles(None).await.expect("logged in");
        let started = Instant::now();
        let mut users = client.users(sisense::UserQuery {
            page_size: Some(page),
            prefetch: Some(prefetch),
            fields: Some(lifecycle::export::FIELDS.map(String::from).to_vec()),
            ..sisense::UserQuery::default()
        });
        let mut listed = 0;
        while let Some(user) = users.next().await {
            user.expect("listed");
            listed += 1;
        }
        assert_eq!(listed, expected, "the floor's listing is complete");
        started.elapsed().as_secs_f64()
    };
    let listing = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(list)
    });
    listing.await.expect("the listing's thread")
}

/// The size of the CSV a run wrote.
async fn written(moto: &Moto, out: &serde_json::Value) -> u64 {
    let key = out["key"].as_str().expect("the CSV's key");
    let head = moto
        .s3()
        .await
        .head_object()
        .bucket("bench")
        .key(key)
        .send()
        .await;
    let length = head.expect("the CSV is there").content_length();
    length
        .and_then(|n| u64::try_from(n).ok())
        .expect("its size")
}

fn own_cpu_seconds() -> f64 {
    e2e_tests::runtime_api::process_cpu_seconds(std::process::id()).unwrap_or_default()
}

async fn rust_export(moto: &Moto, sim: &Simulator, secret: &str, extra: &[(&str, &str)]) -> Run {
    let mut env = moto.env();
    env.push(("SISENSE_SECRET_ID".into(), secret.into()));
    env.push(("EXPORT_BUCKET".into(), "bench".into()));
    env.extend(settings(extra));
    let mut function = Function::start(&function_binary("export-users"), &env).await;
    let (moto_cpu, own_cpu) = (moto.cpu_seconds().unwrap_or_default(), own_cpu_seconds());
    let started = Instant::now();
    let out = function
        .invoke(&json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(out["users"].as_u64(), Some(sim.user_count() as u64));
    let peak = function.peak_rss_kib().expect("peak RSS from /proc") as f64 / 1024.0;
    Run {
        seconds,
        peak_rss_mib: peak,
        bytes: written(moto, &out).await,
        cpu: [
            function.cpu_seconds().unwrap_or_default(),
            moto.cpu_seconds().unwrap_or_default() - moto_cpu,
            own_cpu_seconds() - own_cpu,
        ],
    }
}

fn python_baseline(sim: &Simulator) -> Run {
    let out_csv = std::env::temp_dir().join("bench-baseline.csv");
    let result = e2e_tests::python_baseline(
        "baseline_export.py",
        &[
            sim.base_url().as_ref(),
            sim.username().as_ref(),
            sim.password().as_ref(),
            out_csv.as_os_str(),
        ],
    );
    assert_eq!(result["users"].as_u64(), Some(sim.user_count() as u64));
    Run {
        seconds: result["seconds"].as_f64().unwrap_or_default(),
        peak_rss_mib: result["peak_rss_kib"].as_f64().unwrap_or_default() / 1024.0,
        bytes: 0,
        cpu: [0.0; 3],
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("user counts"))
        .collect();
    let latency: u64 = std::env::args()
        .nth(2)
        .map_or(20, |l| l.parse().expect("latency ms"));
    let moto = Moto::start().await;
    moto.s3()
        .await
        .create_bucket()
        .bucket("bench")
        .send()
        .await
        .expect("bucket");
    let secrets = moto.secrets().await;

    println!(
        "latency {latency} ms per request; Rust = export-users binary -> moto S3; baseline = requests + pandas, one GET"
    );
    println!(
        "{:>8} | {:>26} | {:>10} {:>9} | {:>12} {:>11} | {:>10} {:>9} | {:>20} | {:>21}",
        "users",
        "run",
        "wall s",
        "peak MiB",
        "baseline s",
        "base MiB",
        "time ratio",
        "mem ratio",
        "CPU s fn/moto/sim",
        "floor s: list + tail"
    );
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .map_or(1, |n| n.parse().expect("BENCH_REPEAT is a count"))
        .max(1);
    let mut measured: Vec<Repeats> = Vec::new();
    for (i, &users) in sizes.iter().enumerate() {
        let faults = Faults {
            latency: Duration::from_millis(latency),
            ..Faults::default()
        };
        let sim = Simulator::start(SimConfig {
            users,
            faults,
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let secret = json!({"baseUrl": sim.base_url(), "username": sim.username(), "password": sim.password()});
        let arn = secrets
            .create_secret()
            .name(format!("bench/{i}"))
            .secret_string(secret.to_string())
            .send()
            .await
            .expect("secret")
            .arn()
            .unwrap_or_default()
            .to_string();
        let runs = [
            (
                "prefetch 4, no rate limit",
                vec![
                    ("SISENSE_RATE_LIMIT", "0"),
                    ("SISENSE_READ_RATE_LIMIT", "0"),
                    ("EXPORT_PREFETCH", "4"),
                ],
            ),
            (
                "one budget (8 req/s reads too)",
                vec![("SISENSE_READ_RATE_LIMIT", "8")],
            ),
            (
                "before: 50 reads/s, prefetch 2",
                vec![
                    ("SISENSE_READ_RATE_LIMIT", "50"),
                    ("EXPORT_PREFETCH", "2"),
                    ("EXPORT_PART_SIZE_MIB", "8"),
                ],
            ),
            ("defaults (200 reads/s, prefetch 8)", vec![]),
            (
                "prefetch 4 (default before)",
                vec![("EXPORT_PREFETCH", "4")],
            ),
            (
                "pages of 2000, prefetch 8",
                vec![("EXPORT_PREFETCH", "8"), ("EXPORT_PAGE_SIZE", "2000")],
            ),
        ];
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        let runs: Vec<_> = runs
            .into_iter()
            .filter(|(label, _)| label.contains(&only))
            .collect();
        let first = measured.len();
        measured.extend(runs.iter().map(|(label, _)| Repeats {
            users,
            label,
            ratios: Vec::new(),
            floors: Vec::new(),
            peaks: Vec::new(),
        }));
        for ((label, extra), at) in (0..repeat).flat_map(|_| runs.iter().zip(first..)) {
            // The baseline again before each run: its own time varies by a third between identical runs.
            let baseline = python_baseline(&sim);
            let run = rust_export(&moto, &sim, &arn, extra).await;
            let (listing, tail) = floor(&moto, &sim, run.bytes, extra).await;
            measured[at].ratios.push(run.seconds / baseline.seconds);
            measured[at]
                .floors
                .push((listing + tail) / baseline.seconds);
            measured[at].peaks.push(run.peak_rss_mib);
            println!(
                "{users:>8} | {label:>26} | {:>10.2} {:>9.1} | {:>12.2} {:>11.1} | {:>9.2}x {:>8.3}x | {:>6.2} {:>6.2} {:>6.2} | {:>5.2} + {:>4.2} = {:>4.2}x",
                run.seconds,
                run.peak_rss_mib,
                baseline.seconds,
                baseline.peak_rss_mib,
                run.seconds / baseline.seconds,
                run.peak_rss_mib / baseline.peak_rss_mib,
                run.cpu[0],
                run.cpu[1],
                run.cpu[2],
                listing,
                tail,
                (listing + tail) / baseline.seconds,
            );
        }
    }
    println!("ratios are Rust / baseline (below 1 is better)");
    println!(
        "floor: the export's listing alone plus the tail that must follow its last page (last part, complete, \
         copy to latest.csv), each measured with nothing else running; no export of this design is faster here"
    );
    if repeat > 1 {
        println!(
            "{:>8} | {:>26} | {:>4} | {:>12} {:>17} {:>9} | {:>14} | {:>12} {:>17}",
            "users",
            "run",
            "n",
            "median ratio",
            "range",
            "<= 0.5x",
            "peak MiB range",
            "median floor",
            "floor range"
        );
        for Repeats {
            users,
            label,
            ratios,
            floors,
            peaks,
        } in &mut measured
        {
            let n = ratios.len();
            let within = ratios.iter().filter(|r| **r <= 0.5).count();
            let (median, low, high) = spread(ratios);
            let (floor, floor_low, floor_high) = spread(floors);
            let (_, peak_low, peak_high) = spread(peaks);
            println!(
                "{users:>8} | {label:>26} | {n:>4} | {median:>11.3}x {low:>7.2}x - {high:>5.2}x {within:>5} of {n} | {peak_low:>6.1} - {peak_high:>5.1} | {floor:>11.3}x {floor_low:>7.2}x - {floor_high:>5.2}x",
            );
        }
    }
}
