//! export-users end to end: the real binary under the Lambda Runtime API, moto S3 + Secrets Manager, and the
//! Sisense simulator over HTTP.

use e2e_tests::Family;
use e2e_tests::world::{BUCKET, Env, World};
use serde_json::{Value, json};
use sisense_sim::{Faults, SimConfig, Simulator};

/// Checks the CSV against the simulator's stored users: ids, emails, activity flags, roles and timestamps.
fn check_against_sim(csv: &[u8], sim: &Simulator) {
    let mut reader = csv::Reader::from_reader(csv);
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header.join(","),
        "user_id,user_name,first_name,last_name,is_active,role_id,created_date,tenant_id,last_login,last_activity,email,role_name,group_names,last_seen,last_seen_source,sso_token_iat,created_sso"
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    let expected: Vec<Vec<String>> = sim.export_rows().into_iter().map(Vec::from).collect();
    assert_eq!(rows.len(), expected.len(), "every user exported");
    if let Some((i, (got, want))) = rows
        .iter()
        .zip(&expected)
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("row {i} differs from the simulator:\n got  {got:?}\n want {want:?}");
    }
}

e2e_tests::per_family!(
    exports_28000_users_to_s3_and_again_identically_under_faults,
    exports_12000_users_past_a_page_cap_and_a_500_storm_and_refuses_an_unprovable_listing,
);

