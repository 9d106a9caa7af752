//! The bulk-create-users job against the simulator over HTTP, with memory stores.

mod common;

use chrono::{TimeZone, Utc};
use lifecycle::import::{
    ImportOptions, ImportOutcome, ImportRequest, ImportSummary, OnExisting, import_users,
};
use lifecycle::{FixedClock, MemoryStore, ObjectStore};
use serde_json::{Value, json};
use sisense_sim::{Faults, Simulator};
use std::collections::BTreeMap;

fn clock() -> FixedClock {
    FixedClock(Utc.with_ymd_and_hms(2026, 11, 22, 9, 15, 0).unwrap())
}

async fn sim(users: usize) -> Simulator {
    common::sim_at(users, clock().0, Faults::default()).await
}

fn request(key: &str, run_id: &str) -> ImportRequest {
    ImportRequest {
        bucket: "in".into(),
        key: key.into(),
        dry_run: false,
        on_existing: OnExisting::Skip,
        run_id: run_id.into(),
    }
}

async fn input(key: &str, body: &str) -> MemoryStore {
    let store = MemoryStore::default();
    store
        .put(key, body.as_bytes().to_vec(), "text/csv")
        .await
        .unwrap();
    store
}

/// Runs hops until done, like the state machine does; returns the summary and the number of hops.
async fn run_to_end(
    sim: &Simulator,
    input: &MemoryStore,
    reports: &MemoryStore,
    request: &ImportRequest,
    options: &ImportOptions,
) -> ImportSummary {
    let client = common::client(sim);
    for _ in 0..100 {
        match import_users(&client, input, reports, &clock(), request, options)
            .await
            .unwrap()
        {
            ImportOutcome::Done { summary, duplicate } => {
                assert!(!duplicate);
                return *summary;
            }
            ImportOutcome::Continue { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
    panic!("never finished")
}

fn report(reports: &MemoryStore, summary: &ImportSummary) -> Vec<BTreeMap<String, String>> {
    let bytes = reports
        .objects()
        .remove(&summary.report_key)
        .expect("report");
    csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(|r| r.unwrap())
        .collect()
}

fn by_row(rows: &[BTreeMap<String, String>]) -> BTreeMap<usize, (String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["row"].parse().unwrap(),
                (r["status"].clone(), r["message"].clone()),
            )
        })
        .collect()
}

fn generated(n: usize, from: usize) -> String {
    let mut csv = String::from("email,first_name,last_name,role,groups\n");
    for i in from..from + n {
        csv.push_str(&format!(
            "new.user{i}@import.example,New,User{i},viewer,Sales\n"
        ));
    }
    csv
}

