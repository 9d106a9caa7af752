//! Cold-start bench: each function binary spawned under the emulated Lambda runtime, timed from spawn to its
//! first `next` request (what Lambda bills as init), against spawning `true` (the process-creation floor) in the
//! same run; plus each binary's size and its resident memory when it first asks for an event (the floor under
//! every run's peak RSS).
//!
//! `cargo build --release --bins && cargo run --release -p e2e-tests --bin bench_bootstrap -- [STARTS]`
//! (default 20 starts per binary; the profile is the one the bench runs in).

use std::time::{Duration, Instant};

use e2e_tests::function_binary;
use e2e_tests::runtime_api::Function;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let starts: usize = std::env::args()
        .nth(1)
        .map_or(20, |n| n.parse().expect("starts"));
    // No AWS service is reached before the first event: a dummy configuration is enough.
    let env: Vec<(String, String)> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("SISENSE_SECRET_ID", "bench"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut floor = Vec::with_capacity(starts);
    for _ in 0..starts {
        let at = Instant::now();
        let status = tokio::process::Command::new("true")
            .status()
            .await
            .expect("true runs");
        assert!(status.success());
        floor.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    let floor = median(floor);
    println!("{starts} starts each; floor = spawning `true`: {floor:.2} ms (median)");
    println!(
        "{:>24} | {:>9} | {:>11} {:>8} | {:>7} | {:>12}",
        "binary", "size MB", "median ms", "max ms", "ratio", "idle RSS MiB"
    );
    for name in [
        "export-users",
        "bulk-create-users",
        "deactivate-stale-users",
    ] {
        let binary = function_binary(name);
        let size = std::fs::metadata(&binary).map_or(0, |m| m.len()) as f64 / 1e6;
        let mut times = Vec::with_capacity(starts);
        let mut idle = Vec::with_capacity(starts);
        for _ in 0..starts {
            let function = Function::start(&binary, &env).await;
            let t = function
                .time_to_first_next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("{name} never asked for an event\n{}", function.logs()));
            times.push(t.as_secs_f64() * 1000.0);
            idle.push(function.peak_rss_kib().unwrap_or_default() as f64 / 1024.0);
        }
        let max = times.iter().copied().fold(0.0, f64::max);
        let med = median(times);
        println!(
            "{name:>24} | {size:>9.1} | {med:>11.2} {max:>8.2} | {:>6.1}x | {:>12.1}",
            med / floor,
            median(idle)
        );
    }
    println!("ratio = median time to the first `next` / median spawn of `true`");
}
