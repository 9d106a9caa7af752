//! The deactivate-stale-users job against the simulator over HTTP, writing to memory, at a fixed clock.

mod common;

use common::{by_id, ids_with, report};

use chrono::{DateTime, TimeZone, Utc};
use lifecycle::JobError;
use lifecycle::stale::{Action, StaleOptions, StaleSummary, Thresholds, deactivate_stale_users};
use lifecycle::{FixedClock, MemoryStore, ObjectStore};
use serde_json::Value;
use sisense::Directory;
use sisense_sim::{Faults, Release, Simulator, StaleRule};
use std::collections::{BTreeMap, BTreeSet};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
}

async fn sim(users: usize) -> Simulator {
    common::sim_at(users, now(), Faults::default()).await
}

/// A later release whose PATCH applies `active` (the contract's does not).
async fn newer(users: usize) -> Simulator {
    common::sim_release(users, now(), Faults::default(), Release::Newer).await
}

/// Acts for real, caps out of the way, the service account protected as the function does.
fn live(sim: &Simulator, action: Action) -> StaleOptions {
    StaleOptions {
        action,
        dry_run: false,
        max_actions: 100_000,
        max_action_percent: 100,
        protected_users: vec![sim.username().into(), "ann.smith7@example.com".into()],
        protected_groups: vec!["Executives".into()],
        thresholds: Thresholds {
            inactive_days: 90,
            never_logged_in_grace_days: 30,
        },
        ..StaleOptions::default()
    }
}

/// The simulator's oracle for the same rule: the users the action acts on (stale pending invitations too, for
/// delete) and the protected ones.
fn expected(sim: &Simulator, options: &StaleOptions) -> (BTreeSet<String>, BTreeSet<String>) {
    let sets = sim.stale_sets(&StaleRule {
        now: now(),
        inactive_days: options.thresholds.inactive_days.into(),
        grace_days: options.thresholds.never_logged_in_grace_days.into(),
        roles: options.protected_roles.clone(),
        users: options.protected_users.clone(),
        groups: options.protected_groups.clone(),
    });
    let mut act = sets.act;
    if options.action == Action::Delete {
        act.extend(sets.pending);
        if options.transfer_dashboards_to.is_none() {
            let owners = sim.dashboards_by_owner();
            act.retain(|id| !owners.contains_key(id));
        }
    }
    (act, sets.protected)
}

/// One run of the job on `family` against `sim`, at the fixed clock, writing to `store`.
async fn run(
    sim: &Simulator,
    family: &str,
    store: &MemoryStore,
    options: &StaleOptions,
) -> Result<StaleSummary, JobError> {
    deactivate_stale_users(
        &common::client_of(sim, family),
        store,
        &FixedClock(now()),
        options,
    )
    .await
}

/// Stale pending invitations, unprotected.
fn pending(sim: &Simulator, options: &StaleOptions) -> BTreeSet<String> {
    sim.stale_sets(&StaleRule {
        now: now(),
        inactive_days: options.thresholds.inactive_days.into(),
        grace_days: options.thresholds.never_logged_in_grace_days.into(),
        roles: options.protected_roles.clone(),
        users: options.protected_users.clone(),
        groups: options.protected_groups.clone(),
    })
    .pending
}

/// Runs each scenario on Fusion and on legacy, whose users the job can judge by last login too (the behaviour
/// moved here from the end-to-end tests, which run these scenarios through the binary on Fusion only).
macro_rules! on_fusion_and_legacy {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn fusion_and_legacy() {
                for family in ["fusion", "legacy"] {
                    super::$name(family).await;
                }
            }
        }
    )+};
}

on_fusion_and_legacy!(
    deactivate_acts_on_exactly_the_stale_unprotected_users_and_a_rerun_on_nobody,
    dry_run_is_the_default_and_sends_no_write,
    caps_abort_with_nothing_changed_and_force_passes_them_once,
    a_server_ignoring_the_change_is_not_applied_never_success,
    deactivate_on_the_contract_release_probes_once_and_stops,
);

