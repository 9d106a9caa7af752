//! Deactivation bench: the real `deactivate-stale-users` binary (emulated Lambda runtime, moto S3) running a
//! forced live `demote` against the simulator with a per-request latency, at the default write rate (8/s).
//! The baseline is the floor the write guidance imposes, `writes / write rate`; the ratio says how much the
//! reads (listing, read-backs, revocations) and snapshots add on top.
//!
//! `cargo build --profile bench-fast --bins && cargo run --profile bench-fast -p e2e-tests --bin bench_deactivate -- [USERS,...] [LATENCY_MS]`
//! (defaults `3000` and 20). Needs `moto[server]` from PyPI.

use std::time::{Duration, Instant};

use e2e_tests::Family;
use e2e_tests::world::{BUCKET, World};
use serde_json::json;
use sisense_sim::{Faults, SimConfig, Simulator};

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "3000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("user counts"))
        .collect();
    let latency: u64 = std::env::args()
        .nth(2)
        .map_or(20, |l| l.parse().expect("latency ms"));
    let rate = f64::from(sisense::DEFAULT_RATE_LIMIT);
    let world = World::new().await;
    println!(
        "latency {latency} ms per request; live demote, forced, default limits ({rate} writes/s); floor = writes / rate"
    );
    println!(
        "{:>7} | {:>6} {:>7} {:>8} | {:>8} {:>8} | {:>6}",
        "users", "acted", "writes", "reads", "wall s", "floor s", "ratio"
    );
    for (i, &users) in sizes.iter().enumerate() {
        let sim = Simulator::start(SimConfig {
            users,
            faults: Faults {
                latency: Duration::from_millis(latency),
                ..Faults::default()
            },
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let arn = world
            .sim_secret(&format!("bench-deactivate/{i}"), &sim, Family::Fusion)
            .await;
        let mut function = world
            .function(
                "deactivate-stale-users",
                &[
                    ("SISENSE_SECRET_ID", arn.as_str()),
                    ("REPORT_BUCKET", BUCKET),
                    ("DRY_RUN", "false"),
                    ("STALE_ACTION", "demote"),
                ],
            )
            .await;
        let started = Instant::now();
        let out = function
            .invoke(&json!({"force": true}))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
        let wall = started.elapsed().as_secs_f64();
        let requests = sim.requests();
        let writes = requests.iter().filter(|r| r.method != "GET").count() - 1; // less the login
        let reads = requests.len() - writes - 1;
        let floor = writes as f64 / rate;
        println!(
            "{users:>7} | {:>6} {writes:>7} {reads:>8} | {wall:>8.2} {floor:>8.2} | {:>5.2}x",
            out["acted"],
            wall / floor
        );
    }
    println!("ratio = wall / floor (1.0 is the write guidance's limit)");
}
