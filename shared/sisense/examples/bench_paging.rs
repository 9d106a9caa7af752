//! Bench: list N simulated users through the stream, sequential paging (baseline) vs concurrent prefetch.
//!
//! `cargo run --profile bench-fast -p sisense --example bench_paging -- [USERS] [LATENCY_MS] [PAGE_SIZE]`
//! (defaults 100000, 10, 1000). The client-side read limit is off unless stated, so the figures measure paging;
//! `BENCH_FIELDS=a,b,...` asks only for those fields (the export's `fields` whitelist, say).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sisense::{ClientConfig, Credentials, Directory, SecretString, SisenseClient, UserQuery};
use sisense_sim::{Faults, SimConfig, Simulator};

async fn run(
    sim: &Simulator,
    page: u32,
    prefetch: usize,
    read_rate_limit: Option<u32>,
) -> Result<(Duration, usize), Box<dyn std::error::Error>> {
    let credentials = Credentials::Password {
        username: sim.username().to_string(),
        password: SecretString::from(sim.password().to_string()),
    };
    let mut config = ClientConfig::new(sim.base_url(), credentials)?;
    config.read_rate_limit = read_rate_limit.and_then(NonZeroU32::new);
    let client = SisenseClient::new(config)?;
    let started = Instant::now();
    let mut stream = client.users(UserQuery {
        page_size: Some(page),
        prefetch: Some(prefetch),
        fields: std::env::var("BENCH_FIELDS")
            .ok()
            .map(|fields| fields.split(',').map(str::to_string).collect()),
        ..UserQuery::default()
    });
    let mut n = 0;
    while let Some(user) = stream.next().await {
        user?;
        n += 1;
    }
    Ok((started.elapsed(), n))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: u64| std::env::args().nth(i).map_or(Ok(default), |v| v.parse());
    let (users, latency_ms, page) = (arg(1, 100_000)?, arg(2, 10)?, arg(3, 1_000)?);
    let faults = Faults {
        latency: Duration::from_millis(latency_ms),
        ..Faults::default()
    };
    let sim = Simulator::start(SimConfig {
        users: users as usize,
        faults,
        ..SimConfig::default()
    })
    .await?;
    println!(
        "{users} users, {latency_ms} ms simulated latency, page size {page}, read limit off unless stated"
    );

    let (baseline, n) = run(&sim, page as u32, 1, None).await?;
    assert_eq!(n as u64, users, "baseline listed every user");
    println!(
        "prefetch 1 (sequential, baseline): {:>8.3} s",
        baseline.as_secs_f64()
    );
    for prefetch in [2, 4, 8] {
        let (t, n) = run(&sim, page as u32, prefetch, None).await?;
        assert_eq!(n as u64, users);
        println!(
            "prefetch {prefetch}:                       {:>8.3} s  ({:.2}x faster than baseline)",
            t.as_secs_f64(),
            baseline.as_secs_f64() / t.as_secs_f64()
        );
    }
    let (t, n) = run(&sim, page as u32, 8, Some(sisense::DEFAULT_READ_RATE_LIMIT)).await?;
    assert_eq!(n as u64, users);
    println!(
        "prefetch 8, default read limit {} req/s: {:>8.3} s  ({:.2}x baseline's time)",
        sisense::DEFAULT_READ_RATE_LIMIT,
        t.as_secs_f64(),
        t.as_secs_f64() / baseline.as_secs_f64()
    );
    Ok(())
}
