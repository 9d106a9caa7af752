//! Import bench: the real `bulk-create-users` binary (under the emulated Lambda runtime, moto S3) against the
//! existing scripts' serial one-POST-per-row loop (requests + pandas), both creating the same rows in fresh
//! simulators with the same per-request latency. Also prints the floor (requests x latency / concurrency) and
//! each side's peak RSS. Above 20,000 rows both sides plan without sending a create (the function as a dry run,
//! the script building every body and posting none): the simulator looks emails up by scanning, so 100,000
//! creates would measure it, not the import; the memory of reading, validating and planning every row (and, for
//! the function, writing the report) is what is compared.
//!
//! `cargo build --profile bench-fast --bins && cargo run --profile bench-fast -p e2e-tests --bin bench_import -- [ROWS] [LATENCY_MS]`
//! (defaults 5000 and 20; `-- 100000 0` for the memory of a 100,000-row import). Needs `moto[server]`, `pandas`
//! and `requests` from PyPI.

use std::time::{Duration, Instant};

use e2e_tests::function_binary;
use e2e_tests::moto::Moto;
use e2e_tests::runtime_api::Function;
use serde_json::json;
use sisense_sim::{Faults, SimConfig, Simulator};

fn csv(rows: usize) -> String {
    let mut csv = String::from("email,first_name,last_name,role\n");
    for i in 0..rows {
        csv.push_str(&format!("bench{i}@import.example,Bench,User{i},viewer\n"));
    }
    csv
}

async fn sim(latency: u64) -> Simulator {
    Simulator::start(SimConfig {
        users: 100,
        faults: Faults {
            latency: Duration::from_millis(latency),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

struct Run {
    seconds: f64,
    requests: usize,
    peak_rss_mib: f64,
}

async fn rust_import(
    moto: &Moto,
    sim: &Simulator,
    rows: usize,
    name: &str,
    extra: &[(&str, &str)],
    dry: bool,
) -> Run {
    let s3 = moto.s3().await;
    s3.put_object()
        .bucket("bench")
        .key(format!("imports/{name}.csv"))
        .body(csv(rows).into_bytes().into())
        .send()
        .await
        .expect("upload");
    let secret =
        json!({"baseUrl": sim.base_url(), "username": sim.username(), "password": sim.password()});
    let arn = moto
        .secrets()
        .await
        .create_secret()
        .name(format!("bench/{name}"))
        .secret_string(secret.to_string())
        .send()
        .await
        .expect("secret")
        .arn()
        .unwrap_or_default()
        .to_string();
    let mut env = moto.env();
    env.push(("SISENSE_SECRET_ID".into(), arn));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut function = Function::start(&function_binary("bulk-create-users"), &env).await;
    sim.clear_requests();
    let started = Instant::now();
    let out = function
        .invoke(&json!({"bucket": "bench", "key": format!("imports/{name}.csv"), "dryRun": dry}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    let seconds = started.elapsed().as_secs_f64();
    let counted = if dry { "wouldCreate" } else { "created" };
    assert_eq!(out[counted].as_u64(), Some(rows as u64), "{out}");
    Run {
        seconds,
        requests: sim.requests().len(),
        peak_rss_mib: function.peak_rss_kib().expect("peak RSS from /proc") as f64 / 1024.0,
    }
}

fn python_baseline(sim: &Simulator, rows: usize, plan_only: bool) -> Run {
    let path = std::env::temp_dir().join("bench-import.csv");
    std::fs::write(&path, csv(rows)).expect("write CSV");
    let result = e2e_tests::python_baseline(
        "baseline_import.py",
        &[
            sim.base_url().as_ref(),
            sim.username().as_ref(),
            sim.password().as_ref(),
            path.as_os_str(),
            if plan_only { "--plan-only" } else { "--send" }.as_ref(),
        ],
    );
    assert_eq!(result["created"].as_u64(), Some(rows as u64), "{result}");
    Run {
        seconds: result["seconds"].as_f64().unwrap_or_default(),
        requests: result["requests"].as_u64().unwrap_or_default() as usize,
        peak_rss_mib: result["peak_rss_kib"].as_f64().unwrap_or_default() / 1024.0,
    }
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .map_or(5_000, |n| n.parse().expect("rows"));
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
    let floor = |requests: usize, concurrency: usize| {
        requests as f64 * latency as f64 / 1000.0 / concurrency as f64
    };

    let baseline_sim = sim(latency).await;
    let plan_only = rows > 20_000;
    let baseline = python_baseline(&baseline_sim, rows, plan_only);
    if plan_only {
        println!(
            "above 20,000 rows: plans only, no create is sent (see the header of bench_import.rs)"
        );
    }
    println!(
        "{rows} rows, {latency} ms per request; every run {} all rows in a fresh simulator",
        if plan_only { "plans" } else { "creates" }
    );
    println!(
        "{:>34} | {:>8} {:>9} | {:>8} | {:>12} | {:>8} {:>8}",
        "run", "wall s", "requests", "floor s", "vs baseline", "peak MiB", "vs base"
    );
    println!(
        "{:>34} | {:>8.2} {:>9} | {:>8.2} | {:>11.3}x | {:>8.1} {:>7.3}x",
        "baseline: serial POST per row",
        baseline.seconds,
        baseline.requests,
        floor(baseline.requests, 1),
        1.0,
        baseline.peak_rss_mib,
        1.0
    );
    let runs: [(&str, &str, e2e_tests::world::Env); 2] = [
        (
            "bulk-create-users, no rate limit",
            "unlimited",
            vec![("SISENSE_RATE_LIMIT", "0")],
        ),
        ("bulk-create-users, default 8 req/s", "default", vec![]),
    ];
    for (label, name, extra) in runs {
        if rows > 20_000 && name == "default" {
            println!("{label:>34} | left out above 20,000 rows (it waits on the write budget)");
            continue;
        }
        let sim = sim(latency).await;
        let run = rust_import(&moto, &sim, rows, name, &extra, plan_only).await;
        println!(
            "{label:>34} | {:>8.2} {:>9} | {:>8.2} | {:>11.3}x | {:>8.1} {:>7.3}x",
            run.seconds,
            run.requests,
            floor(run.requests, 1),
            run.seconds / baseline.seconds,
            run.peak_rss_mib,
            run.peak_rss_mib / baseline.peak_rss_mib
        );
    }
    println!(
        "floor = requests x latency / concurrency (1: one request in flight); ratio = run / baseline wall time"
    );
}