async fn deactivate_acts_on_exactly_the_stale_unprotected_users_and_a_rerun_on_nobody(
    family: &str,
) {
    let sim = newer(2_000).await;
    let options = live(&sim, Action::Deactivate);
    let (stale, protected) = expected(&sim, &options);
    let invitations = pending(&sim, &options);
    assert!(
        stale.len() > 300 && protected.len() > 20,
        "a real mix: {} stale, {} protected",
        stale.len(),
        protected.len()
    );
    let before = by_id(&sim);
    let store = MemoryStore::default();
    let summary = run(&sim, family, &store, &options).await.unwrap();
    assert_eq!(summary.scanned, 2_000);
    assert_eq!(summary.stale as usize, stale.len());
    assert_eq!(summary.protected as usize, protected.len());
    assert_eq!(summary.acted as usize, stale.len());
    assert_eq!(
        (summary.failed, summary.not_applied, summary.aborted),
        (0, 0, false)
    );
    assert_eq!(
        summary.report_key,
        "reports/deactivations/dt=2026-11-22/run-20261122T060000Z.csv"
    );

    let after = by_id(&sim);
    for (id, user) in &after {
        if stale.contains(id) {
            assert_eq!(user["active"], false, "{id} deactivated");
        } else {
            assert_eq!(user, &before[id], "{id} untouched");
        }
    }
    let rows = report(&store, &summary.report_key);
    assert_eq!(ids_with(&rows, "deactivated"), stale);
    assert_eq!(ids_with(&rows, "protected"), protected);
    assert!(!invitations.is_empty());
    assert_eq!(
        ids_with(&rows, "pending_invitation"),
        invitations,
        "stale invitations are reported, never 'already deactivated', and left alone"
    );
    assert_eq!(
        rows.len(),
        stale.len() + protected.len() + invitations.len()
    );
    let one = rows.iter().find(|r| r["status"] == "deactivated").unwrap();
    assert!(one["days_inactive"].parse::<i64>().unwrap() > 30);
    let summary_json: Value =
        serde_json::from_slice(&store.objects()[&summary.summary_key]).unwrap();
    assert_eq!(summary_json["acted"], stale.len());
    assert_eq!(summary_json["dryRun"], false);

    sim.clear_requests();
    let again = run(&sim, family, &store, &options).await.unwrap();
    assert_eq!(
        (again.stale, again.acted),
        (0, 0),
        "a rerun acts on nobody new"
    );
    assert!(sim.writes().is_empty());
}

#[tokio::test]
async fn demote_sets_viewer_and_clears_groups_and_skips_those_already_demoted() {
    let sim = sim(1_500).await;
    let options = live(&sim, Action::Demote);
    let (candidates, _) = expected(&sim, &options);
    let consumer = common::role_id(&sim, "consumer");
    let before = by_id(&sim);
    let already: BTreeSet<String> = candidates
        .iter()
        .filter(|id| {
            before[*id]["roleId"] == consumer && before[*id]["groups"] == serde_json::json!([])
        })
        .cloned()
        .collect();
    assert!(
        !already.is_empty(),
        "the population has stale viewers without groups"
    );
    let store = MemoryStore::default();
    let summary = run(&sim, "fusion", &store, &options).await.unwrap();
    assert_eq!(summary.already_done as usize, already.len());
    assert_eq!(summary.acted as usize, candidates.len() - already.len());
    for (id, user) in by_id(&sim) {
        if candidates.contains(&id) {
            assert_eq!(user["roleId"], consumer, "{id}");
            assert_eq!(user["groups"], serde_json::json!([]), "{id}");
            assert_eq!(
                user["active"], before[&id]["active"],
                "demote keeps the user active"
            );
        } else {
            assert_eq!(user, before[&id], "{id} untouched");
        }
    }
    let patched: BTreeSet<String> = sim
        .writes()
        .iter()
        .map(|r| r.path.trim_start_matches("/api/v1/users/").to_string())
        .collect();
    assert!(
        patched.is_disjoint(&already),
        "no write for users already demoted"
    );
}

