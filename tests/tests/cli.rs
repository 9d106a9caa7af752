//! The `sisense-lifecycle` CLI end to end: the built binary against the Sisense simulator over HTTP, local
//! folders, and moto for `s3://` locations and `--secret-id`. Exit codes, JSON summaries and the files written
//! are checked against oracles computed from the simulator's own state.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use e2e_tests::world::{BUCKET, World};
use e2e_tests::{Family, NOW, function_binary, now};
use serde_json::Value;
use sisense_sim::{Faults, Release, SimConfig, Simulator, StaleRule};

const TOKEN: &str = "sim-api-token-cli-0123456789";

async fn sim(users: usize) -> Simulator {
    Simulator::start(SimConfig {
        users,
        now: now(),
        api_token: Some(TOKEN.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A fresh folder for one test.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: stdout {:?} stderr {:?}", self.stdout, self.stderr))
    }
}

/// Runs the CLI in `dir` with only `env` (no SISENSE_* or AWS_* leaks in from the test's environment).
async fn cli(dir: &Path, args: &[&str], env: &[(String, String)]) -> Run {
    let mut command = tokio::process::Command::new(function_binary("sisense-lifecycle"));
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("SISENSE_") || key.starts_with("AWS_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let out = command.output().await.expect("the CLI runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn token_env(sim: &Simulator) -> Vec<(String, String)> {
    vec![
        ("SISENSE_URL".into(), sim.base_url().into()),
        ("SISENSE_TOKEN".into(), TOKEN.into()),
        ("SISENSE_RATE_LIMIT".into(), "0".into()),
    ]
}

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .records()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_every_user_to_one_file_as_the_simulator_has_them() {
    let sim = sim(350).await;
    let dir = workdir("export");
    let run = cli(
        &dir,
        &[
            "export",
            "--out",
            "users.csv",
            "--page-size",
            "100",
            "--json",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["users"], 350);
    assert_eq!(summary["key"], "users.csv");
    assert_eq!(summary["summaryKey"], "users.summary.json");
    let exported: BTreeSet<Vec<String>> = csv_rows(&dir.join("users.csv"))
        .iter()
        .map(|r| r.iter().map(str::to_string).collect())
        .collect();
    let expected: BTreeSet<Vec<String>> = sim.export_rows().into_iter().map(Vec::from).collect();
    assert_eq!(
        exported, expected,
        "the file holds exactly the simulator's users"
    );
    let file_summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("users.summary.json")).unwrap()).unwrap();
    assert_eq!(file_summary["users"], 350);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no staging folder is left behind: {left:?}");
    assert!(
        !run.stderr.contains("exporting users"),
        "no progress bars when stderr is not a terminal: {}",
        run.stderr
    );

    // A failed export leaves the earlier file untouched and no partial file.
    sim.set_faults(Faults {
        reject_all_tokens: true,
        ..Faults::default()
    });
    let failed = cli(&dir, &["export", "--out", "users.csv"], &token_env(&sim)).await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("error: export failed: Sisense"),
        "{}",
        failed.stderr
    );
    assert_eq!(csv_rows(&dir.join("users.csv")).len(), 350);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn export_survives_token_expiry_and_a_429_5xx_storm() {
    let sim = sim(400).await;
    sim.set_faults(Faults {
        rate_429: 0.2,
        rate_5xx: 0.2,
        // A token dies after 12 requests: more than the 8 pages the export keeps in flight (the job's default,
        // the function's too), so a fresh login outlives the burst it serves, as a real token (hours) does. With
        // 3, a token logged in again expired before its own retry reached Sisense, which no server does.
        token_expiry_after: Some(12),
        retry_after: Some(0),
        ..Faults::default()
    });
    let dir = workdir("export-storm");
    let env = vec![
        ("SISENSE_URL".into(), sim.base_url().into()),
        ("SISENSE_USERNAME".into(), sim.username().into()),
        ("SISENSE_PASSWORD".into(), sim.password().into()),
        ("SISENSE_RATE_LIMIT".into(), "0".into()),
    ];
    let run = cli(
        &dir,
        &["export", "--out", "users.csv", "--page-size", "50", "-vv"],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(csv_rows(&dir.join("users.csv")).len(), 400);
    assert!(
        sim.logins() >= 2,
        "the expired token was replaced by a new login"
    );
    for output in [&run.stdout, &run.stderr] {
        assert!(
            !output.contains(sim.password()),
            "the password never appears, even at debug level"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_groups_list_the_installation() {
    let sim = sim(20).await;
    let dir = workdir("listing");
    let roles = cli(&dir, &["roles", "--json"], &token_env(&sim)).await;
    assert_eq!(roles.code, 0, "{}", roles.stderr);
    let names: BTreeSet<String> = roles
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = sim.role_names().into_values().collect();
    assert_eq!(names, expected);
    let groups = cli(&dir, &["groups"], &token_env(&sim)).await;
    assert_eq!(groups.code, 0, "{}", groups.stderr);
    for name in sim.group_names().values() {
        assert!(
            groups.stdout.contains(name.as_str()),
            "{name}: {}",
            groups.stdout
        );
    }
    assert!(
        groups.stdout.contains("(name not unique"),
        "duplicate group names are pointed out"
    );

    // The same listing through the legacy Windows API: the REST API token selects it.
    sim.clear_requests();
    let legacy_env = vec![
        ("SISENSE_URL".into(), sim.base_url().into()),
        ("SISENSE_USERNAME".into(), sim.username().into()),
        ("SISENSE_PASSWORD".into(), sim.password().into()),
        ("SISENSE_REST_API_TOKEN".into(), sim.rest_api_token().into()),
        ("SISENSE_RATE_LIMIT".into(), "0".into()),
    ];
    let legacy = cli(&dir, &["groups", "-vv"], &legacy_env).await;
    assert_eq!(legacy.code, 0, "{}", legacy.stderr);
    assert_eq!(legacy.stdout, groups.stdout);
    e2e_tests::assert_spoke(&sim, Family::Legacy);
    for secret in e2e_tests::sim_secrets(&sim) {
        assert!(!legacy.stderr.contains(&secret) && !legacy.stdout.contains(&secret));
    }
    let mut mixed = legacy_env.clone();
    mixed.push(("SISENSE_TOKEN".into(), TOKEN.into()));
    let refused = cli(&dir, &["groups"], &mixed).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("REST API token"),
        "{}",
        refused.stderr
    );
}

const NEW_HIRES: &str = "email,name,role,groups\n\
    dana.white@example.com,Dana White,viewer,Sales\n\
    omar.haddad@example.com,Omar Haddad,Designer,Finance;Support\n\
    bad-email,No Domain,viewer,\n\
    ivy.chen@example.com,Ivy Chen,wizard,\n";

#[tokio::test(flavor = "multi_thread")]
async fn import_dry_run_then_live_then_a_duplicate_run() {
    let sim = sim(50).await;
    let dir = workdir("import");
    std::fs::write(dir.join("new-hires.csv"), NEW_HIRES).unwrap();

    let dry = cli(
        &dir,
        &["import", "new-hires.csv", "--dry-run", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(
        dry.code, 3,
        "invalid rows make a partial result: {}",
        dry.stderr
    );
    let summary = dry.json();
    assert_eq!(
        (summary["wouldCreate"].as_u64(), summary["invalid"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        sim.writes().is_empty(),
        "a dry run writes nothing to Sisense"
    );

    let live = cli(
        &dir,
        &["import", "new-hires.csv", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(live.code, 3, "{}", live.stderr);
    let summary = live.json();
    assert_eq!(summary["status"], "done");
    assert_eq!(
        (summary["created"].as_u64(), summary["invalid"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(sim.user_by_email("dana.white@example.com").is_some());
    assert!(sim.user_by_email("omar.haddad@example.com").is_some());
    let report = dir
        .join("reports")
        .join(summary["reportKey"].as_str().unwrap());
    let rows = csv_rows(&report);
    let messages: Vec<String> = rows
        .iter()
        .map(|r| format!("{}:{}:{}", &r[1], &r[2], &r[4]))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("ivy.chen@example.com:invalid:") && m.contains("wizard")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("bad-email:invalid:")),
        "{messages:?}"
    );

    // An absolute path (the container is then an absolute folder) imports the same way.
    let elsewhere = workdir("import-absolute").join("more-hires.csv");
    std::fs::write(&elsewhere, "email,role\nzoe.abs@example.com,viewer\n").unwrap();
    let absolute = cli(
        &dir,
        &["import", elsewhere.to_str().unwrap(), "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(absolute.code, 0, "{}", absolute.stderr);
    assert_eq!(absolute.json()["created"], 1);
    assert!(sim.user_by_email("zoe.abs@example.com").is_some());

    let writes = sim.writes().len();
    let again = cli(
        &dir,
        &["import", "new-hires.csv", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(
        again.code, 3,
        "the first run's result is reported again: {}",
        again.stderr
    );
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(
        sim.writes().len(),
        writes,
        "the same file is never imported twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_bad_usage_have_their_own_exit_codes() {
    let sim = sim(10).await;
    let dir = workdir("refusals");
    std::fs::write(dir.join("no-email.csv"), "name,role\nAnn,viewer\n").unwrap();
    let refused = cli(&dir, &["import", "no-email.csv"], &token_env(&sim)).await;
    assert_eq!(refused.code, 4, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("no email column"),
        "{}",
        refused.stdout
    );

    let no_credentials = cli(&dir, &["export"], &[]).await;
    assert_eq!(no_credentials.code, 2);
    assert!(
        no_credentials.stderr.contains("SISENSE_URL"),
        "{}",
        no_credentials.stderr
    );
    let half = cli(
        &dir,
        &["roles"],
        &[
            ("SISENSE_URL".into(), sim.base_url().into()),
            ("SISENSE_USERNAME".into(), "u".into()),
        ],
    )
    .await;
    assert_eq!(half.code, 2);
    assert!(half.stderr.contains("SISENSE_PASSWORD"), "{}", half.stderr);
    let plain_http = cli(
        &dir,
        &["roles"],
        &[
            ("SISENSE_URL".into(), "http://bi.example.com".into()),
            ("SISENSE_TOKEN".into(), TOKEN.into()),
        ],
    )
    .await;
    assert_eq!(plain_http.code, 1, "{}", plain_http.stderr);
    assert!(plain_http.stderr.contains("http"), "{}", plain_http.stderr);
    let bad_flag = cli(
        &dir,
        &["deactivate", "--inactive-days", "0"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(bad_flag.code, 2, "{}", bad_flag.stderr);
    let missing = cli(&dir, &["report", "nope.csv"], &[]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("nope.csv"), "{}", missing.stderr);

    let secret_env = vec![(
        "SISENSE_PASSWORD".to_string(),
        "hunter2-secret-value".to_string(),
    )];
    let help = cli(&dir, &["--help"], &secret_env).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes"), "{}", help.stdout);
    assert!(
        !help.stdout.contains("hunter2"),
        "--help never shows the password"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivate_refuses_over_the_caps_and_acts_on_exactly_the_stale_users() {
    let sim = sim(300).await;
    let dir = workdir("deactivate");
    let rule = StaleRule {
        now: now(),
        inactive_days: 90,
        grace_days: 90,
        roles: vec!["super".into(), "admin".into()],
        users: vec![],
        groups: vec![],
    };
    let expected = sim.stale_sets(&rule);
    assert!(
        expected.act.len() > 30,
        "the population has stale users: {}",
        expected.act.len()
    );

    let refused = cli(
        &dir,
        &["deactivate", "--now", NOW, "--apply", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert_eq!(refused.json()["aborted"], true);
    assert!(sim.writes().is_empty());

    let dry = cli(
        &dir,
        &[
            "deactivate",
            "--now",
            NOW,
            "--dry-run",
            "--force",
            "--action",
            "deactivate",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains(&format!("would deactivate {} users", expected.act.len())),
        "{}",
        dry.stdout
    );
    let demote = cli(
        &dir,
        &[
            "deactivate",
            "--now",
            NOW,
            "--dry-run",
            "--force",
            "--action",
            "demote",
            "--json",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(demote.code, 0, "{}", demote.stderr);
    assert_eq!(demote.json()["action"], "demote");
    assert!(
        demote.json()["stale"].as_u64() <= Some(expected.act.len() as u64),
        "users already Viewers without groups are done already"
    );
    assert!(sim.writes().is_empty());

    let live_args = [
        "deactivate",
        "--apply",
        "--action",
        "deactivate",
        "--now",
        NOW,
        "--max-actions",
        "1000",
        "--max-action-percent",
        "100",
        "--json",
    ];
    // The published contract's PATCH ignores `active`: one probe write, then a refusal (exit 4) naming the
    // actions that work.
    let unsupported = cli(&dir, &live_args, &token_env(&sim)).await;
    assert_eq!(unsupported.code, 4, "{}", unsupported.stderr);
    assert!(
        unsupported
            .stderr
            .contains("does not support deactivating users")
            && unsupported.stderr.contains("`demote`")
            && unsupported.stderr.contains("`delete`"),
        "{}",
        unsupported.stderr
    );
    assert_eq!(sim.writes().len(), 1, "{:?}", sim.writes());
    assert!(
        sim.users()
            .iter()
            .all(|u| u["active"] == true || !expected.act.contains(u["_id"].as_str().unwrap()))
    );

    // A release that honours `active`.
    sim.set_release(Release::Newer);
    let live = cli(&dir, &live_args, &token_env(&sim)).await;
    assert_eq!(live.code, 0, "{}", live.stderr);
    let summary = live.json();
    assert_eq!(summary["acted"].as_u64(), Some(expected.act.len() as u64));
    let now_inactive: BTreeSet<String> = sim
        .users()
        .iter()
        .filter(|u| u["active"] == false && expected.act.contains(u["_id"].as_str().unwrap()))
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        now_inactive, expected.act,
        "exactly the stale, unprotected users were deactivated"
    );
    let report = dir
        .join("reports")
        .join(summary["reportKey"].as_str().unwrap());
    assert!(csv_rows(&report).len() >= expected.act.len());

    // The next run reports the accounts it deactivated as done, with their last seen kept: `active: false`
    // after a login is a deactivated account, not an invitation never accepted.
    let again = cli(
        &dir,
        &[
            "deactivate",
            "--action",
            "deactivate",
            "--now",
            NOW,
            "--dry-run",
            "--json",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["stale"], 0, "nothing left to deactivate");
    let report = dir
        .join("reports")
        .join(again.json()["reportKey"].as_str().unwrap());
    let mut reader = csv::Reader::from_path(&report).unwrap();
    let rows: Vec<std::collections::HashMap<String, String>> =
        reader.deserialize().map(Result::unwrap).collect();
    let logged_in: BTreeSet<String> = sim
        .users()
        .iter()
        .filter(|u| expected.act.contains(u["_id"].as_str().unwrap()) && u["lastLogin"].is_string())
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    assert!(logged_in.len() > 10, "{}", logged_in.len());
    for id in &logged_in {
        let row = rows
            .iter()
            .find(|r| &r["user_id"] == id)
            .unwrap_or_else(|| panic!("{id} has no row"));
        assert_eq!(row["status"], "already_done", "{row:?}");
        assert!(!row["last_seen"].is_empty(), "last seen kept: {row:?}");
        assert_eq!(row["last_seen_source"], "lastLogin", "{row:?}");
    }
    assert_eq!(
        again.json()["alreadyDone"].as_u64(),
        Some(logged_in.len() as u64)
    );
}

e2e_tests::per_family!(s3_locations_and_the_secret_work_through_moto);

async fn s3_locations_and_the_secret_work_through_moto(family: Family) {
    let world = World::new().await;
    let sim = sim(120).await;
    let secret = world.sim_secret("cli/sisense", &sim, family).await;
    let mut env = world.moto.env();
    env.push(("SISENSE_SECRET_ID".into(), secret));
    env.push(("SISENSE_RATE_LIMIT".into(), "0".into()));
    // One folder per family: the two runs are concurrent tests and `workdir` empties its folder.
    let dir = workdir(&format!("s3-{family:?}"));

    let export = cli(
        &dir,
        &[
            "export",
            "--out",
            &format!("s3://{BUCKET}/exports/users/"),
            "--json",
        ],
        &env,
    )
    .await;
    assert_eq!(export.code, 0, "{}", export.stderr);
    let key = export.json()["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("exports/users/dt=2"), "{key}");
    let latest = world.get("exports/users/latest.csv").await;
    assert_eq!(
        csv::Reader::from_reader(latest.as_slice())
            .records()
            .count(),
        120
    );

    let report = cli(
        &dir,
        &[
            "report",
            &format!("s3://{BUCKET}/exports/users/"),
            "--now",
            NOW,
            "--json",
        ],
        &env,
    )
    .await;
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert_eq!(report.json()["users"], 120);
    assert_eq!(
        report.json()["historyPoints"],
        1,
        "the export's dated summary, listed in S3"
    );
    let summary: serde_json::Value = serde_json::from_slice(
        &world
            .get(export.json()["summaryKey"].as_str().unwrap())
            .await,
    )
    .unwrap();
    // The page judges staleness at --now, the export at the time it ran: the seats per tier and pending
    // invitations agree; the split between active and stale depends on the instant.
    for tier in ["administrators", "designers", "viewers", "unclassified"] {
        let (page, export) = (&report.json()["seats"][tier], &summary["seats"][tier]);
        assert_eq!(page["total"], export["total"], "{tier}");
        assert_eq!(
            page["pendingInvitations"], export["pendingInvitations"],
            "{tier}"
        );
    }
    assert!(dir.join("access-review.html").is_file());

    world
        .put("imports/hires.csv", NEW_HIRES.as_bytes().to_vec())
        .await;
    let import = cli(
        &dir,
        &[
            "import",
            &format!("s3://{BUCKET}/imports/hires.csv"),
            "--json",
        ],
        &env,
    )
    .await;
    assert_eq!(import.code, 3, "{}", import.stderr);
    let report_key = import.json()["reportKey"].as_str().unwrap().to_string();
    assert!(
        report_key.starts_with("reports/imports/hires."),
        "{report_key}"
    );
    assert!(!world.get(&report_key).await.is_empty());
    let bad_prefix = cli(
        &dir,
        &[
            "import",
            &format!("s3://{BUCKET}/imports/hires.csv"),
            "--reports",
            &format!("s3://{BUCKET}/"),
        ],
        &env,
    )
    .await;
    assert_eq!(bad_prefix.code, 2, "{}", bad_prefix.stderr);
    assert!(
        bad_prefix.stderr.contains("trigger the import again"),
        "{}",
        bad_prefix.stderr
    );

    let both = cli(&dir, &["roles", "--url", sim.base_url()], &env).await;
    assert_eq!(both.code, 2, "{}", both.stderr);
    e2e_tests::assert_spoke(&sim, family);
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_every_job_and_replaces_only_its_own_folder() {
    let dir = workdir("demo");
    let run = cli(&dir, &["demo", "--users", "300", "--json"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.json();
    assert_eq!(summary["export"]["users"], 300);
    let import = &summary["import"];
    assert_eq!(
        (
            import["created"].as_u64(),
            import["skipped"].as_u64(),
            import["invalid"].as_u64()
        ),
        (Some(6), Some(1), Some(5))
    );
    assert_eq!(summary["deactivate"]["dryRun"], true);
    assert_eq!(summary["report"]["users"], 300);
    let out = dir.join("demo-out");
    let exported = csv_rows(&out.join("exports/users/latest.csv"));
    assert_eq!(exported.len(), 300);
    assert!(out.join("access-review.html").is_file());
    assert!(
        out.join("reports")
            .join(import["reportKey"].as_str().unwrap())
            .is_file()
    );

    let again = cli(&dir, &["demo", "--users", "50"], &[]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("demo-out/access-review.html"),
        "{}",
        again.stdout
    );
    assert_eq!(
        csv_rows(&out.join("exports/users/latest.csv")).len(),
        50,
        "the earlier demo was replaced"
    );

    std::fs::create_dir_all(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/keep.txt"), "not the demo's").unwrap();
    let refused = cli(&dir, &["demo", "--out", "mine"], &[]).await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        dir.join("mine/keep.txt").is_file(),
        "a folder the demo did not write is never emptied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_prints_its_lines_in_the_order_things_happen_on_a_terminal() {
    let dir = workdir("demo-order");
    let command = format!(
        "{} demo --users 120",
        function_binary("sisense-lifecycle").display()
    );
    let tty = cli_in_pty(&dir, &command, &[]).await;
    let at = |needle: &str| {
        tty.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {tty}"))
    };
    assert!(
        at("Sisense simulator with 120 users") < at("1. doctor"),
        "{tty}"
    );
    assert!(
        at("3. import") < at("--resume"),
        "the import's hint follows its heading: {tty}"
    );
    assert!(at("--resume") < at("4. demotion"), "{tty}");
    assert!(at("4. demotion") < at("5. access review"), "{tty}");
    assert!(at("1. doctor") < at("2. export"), "{tty}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_command_serves_the_demo_installation_until_interrupted() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = workdir("simulator");
    let mut child = tokio::process::Command::new(function_binary("sisense-lifecycle"))
        .current_dir(&dir)
        .args(["simulator", "--users", "150"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the CLI starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut env = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.is_empty() {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("the simulator prints how to reach it within 60 s")
            .unwrap()
            .expect("a line before the end");
        if let Some(vars) = line.trim().strip_prefix("export ") {
            for pair in vars.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("NAME=value");
                env.push((k.to_string(), v.to_string()));
            }
        }
    }
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["SISENSE_URL", "SISENSE_USERNAME", "SISENSE_PASSWORD"]
    );
    // Another command, from another process, against it: what a newcomer does by hand.
    let run = cli(&dir, &["export", "--out", "users.csv", "--json"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["users"], 150);
    assert_eq!(csv_rows(&dir.join("users.csv")).len(), 150);
    // Ctrl-C stops it cleanly.
    let pid = child.id().expect("running") as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("it stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    };
    assert!(
        rest.iter()
            .any(|l| l.starts_with("simulator stopped after")),
        "{rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_bars_show_rate_and_eta_on_a_terminal_only() {
    let sim = sim(3000).await;
    let dir = workdir("progress");
    std::fs::write(dir.join("new-hires.csv"), NEW_HIRES).unwrap();
    // `script` (util-linux) gives the CLI a pseudo-terminal as stderr.
    let command = format!(
        "{} export --out users.csv --page-size 200 && {} import new-hires.csv --dry-run",
        function_binary("sisense-lifecycle").display(),
        function_binary("sisense-lifecycle").display()
    );
    let tty = cli_in_pty(&dir, &command, &token_env(&sim)).await;
    assert!(tty.contains("exporting users"), "{tty}");
    assert!(tty.contains("/s"), "a rate is shown: {tty}");
    assert!(
        tty.contains("importing rows") && tty.contains("ETA"),
        "a known total gets an ETA: {tty}"
    );
    let quiet = cli_in_pty(
        &dir,
        &format!(
            "{} export --out users.csv --quiet",
            function_binary("sisense-lifecycle").display()
        ),
        &token_env(&sim),
    )
    .await;
    assert!(
        !quiet.contains("exporting users"),
        "--quiet hides the bars: {quiet}"
    );
}

async fn cli_in_pty(dir: &Path, command: &str, env: &[(String, String)]) -> String {
    let out = tokio::process::Command::new("script")
        .current_dir(dir)
        .args(["-qfec", command, "/dev/null"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_import_is_held_until_resumed_with_its_run_id() {
    let sim = sim(40).await;
    let dir = workdir("resume");
    std::fs::write(dir.join("new-hires.csv"), NEW_HIRES).unwrap();
    sim.set_faults(Faults {
        reject_all_tokens: true,
        ..Faults::default()
    });
    let broken = cli(&dir, &["import", "new-hires.csv"], &token_env(&sim)).await;
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    let run_id = broken
        .stderr
        .split_whitespace()
        .skip_while(|w| *w != "--resume")
        .nth(1)
        .expect("the run id is printed")
        .to_string();

    sim.set_faults(Faults::default());
    let held = cli(
        &dir,
        &["import", "new-hires.csv", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(held.code, 4, "{}", held.stdout);
    assert_eq!(held.json()["owner"], run_id.as_str());
    assert!(sim.writes().is_empty(), "a held import writes nothing");
    let held_text = cli(&dir, &["import", "new-hires.csv"], &token_env(&sim)).await;
    assert!(
        held_text.stdout.contains(&format!("--resume {run_id}")),
        "{}",
        held_text.stdout
    );

    let resumed = cli(
        &dir,
        &["import", "new-hires.csv", "--resume", &run_id, "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(resumed.code, 3, "{}", resumed.stderr);
    assert_eq!(resumed.json()["created"], 2);
    assert!(sim.user_by_email("dana.white@example.com").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_periscope_secret_lists_roles_exports_sites_and_refuses_to_judge_staleness() {
    let world = World::new().await;
    let sim = Simulator::start(SimConfig {
        users: 40,
        periscope_site: "acme".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let secret = world
        .sim_secret("cli/periscope", &sim, Family::Periscope)
        .await;
    let mut env = world.moto.env();
    env.push(("SISENSE_SECRET_ID".into(), secret));
    env.push(("SISENSE_RATE_LIMIT".into(), "0".into()));
    let dir = workdir("periscope");

    let roles = cli(&dir, &["roles"], &env).await;
    assert_eq!(roles.code, 0, "{}", roles.stderr);
    assert!(
        roles.stdout.contains("Viewer") && roles.stdout.contains("acme:0000-viewer-3333-id"),
        "the site's own roles and ids: {}",
        roles.stdout
    );
    let export = cli(&dir, &["export", "--out", "users.csv"], &env).await;
    assert_eq!(export.code, 0, "{}", export.stderr);
    let mut reader = csv::Reader::from_path(dir.join("users.csv")).unwrap();
    assert_eq!(reader.headers().unwrap().iter().next_back(), Some("site"));
    assert_eq!(reader.records().count(), 40);

    sim.clear_requests();
    let stale = cli(&dir, &["deactivate", "--inactive-days", "30"], &env).await;
    assert_eq!(stale.code, 4, "refused: {}", stale.stderr);
    assert!(
        stale.stderr.contains("staleness cannot be judged"),
        "{}",
        stale.stderr
    );
    assert!(sim.requests().is_empty());
    e2e_tests::assert_spoke(&sim, Family::Periscope);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_undoes_a_demote_from_its_local_report_and_the_review_shows_dashboards() {
    let sim = sim(300).await;
    let dir = workdir("restore");
    let before = sim.users();
    let demoted = cli(
        &dir,
        &[
            "deactivate",
            "--apply",
            "--now",
            NOW,
            "--action",
            "demote",
            "--force",
            "--max-action-percent",
            "100",
            "--max-actions",
            "100000",
            "--json",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(demoted.code, 0, "{}", demoted.stderr);
    let summary = demoted.json();
    let acted = summary["acted"].as_u64().unwrap();
    assert!(acted > 10, "{summary}");
    assert_eq!(summary["sessionsRevoked"], acted);
    assert_ne!(sim.users(), before);
    let report = format!("reports/{}", summary["reportKey"].as_str().unwrap());

    // The access review with the run's report shows what each stale candidate owns.
    std::fs::write(dir.join("users.csv"), "").unwrap();
    let export = cli(&dir, &["export", "--out", "users.csv"], &token_env(&sim)).await;
    assert_eq!(export.code, 0, "{}", export.stderr);
    let review = cli(
        &dir,
        &[
            "report",
            "users.csv",
            "--now",
            NOW,
            "--plan",
            &report,
            "--out",
            "review.html",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(review.code, 0, "{}", review.stderr);
    let html = std::fs::read_to_string(dir.join("review.html")).unwrap();
    assert!(html.contains("<th>Dashboards owned</th>") && html.contains("id=\"stale-owners\""));

    let dry = cli(
        &dir,
        &["restore", &report, "--dry-run", "--force", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.json()["toRestore"], acted);
    let done = cli(
        &dir,
        &["restore", &report, "--apply", "--force", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(done.json()["restored"], acted);
    let restore_report = done.json()["reportKey"].as_str().unwrap().to_string();
    assert!(
        dir.join("reports").join(&restore_report).exists(),
        "{restore_report}"
    );
    let strip = |users: Vec<Value>| -> Vec<(Value, Value)> {
        users
            .into_iter()
            .map(|u| (u["roleId"].clone(), u["groups"].clone()))
            .collect()
    };
    assert_eq!(
        strip(sim.users()),
        strip(before),
        "every role and group is back"
    );
    let again = cli(
        &dir,
        &["restore", &report, "--apply", "--force", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(again.json()["alreadyRestored"], acted);
    let bad = cli(&dir, &["restore", "users.csv"], &token_env(&sim)).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("not a deactivate report"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_deactivate_or_restore_only_plans_and_apply_acts() {
    let sim = sim(300).await;
    let dir = workdir("apply");
    let args = [
        "deactivate",
        "--now",
        NOW,
        "--force",
        "--max-actions",
        "100000",
        "--max-action-percent",
        "100",
        "--json",
    ];
    let planned = cli(&dir, &args, &token_env(&sim)).await;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    assert_eq!(planned.json()["dryRun"], true, "no flag: a plan");
    assert!(planned.json()["stale"].as_u64() > Some(10));
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let text = cli(&dir, &args[..args.len() - 1], &token_env(&sim)).await;
    assert!(
        text.stdout.contains("nothing changed (--apply acts)"),
        "{}",
        text.stdout
    );

    let applied = cli(
        &dir,
        &[&args[..1], &["--apply"], &args[1..]].concat(),
        &token_env(&sim),
    )
    .await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(applied.json()["dryRun"], false);
    assert!(!sim.writes().is_empty());
    let report = dir
        .join("reports")
        .join(applied.json()["reportKey"].as_str().unwrap())
        .display()
        .to_string();
    sim.clear_requests();
    let restore = cli(
        &dir,
        &["restore", &report, "--force", "--json"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    assert_eq!(restore.json()["dryRun"], true, "a bare restore plans too");
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let both = cli(
        &dir,
        &["deactivate", "--apply", "--dry-run"],
        &token_env(&sim),
    )
    .await;
    assert_eq!(
        both.code, 2,
        "--apply and --dry-run conflict: {}",
        both.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_prints_verdicts_read_only_and_a_frozen_signal_exits_5_with_nothing_changed() {
    let sim = Simulator::start(SimConfig {
        users: 500,
        now: now(),
        api_token: Some(TOKEN.into()),
        sign_ins: sisense_sim::SignInMix::enterprise(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = workdir("doctor");
    let table = cli(&dir, &["doctor", "--now", NOW], &token_env(&sim)).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    for needle in [
        "ssoTokenIat",
        "deactivate",
        "ready",
        "evidence health: healthy",
    ] {
        assert!(table.stdout.contains(needle), "{needle}: {}", table.stdout);
    }
    let json = cli(&dir, &["doctor", "--now", NOW, "--json"], &token_env(&sim)).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_eq!(json.json()["jobs"]["export"]["verdict"], "ready");
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let later = (now() + chrono::Duration::days(730)).to_rfc3339();
    let frozen = cli(
        &dir,
        &[
            "deactivate",
            "--now",
            &later,
            "--apply",
            "--force",
            "--json",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(frozen.code, 5, "{} {}", frozen.stdout, frozen.stderr);
    assert!(frozen.stderr.contains("looks frozen"), "{}", frozen.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let doctor = cli(&dir, &["doctor", "--now", &later], &token_env(&sim)).await;
    assert!(doctor.stdout.contains("not ready"), "{}", doctor.stdout);

    // A feed that is too old is refused before anything is read from Sisense.
    std::fs::write(
        dir.join("old-feed.csv"),
        "email,last_seen\nann@example.com,2026-01-01\n",
    )
    .unwrap();
    let stale = cli(
        &dir,
        &[
            "deactivate",
            "--now",
            NOW,
            "--dry-run",
            "--activity-feed",
            "old-feed.csv",
        ],
        &token_env(&sim),
    )
    .await;
    assert_eq!(stale.code, 4, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("older than the 7 days"),
        "{}",
        stale.stderr
    );
}

/// Runs `command` in a pseudo-terminal (stdin and stderr included) with `typed` as what the person types.
async fn cli_in_pty_typing(
    dir: &Path,
    command: &str,
    env: &[(String, String)],
    typed: &str,
) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("script")
        .current_dir(dir)
        .args(["-qfec", command, "/dev/null"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(typed.as_bytes()).await.expect("typed");
    drop(stdin);
    let out = child.wait_with_output().await.expect("script ends");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn at_a_terminal_a_bare_deactivate_shows_the_plan_and_acts_only_on_yes() {
    let sim = sim(300).await;
    let dir = workdir("confirm");
    let command = format!(
        "{} deactivate --now {NOW} --force --max-actions 100000 --max-action-percent 100",
        function_binary("sisense-lifecycle").display()
    );
    let declined = cli_in_pty_typing(&dir, &command, &token_env(&sim), "n\n").await;
    assert!(
        declined.contains("dry run: would demote") && declined.contains("users now?"),
        "the plan, then the question: {declined}"
    );
    assert!(
        declined.contains("not applied: nothing changed"),
        "{declined}"
    );
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let accepted = cli_in_pty_typing(&dir, &command, &token_env(&sim), "yes\n").await;
    assert!(!sim.writes().is_empty(), "yes applies: {accepted}");
    assert!(
        accepted.contains("demote: ") && accepted.contains(" done, 0 not applied"),
        "{accepted}"
    );
}