/// The contract documents no maximum `limit`: a server that caps pages at 500 although 1,000 are asked must not
/// end the export early; a storm of HTTP 500 on reads is retried; and a listing that ends before the server's
/// count fails the export, leaving `latest.csv` as it was.
async fn exports_12000_users_past_a_page_cap_and_a_500_storm_and_refuses_an_unprovable_listing(
    family: Family,
) {
    let world = World::new().await;
    let sim = Simulator::start(SimConfig {
        users: 12_000,
        faults: Faults {
            page_cap: Some(500),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let secret = world.sim_secret("sisense/capped", &sim, family).await;
    let mut function = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", &secret),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
            ],
        )
        .await;
    let out = function
        .invoke(&json!({"pageSize": 1000}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(out["users"], 12_000);
    let csv = world.get(out["key"].as_str().unwrap()).await;
    check_against_sim(&csv, &sim);
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && (r.path == "/api/v1/users" || r.path == "/api/users"))
        .count();
    // Past the page reached, a listing has at most 8 requests in flight and 2 answers set aside (prefetch / 4).
    assert!(
        (25..=25 + 2 * (8 + 2)).contains(&pages),
        "12,000 users in capped pages of 500 plus the empty end; with 8 in flight and 2 answers set aside, up to \
         10 more sent before the first (short) page showed the cap and 10 past the end: {pages} pages"
    );

    sim.set_faults(Faults {
        page_cap: Some(500),
        rate_500: 0.25,
        ..Faults::default()
    });
    sim.clear_requests();
    let out = function
        .invoke(&json!({"prefix": "storm/", "pageSize": 1000}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(out["users"], 12_000);
    assert_eq!(world.get(out["key"].as_str().unwrap()).await, csv);
    let storm = sim
        .requests()
        .iter()
        .filter(|r| r.fault == Some("500"))
        .count();
    assert!(storm > 5, "the 500s happened: {storm}");

    let latest = world.get("exports/users/latest.csv").await;
    let before = world.keys("").await;
    sim.set_faults(Faults {
        max_skip: Some(6_000),
        ..Faults::default()
    });
    let err = function
        .invoke(&json!({}))
        .await
        .expect_err("an incomplete listing fails");
    assert_eq!(err["errorType"], "ListingIncomplete", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("latest.csv is unchanged"),
        "{err}"
    );
    assert_eq!(world.get("exports/users/latest.csv").await, latest);
    // Neither the export nor its changes CSV is kept, and no multipart upload is left open.
    assert_eq!(world.keys("").await, before);
    let open = world.open_uploads().await;
    assert!(open.is_empty(), "{open:?}");
    assert!(sim.writes().is_empty());
}

async fn exports_28000_users_to_s3_and_again_identically_under_faults(family: Family) {
    let world = World::new().await;
    // Enough users for a CSV over the 5 MiB part size (the contract's users carry no lastActivity/tenantId).
    let sim = Simulator::start(SimConfig {
        users: 28_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let secret = world.sim_secret("sisense/e2e", &sim, family).await;
    // The parts are filled in files under the function's temporary directory, one watched here.
    let spool = tempfile::tempdir().unwrap();
    let tmpdir = spool.path().to_str().unwrap();
    let mut function = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", &secret),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
                ("EXPORT_PART_SIZE_MIB", "5"),
                ("TMPDIR", tmpdir),
            ],
        )
        .await;

    let out = function
        .invoke(&json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(out["users"], 28_000);
    assert_eq!(out["bucket"], BUCKET);
    let key = out["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("exports/users/dt=") && key.ends_with(".csv"),
        "{key}"
    );
    let csv = world.get(&key).await;
    check_against_sim(&csv, &sim);
    let head = world
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert!(
        csv.len() > 5 * 1024 * 1024,
        "large enough for two parts: {}",
        csv.len()
    );
    assert!(
        head.e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .ends_with("-2"),
        "multipart ETag: {:?}",
        head.e_tag()
    );
    assert_eq!(
        world.get("exports/users/latest.csv").await,
        csv,
        "latest.csv holds the same bytes"
    );
    let summary: Value =
        serde_json::from_slice(&world.get(out["summaryKey"].as_str().unwrap()).await).unwrap();
    assert_eq!(summary["users"], 28_000);
    assert_eq!(summary["csvKey"], key.as_str());
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "no part file is left behind"
    );

    // Same installation, now misbehaving: 10% 429, 5% 5xx, token expiry every 200 requests, small pages.
    sim.set_faults(Faults {
        rate_429: 0.10,
        rate_5xx: 0.05,
        token_expiry_after: Some(200),
        ..Faults::default()
    });
    sim.clear_requests();
    let out = function
        .invoke(&json!({"prefix": "faulty/", "pageSize": 50}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(out["users"], 28_000);
    assert_eq!(
        world.get(out["key"].as_str().unwrap()).await,
        csv,
        "identical CSV content under faults"
    );
    let requests = sim.requests();
    assert!(
        requests.iter().filter(|r| r.fault.is_some()).count() > 30,
        "the faults happened"
    );
    assert!(
        requests.iter().any(|r| r.status == 401),
        "a token expired mid-run"
    );
    assert!(sim.writes().is_empty(), "export never writes to Sisense");
    e2e_tests::assert_spoke(&sim, family);
    let logs = function.logs();
    for secret in e2e_tests::sim_secrets(&sim) {
        assert!(!logs.contains(&secret), "{secret} in the function's logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_specific_diagnostics_and_write_nothing() {
    let world = World::new().await;
    let sim = Simulator::start(SimConfig {
        users: 500,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let good = world.sim_secret("sisense/good", &sim, Family::Fusion).await;
    let wrong_api_token = world
        .secret(
            "sisense/wrong-key",
            json!({"kind": "legacy", "baseUrl": sim.base_url(), "email": sim.username(),
                "password": sim.password(), "apiToken": "not-the-rest-api-token"}),
        )
        .await;
    let wrong_password = world
        .secret(
            "sisense/wrong",
            json!({"baseUrl": sim.base_url(), "username": sim.username(), "password": "nope"}),
        )
        .await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = world
        .secret(
            "sisense/down",
            json!({"baseUrl": format!("http://127.0.0.1:{closed_port}"), "token": "t"}),
        )
        .await;
    let not_json = world
        .secret("sisense/garbage", json!("not an object"))
        .await;

    // (environment, event, expected errorType, a phrase the message must contain)
    let cases: Vec<(Env, Value, &str, &str)> = vec![
        (
            vec![("SISENSE_SECRET_ID", &good)],
            json!({}),
            "ConfigError",
            "EXPORT_BUCKET",
        ),
        (
            vec![("EXPORT_BUCKET", BUCKET)],
            json!({}),
            "ConfigError",
            "SISENSE_SECRET_ID",
        ),
        (
            vec![
                ("SISENSE_SECRET_ID", "no-such-secret"),
                ("EXPORT_BUCKET", BUCKET),
            ],
            json!({}),
            "SecretError",
            "no-such-secret",
        ),
        (
            vec![("SISENSE_SECRET_ID", &not_json), ("EXPORT_BUCKET", BUCKET)],
            json!({}),
            "SecretError",
            "not valid JSON",
        ),
        (
            vec![
                ("SISENSE_SECRET_ID", &wrong_password),
                ("EXPORT_BUCKET", BUCKET),
            ],
            json!({}),
            "SisenseUnauthorized",
            "Invalid username or password",
        ),
        (
            vec![
                ("SISENSE_SECRET_ID", &wrong_api_token),
                ("EXPORT_BUCKET", BUCKET),
            ],
            json!({}),
            "SisenseUnauthorized",
            "Invalid x-api-key",
        ),
        (
            vec![
                ("SISENSE_SECRET_ID", &unreachable),
                ("EXPORT_BUCKET", BUCKET),
            ],
            json!({}),
            "SisenseUnavailable",
            "could not connect",
        ),
        (
            vec![("SISENSE_SECRET_ID", &good), ("EXPORT_BUCKET", BUCKET)],
            json!({"pagesize": 5}),
            "BadRequest",
            "unknown field",
        ),
        (
            vec![
                ("SISENSE_SECRET_ID", &good),
                ("EXPORT_BUCKET", "no-such-bucket"),
            ],
            json!({}),
            "StorageError",
            "no-such-bucket",
        ),
        (
            vec![
                ("SISENSE_SECRET_ID", &good),
                ("EXPORT_BUCKET", BUCKET),
                ("TMPDIR", "/nonexistent/sl-tmp"),
            ],
            json!({}),
            "StorageError",
            "could not spool the part under /nonexistent/sl-tmp",
        ),
    ];
    for (env, event, error_type, message) in cases {
        let mut env = env;
        env.push(("SISENSE_REQUEST_TIMEOUT_SECS", "2"));
        let mut function = world.function("export-users", &env).await;
        let err = function.invoke(&event).await.expect_err("the run fails");
        assert_eq!(err["errorType"], error_type, "{err} for {env:?}");
        let text = err["errorMessage"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{error_type}: {text:?} should mention {message:?}"
        );
        assert!(!text.contains(sim.password()));
    }
    assert!(
        world.keys("").await.is_empty(),
        "nothing was written by any failed run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_failing_mid_upload_aborts_the_multipart_upload_and_keeps_latest() {
    let world = World::new().await;
    let sim = Simulator::start(SimConfig {
        users: 25_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let secret = world
        .sim_secret("sisense/midway", &sim, Family::Fusion)
        .await;
    let spool = tempfile::tempdir().unwrap();
    let tmpdir = spool.path().to_str().unwrap();
    world
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("exports/users/latest.csv")
        .body(b"previous export".to_vec().into())
        .send()
        .await
        .unwrap();
    let env = [
        ("SISENSE_SECRET_ID", secret.as_str()),
        ("EXPORT_BUCKET", BUCKET),
        ("SISENSE_RATE_LIMIT", "0"),
        ("EXPORT_PART_SIZE_MIB", "5"),
        ("TMPDIR", tmpdir),
    ];
    let mut function = world.function("export-users", &env).await;
    // After 450 of the 500 pages (past the first 5 MiB part), Sisense refuses every token.
    let watcher = async {
        while sim
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/users")
            .count()
            < 450
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        sim.set_faults(Faults {
            reject_all_tokens: true,
            ..Faults::default()
        });
    };
    let event = json!({"pageSize": 50});
    let (result, ()) = tokio::join!(function.invoke(&event), watcher);
    let err = result.expect_err("the run fails midway");
    assert_eq!(err["errorType"], "SisenseUnauthorized", "{err}");
    let logs = function.logs();
    assert!(logs.contains("aborting the upload"), "{logs}");
    let uploads = world.open_uploads().await;
    assert!(
        uploads.is_empty(),
        "the multipart upload was aborted: {uploads:?}"
    );
    assert_eq!(
        world.keys("").await,
        vec!["exports/users/latest.csv".to_string()],
        "no partial export"
    );
    assert_eq!(
        world.get("exports/users/latest.csv").await,
        b"previous export",
        "latest.csv untouched"
    );
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "the aborted upload's part file is removed"
    );
}

/// Licence tier of an API role name, as the simulator stores it (the oracle's own table).
fn tier(role: &str) -> &'static str {
    match role {
        "super" | "admin" | "dataAdmin" => "administrators",
        "contributor" | "dataDesigner" => "designers",
        "consumer" => "viewers",
        _ => "unclassified",
    }
}

/// The seats per tier by the simulator's truth at `at`: stale = the oracle's stale activated users.
fn seats_truth(sim: &Simulator, at: chrono::DateTime<chrono::Utc>) -> Value {
    let stale = sim
        .stale_sets(&sisense_sim::StaleRule {
            now: at,
            inactive_days: 90,
            grace_days: 90,
            roles: vec![],
            users: vec![],
            groups: vec![],
        })
        .act;
    let names = sim.role_names();
    let mut seats = json!({});
    for t in ["administrators", "designers", "viewers", "unclassified"] {
        // Password users only here: no activity is unknown and no account was deactivated after a login.
        seats[t] = json!({"total": 0, "active": 0, "stale": 0, "pendingInvitations": 0,
            "activityUnknown": 0, "deactivated": 0});
    }
    for u in sim.users() {
        let t = tier(&names[u["roleId"].as_str().unwrap()]);
        let standing = if u["active"] == false {
            "pendingInvitations"
        } else if stale.contains(u["_id"].as_str().unwrap()) {
            "stale"
        } else {
            "active"
        };
        for field in ["total", standing] {
            seats[t][field] = json!(seats[t][field].as_u64().unwrap() + 1);
        }
    }
    seats
}

/// The changes CSV's rows as (user_id, change) pairs, with their before/after.
fn changes(csv: &[u8]) -> Vec<(String, String, String, String)> {
    let mut reader = csv::Reader::from_reader(csv);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["user_id", "email", "change", "before", "after"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[2].to_string(),
                r[3].to_string(),
                r[4].to_string(),
            )
        })
        .collect()
}

/// Two exports around an import and a demote: the second reports exactly the imported users as joiners and the
/// demoted users as movers (role and groups, before and after), nobody else; the first says it had nothing to
/// compare with. The summary's seats match the simulator's truth, and the EMF line carries the numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_exports_around_an_import_and_a_demote_report_exactly_those_joiners_and_movers() {
    let world = World::new().await;
    let sim = Simulator::start(SimConfig {
        users: 1_200,
        now: e2e_tests::now(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let secret = world
        .sim_secret("sisense/changes", &sim, Family::Fusion)
        .await;
    let env = |at: &'static str| -> Vec<(&str, String)> {
        vec![
            ("SISENSE_SECRET_ID", secret.clone()),
            ("EXPORT_BUCKET", BUCKET.to_string()),
            ("REPORT_BUCKET", BUCKET.to_string()),
            ("SISENSE_RATE_LIMIT", "0".to_string()),
            ("CLOCK_FIXED_AT", at.to_string()),
        ]
    };
    let start =
        |name: &'static str, at: &'static str, extra: &'static [(&'static str, &'static str)]| {
            let mut all: Vec<(&str, String)> = env(at);
            all.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            let world = &world;
            async move {
                let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
                world.function(name, &refs).await
            }
        };
    let ok = |f: &mut e2e_tests::runtime_api::Function, out: Result<Value, Value>| {
        out.unwrap_or_else(|e| panic!("{e}\n{}", f.logs()))
    };

    let mut export = start("export-users", e2e_tests::NOW, &[]).await;
    let out = export.invoke(&json!({})).await;
    let first = ok(&mut export, out);
    assert_eq!(first["changesKey"], Value::Null, "{first}");
    let summary: Value =
        serde_json::from_slice(&world.get(first["summaryKey"].as_str().unwrap()).await).unwrap();
    assert!(
        summary["changes"]["note"]
            .as_str()
            .unwrap()
            .contains("first export"),
        "{summary}"
    );
    assert_eq!(
        summary["seats"],
        seats_truth(&sim, e2e_tests::now()),
        "seats match the simulator"
    );
    let reclaimable = &summary["reclaimable"];
    assert_eq!(reclaimable["viewers"], summary["seats"]["viewers"]["stale"]);
    assert!(summary["stale"].as_u64().unwrap() > 50, "{summary}");
    let emf = e2e_tests::world::emf_lines(&export.logs())
        .pop()
        .expect("an EMF line");
    assert_eq!(emf["users"].as_f64(), Some(1_200.0));
    assert_eq!(
        emf["seats.viewers"].as_f64(),
        summary["seats"]["viewers"]["total"].as_f64()
    );
    assert_eq!(
        emf["reclaimable.designers"].as_f64(),
        reclaimable["designers"].as_f64()
    );
    assert_eq!(
        (emf["function"].as_str(), emf["family"].as_str()),
        (Some("export-users"), Some("fusion"))
    );

    // Between the exports: three hires imported, the stale users demoted.
    let before: std::collections::BTreeMap<String, Value> = sim
        .users()
        .into_iter()
        .map(|u| (u["_id"].as_str().unwrap().to_string(), u))
        .collect();
    world
        .put(
            "imports/hires.csv",
            b"email,role\nhire-a@newco.example,consumer\nhire-b@newco.example,contributor\nhire-c@newco.example,\n"
                .to_vec(),
        )
        .await;
    let mut import = start("bulk-create-users", e2e_tests::NOW, &[]).await;
    let out = import
        .invoke(&json!({"bucket": BUCKET, "key": "imports/hires.csv"}))
        .await;
    let imported = ok(&mut import, out);
    assert_eq!(imported["created"], 3, "{imported}");
    let mut demote = start(
        "deactivate-stale-users",
        e2e_tests::NOW,
        &[
            ("DRY_RUN", "false"),
            ("STALE_ACTION", "demote"),
            ("MAX_ACTIONS", "100000"),
            ("MAX_ACTION_PERCENT", "100"),
        ],
    )
    .await;
    let out = demote.invoke(&json!({})).await;
    let demoted = ok(&mut demote, out);
    assert!(demoted["acted"].as_u64().unwrap() > 20, "{demoted}");
    let after: std::collections::BTreeMap<String, Value> = sim
        .users()
        .into_iter()
        .map(|u| (u["_id"].as_str().unwrap().to_string(), u))
        .collect();
    let joined: std::collections::BTreeSet<String> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .cloned()
        .collect();
    assert_eq!(joined.len(), 3);
    let role_moved: std::collections::BTreeSet<String> = before
        .iter()
        .filter(|(id, u)| after[*id]["roleId"] != u["roleId"])
        .map(|(id, _)| id.clone())
        .collect();
    let group_moved: std::collections::BTreeSet<String> = before
        .iter()
        .filter(|(id, u)| after[*id]["groups"] != u["groups"])
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!role_moved.is_empty() && !group_moved.is_empty());

    let mut second_export = start("export-users", "2026-11-22T07:00:00Z", &[]).await;
    let out = second_export.invoke(&json!({})).await;
    let second = ok(&mut second_export, out);
    let key = second["changesKey"]
        .as_str()
        .expect("a changes CSV")
        .to_string();
    assert!(
        key.starts_with("exports/users/dt=2026-11-22/changes-20261122T070000Z"),
        "{key}"
    );
    let rows = changes(&world.get(&key).await);
    let of = |kind: &str| -> std::collections::BTreeSet<String> {
        rows.iter()
            .filter(|r| r.1 == kind)
            .map(|r| r.0.clone())
            .collect()
    };
    assert_eq!(of("joined"), joined);
    assert_eq!(of("role_changed"), role_moved);
    assert_eq!(of("groups_changed"), group_moved);
    assert!(of("left").is_empty() && of("activated").is_empty() && of("deactivated").is_empty());
    assert_eq!(
        rows.len(),
        joined.len() + role_moved.len() + group_moved.len(),
        "nothing else"
    );
    let names = sim.role_names();
    for (id, change, before_cell, after_cell) in &rows {
        if change == "role_changed" {
            assert_eq!(before_cell, &names[before[id]["roleId"].as_str().unwrap()]);
            assert_eq!(after_cell, "consumer");
        }
    }
    let summary: Value =
        serde_json::from_slice(&world.get(second["summaryKey"].as_str().unwrap()).await).unwrap();
    let counts = &summary["changes"];
    assert_eq!(counts["comparedWith"], "exports/users/latest.csv");
    assert_eq!(
        (
            counts["joined"].as_u64(),
            counts["roleChanged"].as_u64(),
            counts["groupsChanged"].as_u64(),
            counts["left"].as_u64()
        ),
        (
            Some(3),
            Some(role_moved.len() as u64),
            Some(group_moved.len() as u64),
            Some(0)
        )
    );
    assert_eq!(
        summary["seats"],
        seats_truth(&sim, "2026-11-22T07:00:00Z".parse().unwrap())
    );
}

/// An S3 stand-in that starts multipart uploads, refuses every part and records what it was asked.
async fn refusing_s3() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::response::IntoResponse;
    type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    async fn handle(State(log): State<Log>, request: Request<Body>) -> axum::response::Response {
        let (method, query) = (
            request.method().clone(),
            request.uri().query().unwrap_or_default().to_string(),
        );
        let _ = axum::body::to_bytes(request.into_body(), usize::MAX).await;
        log.lock().unwrap().push(format!("{method} {query}"));
        let xml = [("content-type", "application/xml")];
        if method == "POST" && query.starts_with("uploads") {
            let body = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                        <UploadId>up-1</UploadId></InitiateMultipartUploadResult>";
            (axum::http::StatusCode::OK, xml, body).into_response()
        } else if method == "PUT" {
            let body = "<Error><Code>InvalidPart</Code><Message>part refused</Message></Error>";
            (axum::http::StatusCode::BAD_REQUEST, xml, body).into_response()
        } else {
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
    }
    let log: Log = Default::default();
    let app = axum::Router::new().fallback(handle).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_refused_while_the_next_is_filled_fails_the_upload_which_is_then_aborted() {
    use sl_aws::aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let (url, log) = refusing_s3().await;
    let config = sl_aws::aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&url)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("k", "s", None, None, "test"))
        .build();
    let store = sl_aws::S3Store::new(sl_aws::aws_sdk_s3::Client::from_conf(config), "b");
    let mut upload = lifecycle::ObjectStore::start_upload(&store, "k", "text/csv")
        .await
        .unwrap();
    // A full part starts its upload in the background; the write returns while it is sent.
    upload
        .write(&vec![b'x'; 5 * 1024 * 1024 + 10])
        .await
        .unwrap();
    let err = upload
        .finish()
        .await
        .expect_err("the refused part fails the upload");
    assert_eq!(err.operation, "upload part", "{err}");
    assert!(err.to_string().contains("part refused"), "{err}");
    let asked = log.lock().unwrap().clone();
    assert_eq!(
        asked.first().map(String::as_str),
        Some("POST uploads"),
        "{asked:?}"
    );
    assert!(
        !asked
            .iter()
            .any(|a| a.starts_with("POST") && a.contains("uploadId")),
        "never completed: {asked:?}"
    );

    // The same failure met by the next write, then an abort.
    let mut upload = lifecycle::ObjectStore::start_upload(&store, "k", "text/csv")
        .await
        .unwrap();
    upload.write(&vec![b'x'; 5 * 1024 * 1024]).await.unwrap();
    let err = upload
        .write(&vec![b'y'; 5 * 1024 * 1024])
        .await
        .expect_err("the next full part waits for the refused one");
    assert!(err.to_string().contains("part refused"), "{err}");
    upload.abort().await;
    let asked = log.lock().unwrap().clone();
    let last = asked.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("DELETE") && last.contains("uploadId=up-1"),
        "aborted last: {asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_upload_sends_its_short_last_part_before_finish_and_refuses_more_bytes() {
    use lifecycle::ObjectStore;
    let world = World::new().await;
    let store = sl_aws::S3Store::new(world.s3.clone(), BUCKET);
    let first = vec![b'a'; 5 * 1024 * 1024];
    let mut upload = store.start_upload("sealed.csv", "text/csv").await.unwrap();
    upload.write(&first).await.unwrap();
    upload.write(b"short last part").await.unwrap();
    upload.seal().await.unwrap();
    // Both parts are at S3 before `finish`: the upload lists them.
    let uploads = world.open_uploads().await;
    let id = uploads[0].upload_id().unwrap().to_string();
    // (The SDK cannot read moto's ListParts answer, whose root element is misnamed: read it as text.)
    let parts = list_parts_xml(&world.moto.endpoint, "sealed.csv", &id).await;
    let sizes: Vec<&str> = parts
        .split("<Size>")
        .skip(1)
        .filter_map(|s| s.split("</Size>").next())
        .collect();
    assert_eq!(sizes, ["5242880", "15"], "{parts}");
    let err = upload.write(b"more").await.expect_err("sealed");
    assert!(err.to_string().contains("sealed"), "{err}");
    assert_eq!(upload.finish().await.unwrap(), 5 * 1024 * 1024 + 15);
    let mut expected = first;
    expected.extend_from_slice(b"short last part");
    assert_eq!(store.get("sealed.csv").await.unwrap(), Some(expected));
}

/// Moto's ListParts answer for an upload, as text, by a bare HTTP request.
async fn list_parts_xml(endpoint: &str, key: &str, upload_id: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "GET /{BUCKET}/{key}?uploadId={upload_id} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}
