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
        "user_id,user_name,first_name,last_name,is_active,role_id,created_date,tenant_id,last_login,last_activity,email,role_name,group_names"
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
    assert!(
        (25..=30).contains(&pages),
        "12,000 users in capped pages of 500 plus the empty end: {pages} pages"
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
    let mut function = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", &secret),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
                ("EXPORT_PART_SIZE_MIB", "5"),
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
    let uploads = world
        .s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the multipart upload was aborted: {:?}",
        uploads.uploads()
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
}
