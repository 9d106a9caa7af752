//! Harness for the end-to-end tests: moto on 127.0.0.1, a Lambda Runtime API emulator that drives the real
//! function binaries, and helpers to read what they wrote.

pub mod contract;
pub mod moto;
pub mod proxy;
pub mod runtime_api;
pub mod source;
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

/// The Sisense families the shared end-to-end scenarios run against (Periscope has its own scenarios: its users
/// have sites, no last login and either roles or groups, so the Sisense oracles do not apply).
pub const FAMILIES: [Family; 2] = [Family::Fusion, Family::Legacy];

/// One Periscope site entry for `sim` (at the simulator's own URL), inviting as the service account.
pub fn periscope_site_json(sim: &sisense_sim::Simulator) -> serde_json::Value {
    serde_json::json!({"site": sim.periscope_site(), "apiKey": sim.periscope_api_key(),
        "rbac": sim.periscope_rbac(), "invitedByEmail": sim.username(), "baseUrl": sim.base_url()})
}

/// A Periscope secret naming one site per simulator.
pub fn periscope_secret_json(sims: &[&sisense_sim::Simulator]) -> serde_json::Value {
    let sites: Vec<serde_json::Value> = sims.iter().map(|s| periscope_site_json(s)).collect();
    serde_json::json!({"kind": "periscope", "baseUrl": sims[0].base_url(), "sites": sites})
}

/// The secret a function reads to reach `sim` through `family`.
pub fn sim_secret_json(sim: &sisense_sim::Simulator, family: Family) -> serde_json::Value {
    match family {
        Family::Fusion => serde_json::json!({"kind": "fusion", "baseUrl": sim.base_url(),
            "username": sim.username(), "password": sim.password()}),
        Family::Legacy => serde_json::json!({"kind": "legacy", "baseUrl": sim.base_url(),
            "email": sim.username(), "password": sim.password(), "apiToken": sim.rest_api_token()}),
        Family::Periscope => {
            let mut secret = periscope_site_json(sim);
            secret["kind"] = "periscope".into();
            secret
        }
    }
}

/// Strings that must never appear in logs or output: the password, the REST API token, the Periscope API key,
/// and the marks of a
/// bearer token (`simtok.`) or a signed JWT (`eyJ`, base64 of `{"`).
pub fn sim_secrets(sim: &sisense_sim::Simulator) -> [String; 5] {
    [
        sim.password().to_string(),
        sim.rest_api_token().to_string(),
        sim.periscope_api_key().to_string(),
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
            // Roles and the user count are v0.9 routes on Linux too (the contract has them only there).
            Family::Fusion => {
                !r.path.starts_with("/api/v1/")
                    && r.path != "/api/roles"
                    && r.path != "/api/users/count"
            }
            Family::Legacy => r.path.starts_with("/api/v1/"),
            Family::Periscope => !r.path.starts_with("/api/v1/") && !r.path.starts_with("/api/v2/"),
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
        Family::Periscope => {
            assert_eq!(
                (sim.logins(), sim.api_key_requests()),
                (0, 0),
                "Periscope never logs in or signs JWTs"
            );
            assert!(
                sim.partner_requests() > 0,
                "Periscope requests carry HTTP-X-PARTNER-AUTH"
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

/// A workspace binary (a function's `bootstrap` under its package name, or the CLI) in the same profile as the
/// running test or bench (`target/<profile>/deps/<test>` or `target/<profile>/<bench>` ->
/// `target/<profile>/<name>`). The first call in a process runs `cargo build --workspace --bins` in that
/// profile, so `cargo test` on a fresh clone runs the binaries of the code it tests, never stale ones.
pub fn function_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("executable folder");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    BUILT.get_or_init(|| build_bins(profile_dir));
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing after `cargo build --workspace --bins`",
        path.display()
    );
    path
}

static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// Builds every binary of the workspace into `profile_dir` (`target/debug`, `target/release` or
/// `target/<custom profile>`), with the cargo that runs the tests. Cargo holds no lock while tests run, and
/// an up-to-date build costs a second.
fn build_bins(profile_dir: &std::path::Path) {
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile folder name")
        .to_string();
    let target_dir = profile_dir.parent().expect("target folder");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--workspace", "--bins", "--locked", "--quiet"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let status = command.status().expect("cargo runs");
    assert!(status.success(), "cargo build --workspace --bins failed");
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

/// The `user_id`s of the report `rows` with `status`.
pub fn with_status(
    rows: &[std::collections::BTreeMap<String, String>],
    status: &str,
) -> std::collections::BTreeSet<String> {
    rows.iter()
        .filter(|r| r["status"] == status)
        .map(|r| r["user_id"].clone())
        .collect()
}
