//! deactivate-stale-users end to end, offboarding and restore included: the real binary under the Lambda Runtime
//! API, moto S3 + Secrets Manager, the Sisense simulator over HTTP, and a fixed clock (`CLOCK_FIXED_AT`) so the
//! expected sets are exact.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use e2e_tests::runtime_api::Function;
use e2e_tests::world::{Env, World};
use e2e_tests::{Family, NOW, now, with_status};
use serde_json::{Value, json};
use sisense_sim::{Faults, Release, SimConfig, Simulator, StaleRule};

async fn sim(users: usize) -> Simulator {
    Simulator::start(SimConfig {
        users,
        now: now(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn function(
    world: &World,
    sim: &Simulator,
    family: Family,
    name: &str,
    extra: &[(&str, &str)],
) -> Function {
    let secret = world.sim_secret(name, sim, family).await;
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

fn rule(sim: &Simulator, groups: &[&str], users: &[&str]) -> StaleRule {
    StaleRule {
        now: now(),
        inactive_days: 90,
        grace_days: 90,
        roles: vec!["super".into(), "admin".into()],
        users: users
            .iter()
            .map(|u| u.to_string())
            .chain([sim.username().to_string()])
            .collect(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

/// The user as the API answers it, as stored: without the built-in "Everyone" the API lists first.
fn stored(sim: &Simulator, mut user: Value) -> Value {
    let everyone = sim
        .groups()
        .into_iter()
        .find(|g| g["name"] == "Everyone")
        .unwrap()["_id"]
        .clone();
    if let Some(groups) = user["groups"].as_array_mut() {
        groups.retain(|g| *g != everyone);
    }
    user
}

fn by_id(sim: &Simulator) -> BTreeMap<String, Value> {
    sim.users()
        .into_iter()
        .map(|u| (u["_id"].as_str().unwrap().to_string(), u))
        .collect()
}

// Each family's wiring through the binary (its secret, its client) is checked by the demote scenario; the
// families' behaviour (caps, dry run, probes, ignored writes, delete refused on legacy) is checked at the jobs
// level (`shared/lifecycle/tests/stale.rs`), so the heavier scenarios below run on Fusion only.
e2e_tests::per_family!(
    demote_acts_on_exactly_the_stale_activated_users_and_leaves_invitations_alone,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_by_default_then_caps_then_force_act_on_exactly_the_stale_set_through_the_function()
{
    dry_run_by_default_then_caps_then_force_act_on_exactly_the_stale_set(Family::Fusion).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_demote_with_snapshots_and_faults_match_a_clean_run_through_the_function() {
    delete_and_demote_with_snapshots_and_faults_match_a_clean_run(Family::Fusion).await
}

async fn dry_run_by_default_then_caps_then_force_act_on_exactly_the_stale_set(family: Family) {
    let world = World::new().await;
    let sim = sim(5_000).await;
    // The service account has not logged in for 400 days: it is still never touched.
    let mut service = sim.user_by_email(sim.username()).unwrap();
    service["lastLogin"] = json!(sisense_sim::timestamp(now() - Duration::days(400)));
    service["lastActivity"] = Value::Null;
    service["roleId"] = sim
        .roles()
        .iter()
        .find(|r| r["name"] == "consumer")
        .unwrap()["_id"]
        .clone();
    sim.put_user(service);
    let expected = sim.stale_sets(&rule(&sim, &["Executives"], &["ann.smith7@example.com"]));
    assert!(expected.act.len() > 1_000, "{}", expected.act.len());
    let service_id = sim.user_by_email(sim.username()).unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(expected.protected.contains(&service_id));
    let before = by_id(&sim);
    let mut f = function(
        &world,
        &sim,
        family,
        "sisense/stale",
        &[
            ("PROTECTED_GROUPS", "Executives"),
            ("PROTECTED_USERS", "ann.smith7@example.com"),
            // This scenario is the deactivate action's (the default is demote).
            ("STALE_ACTION", "deactivate"),
        ],
    )
    .await;

    // 1. A fresh deployment: dry run, and the plan is far over the default caps (50, 10%).
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["dryRun"], true);
    assert_eq!(summary["aborted"], true);
    assert_eq!(summary["scanned"], 5_000);
    assert_eq!(summary["stale"], expected.act.len());
    assert_eq!(summary["protected"], expected.protected.len());
    assert_eq!(summary["cap"], 50);
    let key = summary["reportKey"].as_str().unwrap();
    assert!(
        key.starts_with("reports/deactivations/dt=2026-11-22/run-20261122T060000Z")
            && key.ends_with(".csv"),
        "{key}"
    );
    let rows = world.report(&summary).await;
    assert_eq!(with_status(&rows, "aborted_over_threshold"), expected.act);
    assert_eq!(with_status(&rows, "protected"), expected.protected);
    let header = String::from_utf8(world.get(key).await).unwrap();
    assert!(header.starts_with(
        "user_id,email,role_name,last_seen,last_seen_source,created_date,days_inactive,dashboards_owned,action,\
         status,message,previous_role,previous_groups,snapshot_key,dashboards_moved,sessions\n"
    ));

    // 2. Dry run with the caps lifted: the full plan, still no write.
    let summary = invoke(
        &mut f,
        json!({"maxActions": 100000, "maxActionPercent": 100}),
    )
    .await;
    assert_eq!(
        (summary["dryRun"].clone(), summary["aborted"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        with_status(&world.report(&summary).await, "would_deactivate"),
        expected.act
    );
    assert!(
        sim.writes().is_empty(),
        "dry runs sent no write: {:?}",
        sim.writes()
    );

    // 3. Live but over the caps: aborted, nothing changed.
    let summary = invoke(&mut f, json!({"dryRun": false})).await;
    assert_eq!(summary["aborted"], true);
    assert!(sim.writes().is_empty());
    assert_eq!(by_id(&sim), before);

    // 4. Live with force on the published contract's release, whose PATCH has no `active`: one probe write,
    // which Sisense accepts and ignores, then the run stops and says which actions work.
    let err = f
        .invoke(&json!({"dryRun": false, "force": true}))
        .await
        .expect_err("deactivation is not supported");
    assert_eq!(err["errorType"], "DeactivationUnsupported", "{err}");
    let message = err["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("`demote`") && message.contains("`delete`"),
        "{message}"
    );
    let writes = sim.writes();
    assert_eq!(writes.len(), 1, "at most one PATCH: {writes:?}");
    let activity = |users: BTreeMap<String, Value>| {
        users
            .into_iter()
            .map(|(id, u)| (id, u["active"].clone(), u["roleId"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(activity(by_id(&sim)), activity(before.clone()));
    let probe_report = world
        .keys("reports/deactivations/dt=2026-11-22/")
        .await
        .into_iter()
        .filter(|k| k.ends_with(".csv"))
        .max()
        .unwrap();
    let rows: Vec<BTreeMap<String, String>> =
        csv::Reader::from_reader(world.get(&probe_report).await.as_slice())
            .deserialize()
            .map(|r| r.unwrap())
            .collect();
    assert_eq!(with_status(&rows, "not_applied").len(), 1);
    assert_eq!(
        with_status(&rows, "not_attempted").len(),
        expected.act.len() - 1
    );

    // 4b. A release that honours `active`: exactly the expected users are deactivated, everyone else untouched.
    sim.set_release(Release::Newer);
    let before = by_id(&sim);
    let summary = invoke(&mut f, json!({"dryRun": false, "force": true})).await;
    assert_eq!(summary["acted"], expected.act.len(), "{summary}");
    assert_eq!(
        (summary["failed"].clone(), summary["notApplied"].clone()),
        (json!(0), json!(0))
    );
    let rows = world.report(&summary).await;
    assert_eq!(with_status(&rows, "deactivated"), expected.act);
    assert_eq!(with_status(&rows, "pending_invitation"), expected.pending);
    for (id, user) in by_id(&sim) {
        if expected.act.contains(&id) {
            assert_eq!(user["active"], false, "{id}");
        } else if id != writes[0].path.rsplit('/').next().unwrap() {
            assert_eq!(user, before[&id], "{id} untouched");
        }
    }
    let summary_file: Value =
        serde_json::from_slice(&world.get(summary["summaryKey"].as_str().unwrap()).await).unwrap();
    assert_eq!(summary_file["acted"], summary["acted"]);

    // 5. Right after: nobody new.
    sim.clear_requests();
    let summary = invoke(&mut f, json!({"dryRun": false, "force": true})).await;
    assert_eq!(
        (summary["stale"].clone(), summary["acted"].clone()),
        (json!(0), json!(0))
    );
    assert!(sim.writes().is_empty());
    e2e_tests::assert_spoke(&sim, family);
    let logs = f.logs();
    for secret in e2e_tests::sim_secrets(&sim) {
        assert!(!logs.contains(&secret), "{secret} in the function's logs");
    }
}

async fn delete_and_demote_with_snapshots_and_faults_match_a_clean_run(family: Family) {
    let world = World::new().await;
    let live = [
        ("DRY_RUN", "false"),
        ("MAX_ACTIONS", "100000"),
        ("MAX_ACTION_PERCENT", "100"),
        ("STALE_ACTION", "delete"),
    ];
    let (clean, faulty) = (sim(800).await, sim(800).await);
    let owners = clean.dashboards_by_owner();
    let mut expected = clean.stale_sets(&rule(&clean, &[], &[]));
    assert!(!expected.pending.is_empty());
    expected.act.extend(expected.pending.clone());
    // Without a transfer target, dashboard owners are left alone.
    expected.act.retain(|id| !owners.contains_key(id));
    let before = by_id(&clean);
    // Delete runs through the API that can see dashboards; demote below runs on each family.
    let mut f = function(&world, &clean, Family::Fusion, "sisense/clean-v1", &live).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["acted"], expected.act.len());
    let remaining = by_id(&clean);
    assert!(expected.act.iter().all(|id| !remaining.contains_key(id)));
    assert_eq!(remaining.len(), 800 - expected.act.len());
    let snapshots = world.keys("reports/deactivations/snapshots/").await;
    assert_eq!(snapshots.len(), expected.act.len());
    let one = expected.act.iter().next().unwrap();
    let rows = world.report(&summary).await;
    let row = rows.iter().find(|r| r["user_id"] == *one).unwrap();
    assert!(row["snapshot_key"].starts_with("reports/deactivations/snapshots/run-"));
    let snapshot: Value = serde_json::from_slice(&world.get(&row["snapshot_key"]).await).unwrap();
    assert_eq!(stored(&clean, snapshot["user"].clone()), before[one]);

    // Reads are batched (one listing per 100 users), so the storm is thicker than the requests are many.
    faulty.set_faults(Faults {
        rate_429: 0.20,
        rate_5xx: 0.10,
        token_expiry_after: Some(50),
        ..Faults::default()
    });
    let mut f = function(&world, &faulty, Family::Fusion, "sisense/faulty", &live).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(
        (summary["failed"].clone(), summary["notApplied"].clone()),
        (json!(0), json!(0)),
        "{summary}"
    );
    let injected = faulty
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(injected > 50, "only {injected} faults injected");
    assert!(
        faulty.requests().iter().any(|r| r.status == 401),
        "a token expired"
    );
    assert_eq!(
        by_id(&faulty),
        by_id(&clean),
        "same end state as the clean run"
    );

    // Demote on a server that ignores writes: every row is not_applied, never success.
    let ignoring = sim(600).await;
    ignoring.set_faults(Faults {
        ignore_writes: true,
        ..Faults::default()
    });
    let expected = ignoring.stale_sets(&rule(&ignoring, &[], &[]));
    let mut f = function(&world, &ignoring, family, "sisense/ignoring", &live).await;
    let summary = invoke(&mut f, json!({"staleAction": "demote"})).await;
    assert_eq!(summary["acted"], 0);
    let rows = world.report(&summary).await;
    let not_applied = with_status(&rows, "not_applied");
    assert!(!not_applied.is_empty() && not_applied.is_subset(&expected.act));
    assert_eq!(summary["notApplied"], not_applied.len());
    e2e_tests::assert_spoke(&faulty, Family::Fusion);
    e2e_tests::assert_spoke(&ignoring, family);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_fails_specifically_before_any_write() {
    let world = World::new().await;
    let sim = sim(200).await;
    let cases: Vec<(Env, Value, &str, &str)> = vec![
        (
            vec![("STALE_ACTION", "purge")],
            json!({}),
            "ConfigError",
            "STALE_ACTION",
        ),
        (
            vec![("MAX_ACTION_PERCENT", "150")],
            json!({}),
            "ConfigError",
            "between 0 and 100",
        ),
        (
            vec![("PROTECTED_ROLES", "super,admn")],
            json!({}),
            "ConfigError",
            "unknown role \"admn\"",
        ),
        (
            vec![("PROTECTED_GROUPS", "Everyone")],
            json!({}),
            "ConfigError",
            "built-in group",
        ),
        (
            vec![("CLOCK_FIXED_AT", "yesterday")],
            json!({}),
            "ConfigError",
            "CLOCK_FIXED_AT",
        ),
        (
            vec![],
            json!({"inactivedays": 3}),
            "BadRequest",
            "unknown field `inactivedays`",
        ),
    ];
    for (i, (env, event, error_type, phrase)) in cases.into_iter().enumerate() {
        let mut env = env;
        env.push(("DRY_RUN", "false"));
        let mut f = function(
            &world,
            &sim,
            Family::Fusion,
            &format!("sisense/bad-{i}"),
            &env,
        )
        .await;
        let err = f.invoke(&event).await.expect_err("fails");
        assert_eq!(err["errorType"], error_type, "{err}");
        let message = err["errorMessage"].as_str().unwrap();
        assert!(
            message.contains(phrase),
            "{message:?} should mention {phrase:?}"
        );
    }
    assert!(sim.writes().is_empty());
    assert!(
        world.keys("reports/").await.is_empty(),
        "no report for a run that could not start"
    );
}

async fn demote_acts_on_exactly_the_stale_activated_users_and_leaves_invitations_alone(
    family: Family,
) {
    let world = World::new().await;
    let sim = sim(1_500).await;
    let expected = sim.stale_sets(&rule(&sim, &[], &[]));
    assert!(expected.pending.len() > 20, "{}", expected.pending.len());
    let consumer = viewer(&sim);
    let before = by_id(&sim);
    let demoted = to_demote(&sim);
    let mut f = function(&world, &sim, family, "sisense/demote", &LIVE_DEMOTE).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["acted"], demoted.len(), "{summary}");
    let rows = world.report(&summary).await;
    assert_eq!(with_status(&rows, "demoted"), demoted);
    assert_eq!(
        with_status(&rows, "pending_invitation"),
        expected.pending,
        "stale invitations are reported and left alone"
    );
    assert!(summary["pendingInvitations"].as_u64().unwrap() >= expected.pending.len() as u64);
    for (id, user) in by_id(&sim) {
        if demoted.contains(&id) {
            assert_eq!(user["roleId"], consumer, "{id}");
            assert_eq!(user["groups"], json!([]), "{id}");
            assert_eq!(user["active"], true, "{id}");
        } else {
            assert_eq!(user, before[&id], "{id} untouched");
        }
    }
    let written: BTreeSet<String> = sim
        .writes()
        .iter()
        .filter(|w| !w.path.ends_with("/admin/logout"))
        .map(|w| w.path.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        written, demoted,
        "one write per demoted user, none to invitations"
    );
    // The demotion takes effect now: the demoted users' tokens are revoked where the API can (v1), and the
    // report says so either way.
    let revoked: BTreeSet<String> = sim.revoked().into_iter().collect();
    let sessions: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["status"] == "demoted")
        .map(|r| r["sessions"].as_str())
        .collect();
    match family {
        Family::Fusion => {
            assert_eq!(revoked, demoted, "exactly the demoted users' sessions");
            assert!(demoted.iter().all(|id| sim.sessions(id) == 0));
            assert_eq!(sessions, BTreeSet::from(["revoked"]));
            assert_eq!(summary["sessionsRevoked"], demoted.len());
        }
        Family::Legacy | Family::Periscope => {
            assert!(revoked.is_empty());
            assert_eq!(sessions, BTreeSet::from(["unsupported"]));
        }
    }
    e2e_tests::assert_spoke(&sim, family);
}

/// The Viewer role's id.
fn viewer(sim: &Simulator) -> Value {
    sim.roles()
        .iter()
        .find(|r| r["name"] == "consumer")
        .unwrap()["_id"]
        .clone()
}

/// The stale activated users demote changes, by the simulator's oracle: those not already Viewers without groups.
fn to_demote(sim: &Simulator) -> BTreeSet<String> {
    let (consumer, users) = (viewer(sim), by_id(sim));
    sim.stale_sets(&rule(sim, &[], &[]))
        .act
        .into_iter()
        .filter(|id| !(users[id]["roleId"] == consumer && users[id]["groups"] == json!([])))
        .collect()
}

/// Invokes `f` with `first`, then with each `continuation` until the run is done; returns the last summary and
/// the number of invocations. Every unfinished hop must have settled at least `per_hop` more actions.
async fn until_done(f: &mut Function, first: Value, per_hop: u64) -> (Value, u64) {
    let mut summary = invoke(f, first).await;
    let mut hops = 1;
    while summary["done"] == false {
        let continuation = summary["continuation"].clone();
        assert_eq!(continuation["runId"], summary["runId"], "{summary}");
        assert_eq!(summary["hops"], hops, "{summary}");
        assert!(
            summary["acted"].as_u64().unwrap() >= per_hop * hops,
            "each hop makes progress: {summary}"
        );
        summary = invoke(f, continuation).await;
        hops += 1;
        assert!(hops <= 100, "a run that never ends");
    }
    assert!(summary.get("continuation").is_none(), "{summary}");
    assert_eq!(summary["hops"], hops);
    (summary, hops)
}

/// Checks a finished demote run: each user reported once, exactly `demoted` demoted, one PATCH per user.
async fn demoted_once_each(
    world: &World,
    sim: &Simulator,
    summary: &Value,
    demoted: &BTreeSet<String>,
) {
    assert_eq!(summary["acted"], demoted.len(), "{summary}");
    assert_eq!(
        (summary["failed"].as_u64(), summary["notApplied"].as_u64()),
        (Some(0), Some(0))
    );
    let rows = world.report(summary).await;
    let mut seen = BTreeMap::new();
    for row in &rows {
        *seen.entry(row["user_id"].clone()).or_insert(0) += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "every row reported once");
    assert_eq!(&with_status(&rows, "demoted"), demoted);
    let (consumer, users) = (viewer(sim), by_id(sim));
    assert!(demoted.iter().all(|id| users[id]["roleId"] == consumer));
    let patches = sim.writes().iter().filter(|w| w.method == "PATCH").count();
    assert_eq!(
        patches,
        demoted.len(),
        "one write per user, across every hop"
    );
}

const LIVE_DEMOTE: [(&str, &str); 4] = [
    ("DRY_RUN", "false"),
    ("MAX_ACTIONS", "100000"),
    ("MAX_ACTION_PERCENT", "100"),
    ("STALE_ACTION", "demote"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_at_its_lambda_deadline_returns_a_continuation_that_finishes_the_run() {
    let world = World::new().await;
    let sim = sim(1_500).await;
    let demoted = to_demote(&sim);
    assert!(demoted.len() > 200, "{} to demote", demoted.len());
    // A margin as long as the invocation: every hop is at its deadline after one segment of 100, the way a
    // run too big for 15 minutes is.
    let mut env = LIVE_DEMOTE.to_vec();
    env.push(("HOP_MARGIN_SECS", "900"));
    let mut f = function(&world, &sim, Family::Fusion, "sisense/deadline", &env).await;
    let (summary, hops) = until_done(&mut f, json!({}), 100).await;
    assert_eq!(hops as usize, demoted.len().div_ceil(100));
    demoted_once_each(&world, &sim, &summary, &demoted).await;
    // A duplicate delivery of the last continuation answers the summary again and writes nothing.
    sim.clear_requests();
    let again = invoke(&mut f, json!({"runId": summary["runId"]})).await;
    assert_eq!(again, summary);
    assert!(sim.writes().iter().all(|w| w.method != "PATCH"));
}

// ---- Offboarding that destroys nothing: the simulator has dashboards, and deleting a user deletes the
// dashboards it owns, as Sisense does.

const LIVE_DELETE: [(&str, &str); 4] = [
    ("DRY_RUN", "false"),
    ("MAX_ACTIONS", "100000"),
    ("MAX_ACTION_PERCENT", "100"),
    ("STALE_ACTION", "delete"),
];

/// Stale users delete acts on (activated and invitations), by the simulator's oracle.
fn deletable(sim: &Simulator, also_protected: &[&str]) -> BTreeSet<String> {
    let sets = sim.stale_sets(&rule(sim, &[], also_protected));
    sets.act.into_iter().chain(sets.pending).collect()
}

/// The ids of the users the simulator has.
fn users(sim: &Simulator) -> BTreeSet<String> {
    by_id(sim).into_keys().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_without_a_target_deletes_no_owner_and_loses_no_dashboard() {
    let world = World::new().await;
    let sim = sim(700).await;
    let owners = sim.dashboards_by_owner();
    let candidates = deletable(&sim, &[]);
    let stale_owners: BTreeSet<String> = candidates
        .iter()
        .filter(|id| owners.contains_key(*id))
        .cloned()
        .collect();
    assert!(stale_owners.len() >= 10, "{}", stale_owners.len());
    let dashboards = sim.dashboards().len();
    let mut f = function(&world, &sim, Family::Fusion, "sisense/keep", &LIVE_DELETE).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["protectedOwners"], stale_owners.len(), "{summary}");
    assert_eq!(summary["acted"], candidates.len() - stale_owners.len());
    assert_eq!(summary["dashboards"], dashboards);
    assert!(stale_owners.is_subset(&users(&sim)), "no owner deleted");
    assert_eq!(
        sim.dashboards().len(),
        dashboards,
        "dashboard count unchanged"
    );
    let rows = world.report(&summary).await;
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
    let sim = sim(700).await;
    let keeper = sim
        .recently_seen("consumer", 10)
        .expect("a recent consumer");
    let (keeper_id, keeper_email) = (
        keeper["_id"].as_str().unwrap().to_string(),
        keeper["email"].as_str().unwrap().to_string(),
    );
    let owners = sim.dashboards_by_owner();
    let candidates = deletable(&sim, &[&keeper_email]);
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
    let mut f = function(&world, &sim, Family::Fusion, "sisense/transfer", &env).await;
    let summary = invoke(&mut f, json!({})).await;
    assert_eq!(summary["acted"], candidates.len(), "{summary}");
    assert_eq!(summary["dashboardsTransferred"], moved.len());
    assert_eq!(summary["sessionsRevoked"], candidates.len());
    assert!(
        users(&sim).is_disjoint(&candidates),
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
    let rows = world.report(&again).await;
    assert!(rows.iter().all(|r| r["status"] == "already_restored"));
}

/// The ledger of warnings, by user id.
async fn ledger(world: &World) -> BTreeMap<String, Value> {
    let bytes = world.get("reports/deactivations/notice/ledger.json").await;
    let ledger: Value = serde_json::from_slice(&bytes).unwrap();
    ledger["users"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Notice before action: a notice run warns (ledger, report, one SNS message; no write to Sisense), a run
/// before the notice elapses acts on nobody, a warned user who logged in meanwhile is cleared, and a run after
/// the notice acts on exactly the warned users still stale. Dry runs write no ledger; the EMF line of every run
/// carries its numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_warns_first_then_acts_only_on_warned_users_still_stale_after_the_notice() {
    let world = World::new().await;
    let sim = sim(1_500).await;
    let (topic, queue) = world.topic_with_queue("stale-notice").await;
    let warned_now = to_demote(&sim);
    assert!(warned_now.len() > 50, "{}", warned_now.len());
    let notice: Env = [("NOTICE_DAYS", "14"), ("NOTIFY_TOPIC_ARN", topic.as_str())]
        .into_iter()
        .chain(LIVE_DEMOTE)
        .collect();
    let mut at_now = function(&world, &sim, Family::Fusion, "sisense/notice", &notice).await;

    let dry = invoke(&mut at_now, json!({"dryRun": true})).await;
    assert_eq!(dry["warned"], warned_now.len(), "{dry}");
    assert_eq!(
        (dry["acted"].as_u64(), dry["stale"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        with_status(&world.report(&dry).await, "would_warn"),
        warned_now
    );
    assert!(
        world.keys("reports/deactivations/notice/").await.is_empty(),
        "a dry run writes no ledger"
    );
    assert!(
        world.received(&queue).await.is_empty(),
        "a dry run notifies nobody"
    );

    let first = invoke(&mut at_now, json!({})).await;
    assert_eq!(first["warned"], warned_now.len(), "{first}");
    assert_eq!(
        (first["acted"].as_u64(), first["notified"].as_bool()),
        (Some(0), Some(true))
    );
    assert!(sim.writes().is_empty(), "warning writes nothing to Sisense");
    assert_eq!(
        with_status(&world.report(&first).await, "warned"),
        warned_now
    );
    let warned: BTreeSet<String> = ledger(&world).await.into_keys().collect();
    assert_eq!(warned, warned_now);
    let messages = world.received(&queue).await;
    assert_eq!(messages.len(), 1, "one message per run: {messages:?}");
    let text = messages[0]["Message"].as_str().unwrap();
    assert!(
        messages[0]["Subject"].as_str().unwrap().contains(&format!(
            "{} inactive user(s) will be demoted on or after 2026-12-06",
            warned_now.len()
        )),
        "{}",
        messages[0]
    );
    let users = by_id(&sim);
    for id in warned_now.iter().take(20) {
        let email = users[id]["email"].as_str().unwrap();
        assert!(
            text.contains(&format!("- {email} (from 2026-12-06)")),
            "{email} is named"
        );
    }
    let metrics = e2e_tests::world::emf_lines(&at_now.logs());
    let last = metrics.last().expect("an EMF line per run");
    assert_eq!(
        (last["warned"].as_f64(), last["acted"].as_f64()),
        (Some(warned_now.len() as f64), Some(0.0))
    );
    assert_eq!(
        (last["function"].as_str(), last["family"].as_str()),
        (Some("deactivate-stale-users"), Some("fusion"))
    );

    // One warned user logs in before the notice elapses.
    let returning = warned_now.iter().next().unwrap().clone();
    let mut user = users[&returning].clone();
    user["lastLogin"] = json!("2026-11-27T09:00:00.000Z");
    sim.put_user(user);
    let week = "2026-11-29T06:00:00Z";
    let mut at_week = function(
        &world,
        &sim,
        Family::Fusion,
        "sisense/notice-week",
        &[notice.clone(), vec![("CLOCK_FIXED_AT", week)]].concat(),
    )
    .await;
    let waiting = invoke(&mut at_week, json!({})).await;
    assert_eq!(waiting["acted"], 0, "{waiting}");
    assert!(
        sim.writes().is_empty(),
        "nobody is acted on before the notice elapses"
    );
    assert_eq!(waiting["cleared"], 1, "{waiting}");
    assert_eq!(waiting["awaitingNotice"], warned_now.len() - 1, "{waiting}");
    let rows = world.report(&waiting).await;
    assert_eq!(
        with_status(&rows, "cleared"),
        BTreeSet::from([returning.clone()])
    );
    assert!(
        !ledger(&world).await.contains_key(&returning),
        "cleared from the ledger"
    );
    let warned_at_week = with_status(&rows, "warned");
    assert!(warned_at_week.is_disjoint(&warned_now));

    // After the notice: exactly the users warned at the first run and still stale are acted on; those warned a
    // week later wait for their own notice.
    let later = now() + Duration::days(15);
    let expected: BTreeSet<String> = warned_now
        .iter()
        .filter(|id| **id != returning)
        .cloned()
        .collect();
    let mut at_later = function(
        &world,
        &sim,
        Family::Fusion,
        "sisense/notice-later",
        &[
            notice.clone(),
            vec![("CLOCK_FIXED_AT", &later.to_rfc3339())],
        ]
        .concat(),
    )
    .await;
    let acted = invoke(&mut at_later, json!({})).await;
    assert_eq!(acted["acted"], expected.len(), "{acted}");
    let rows = world.report(&acted).await;
    assert_eq!(with_status(&rows, "demoted"), expected);
    assert!(with_status(&rows, "awaiting_notice").is_superset(&warned_at_week));
    let patched: BTreeSet<String> = sim
        .writes()
        .iter()
        .filter(|w| w.method == "PATCH")
        .map(|w| w.path.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        patched, expected,
        "one write per warned user still stale, no other"
    );
    let after = ledger(&world).await;
    assert!(
        expected.iter().all(|id| !after.contains_key(id)),
        "acted users leave the ledger"
    );
    assert!(warned_at_week.iter().all(|id| after.contains_key(id)));
    let last = e2e_tests::world::emf_lines(&at_later.logs()).pop().unwrap();
    assert_eq!(last["acted"].as_f64(), Some(expected.len() as f64));
}
