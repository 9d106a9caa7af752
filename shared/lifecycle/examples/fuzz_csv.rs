//! Runs the CSV reader's and planner's properties (`tests/csv_model`) for a fixed time and prints what it did:
//! `cargo run --profile bench-fast -p lifecycle --example fuzz_csv -- [seconds]` (`tests/fuzz.sh` runs it).
//!
//! Each round draws fresh cases from the three generators (well-formed files, files with one byte inserted,
//! arbitrary bytes); a failure is shrunk to a minimal case, printed and ends the run with exit code 1 (add it
//! as a regression test).

#[path = "../tests/csv_model/mod.rs"]
mod csv_model;

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per round and generator (a round is short, so the deadline is kept).
const ROUND: u32 = 200;

fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config {
            cases: ROUND,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let (mut executions, mut seed, mut input_bytes) = (0u64, 0u64, 0u64);
    let mangled = (
        csv_model::model(),
        any::<prop::sample::Index>(),
        prop_oneof![Just(b'"'), Just(b'\r'), Just(b'\n'), Just(b','), Just(0u8)],
    );
    let noise = proptest::collection::vec(any::<u8>(), 0..2000);
    while Instant::now() < deadline {
        seed += 1;
        let results = [
            runner(seed)
                .run(&csv_model::model(), |model| {
                    csv_model::check_roundtrip(&model)
                })
                .map_err(|e| e.to_string()),
            runner(seed)
                .run(&mangled, |(model, at, byte)| {
                    let mut bytes = model.bytes;
                    bytes.insert(at.index(bytes.len() + 1), byte);
                    csv_model::check_any_bytes(&bytes)
                })
                .map_err(|e| e.to_string()),
            runner(seed)
                .run(&noise, |bytes| csv_model::check_any_bytes(&bytes))
                .map_err(|e| e.to_string()),
        ];
        executions += 3 * u64::from(ROUND);
        // A rough size of what was fed in, from one fresh sample per round.
        let mut sampler = runner(seed);
        if let Ok(tree) = csv_model::model().new_tree(&mut sampler) {
            input_bytes += tree.current().bytes.len() as u64 * u64::from(ROUND);
        }
        for result in results {
            if let Err(failure) = result {
                println!(
                    "{{\"executions\":{executions},\"seconds\":{:.1},\"failure\":{:?}}}",
                    started.elapsed().as_secs_f64(),
                    failure
                );
                std::process::exit(1);
            }
        }
    }
    println!(
        "{{\"executions\":{executions},\"seconds\":{:.1},\"rounds\":{seed},\"approxWellFormedBytes\":{input_bytes},\"failures\":0}}",
        started.elapsed().as_secs_f64()
    );
}