#[tokio::test]
async fn delete_snapshots_each_user_first_and_refuses_to_delete_without_a_snapshot() {
    let sim = sim(800).await;
    let options = live(&sim, Action::Delete);
    let (stale, _) = expected(&sim, &options);
    let before = by_id(&sim);
    let everyone = sim
        .groups()
        .into_iter()
        .find(|g| g["name"] == "Everyone")
        .unwrap()["_id"]
        .clone();
    let store = MemoryStore::default();
    let summary = run(&sim, "fusion", &store, &options).await.unwrap();
    assert_eq!(summary.acted as usize, stale.len());
    let after = by_id(&sim);
    assert_eq!(after.len(), 800 - stale.len());
    assert!(stale.iter().all(|id| !after.contains_key(id)));
    let objects = store.objects();
    for id in &stale {
        let snapshot: Value = serde_json::from_slice(
            &objects[&format!("reports/deactivations/snapshots/run-20261122T060000Z/{id}.json")],
        )
        .unwrap();
        let mut user = snapshot["user"].clone();
        let groups = user["groups"].as_array_mut().unwrap();
        assert_eq!(groups.first(), Some(&everyone), "the API lists Everyone");
        groups.remove(0);
        assert_eq!(
            user, before[id],
            "the snapshot is the user as Sisense had it"
        );
        assert!(snapshot["roleName"].as_str().is_some_and(|r| !r.is_empty()));
    }

    // Snapshots cannot be written: nobody is deleted, every row says why.
    let sim = self::sim(300).await;
    let options = live(&sim, Action::Delete);
    let (stale, _) = expected(&sim, &options);
    let store = MemoryStore::refusing_puts_under("reports/deactivations/snapshots/");
    let summary = run(&sim, "fusion", &store, &options).await.unwrap();
    assert_eq!((summary.acted, summary.failed as usize), (0, stale.len()));
    assert!(sim.writes().is_empty(), "no DELETE without a snapshot");
    let rows = report(&store, &summary.report_key);
    let failed: Vec<_> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), stale.len());
    assert!(
        failed[0]["message"].contains("snapshot not written"),
        "{:?}",
        failed[0]
    );
}

async fn dry_run_is_the_default_and_sends_no_write(family: &str) {
    let sim = sim(1_000).await;
    let options = StaleOptions {
        max_actions: 100_000,
        max_action_percent: 100,
        ..StaleOptions::default()
    };
    assert!(options.dry_run);
    let store = MemoryStore::default();
    let summary = run(&sim, family, &store, &options).await.unwrap();
    assert!(summary.dry_run && summary.stale > 50);
    assert_eq!(summary.acted, 0);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let rows = report(&store, &summary.report_key);
    assert_eq!(
        summary.action,
        Action::Demote,
        "demote is the default action"
    );
    assert_eq!(ids_with(&rows, "would_demote").len() as u64, summary.stale);
}

async fn caps_abort_with_nothing_changed_and_force_passes_them_once(family: &str) {
    let sim = newer(1_000).await;
    let mut options = live(&sim, Action::Deactivate);
    options.max_actions = 50;
    options.max_action_percent = 10;
    let store = MemoryStore::default();
    let summary = run(&sim, family, &store, &options).await.unwrap();
    assert!(summary.aborted, "{summary:?}");
    assert_eq!(summary.cap, 50.min(summary.active / 10));
    assert!(summary.stale > summary.cap);
    assert_eq!(summary.acted, 0);
    assert!(sim.writes().is_empty());
    let rows = report(&store, &summary.report_key);
    let aborted = ids_with(&rows, "aborted_over_threshold");
    assert_eq!(aborted.len() as u64, summary.stale);
    assert!(
        rows.iter()
            .any(|r| r["message"].contains("exceeds the cap of"))
    );

    options.force = true;
    let forced = run(&sim, family, &store, &options).await.unwrap();
    assert!(!forced.aborted && forced.forced);
    assert_eq!(forced.acted, summary.stale);
}

