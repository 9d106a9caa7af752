//! The simulator and the client held to Sisense's published contracts (`shared/sisense-sim/contracts`): the real jobs
//! and client calls run against the contract-default simulator with bodies recorded, and every request and
//! response is checked by `e2e_tests::contract` (jsonschema over the Swagger schemas, closed to undeclared
//! fields). The last tests show the checker fails on the drifts it exists to catch.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use e2e_tests::contract::{Contracts, EXCEPTIONS};
use lifecycle::export::{ExportOptions, export_users};
use lifecycle::import::{ImportOptions, ImportRequest, OnExisting, import_users};
use lifecycle::restore::{RestoreOptions, restore_users};
use lifecycle::stale::{Action, StaleOptions, Thresholds, deactivate_stale_users};
use lifecycle::{FixedClock, JobError, MemoryStore, ObjectStore};
use serde_json::json;
use sisense::{
    ClientConfig, Credentials, Directory, NewUser, RetryConfig, RoleResolver, SecretString,
    SisenseClient, UserId, UserPatch,
};
use sisense_sim::{Faults, RecordedRequest, Release, SimConfig, Simulator};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
}

async fn sim(release: Release) -> Simulator {
    Simulator::start(SimConfig {
        users: 400,
        now: now(),
        release,
        record_bodies: true,
        faults: Faults {
            page_cap: Some(150),
            ..Faults::default()
        },
        // SSO users carry the fields Sisense's server writes on a JWT login (ssoTokenIat, ssoToken).
        sign_ins: sisense_sim::SignInMix::enterprise(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn client(sim: &Simulator, credentials: Credentials) -> SisenseClient {
    let mut config = ClientConfig::new(sim.base_url(), credentials).unwrap();
    config.rate_limit = None;
    config.page_size = 200;
    config.retry = RetryConfig {
        max_attempts: 6,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        budget: Duration::from_secs(5),
    };
    SisenseClient::new(config).unwrap()
}

fn fusion(sim: &Simulator) -> SisenseClient {
    client(
        sim,
        Credentials::Password {
            username: sim.username().into(),
            password: SecretString::from(sim.password().to_string()),
        },
    )
}

fn live(action: Action, service: &str) -> StaleOptions {
    StaleOptions {
        action,
        dry_run: false,
        force: true,
        service_account: Some(service.into()),
        thresholds: Thresholds::new(90, Some(30)),
        ..StaleOptions::default()
    }
}

/// Every problem the contracts find in `requests`, one line each.
fn problems(contracts: &Contracts, requests: &[RecordedRequest], responses: bool) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| {
            let mut found = contracts.check_request(r);
            if responses {
                found.extend(contracts.check_response(r));
            }
            found
        })
        .collect()
}

/// The operations (path templates) `requests` used.
fn operations(contracts: &Contracts, requests: &[RecordedRequest]) -> BTreeSet<String> {
    requests
        .iter()
        .filter_map(|r| {
            let op = contracts.operation(&r.method, &r.path)?;
            Some(format!("{} {}", r.method, op.path))
        })
        .collect()
}

fn sends_field(requests: &[RecordedRequest], field: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            let body = r.body.as_ref();
            body.and_then(|b| b.get(field)).is_some()
                || body
                    .and_then(|b| b.as_array())
                    .is_some_and(|items| items.iter().any(|i| i.get(field).is_some()))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusion_jobs_send_and_receive_only_what_the_contract_declares() {
    let contracts = Contracts::load();
    let sim = sim(Release::Contract).await;
    let client = fusion(&sim);
    let clock = FixedClock(now());

    let store = MemoryStore::default();
    let exported = export_users(&client, &store, &clock, &ExportOptions::default())
        .await
        .unwrap();
    assert_eq!(exported.users, 400);

    let existing = sim.users()[20]["email"].as_str().unwrap().to_string();
    let csv = format!(
        "email,first_name,last_name,role,groups,password\n\
         contract.one@example.com,Con,One,Viewer,Sales,\n\
         contract.two@example.com,Con,Two,Designer,Finance,Initial-Pass-9\n\
         contract.three@example.com,Con,Three,Sys. Admin,,\n\
         {existing},Renamed,Person,Data Designer,Marketing,\n"
    );
    let input = MemoryStore::default();
    input
        .put("in/users.csv", csv.into_bytes(), "text/csv")
        .await
        .unwrap();
    let request = ImportRequest {
        bucket: "in".into(),
        key: "in/users.csv".into(),
        dry_run: false,
        on_existing: OnExisting::Update,
        run_id: "contract".into(),
    };
    let imported = import_users(
        &client,
        &input,
        &MemoryStore::default(),
        &clock,
        &request,
        &ImportOptions::default(),
    )
    .await
    .unwrap();
    let lifecycle::import::ImportOutcome::Done { summary, .. } = imported else {
        panic!("the import finishes in one run: {imported:?}");
    };
    assert_eq!(summary.failed, 0, "{summary:?}");

    let role = RoleResolver::new(client.roles(None).await.unwrap())
        .resolve("Viewer")
        .unwrap()
        .id
        .clone();
    let single = client
        .create_user(&NewUser {
            email: "contract.single@example.com".into(),
            user_name: None,
            first_name: Some("Single".into()),
            last_name: None,
            role_id: Some(role),
            groups: vec![],
            scope: None,
            password: None,
        })
        .await
        .unwrap();
    assert!(client.get_user(&single.id).await.unwrap().is_some());
    assert!(
        client
            .find_user_by_email("contract.single@example.com")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(client.count_users().await.unwrap(), Some(404));

    let demoted = deactivate_stale_users(
        &client,
        &MemoryStore::default(),
        &clock,
        &live(Action::Demote, sim.username()),
    )
    .await
    .unwrap();
    assert!(demoted.acted > 20, "{demoted:?}");
    let store = MemoryStore::default();
    let deleted = deactivate_stale_users(
        &client,
        &store,
        &clock,
        &StaleOptions {
            transfer_dashboards_to: Some(sim.username().into()),
            ..live(Action::Delete, sim.username())
        },
    )
    .await
    .unwrap();
    assert!(deleted.acted > 20, "{deleted:?}");
    assert!(deleted.dashboards_transferred > 5, "{deleted:?}");
    let restored = restore_users(
        &client,
        &store,
        &clock,
        &RestoreOptions {
            report_key: deleted.report_key.clone(),
            dry_run: false,
            force: true,
            ..RestoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(restored.restored, deleted.acted, "{restored:?}");

    let requests = sim.requests();
    let found = problems(&contracts, &requests, true);
    assert!(
        found.is_empty(),
        "{} problems, first: {:#?}",
        found.len(),
        &found[..found.len().min(10)]
    );
    let used = operations(&contracts, &requests);
    for expected in [
        "POST /api/v1/authentication/login",
        "GET /api/v1/users",
        "POST /api/v1/users",
        "POST /api/v1/users/bulk",
        "GET /api/v1/users/{id}",
        "PATCH /api/v1/users/{id}",
        "DELETE /api/v1/users/{id}",
        "GET /api/v1/groups",
        "GET /api/roles",
        "GET /api/users/count",
        "GET /api/v1/dashboards/admin",
        "POST /api/v1/dashboards/{id}/admin/change_owner",
        "GET /api/v1/authentication/admin/logout",
    ] {
        assert!(
            used.contains(expected),
            "{expected} not exercised: {used:?}"
        );
    }
    assert!(
        sends_field(&requests, "active").is_empty(),
        "only deactivate sends active: {:?}",
        sends_field(&requests, "active")
    );
    assert_eq!(
        sends_field(&requests, "password"),
        [
            "POST /api/v1/authentication/login",
            "POST /api/v1/users/bulk"
        ],
        "password only to log in and where the CSV gave one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_deactivate_sends_active_and_it_probes_once_on_the_contract_release() {
    let contracts = Contracts::load();
    let sim = sim(Release::Contract).await;
    let err = deactivate_stale_users(
        &fusion(&sim),
        &MemoryStore::default(),
        &FixedClock(now()),
        &live(Action::Deactivate, sim.username()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, JobError::DeactivationUnsupported { .. }),
        "{err}"
    );
    let requests = sim.requests();
    let active = sends_field(&requests, "active");
    assert_eq!(active.len(), 1, "{active:?}");
    assert!(active[0].starts_with("PATCH /api/v1/users/"), "{active:?}");
    assert_eq!(sim.writes().len(), 1, "one probe write");
    assert!(problems(&contracts, &requests, true).is_empty());

    // A later release applies it; the requests are the same, through the one listed exception.
    let newer = sim_newer().await;
    deactivate_stale_users(
        &fusion(&newer),
        &MemoryStore::default(),
        &FixedClock(now()),
        &live(Action::Deactivate, newer.username()),
    )
    .await
    .unwrap();
    let requests = newer.requests();
    assert!(sends_field(&requests, "active").len() > 20);
    assert!(problems(&contracts, &requests, false).is_empty());
    assert!(
        EXCEPTIONS
            .iter()
            .any(|e| e.field == "active" && e.path == "/api/v1/users/{id}")
    );
}

async fn sim_newer() -> Simulator {
    sim(Release::Newer).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_traffic_conforms_with_api_keys_and_with_bearer_tokens() {
    let contracts = Contracts::load();
    for with_token in [true, false] {
        let sim = sim(Release::Contract).await;
        let password = SecretString::from(sim.password().to_string());
        let token = SecretString::from(sim.rest_api_token().to_string());
        let credentials = Credentials::legacy_from_parts(
            Some(sim.username()),
            Some(&password),
            with_token.then_some(&token),
        )
        .unwrap();
        let client = client(&sim, credentials);
        let exported = export_users(
            &client,
            &MemoryStore::default(),
            &FixedClock(now()),
            &ExportOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(exported.users, 400);
        let roles = RoleResolver::new(client.roles(None).await.unwrap());
        let viewer = roles.resolve("Viewer").unwrap().id.clone();
        let batch: Vec<NewUser> = (0..3)
            .map(|i| NewUser {
                email: format!("legacy.contract{i}@example.com"),
                user_name: None,
                first_name: Some("Legacy".into()),
                last_name: None,
                role_id: Some(viewer.clone()),
                groups: vec![],
                scope: None,
                password: None,
            })
            .collect();
        let created = client.create_users(&batch).await;
        assert!(created.iter().all(|o| o.result.is_ok()));
        let id = UserId::from(sim.users()[30]["_id"].as_str().unwrap());
        client
            .update_user(
                &id,
                &UserPatch {
                    role_id: Some(viewer.clone()),
                    groups: Some(vec![]),
                    ..UserPatch::default()
                },
            )
            .await
            .unwrap();
        client.delete_user(&id).await.unwrap();
        assert_eq!(client.count_users().await.unwrap(), Some(402));
        let requests = sim.requests();
        let found = problems(&contracts, &requests, true);
        assert!(
            found.is_empty(),
            "token {with_token}: {:#?}",
            &found[..found.len().min(10)]
        );
        let used = operations(&contracts, &requests);
        for expected in [
            "GET /api/users",
            "POST /api/users",
            "PUT /api/users/{user}",
            "POST /api/users/delete",
            "GET /api/roles",
            "GET /api/groups",
            "GET /api/users/count",
        ] {
            assert!(used.contains(expected), "{expected}: {used:?}");
        }
    }
}

fn recorded(
    method: &str,
    path: &str,
    query: Option<&str>,
    status: u16,
    body: Option<serde_json::Value>,
    response: Option<serde_json::Value>,
) -> RecordedRequest {
    RecordedRequest {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_string),
        status,
        fault: None,
        body,
        response,
    }
}

#[test]
fn the_checker_fails_on_the_drifts_it_exists_to_catch() {
    let contracts = Contracts::load();
    let id = "65a955300000000000000001";
    let role = json!({"_id": id, "name": "consumer", "desc": ""});
    let cases = [
        (
            recorded(
                "GET",
                "/api/roles",
                None,
                200,
                None,
                Some(json!([{"displayName": "Viewer", "_id": id, "name": "consumer"}])),
            ),
            "displayName",
        ),
        (
            recorded(
                "POST",
                "/api/v1/users/bulk",
                None,
                201,
                Some(json!([{"email": "a@b.io"}])),
                Some(json!([{"_id": id, "email": "a@b.io"}])),
            ),
            "_id",
        ),
        (
            recorded(
                "GET",
                "/api/v1/users",
                None,
                200,
                None,
                Some(
                    json!([{"_id": id, "email": "a@b.io", "lastActivity": "2026-01-01T00:00:00Z"}]),
                ),
            ),
            "lastActivity",
        ),
        (
            recorded(
                "GET",
                "/api/v1/users",
                Some("skip=0&pageSize=5"),
                200,
                None,
                Some(json!([])),
            ),
            "pageSize",
        ),
        (
            recorded(
                "PATCH",
                &format!("/api/v1/users/{id}"),
                None,
                200,
                Some(json!({"active": false, "disabled": true})),
                None,
            ),
            "disabled",
        ),
        (
            recorded(
                "POST",
                "/api/v1/users",
                None,
                201,
                Some(json!({"email": "a@b.io", "roleId": "consumer"})),
                None,
            ),
            "roleId",
        ),
        (
            recorded("GET", "/api/v1/roles", None, 200, None, Some(json!([role]))),
            "no such operation",
        ),
    ];
    for (request, needle) in cases {
        let mut found = contracts.check_request(&request);
        found.extend(contracts.check_response(&request));
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "{} {}: expected a problem naming {needle:?}, got {found:?}",
            request.method,
            request.path
        );
    }
    let fine = recorded(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        None,
        200,
        Some(json!({"active": false})),
        None,
    );
    assert!(
        contracts.check_request(&fine).is_empty(),
        "active passes only through its listed exception"
    );
    let ok_roles = recorded("GET", "/api/roles", None, 200, None, Some(json!([role])));
    assert!(contracts.check_response(&ok_roles).is_empty());
}

/// The behaviours Sisense's server code adds where the contract is silent, held to the contract too: an
/// all-or-nothing bulk refusal (400, nothing created) and the fallback after it, a PATCH answered 200 that
/// dropped a key, and legacy writes answered with an empty 200 (no response schema).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bulks_dropped_keys_and_empty_bodies_conform_too() {
    let contracts = Contracts::load();
    let sim = sim(Release::Contract).await;
    let client = fusion(&sim);
    let role = RoleResolver::new(client.roles(None).await.unwrap())
        .resolve("Viewer")
        .unwrap()
        .id
        .clone();
    let taken = sim.users()[7]["email"].as_str().unwrap().to_string();
    let new = |email: &str| NewUser {
        email: email.into(),
        user_name: None,
        first_name: None,
        last_name: None,
        role_id: Some(role.clone()),
        groups: vec![],
        scope: None,
        password: None,
    };
    sim.clear_requests();
    let outcomes = client
        .create_users(&[new(&taken), new("contract.fresh@example.com")])
        .await;
    assert!(outcomes[0].result.is_err(), "{:?}", outcomes[0].result);
    assert!(outcomes[1].result.is_ok(), "{:?}", outcomes[1].result);
    let refused: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/users/bulk")
        .map(|r| r.status)
        .collect();
    assert_eq!(refused, [400], "one refused bulk, nothing created by it");
    let problems_found = problems(&contracts, &sim.requests(), true);
    assert!(problems_found.is_empty(), "{problems_found:#?}");

    // A patch the server answers 200 while dropping what it does not keep: the user reads back unchanged there.
    let id = UserId::from(sim.users()[9]["_id"].as_str().unwrap().to_string());
    let before = client.get_user(&id).await.unwrap().unwrap();
    let patched = client
        .update_user(
            &id,
            &UserPatch {
                first_name: Some("Kept".into()),
                active: Some(!before.is_active()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.first_name.as_deref(), Some("Kept"));
    assert_eq!(
        patched.active, before.active,
        "active dropped, 200 all the same"
    );

    // Legacy v0.9: PUT and POST /api/users/delete answer an empty 200, which the client accepts.
    let password = SecretString::from(sim.password().to_string());
    let token = SecretString::from(sim.rest_api_token().to_string());
    let legacy = client_for_legacy(&sim, &password, &token);
    sim.clear_requests();
    let renamed = legacy
        .update_user(
            &id,
            &UserPatch {
                first_name: Some("Legacy".into()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.first_name.as_deref(), Some("Legacy"), "read back");
    let fresh = outcomes[1].result.as_ref().unwrap().id.clone();
    legacy.delete_user(&fresh).await.unwrap();
    assert!(sim.user_by_email("contract.fresh@example.com").is_none());
    let empty: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.clone(), r.status, r.response.is_none()))
        .collect();
    assert_eq!(
        empty,
        [("PUT".into(), 200, true), ("POST".into(), 200, true)],
        "empty 200 bodies"
    );
    let problems_found = problems(&contracts, &sim.requests(), true);
    assert!(problems_found.is_empty(), "{problems_found:#?}");
}

fn client_for_legacy(
    sim: &Simulator,
    password: &SecretString,
    token: &SecretString,
) -> SisenseClient {
    let credentials =
        Credentials::legacy_from_parts(Some(sim.username()), Some(password), Some(token)).unwrap();
    client(sim, credentials)
}