#[tokio::test]
async fn a_messy_file_is_planned_row_by_row_and_only_valid_rows_are_written() {
    let sim = sim(50).await;
    let existing = sim.users()[10]["email"].as_str().unwrap().to_string();
    let file = format!(
        "\u{feff}E-Mail;Given Name;Surname;Role;Groups;Password;Department\r\n\
         new.one@example.com;New;One;viewer;Sales|Finance;;Ops\r\n\
         \"quoted@example.com\";\"Smith, Jr\";Anne;designer;\"Engineering; Support\";s3cret!;\"two\r\nlines\"\r\n\
         unknown.role@example.com;U;R;wizard;;;\r\n\
         unknown.group@example.com;U;G;viewer;Nonexistent;;\r\n\
         ambiguous.group@example.com;A;G;viewer;Analysts;;\r\n\
         dup@example.com;D;1;viewer;;;\r\n\
         DUP@example.com;D;2;viewer;;;\r\n\
         {existing};X;Y;viewer;;;\r\n\
         not-an-email;B;E;viewer;;;\r\n\
         default.role@example.com;;;;;;\r\n\
         short.row@example.com;only\r\n"
    );
    let input = input("imports/messy.csv", &file).await;
    let reports = MemoryStore::default();
    let summary = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/messy.csv", "run-1"),
        &ImportOptions::default(),
    )
    .await;
    assert_eq!(summary.rows, 11);
    assert_eq!(
        (
            summary.created,
            summary.skipped,
            summary.invalid,
            summary.failed
        ),
        (3, 1, 7, 0),
        "{summary:?}"
    );
    assert_eq!(summary.ignored_headers, ["Department"]);
    assert_eq!(
        summary.report_key,
        "reports/imports/messy.20261122T091500Z.result.csv"
    );
    assert_eq!(
        summary.summary_key,
        "reports/imports/messy.20261122T091500Z.summary.json"
    );

    let rows = by_row(&report(&reports, &summary));
    let status = |row: usize| rows[&row].0.as_str();
    let message = |row: usize| rows[&row].1.as_str();
    assert_eq!(status(2), "created");
    assert_eq!(status(3), "created", "row 3 holds a quoted line break");
    // Row 3's quoted cell holds a line break, so later rows start one line further down.
    assert!(
        message(5).contains("unknown role \"wizard\""),
        "{}",
        message(5)
    );
    assert!(
        message(6).contains("unknown group \"Nonexistent\""),
        "{}",
        message(6)
    );
    assert!(
        message(7).contains("ambiguous group \"Analysts\""),
        "{}",
        message(7)
    );
    assert!(message(8).contains("rows 8, 9") && message(9).contains("rows 8, 9"));
    assert_eq!(
        (status(10), message(10)),
        ("skipped", "user already exists (onExisting=skip)")
    );
    assert!(message(11).contains("invalid email"));
    assert_eq!(status(12), "created");
    assert!(message(13).contains("malformed row: has 2 fields but the header has 7"));

    let role_names = sim.role_names();
    let group_names = sim.group_names();
    let one = sim.user_by_email("new.one@example.com").unwrap();
    assert_eq!(role_names[one["roleId"].as_str().unwrap()], "consumer");
    let groups: Vec<&str> = one["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| group_names[g.as_str().unwrap()].as_str())
        .collect();
    assert_eq!(groups, ["Sales", "Finance"]);
    let quoted = sim.user_by_email("quoted@example.com").unwrap();
    assert_eq!(
        (quoted["firstName"].as_str(), quoted["lastName"].as_str()),
        (Some("Smith, Jr"), Some("Anne"))
    );
    assert_eq!(
        role_names[quoted["roleId"].as_str().unwrap()],
        "contributor"
    );
    let default = sim.user_by_email("default.role@example.com").unwrap();
    assert_eq!(
        role_names[default["roleId"].as_str().unwrap()],
        "consumer",
        "DEFAULT_ROLE"
    );
    assert!(
        sim.user_by_email("dup@example.com").is_none(),
        "no duplicate row is imported"
    );
    assert_eq!(sim.users().len(), 53);
}

#[tokio::test]
async fn dry_run_plans_everything_and_sends_no_write() {
    let sim = sim(20).await;
    let input = input("imports/dry-run/team.csv", &generated(300, 0)).await;
    let reports = MemoryStore::default();
    let mut req = request("imports/dry-run/team.csv", "run-1");
    req.dry_run = true;
    let summary = run_to_end(&sim, &input, &reports, &req, &ImportOptions::default()).await;
    assert!(summary.dry_run);
    assert_eq!((summary.would_create, summary.created), (300, 0));
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    assert_eq!(sim.users().len(), 20);
}

#[tokio::test]
async fn the_same_object_twice_is_imported_once_and_its_report_is_never_overwritten() {
    let sim = sim(20).await;
    let input = input("imports/batch.csv", &generated(120, 0)).await;
    let reports = MemoryStore::default();
    let first = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/batch.csv", "delivery-1"),
        &ImportOptions::default(),
    )
    .await;
    assert_eq!(first.created, 120);
    let report_bytes = reports.objects()[&first.report_key].clone();
    sim.clear_requests();
    let later = FixedClock(clock().0 + chrono::Duration::hours(1));
    let again = import_users(
        &common::client(&sim),
        &input,
        &reports,
        &later,
        &request("imports/batch.csv", "delivery-2"),
        &ImportOptions::default(),
    )
    .await
    .unwrap();
    match again {
        ImportOutcome::Done { summary, duplicate } => {
            assert!(duplicate);
            assert_eq!(*summary, first, "the first run's summary");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        sim.requests().is_empty(),
        "a duplicate does not even talk to Sisense"
    );
    assert_eq!(reports.objects()[&first.report_key], report_bytes);
    assert_eq!(
        reports
            .objects()
            .keys()
            .filter(|k| k.ends_with(".result.csv"))
            .count(),
        1
    );

    // The same key with new content is a new object (new ETag): imported on its own.
    input
        .put(
            "imports/batch.csv",
            generated(10, 500).into_bytes(),
            "text/csv",
        )
        .await
        .unwrap();
    let third = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/batch.csv", "delivery-3"),
        &ImportOptions::default(),
    )
    .await;
    assert_eq!(third.created, 10);
}