async fn a_server_ignoring_the_change_is_not_applied_never_success(family: &str) {
    let sim = sim(400).await;
    sim.set_faults(Faults {
        ignore_writes: true,
        ..Faults::default()
    });
    let options = live(&sim, Action::Demote);
    let (stale, _) = expected(&sim, &options);
    let store = MemoryStore::default();
    let summary = run(&sim, family, &store, &options).await.unwrap();
    assert!(summary.not_applied > 0);
    assert_eq!(summary.acted, 0);
    let rows = report(&store, &summary.report_key);
    assert!(ids_with(&rows, "not_applied").is_subset(&stale));
    assert!(rows.iter().all(|r| r["status"] != "demoted"));
}

async fn deactivate_on_the_contract_release_probes_once_and_stops(family: &str) {
    let sim = sim(600).await;
    let options = live(&sim, Action::Deactivate);
    let (stale, _) = expected(&sim, &options);
    let before = by_id(&sim);
    let store = MemoryStore::default();
    let err = run(&sim, family, &store, &options).await.unwrap_err();
    let JobError::DeactivationUnsupported {
        not_attempted,
        ref report,
        ..
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!(not_attempted as usize, stale.len() - 1);
    assert!(err.is_refusal());
    let message = err.to_string();
    assert!(
        message.contains("`demote`") && message.contains("`delete`"),
        "{message}"
    );
    let patches: Vec<_> = sim.writes();
    assert_eq!(
        patches.len(),
        1,
        "one probe PATCH, nothing else: {patches:?}"
    );
    let active = |users: &BTreeMap<String, Value>| {
        users
            .iter()
            .map(|(id, u)| (id.clone(), u["active"].clone()))
            .collect::<Vec<_>>()
    };
    assert!(
        active(&by_id(&sim)) == active(&before),
        "nobody deactivated"
    );
    let key = report.split_once('/').unwrap().1;
    let rows = self::report(&store, key);
    assert_eq!(ids_with(&rows, "not_applied").len(), 1);
    assert_eq!(ids_with(&rows, "not_attempted").len(), stale.len() - 1);
    let summary: Value =
        serde_json::from_slice(&store.objects()[&key.replace(".csv", ".summary.json")]).unwrap();
    assert_eq!(summary["notAttempted"], stale.len() - 1);
}

#[tokio::test]
async fn demote_leaves_pending_invitations_alone_and_delete_removes_the_stale_ones() {
    let sim = sim(800).await;
    let demote = live(&sim, Action::Demote);
    let invitations = pending(&sim, &demote);
    assert!(invitations.len() > 10, "{}", invitations.len());
    let before = by_id(&sim);
    let store = MemoryStore::default();
    let summary = run(&sim, "fusion", &store, &demote).await.unwrap();
    let rows = report(&store, &summary.report_key);
    assert_eq!(ids_with(&rows, "pending_invitation"), invitations);
    let after = by_id(&sim);
    for id in &invitations {
        assert_eq!(after[id], before[id], "{id}: an invitation is not demoted");
    }
    let all_pending = before.values().filter(|u| u["active"] == false).count();
    assert_eq!(summary.pending_invitations as usize, all_pending);

    let delete = live(&sim, Action::Delete);
    let summary = run(&sim, "fusion", &store, &delete).await.unwrap();
    let rows = report(&store, &summary.report_key);
    assert!(invitations.is_subset(&ids_with(&rows, "deleted")));
    let after = by_id(&sim);
    assert!(invitations.iter().all(|id| !after.contains_key(id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_the_end_state_equals_a_clean_run() {
    let (clean, faulty) = (newer(1_200).await, newer(1_200).await);
    let options = live(&clean, Action::Deactivate);
    run(&clean, "fusion", &MemoryStore::default(), &options)
        .await
        .unwrap();
    faulty.set_faults(Faults {
        rate_429: 0.15,
        rate_5xx: 0.10,
        token_expiry_after: Some(40),
        ..Faults::default()
    });
    let summary = run(&faulty, "fusion", &MemoryStore::default(), &options)
        .await
        .unwrap();
    assert_eq!((summary.failed, summary.not_applied), (0, 0));
    assert!(
        faulty
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count()
            > 20
    );
    assert_eq!(
        by_id(&faulty),
        by_id(&clean),
        "same end state as the clean run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_off_midway_is_finished_by_the_next_without_acting_twice() {
    let sim = newer(1_500).await;
    let options = live(&sim, Action::Deactivate);
    let (stale, _) = expected(&sim, &options);
    let client = common::client(&sim);
    // After 60 writes, Sisense refuses every token: the run halts instead of hammering.
    let watcher = async {
        while sim.writes().len() < 60 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        sim.set_faults(Faults {
            reject_all_tokens: true,
            ..Faults::default()
        });
    };
    let store = MemoryStore::default();
    let clock = FixedClock(now());
    let (first, ()) = tokio::join!(
        deactivate_stale_users(&client, &store, &clock, &options),
        watcher
    );
    let first = first.unwrap();
    assert!(first.failed > 0, "{first:?}");
    assert_eq!(first.acted + first.failed + first.not_applied, first.stale);
    let rows = report(&store, &first.report_key);
    // Writes are read back in batches: those written before the cut-off whose batch could not be read back
    // are `failed` ("written but not verified"), and the next run finds them done.
    let written_before = rows
        .iter()
        .filter(|r| r["message"].starts_with("written but not verified"))
        .count() as u64;
    assert!(first.acted + written_before >= 55, "{first:?}");
    assert!(
        rows.iter()
            .any(|r| r["message"].starts_with("not attempted"))
    );

    sim.set_faults(Faults::default());
    let second = deactivate_stale_users(&client, &store, &FixedClock(now()), &options)
        .await
        .unwrap();
    // A write that landed just before the cut-off but could not be read back is reported `failed` ("written
    // but not verified"); the next run then finds that user already inactive.
    let unverified = rows
        .iter()
        .filter(|r| r["message"].starts_with("written but not verified"))
        .count() as u64;
    assert_eq!(first.acted + unverified + second.acted, stale.len() as u64);
    let mut applied: BTreeMap<String, usize> = BTreeMap::new();
    for write in sim.writes().iter().filter(|r| r.status == 200) {
        *applied.entry(write.path.clone()).or_default() += 1;
    }
    assert_eq!(applied.len(), stale.len());
    assert!(
        applied.values().all(|n| *n == 1),
        "no user was changed twice"
    );
}

/// A notifier that always fails, as SNS does without permission.
#[derive(Debug)]
struct Unreachable;

#[async_trait::async_trait]
impl lifecycle::Notifier for Unreachable {
    async fn notify(&self, _: &str, _: &str) -> Result<(), lifecycle::NotifyError> {
        Err(lifecycle::NotifyError {
            target: "arn:aws:sns:us-east-1:123456789012:stale".into(),
            message: "AuthorizationError".into(),
        })
    }
}

const LEDGER: &str = "reports/deactivations/notice/ledger.json";

#[tokio::test]
async fn a_notice_that_cannot_be_sent_warns_nobody_and_an_unreadable_ledger_stops_the_run() {
    let sim = sim(400).await;
    let client = common::client(&sim);
    let store = MemoryStore::default();
    let options = StaleOptions {
        notice_days: 7,
        notifier: Some(std::sync::Arc::new(Unreachable)),
        ..live(&sim, Action::Demote)
    };
    let err = deactivate_stale_users(&client, &store, &FixedClock(now()), &options)
        .await
        .expect_err("the notification failed");
    assert!(matches!(err, JobError::Notify(_)), "{err}");
    assert!(err.to_string().contains("nobody was warned"), "{err}");
    assert!(
        !store.objects().contains_key(LEDGER),
        "no ledger without the notice"
    );
    assert!(sim.writes().is_empty());

    // With a working notifier the run warns; a corrupted ledger then stops the next run before any write.
    let sent = std::sync::Arc::new(lifecycle::MemoryNotifier::default());
    let options = StaleOptions {
        notifier: Some(sent.clone()),
        ..options
    };
    let warned = deactivate_stale_users(&client, &store, &FixedClock(now()), &options)
        .await
        .unwrap();
    assert!(warned.warned > 0 && warned.acted == 0, "{warned:?}");
    assert_eq!(sent.sent().len(), 1);
    store
        .put(LEDGER, b"{not json".to_vec(), "application/json")
        .await
        .unwrap();
    let later = FixedClock(now() + chrono::Duration::days(8));
    let err = deactivate_stale_users(&client, &store, &later, &options)
        .await
        .expect_err("an unreadable ledger");
    assert!(matches!(err, JobError::Config(_)), "{err}");
    assert!(err.to_string().contains("notice ledger"), "{err}");
    assert!(
        sim.writes().is_empty(),
        "nothing acted on without knowing who was warned"
    );
}

#[tokio::test]
async fn warned_users_now_protected_done_seen_or_gone_are_cleared_rows_matching_the_count() {
    let sim = sim(400).await;
    let client = common::client(&sim);
    let store = MemoryStore::default();
    let options = StaleOptions {
        notice_days: 7,
        ..live(&sim, Action::Demote)
    };
    let first = deactivate_stale_users(&client, &store, &FixedClock(now()), &options)
        .await
        .unwrap();
    let warned = ids_with(&report(&store, &first.report_key), "warned");
    assert!(warned.len() > 10, "{first:?}");
    let mut warned = warned.into_iter();
    // One logs in, one is now protected by name, one is made a Viewer without groups by hand, one is deleted.
    let users = by_id(&sim);
    let (seen, named, viewer, gone) = (
        warned.next().unwrap(),
        warned.next().unwrap(),
        warned.next().unwrap(),
        warned.next().unwrap(),
    );
    let later = now() + chrono::Duration::days(8);
    let mut u = users[&seen].clone();
    u["lastLogin"] = serde_json::json!(sisense_sim::timestamp(later));
    sim.put_user(u);
    let mut u = users[&viewer].clone();
    u["roleId"] = common::role_id(&sim, "consumer");
    u["groups"] = serde_json::json!([]);
    sim.put_user(u);
    client
        .delete_user(&sisense::UserId::from(gone.clone()))
        .await
        .unwrap();
    let mut options = options;
    options
        .protected_users
        .push(users[&named]["email"].as_str().unwrap().to_string());
    options.dry_run = true;
    let second = deactivate_stale_users(&client, &store, &FixedClock(later), &options)
        .await
        .unwrap();
    let rows = report(&store, &second.report_key);
    let cleared = ids_with(&rows, "cleared");
    assert_eq!(
        cleared.len() as u64,
        second.cleared,
        "every cleared user has a cleared row: {rows:?}"
    );
    for id in [&seen, &named, &viewer, &gone] {
        assert!(cleared.contains(id), "{id} is reported cleared");
    }
    let message =
        |id: &String| rows.iter().find(|r| &r["user_id"] == id).unwrap()["message"].clone();
    assert!(
        message(&named).contains("protected user"),
        "{}",
        message(&named)
    );
    assert!(
        message(&viewer).contains("already done"),
        "{}",
        message(&viewer)
    );
    assert!(
        message(&gone).contains("no longer listed"),
        "{}",
        message(&gone)
    );
    assert!(!ids_with(&rows, "protected").contains(&named));
}

/// Legacy v0.9 cannot list dashboard owners, and Sisense deletes a user's dashboards with the user: `delete` is
/// refused before any write (moved here from the end-to-end tests' legacy run).
#[tokio::test]
async fn delete_is_refused_where_dashboard_owners_cannot_be_listed() {
    let sim = sim(300).await;
    let store = MemoryStore::default();
    let options = live(&sim, Action::Delete);
    let err = deactivate_stale_users(
        &common::client_of(&sim, "legacy"),
        &store,
        &FixedClock(now()),
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, JobError::Config(_)), "{err}");
    assert!(err.to_string().contains("use demote"), "{err}");
    assert!(sim.writes().is_empty());
    assert!(
        store.objects().is_empty(),
        "nothing written, no lock either"
    );
}
