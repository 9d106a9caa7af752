//! Offboarding that destroys nothing, end to end: the real deactivate-stale-users binary under the Lambda Runtime
//! API, moto S3 and Secrets Manager, and the simulator with dashboards (deleting a user deletes the dashboards it
//! owns, as Sisense does).

use std::collections::{BTreeMap, BTreeSet};

use e2e_tests::runtime_api::Function;
use e2e_tests::world::World;
use e2e_tests::{Family, NOW, now};
use serde_json::{Value, json};
use sisense_sim::{SimConfig, Simulator, StaleRule};

const LIVE_DELETE: [(&str, &str); 4] = [
    ("DRY_RUN", "false"),
    ("MAX_ACTIONS", "100000"),
    ("MAX_ACTION_PERCENT", "100"),
    ("STALE_ACTION", "delete"),
];

async fn sim() -> Simulator {
    Simulator::start(SimConfig {
        users: 700,
        now: now(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn function(world: &World, sim: &Simulator, name: &str, extra: &[(&str, &str)]) -> Function {
    let secret = world.sim_secret(name, sim, Family::Fusion).await;
    let mut env = vec![
        ("SISENSE_SECRET_ID", secret.as_str()),
        ("REPORT_BUCKET", e2e_tests::world::BUCKET),
        ("CLOCK_FIXED_AT", NOW),
        ("SISENSE_RATE_LIMIT", "0"),
    ];
    env.extend_from_slice(extra);
    world.function("deactivate-stale-users", &env).await
}

async fn invoke(function: &mut Function, event: Value) -> Value {
    function
        .invoke(&event)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()))
}

/// Stale users delete acts on (activated and invitations), by the simulator's oracle.
fn stale(sim: &Simulator, also_protected: &str) -> BTreeSet<String> {
    let sets = sim.stale_sets(&StaleRule {
        now: now(),
        inactive_days: 90,
        grace_days: 90,
        roles: vec!["super".into(), "admin".into()],
        users: vec![sim.username().into(), also_protected.into()],
        groups: vec![],
    });
    sets.act.into_iter().chain(sets.pending).collect()
}

async fn report(world: &World, summary: &Value) -> Vec<BTreeMap<String, String>> {
    let bytes = world.get(summary["reportKey"].as_str().unwrap()).await;
    csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(|r| r.unwrap())
        .collect()
}

fn ids(sim: &Simulator) -> BTreeSet<String> {
    sim.users()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect()
}

/// A recently seen consumer: the dashboards' new owner.
fn keeper(sim: &Simulator) -> Value {
    let consumer = sim
        .roles()
        .into_iter()
        .find(|r| r["name"] == "consumer")
        .unwrap()["_id"]
        .clone();
    sim.users()
        .into_iter()
        .find(|u| {
            u["roleId"] == consumer
                && u["lastLogin"]
                    .as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                    .is_some_and(|t| (now() - t).num_days() < 10)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_without_a_target_deletes_no_owner_and_loses_no_dashboard() {
    let world = World::new().await;
    let sim = sim().await;
    let owners = sim.dashboards_by_owner();
    let candidates = stale(&sim, "");
    let stale_owners: BTreeSet<String> = candidates
        .iter()
        .filter(|id| owners.contains_key(*id))
        .cloned()
        .collect();
    assert!(stale_owners.len() >= 10, "{}", stale_owners.len());
    let dashboards = sim.dashboards().len();
    let mut f = function(&world, &sim, "sisense/keep", &LIVE_DELETE).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["protectedOwners"], stale_owners.len(), "{summary}");
    assert_eq!(summary["acted"], candidates.len() - stale_owners.len());
    assert_eq!(summary["dashboards"], dashboards);
    assert!(stale_owners.is_subset(&ids(&sim)), "no owner deleted");
    assert_eq!(
        sim.dashboards().len(),
        dashboards,
        "dashboard count unchanged"
    );
    let rows = report(&world, &summary).await;
    for row in rows.iter().filter(|r| stale_owners.contains(&r["user_id"])) {
        assert_eq!(row["status"], "protected_owner");
        assert_eq!(
            row["dashboards_owned"],
            owners[&row["user_id"]].len().to_string()
        );
    }

    // An unknown target stops the run before anything is written.
    sim.clear_requests();
    let before = world.keys("reports/").await.len();
    let err = f
        .invoke(&json!({"transferDashboardsTo": "gone@example.com"}))
        .await
        .unwrap_err();
    assert_eq!(err["errorType"], "ConfigError", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("gone@example.com")
    );
    assert!(sim.writes().is_empty());
    assert_eq!(
        world.keys("reports/").await.len(),
        before,
        "no report either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_a_target_then_restore_brings_every_user_back_with_their_dashboards() {
    let world = World::new().await;
    let sim = sim().await;
    let keeper = keeper(&sim);
    let (keeper_id, keeper_email) = (
        keeper["_id"].as_str().unwrap().to_string(),
        keeper["email"].as_str().unwrap().to_string(),
    );
    let owners = sim.dashboards_by_owner();
    let candidates = stale(&sim, &keeper_email);
    let before: BTreeMap<String, Value> = sim
        .users()
        .into_iter()
        .map(|u| (u["_id"].as_str().unwrap().to_string(), u))
        .collect();
    let moved: BTreeSet<String> = candidates
        .iter()
        .filter_map(|id| owners.get(id))
        .flatten()
        .cloned()
        .collect();
    assert!(moved.len() >= 10);
    let dashboards = sim.dashboards().len();
    let mut env = LIVE_DELETE.to_vec();
    env.push(("TRANSFER_DASHBOARDS_TO", keeper_email.as_str()));
    let mut f = function(&world, &sim, "sisense/transfer", &env).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["acted"], candidates.len(), "{summary}");
    assert_eq!(summary["dashboardsTransferred"], moved.len());
    assert_eq!(summary["sessionsRevoked"], candidates.len());
    assert!(
        ids(&sim).is_disjoint(&candidates),
        "the stale users are gone"
    );
    assert_eq!(
        sim.dashboards().len(),
        dashboards,
        "dashboard count unchanged"
    );
    let now_owned: BTreeSet<String> = sim.dashboards_by_owner()[&keeper_id]
        .iter()
        .cloned()
        .collect();
    assert!(
        moved.is_subset(&now_owned),
        "every stale owner's dashboards are the keeper's"
    );
    let revoked: BTreeSet<String> = sim.revoked().into_iter().collect();
    assert_eq!(revoked, candidates, "the deleted users' tokens are revoked");

    let report_key = summary["reportKey"].as_str().unwrap().to_string();
    sim.clear_requests();
    let dry = invoke(&mut f, json!({"restoreFrom": report_key})).await;
    assert_eq!(
        dry["dryRun"], true,
        "a restore is a dry run unless told otherwise"
    );
    assert_eq!(dry["toRestore"], candidates.len());
    assert!(sim.writes().is_empty());
    let done = invoke(
        &mut f,
        json!({"restoreFrom": report_key, "dryRun": false, "force": true}),
    )
    .await;
    assert_eq!(done["restored"], candidates.len(), "{done}");
    assert_eq!(done["dashboardsReturned"], moved.len());
    assert!(
        done["reportKey"]
            .as_str()
            .unwrap()
            .starts_with("reports/restores/")
    );
    assert_eq!(sim.dashboards().len(), dashboards);
    let by_owner = sim.dashboards_by_owner();
    for id in &candidates {
        let old = &before[id];
        let back = sim
            .user_by_email(old["email"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{id} re-created"));
        for key in ["userName", "firstName", "lastName", "roleId", "groups"] {
            assert_eq!(back[key], old[key], "{id} {key}");
        }
        assert_eq!(
            by_owner.get(back["_id"].as_str().unwrap()),
            owners.get(id),
            "{id} owns its dashboards again"
        );
    }

    sim.clear_requests();
    let again = invoke(
        &mut f,
        json!({"restoreFrom": report_key, "dryRun": false, "force": true}),
    )
    .await;
    assert_eq!(again["restored"], 0);
    assert_eq!(again["alreadyRestored"], candidates.len(), "{again}");
    assert!(sim.writes().is_empty(), "a second restore changes nothing");
    let rows = report(&world, &again).await;
    assert!(rows.iter().all(|r| r["status"] == "already_restored"));
}
