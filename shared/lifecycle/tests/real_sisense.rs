//! The import against a simulator that answers as Sisense's server code does where the contract is silent: bulk
//! creates all-or-nothing, PATCH dropping every key but five, 2007 when a licence tier is full, 2010 for the
//! built-in groups.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use lifecycle::import::{
    ImportOptions, ImportOutcome, ImportRequest, ImportSummary, OnExisting, import_users,
};
use lifecycle::{FixedClock, MemoryStore, ObjectStore};
use sisense_sim::{SimConfig, Simulator};

fn clock() -> FixedClock {
    FixedClock(Utc.with_ymd_and_hms(2026, 11, 22, 9, 15, 0).unwrap())
}

async fn sim(users: usize, seats: &[(&str, u64)]) -> Simulator {
    Simulator::start(SimConfig {
        users,
        now: clock().0,
        licence_seats: seats.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn import(
    sim: &Simulator,
    csv: &str,
    on_existing: OnExisting,
) -> (ImportSummary, Vec<BTreeMap<String, String>>) {
    let input = MemoryStore::default();
    input
        .put("imports/x.csv", csv.as_bytes().to_vec(), "text/csv")
        .await
        .unwrap();
    let reports = MemoryStore::default();
    let request = ImportRequest {
        bucket: "in".into(),
        key: "imports/x.csv".into(),
        dry_run: false,
        on_existing,
        run_id: format!("run-{}", csv.len()),
    };
    let outcome = import_users(
        &common::client(sim),
        &input,
        &reports,
        &clock(),
        &request,
        &ImportOptions::default(),
    )
    .await
    .unwrap();
    let ImportOutcome::Done { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let bytes = reports.objects().remove(&summary.report_key).unwrap();
    let rows = csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(|r| r.unwrap())
        .collect();
    (*summary, rows)
}

/// 5,000 new hires; with `bad`, the 25th row of every 50 is one Sisense would refuse, of four kinds in turn.
fn hires(bad: bool, taken_name: &str) -> String {
    let mut csv = String::from("email,user_name,role,groups\n");
    for i in 0..5_000 {
        let line = match (bad, i % 50 == 25, (i / 50) % 4) {
            (true, true, 0) => format!("hire{i}@example.com,,viewer,Everyone\n"),
            (true, true, 1) => format!("hire{i}@example.com,,viewer,Admins\n"),
            (true, true, 2) => format!("hire{i}@example,,viewer,\n"),
            (true, true, _) => format!("hire{i}@example.com,{taken_name},viewer,\n"),
            _ => format!("hire{i}@example.com,,viewer,Sales\n"),
        };
        csv.push_str(&line);
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_per_batch_costs_no_other_row_and_at_most_twice_the_requests() {
    let clean = sim(20, &[]).await;
    let taken = clean.users()[3]["userName"].as_str().unwrap().to_string();
    let (all_valid, _) = import(&clean, &hires(false, &taken), OnExisting::Skip).await;
    assert_eq!(all_valid.created, 5_000, "{all_valid:?}");
    let baseline = clean.requests().len();

    let messy = sim(20, &[]).await;
    let (summary, rows) = import(&messy, &hires(true, &taken), OnExisting::Skip).await;
    assert_eq!(summary.created, 4_900, "{summary:?}");
    assert_eq!(summary.invalid, 100);
    assert_eq!(summary.failed, 0);
    let requests = messy.requests().len();
    println!("requests: {requests} with a bad row per batch, {baseline} all valid");
    assert!(
        requests <= 2 * baseline,
        "{requests} requests against {baseline} for the all-valid file"
    );
    // Every valid row created exactly once.
    let users = messy.users();
    for i in (0..5_000).filter(|i| i % 50 != 25) {
        let email = format!("hire{i}@example.com");
        assert_eq!(
            users
                .iter()
                .filter(|u| u["email"] == email.as_str())
                .count(),
            1,
            "{email}"
        );
    }
    let message =
        |row: usize| rows.iter().find(|r| r["row"] == row.to_string()).unwrap()["message"].clone();
    // Row numbers count the header as line 1.
    assert!(
        message(27).contains("built into Sisense"),
        "{}",
        message(27)
    );
    assert!(
        message(77).contains("\"Admins\" is built into Sisense"),
        "{}",
        message(77)
    );
    assert!(message(127).contains("invalid email"), "{}", message(127));
    assert!(
        message(177).contains("would change that user's email"),
        "{}",
        message(177)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_licence_tier_refuses_that_rows_role_change_in_words_and_only_that_row() {
    // Designers are full: every designer seat is taken by the seeded users.
    let probe = sim(200, &[]).await;
    let designers = {
        let roles = probe.role_names();
        probe
            .users()
            .iter()
            .filter(|u| {
                let name = &roles[u["roleId"].as_str().unwrap()];
                name == "contributor" || name == "dataDesigner"
            })
            .count() as u64
    };
    let sim = sim(200, &[("designers", designers)]).await;
    let roles = sim.role_names();
    let viewers: Vec<String> = sim
        .users()
        .iter()
        .filter(|u| roles[u["roleId"].as_str().unwrap()] == "consumer" && u["active"] == true)
        .map(|u| u["email"].as_str().unwrap().to_string())
        .take(2)
        .collect();
    let csv = format!(
        "email,first_name,role\n{},Renamed,viewer\n{},,designer\n",
        viewers[0], viewers[1]
    );
    let (summary, rows) = import(&sim, &csv, OnExisting::Update).await;
    assert_eq!((summary.updated, summary.failed), (1, 1), "{rows:?}");
    let failed = rows.iter().find(|r| r["status"] == "failed").unwrap();
    assert_eq!(failed["email"], viewers[1]);
    assert!(
        failed["message"].contains("no free designer seat for role contributor"),
        "{failed:?}"
    );
    let updated = sim.user_by_email(&viewers[0]).unwrap();
    assert_eq!(updated["firstName"], "Renamed");

    // A new hire needing a designer seat is refused the same way, alone; the viewer beside it is created.
    let csv = "email,role\nnew.designer@example.com,designer\nnew.viewer@example.com,viewer\n";
    let (summary, rows) = import(&sim, csv, OnExisting::Skip).await;
    assert_eq!((summary.created, summary.failed), (1, 1), "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r["message"].contains("no free designer seat for role contributor")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_row_changing_a_user_name_is_invalid_not_reported_as_applied() {
    let sim = sim(30, &[]).await;
    let user = sim
        .users()
        .into_iter()
        .find(|u| u["active"] == true)
        .unwrap();
    let email = user["email"].as_str().unwrap();
    let csv = format!("email,user_name,first_name\n{email},someone.else,Zed\n");
    let (summary, rows) = import(&sim, &csv, OnExisting::Update).await;
    assert_eq!(summary.invalid, 1, "{rows:?}");
    assert!(
        rows[0]["message"].contains("does not change email or user name"),
        "{rows:?}"
    );
    assert!(sim.writes().is_empty(), "nothing sent: {:?}", sim.writes());
}

/// A multi-tenant installation: the system tenant and two others, users spread over the three.
async fn tenants_sim() -> Simulator {
    Simulator::start(SimConfig {
        users: 600,
        now: clock().0,
        tenants: vec!["acme".into(), "globex".into()],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_exported_and_a_live_run_acts_only_within_its_tenants() {
    use lifecycle::export::{ExportOptions, TENANT_COLUMN, export_users};
    use lifecycle::stale::{Action, StaleOptions, Thresholds, deactivate_stale_users};

    let sim = tenants_sim().await;
    let names = sim.tenant_names();
    assert_eq!(names.len(), 3);
    let tenant_of: BTreeMap<String, String> = sim
        .users()
        .iter()
        .map(|u| {
            let id = u["tenantId"].as_str().unwrap();
            (u["_id"].as_str().unwrap().to_string(), names[id].clone())
        })
        .collect();

    // The export names every user's tenant and counts users per tenant.
    let store = MemoryStore::default();
    let export = export_users(
        &common::client(&sim),
        &store,
        &clock(),
        &ExportOptions::default(),
    )
    .await
    .unwrap();
    let bytes = store.objects().remove(&export.key).unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().next_back(),
        Some(TENANT_COLUMN)
    );
    let rows: Vec<BTreeMap<String, String>> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 600);
    for row in &rows {
        assert_eq!(row["tenant"], tenant_of[&row["user_id"]], "{row:?}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&store.get(&export.summary_key).await.unwrap().unwrap()).unwrap();
    assert_eq!(
        summary["perTenant"],
        serde_json::json!({"system": 200, "acme": 200, "globex": 200})
    );
    assert!(summary["seatsPerTenant"]["acme"]["viewers"]["total"].as_u64() > Some(0));

    // A live demote by default acts only in the service account's tenant (system).
    let options = StaleOptions {
        action: Action::Demote,
        dry_run: false,
        max_actions: 100_000,
        max_action_percent: 100,
        service_account: Some(sim.username().into()),
        thresholds: Thresholds::new(90, None),
        ..StaleOptions::default()
    };
    let reports = MemoryStore::default();
    let run = deactivate_stale_users(&common::client(&sim), &reports, &clock(), &options)
        .await
        .unwrap();
    assert_eq!(run.tenants.as_deref(), Some("system"));
    assert!(run.acted > 10 && run.other_tenant > 10, "{run:?}");
    let patched: Vec<String> = sim
        .writes()
        .iter()
        .filter(|w| w.method == "PATCH")
        .map(|w| w.path.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(patched.len() as u64, run.acted);
    assert!(
        patched.iter().all(|id| tenant_of[id] == "system"),
        "only the system tenant's users were written"
    );
    let bytes = reports.objects().remove(&run.report_key).unwrap();
    let report: Vec<BTreeMap<String, String>> = csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(Result::unwrap)
        .collect();
    let others: Vec<_> = report
        .iter()
        .filter(|r| r["status"] == "other_tenant")
        .collect();
    assert_eq!(others.len() as u64, run.other_tenant);
    assert!(others.iter().all(|r| tenant_of[&r["user_id"]] != "system"));
    assert!(
        others[0]["message"].contains("outside TENANTS (system)"),
        "{:?}",
        others[0]
    );

    // TENANTS=* covers every tenant (a dry run: the plan spans all three).
    let all = StaleOptions {
        dry_run: true,
        tenants: Some(vec!["*".into()]),
        ..options.clone()
    };
    let run = deactivate_stale_users(&common::client(&sim), &reports, &clock(), &all)
        .await
        .unwrap();
    assert_eq!((run.tenants.as_deref(), run.other_tenant), (Some("*"), 0));
    let bytes = reports.objects().remove(&run.report_key).unwrap();
    let planned: std::collections::BTreeSet<String> = csv::Reader::from_reader(bytes.as_slice())
        .deserialize::<BTreeMap<String, String>>()
        .map(Result::unwrap)
        .filter(|r| r["status"] == "would_demote")
        .map(|r| tenant_of[&r["user_id"]].clone())
        .collect();
    // The system tenant's stale users were demoted by the live run above: the others are planned now.
    assert!(
        planned.contains("acme") && planned.contains("globex"),
        "{planned:?}"
    );

    // A tenant name that does not exist is refused before anything is listed or written.
    let typo = StaleOptions {
        tenants: Some(vec!["acmee".into()]),
        ..options
    };
    let err = deactivate_stale_users(&common::client(&sim), &reports, &clock(), &typo)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not a tenant of this installation"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_row_of_another_tenant_is_invalid() {
    let sim = tenants_sim().await;
    let names = sim.tenant_names();
    let acme_user = sim
        .users()
        .into_iter()
        .find(|u| names[u["tenantId"].as_str().unwrap()] == "acme")
        .unwrap();
    let csv = format!(
        "email,role,tenant\nnew.system@example.com,viewer,system\nnew.acme@example.com,viewer,acme\n{},designer,\n\
         new.globex@example.com,viewer,globex\n",
        acme_user["email"].as_str().unwrap()
    );
    let input = MemoryStore::default();
    input
        .put("imports/t.csv", csv.into_bytes(), "text/csv")
        .await
        .unwrap();
    let reports = MemoryStore::default();
    let request = ImportRequest {
        bucket: "in".into(),
        key: "imports/t.csv".into(),
        dry_run: false,
        on_existing: OnExisting::Update,
        run_id: "tenants".into(),
    };
    let options = ImportOptions {
        service_account: Some(sim.username().into()),
        // Two tenants in scope, yet new users can only be created in the service account's.
        tenants: Some(vec!["system".into(), "globex".into()]),
        ..ImportOptions::default()
    };
    let outcome = import_users(
        &common::client(&sim),
        &input,
        &reports,
        &clock(),
        &request,
        &options,
    )
    .await
    .unwrap();
    let ImportOutcome::Done { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((summary.created, summary.invalid), (1, 3), "{summary:?}");
    let bytes = reports.objects().remove(&summary.report_key).unwrap();
    let rows: Vec<BTreeMap<String, String>> = csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(Result::unwrap)
        .collect();
    assert!(
        rows[1]["message"].contains("\"acme\" is outside TENANTS"),
        "{rows:?}"
    );
    assert!(
        rows[2]["message"].contains("exists in tenant acme"),
        "{rows:?}"
    );
    assert!(
        rows[3]["message"]
            .contains("created in the service account's tenant (system), not \"globex\""),
        "{rows:?}"
    );
    assert!(sim.user_by_email("new.globex@example.com").is_none());
}
