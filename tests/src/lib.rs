//! Harness for the end-to-end tests: moto on 127.0.0.1, a Lambda Runtime API emulator that drives the real
//! function binaries, and helpers to read what they wrote.

pub mod moto;
pub mod runtime_api;
pub mod template;
pub mod world;

use std::path::PathBuf;

/// The instant the simulator-backed tests call "now": the simulator's clock, `CLOCK_FIXED_AT` and `--now`.
pub const NOW: &str = "2026-11-22T06:00:00Z";

/// [`NOW`] as a value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    NOW.parse().expect("NOW is RFC 3339")
}

/// The Sisense API families; one simulator serves the same installation through each.
pub use sisense::Family;

/// Every family the end-to-end tests run against.
pub const FAMILIES: [Family; 2] = [Family::Fusion, Family::Legacy];

/// The secret a function reads to reach `sim` through `family`.
pub fn sim_secret_json(sim: &sisense_sim::Simulator, family: Family) -> serde_json::Value {
    match family {
        Family::Fusion => serde_json::json!({"kind": "fusion", "baseUrl": sim.base_url(),
            "username": sim.username(), "password": sim.password()}),
        Family::Legacy => serde_json::json!({"kind": "legacy", "baseUrl": sim.base_url(),
            "email": sim.username(), "password": sim.password(), "apiToken": sim.rest_api_token()}),
    }
}

/// Strings that must never appear in logs or output: the password, the REST API token, and the marks of a
/// bearer token (`simtok.`) or a signed JWT (`eyJ`, base64 of `{"`).
pub fn sim_secrets(sim: &sisense_sim::Simulator) -> [String; 4] {
    [
        sim.password().to_string(),
        sim.rest_api_token().to_string(),
        "simtok.".to_string(),
        "eyJ".to_string(),
    ]
}

/// Checks that the requests the simulator saw came through `family`'s API only.
pub fn assert_spoke(sim: &sisense_sim::Simulator, family: Family) {
    let requests = sim.requests();
    let foreign: Vec<_> = requests
        .iter()
        .filter(|r| match family {
            Family::Fusion => !r.path.starts_with("/api/v1/") && r.path != "/api/roles",
            Family::Legacy => r.path.starts_with("/api/v1/"),
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "{family:?} run used another family's routes: {foreign:?}"
    );
    match family {
        Family::Fusion => assert_eq!(sim.api_key_requests(), 0),
        Family::Legacy => {
            assert_eq!(sim.logins(), 0, "legacy never logs in");
            assert!(
                sim.api_key_requests() > 0,
                "legacy requests carry x-api-key"
            );
        }
    }
}

/// Defines `mod $name { fusion, legacy }`: one test per family, each calling the scenario `$name(Family)`.
#[macro_export]
macro_rules! per_family {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fusion() {
                super::$name($crate::Family::Fusion).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn legacy() {
                super::$name($crate::Family::Legacy).await
            }
        }
    )+};
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A function binary built by `cargo build --bins` in the same profile as the running test or bench
/// (`target/<profile>/deps/<test>` or `target/<profile>/<bench>` -> `target/<profile>/<name>`).
pub fn function_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("executable folder");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (tests/run.sh does)",
        path.display()
    );
    path
}

/// The shell commands in the README's fenced `sh` blocks, in order.
pub fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh && !trimmed.is_empty() {
            commands.push(trimmed.to_string());
        }
    }
    commands
}

/// Runs a Python bench baseline (`tests/bench/<script>`) with `args`; returns the JSON line it prints.
pub fn python_baseline(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let output = std::process::Command::new("python3")
        .arg(workspace_root().join("tests/bench").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the baseline prints one JSON line")
}