#[tokio::test]
async fn a_second_delivery_while_the_first_is_mid_import_does_nothing() {
    let sim = sim(20).await;
    let input = input("imports/big.csv", &generated(400, 0)).await;
    let reports = MemoryStore::default();
    let options = ImportOptions {
        rows_per_hop: Some(100),
        ..ImportOptions::default()
    };
    let client = common::client(&sim);
    let first = import_users(
        &client,
        &input,
        &reports,
        &clock(),
        &request("imports/big.csv", "exec-1"),
        &options,
    )
    .await
    .unwrap();
    let ImportOutcome::Continue {
        continuation,
        hop: 1,
        processed: 100,
        rows: 400,
    } = &first
    else {
        panic!("{first:?}");
    };
    // The next invocation's payload names the same object, mode and run.
    assert_eq!(
        serde_json::to_value(continuation).unwrap(),
        serde_json::json!({"runId": "exec-1", "bucket": "in", "key": "imports/big.csv", "dryRun": false,
            "onExisting": "skip"})
    );
    assert_eq!(first.response()["continuation"]["runId"], "exec-1");
    let other = import_users(
        &client,
        &input,
        &reports,
        &clock(),
        &request("imports/big.csv", "exec-2"),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(
        other,
        ImportOutcome::InProgress {
            owner: "exec-1".into()
        }
    );
    let summary = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/big.csv", "exec-1"),
        &options,
    )
    .await;
    assert_eq!((summary.created, summary.hops), (400, 4));
    assert_eq!(sim.users().len(), 420);
}

#[tokio::test]
async fn a_hop_cut_off_after_its_writes_is_resumed_without_creating_twice_or_losing_a_row() {
    let sim = sim(20).await;
    let input = input("imports/cut.csv", &generated(500, 0)).await;
    let reports = MemoryStore::default();
    let options = ImportOptions::default();
    let client = common::client(&sim);
    let req = request("imports/cut.csv", "exec-1");
    let two_segments = ImportOptions {
        rows_per_hop: Some(200),
        ..options.clone()
    };
    let first = import_users(&client, &input, &reports, &clock(), &req, &two_segments)
        .await
        .unwrap();
    assert!(matches!(
        first,
        ImportOutcome::Continue { processed: 200, .. }
    ));
    // The next hop creates the third segment's users, then storing that segment's results fails: it dies there.
    let claim = reports
        .objects()
        .into_keys()
        .find(|k| k.ends_with("/claim.json"))
        .unwrap();
    let broken =
        reports.refusing_puts_under_shared(&claim.replace("claim.json", "parts/000003.csv"));
    let cut = import_users(&client, &input, &broken, &clock(), &req, &options).await;
    let err = cut.expect_err("the hop died");
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(
        sim.users().len(),
        20 + 300,
        "segment 3 was created before the hop died"
    );

    let summary = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/cut.csv", "exec-1"),
        &options,
    )
    .await;
    assert_eq!((summary.created, summary.failed), (500, 0), "{summary:?}");
    assert_eq!(sim.users().len(), 520, "nobody twice");
    let rows = report(&reports, &summary);
    assert_eq!(rows.len(), 500, "no row lost");
    let confirmed = rows
        .iter()
        .filter(|r| r["message"].contains("earlier invocation"))
        .count();
    assert_eq!(
        confirmed, 100,
        "the cut-off segment is reported created, confirmed by email"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_account_for_every_row_and_create_nobody_twice() {
    let sim = sim(30).await;
    sim.set_faults(Faults {
        rate_429: 0.10,
        rate_5xx: 0.10,
        lose_write_response_rate: 0.15,
        token_expiry_after: Some(25),
        ..Faults::default()
    });
    let input = input("imports/storm.csv", &generated(600, 0)).await;
    let reports = MemoryStore::default();
    let summary = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/storm.csv", "exec-1"),
        &ImportOptions::default(),
    )
    .await;
    assert_eq!(summary.created + summary.failed, 600, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    let users = sim.users();
    assert_eq!(users.len(), 630);
    let mut emails: Vec<String> = users
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_lowercase())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 630, "no duplicate users");
    assert!(sim.requests().iter().any(|r| r.fault.is_some()));
}

#[tokio::test]
async fn on_existing_update_patches_filled_cells_and_error_reports_invalid() {
    let sim = sim(40).await;
    let users = sim.users();
    let (a, b) = (users[20].clone(), users[21].clone());
    let file = format!(
        "email,name,role,groups\n{},Renamed Person,dataDesigner,Executives\n{},,,\n",
        a["email"].as_str().unwrap(),
        b["email"].as_str().unwrap()
    );
    let input = input("imports/upd.csv", &file).await;
    let reports = MemoryStore::default();
    let mut req = request("imports/upd.csv", "exec-1");
    req.on_existing = OnExisting::Update;
    let summary = run_to_end(&sim, &input, &reports, &req, &ImportOptions::default()).await;
    assert_eq!((summary.updated, summary.skipped), (1, 1), "{summary:?}");
    let after = sim.user_by_email(a["email"].as_str().unwrap()).unwrap();
    assert_eq!(
        (after["firstName"].clone(), after["lastName"].clone()),
        (json!("Renamed"), json!("Person"))
    );
    assert_eq!(
        sim.role_names()[after["roleId"].as_str().unwrap()],
        "dataDesigner"
    );
    let groups: Vec<String> = after["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| sim.group_names()[g.as_str().unwrap()].clone())
        .collect();
    assert_eq!(groups, ["Executives"]);
    assert_eq!(
        sim.user_by_email(b["email"].as_str().unwrap()).unwrap(),
        b,
        "empty cells change nothing"
    );

    // Run again as a new upload: now everything is up to date.
    input
        .put(
            "imports/upd.csv",
            format!("{file}\n").into_bytes(),
            "text/csv",
        )
        .await
        .unwrap();
    let again = run_to_end(&sim, &input, &reports, &req, &ImportOptions::default()).await;
    assert_eq!((again.updated, again.skipped), (0, 2));

    input
        .put(
            "imports/upd.csv",
            format!("{file}\n\n").into_bytes(),
            "text/csv",
        )
        .await
        .unwrap();
    req.on_existing = OnExisting::Error;
    let errors = run_to_end(&sim, &input, &reports, &req, &ImportOptions::default()).await;
    assert_eq!(errors.invalid, 2);
    assert!(report(&reports, &errors)[0]["message"].contains("(onExisting=error)"));
}

#[tokio::test]
async fn whole_file_problems_produce_a_report_that_says_what_is_wrong() {
    let sim = sim(5).await;
    let cases: [(&[u8], &str); 4] = [
        (b"name,role\nAnn,viewer\n", "no email column"),
        (b"email\n\xff\xfeabc\n", "not UTF-8"),
        (b"email\n", "no data rows"),
        (b"email\na@x.io\nb@x.io\nc@x.io\n", "more than 2 data rows"),
    ];
    for (i, (body, phrase)) in cases.into_iter().enumerate() {
        let key = format!("imports/bad{i}.csv");
        let input = MemoryStore::default();
        input.put(&key, body.to_vec(), "text/csv").await.unwrap();
        let reports = MemoryStore::default();
        let options = ImportOptions {
            max_rows: 2,
            ..ImportOptions::default()
        };
        let summary = run_to_end(&sim, &input, &reports, &request(&key, "exec"), &options).await;
        let error = summary.error.clone().unwrap_or_default();
        assert!(error.contains(phrase), "{error:?} should say {phrase:?}");
        let rows = report(&reports, &summary);
        assert!(rows[0]["message"].contains(phrase));
        let file: Value = serde_json::from_slice(&reports.objects()[&summary.summary_key]).unwrap();
        assert_eq!(file["error"], json!(error));
    }
    assert!(sim.writes().is_empty());
}

#[tokio::test]
async fn the_hop_cap_reports_unprocessed_rows_as_failed_never_drops_them() {
    let sim = sim(5).await;
    let input = input("imports/capped.csv", &generated(300, 0)).await;
    let reports = MemoryStore::default();
    let options = ImportOptions {
        rows_per_hop: Some(100),
        max_hops: 2,
        ..ImportOptions::default()
    };
    let summary = run_to_end(
        &sim,
        &input,
        &reports,
        &request("imports/capped.csv", "exec"),
        &options,
    )
    .await;
    assert_eq!((summary.created, summary.failed), (200, 100), "{summary:?}");
    let rows = report(&reports, &summary);
    assert_eq!(rows.len(), 300);
    assert!(rows[250]["message"].contains("cap of 2 invocations"));
}

/// A Periscope client for the simulator's site, inviting as `inviter`.
fn periscope_client(sim: &Simulator, inviter: &str) -> sisense::SisenseClient {
    let mut config = common::client(sim).config().clone();
    config.credentials = sisense::Credentials::periscope(vec![sisense::PeriscopeSite {
        name: sim.periscope_site().into(),
        api_key: sim.periscope_api_key().to_string().into(),
        rbac: sim.periscope_rbac(),
        invited_by_email: inviter.into(),
        base_url: None,
    }])
    .unwrap();
    sisense::SisenseClient::new(config).unwrap()
}

#[tokio::test]
async fn a_periscope_dry_run_asks_the_server_in_test_mode_and_reports_its_refusals() {
    let sim = sim(20).await;
    let existing = sim.users()[4]["email"].as_str().unwrap().to_string();
    let body = format!(
        "email,first_name,role\nnew.one@import.example,New,viewer\n{existing},Renamed,editor\n"
    );
    let input = input("imports/dry-run/cloud.csv", &body).await;
    let mut req = request("imports/dry-run/cloud.csv", "run-1");
    req.dry_run = true;
    req.on_existing = OnExisting::Update;
    let options = ImportOptions::default();
    let before = sim.users();

    let good = periscope_client(&sim, sim.username());
    let reports = MemoryStore::default();
    let ImportOutcome::Done { summary, .. } =
        import_users(&good, &input, &reports, &clock(), &req, &options)
            .await
            .unwrap()
    else {
        panic!("one hop")
    };
    assert_eq!(
        (summary.would_create, summary.would_update),
        (1, 1),
        "{summary:?}"
    );
    let rows = by_row(&report(&reports, &summary));
    assert_eq!(
        rows[&2],
        ("would_create".to_string(), "site sim-site".to_string())
    );
    let checks: Vec<String> = sim
        .writes()
        .iter()
        .map(|w| {
            format!(
                "{} {}?{}",
                w.method,
                w.path,
                w.query.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(
        checks[0].starts_with("POST /api/v2/users?test_mode=true"),
        "{checks:?}"
    );
    assert!(checks[1].starts_with("PUT /api/v2/users/") && checks[1].ends_with("?test_mode=true"));

    // The server refuses what our planning cannot know: an inviter who is not a user of the site.
    let wrong = periscope_client(&sim, "gone@example.com");
    let reports = MemoryStore::default();
    let ImportOutcome::Done { summary, .. } =
        import_users(&wrong, &input, &reports, &clock(), &req, &options)
            .await
            .unwrap()
    else {
        panic!("one hop")
    };
    assert_eq!(
        (summary.would_create, summary.invalid, summary.would_update),
        (0, 1, 1)
    );
    let (status, message) = &by_row(&report(&reports, &summary))[&2];
    assert_eq!(status, "invalid");
    assert!(
        message.starts_with("site sim-site: the server's test mode refused it")
            && message.contains("invited_by_email"),
        "{message}"
    );
    assert_eq!(sim.users(), before, "test mode changed nothing");
}
