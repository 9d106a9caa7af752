//! Offboarding that destroys nothing: dashboard owners protected or their dashboards handed over before a
//! delete, sessions revoked after each action, and a restore that undoes a live run from its report. Against the
//! simulator over HTTP (which deletes a user's dashboards with the user, as Sisense does).

mod common;

use common::{by_id, ids_with, report};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use lifecycle::restore::{RestoreOptions, RestoreSummary, restore_users};
use lifecycle::stale::{Action, StaleOptions, StaleSummary, Thresholds, deactivate_stale_users};
use lifecycle::{FixedClock, JobError, MemoryStore, ObjectStore};
use serde_json::Value;
use sisense_sim::{Faults, Simulator, StaleRule};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
}

fn later() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

async fn sim(users: usize) -> Simulator {
    common::sim_at(users, now(), Faults::default()).await
}

fn live(sim: &Simulator, action: Action) -> StaleOptions {
    StaleOptions {
        action,
        dry_run: false,
        max_actions: 100_000,
        max_action_percent: 100,
        service_account: Some(sim.username().into()),
        thresholds: Thresholds::new(90, Some(30)),
        ..StaleOptions::default()
    }
}

/// Stale users the action may touch (activated, and for delete the invitations), by the simulator's oracle.
fn stale(sim: &Simulator, options: &StaleOptions) -> BTreeSet<String> {
    let sets = sim.stale_sets(&StaleRule {
        now: now(),
        inactive_days: 90,
        grace_days: 30,
        roles: options.protected_roles.clone(),
        users: options.all_protected_users(),
        groups: vec![],
    });
    let mut act = sets.act;
    if options.action == Action::Delete {
        act.extend(sets.pending);
    }
    act
}

async fn run(sim: &Simulator, store: &MemoryStore, options: &StaleOptions) -> StaleSummary {
    deactivate_stale_users(&common::client(sim), store, &FixedClock(now()), options)
        .await
        .unwrap()
}

/// Restores from the report `options` names, as of [`later`].
async fn restore_from(
    sim: &Simulator,
    store: &MemoryStore,
    options: &RestoreOptions,
) -> Result<RestoreSummary, JobError> {
    restore_users(&common::client(sim), store, &FixedClock(later()), options).await
}

/// A consumer seen in the last 10 days, to receive dashboards.
fn custodian(sim: &Simulator) -> Value {
    sim.recently_seen("consumer", 10)
        .expect("a recent consumer")
}

#[tokio::test]
async fn delete_without_a_target_leaves_every_owner_and_every_dashboard() {
    let sim = sim(600).await;
    let options = live(&sim, Action::Delete);
    let owners = sim.dashboards_by_owner();
    let candidates = stale(&sim, &options);
    let stale_owners: BTreeSet<String> = candidates
        .iter()
        .filter(|id| owners.contains_key(*id))
        .cloned()
        .collect();
    assert!(stale_owners.len() >= 10, "{}", stale_owners.len());
    let dashboards = sim.dashboards().len();

    // The dry run shows who owns what.
    let store = MemoryStore::default();
    let dry = run(
        &sim,
        &store,
        &StaleOptions {
            dry_run: true,
            ..options.clone()
        },
    )
    .await;
    assert_eq!(dry.dashboards, Some(dashboards as u64));
    let rows = report(&store, &dry.report_key);
    for row in &rows {
        let owned = owners.get(&row["user_id"]).map_or(0, Vec::len);
        assert_eq!(row["dashboards_owned"], owned.to_string(), "{row:?}");
    }
    assert_eq!(ids_with(&rows, "protected_owner"), stale_owners);

    let summary = run(&sim, &store, &options).await;
    assert_eq!(summary.protected_owners as usize, stale_owners.len());
    assert_eq!(
        summary.acted as usize,
        candidates.len() - stale_owners.len()
    );
    let rows = report(&store, &summary.report_key);
    assert_eq!(ids_with(&rows, "protected_owner"), stale_owners);
    let row = rows
        .iter()
        .find(|r| r["status"] == "protected_owner")
        .unwrap();
    assert!(row["message"].contains("owns") && row["message"].contains("transferDashboardsTo"));
    let remaining: BTreeSet<String> = sim
        .users()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    assert!(stale_owners.is_subset(&remaining), "no owner deleted");
    assert_eq!(sim.dashboards().len(), dashboards, "no dashboard lost");
    assert_eq!(sim.dashboards_by_owner(), owners);
}

#[tokio::test]
async fn an_unknown_transfer_target_is_refused_before_anything_is_written() {
    let sim = sim(200).await;
    let store = MemoryStore::default();
    let options = StaleOptions {
        transfer_dashboards_to: Some("nobody@example.com".into()),
        ..live(&sim, Action::Delete)
    };
    let err = deactivate_stale_users(&common::client(&sim), &store, &FixedClock(now()), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::Config(_)), "{err}");
    assert!(err.to_string().contains("nobody@example.com"), "{err}");
    assert!(sim.writes().is_empty());
    assert!(
        store
            .objects()
            .keys()
            .all(|k| k.ends_with("/.live-run.json")),
        "no report either, only the released live-run lock: {:?}",
        store.objects().keys()
    );
    let typo = StaleOptions {
        transfer_dashboards_to: Some("not-an-email".into()),
        ..live(&sim, Action::Delete)
    };
    assert!(
        typo.validate()
            .unwrap_err()
            .to_string()
            .contains("transferDashboardsTo")
    );
}

#[tokio::test]
async fn delete_with_a_target_moves_every_dashboard_first_and_a_restore_brings_everyone_back() {
    let sim = sim(600).await;
    let target = custodian(&sim);
    let target_id = target["_id"].as_str().unwrap().to_string();
    let options = StaleOptions {
        transfer_dashboards_to: Some(target["email"].as_str().unwrap().to_uppercase()),
        ..live(&sim, Action::Delete)
    };
    let before = by_id(&sim);
    let owners = sim.dashboards_by_owner();
    let candidates = stale(&sim, &options);
    let moved: BTreeSet<String> = candidates
        .iter()
        .filter_map(|id| owners.get(id))
        .flatten()
        .cloned()
        .collect();
    assert!(moved.len() >= 10);
    let dashboards = sim.dashboards().len();

    let store = MemoryStore::default();
    let summary = run(&sim, &store, &options).await;
    assert_eq!(summary.acted as usize, candidates.len(), "{summary:?}");
    assert_eq!(summary.dashboards_transferred as usize, moved.len());
    assert_eq!((summary.failed, summary.not_applied), (0, 0));
    assert_eq!(sim.dashboards().len(), dashboards, "no dashboard lost");
    let by_owner = sim.dashboards_by_owner();
    assert!(moved.iter().all(|d| by_owner[&target_id].contains(d)));
    assert!(
        candidates
            .iter()
            .all(|id| sim.users().iter().all(|u| u["_id"] != id.as_str()))
    );
    let rows = report(&store, &summary.report_key);
    for row in rows.iter().filter(|r| r["status"] == "deleted") {
        let owned = owners.get(&row["user_id"]).cloned().unwrap_or_default();
        assert_eq!(row["dashboards_moved"], owned.join(";"));
        let snapshot: Value =
            serde_json::from_slice(&store.get(&row["snapshot_key"]).await.unwrap().unwrap())
                .unwrap();
        assert_eq!(
            snapshot["dashboardsMoved"].as_array().unwrap().len(),
            owned.len()
        );
        assert_eq!(row["sessions"], "revoked");
    }

    // Restore: dry run first, then live.
    let restore = RestoreOptions {
        report_key: summary.report_key.clone(),
        max_actions: 100_000,
        max_action_percent: 100,
        ..RestoreOptions::default()
    };
    sim.clear_requests();
    let dry = restore_from(&sim, &store, &restore).await.unwrap();
    assert_eq!(dry.to_restore as usize, candidates.len());
    assert!(sim.writes().is_empty(), "a dry restore writes nothing");
    assert!(
        dry.report_key
            .starts_with("reports/restores/dt=2026-11-23/"),
        "{}",
        dry.report_key
    );

    let live = RestoreOptions {
        dry_run: false,
        ..restore.clone()
    };
    let done = restore_from(&sim, &store, &live).await.unwrap();
    assert_eq!(done.restored as usize, candidates.len(), "{done:?}");
    assert_eq!(done.dashboards_returned as usize, moved.len());
    assert_eq!(sim.dashboards().len(), dashboards);
    let by_owner = sim.dashboards_by_owner();
    let names = sim.group_names();
    for id in &candidates {
        let old = &before[id];
        let back = sim
            .user_by_email(old["email"].as_str().unwrap())
            .expect("re-created");
        for key in ["userName", "firstName", "lastName", "roleId"] {
            assert_eq!(back[key], old[key], "{id} {key}");
        }
        let groups = |u: &Value| -> BTreeSet<String> {
            u["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(groups(&back), groups(old), "{id}: {names:?}");
        let new_id = back["_id"].as_str().unwrap();
        assert_eq!(
            by_owner.get(new_id).cloned().unwrap_or_default(),
            owners.get(id).cloned().unwrap_or_default(),
            "{id} has its dashboards back"
        );
    }

    sim.clear_requests();
    let again = restore_from(&sim, &store, &live).await.unwrap();
    assert_eq!(
        (
            again.restored,
            again.to_restore,
            again.already_restored as usize
        ),
        (0, 0, candidates.len())
    );
    assert!(sim.writes().is_empty(), "a second restore changes nothing");
    let rows = report(&store, &again.report_key);
    assert_eq!(ids_with(&rows, "already_restored"), candidates);
}

#[tokio::test]
async fn a_transfer_the_server_ignores_deletes_nobody_who_owns_dashboards() {
    let sim = sim(400).await;
    let target = custodian(&sim);
    let options = StaleOptions {
        transfer_dashboards_to: Some(target["email"].as_str().unwrap().into()),
        ..live(&sim, Action::Delete)
    };
    let owners = sim.dashboards_by_owner();
    let stale_owners: BTreeSet<String> = stale(&sim, &options)
        .into_iter()
        .filter(|id| owners.contains_key(id))
        .collect();
    let dashboards = sim.dashboards().len();
    sim.set_faults(Faults {
        ignore_change_owner: true,
        ..Faults::default()
    });
    let store = MemoryStore::default();
    let summary = run(&sim, &store, &options).await;
    let rows = report(&store, &summary.report_key);
    assert_eq!(ids_with(&rows, "not_applied"), stale_owners);
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "not_applied")
            .all(|r| r["message"].contains("still belongs to")
                && r["message"].contains("not deleted"))
    );
    assert_eq!(sim.dashboards().len(), dashboards);
    assert_eq!(sim.dashboards_by_owner(), owners);
}

#[tokio::test]
async fn demote_revokes_sessions_and_a_restore_gives_role_and_groups_back() {
    let sim = sim(800).await;
    let options = live(&sim, Action::Demote);
    let before = by_id(&sim);
    let store = MemoryStore::default();
    let summary = run(&sim, &store, &options).await;
    assert!(summary.acted > 50, "{summary:?}");
    assert_eq!(summary.sessions_revoked, summary.acted);
    let rows = report(&store, &summary.report_key);
    let demoted = ids_with(&rows, "demoted");
    let revoked: BTreeSet<String> = sim.revoked().into_iter().collect();
    assert_eq!(revoked, demoted, "exactly the demoted users' tokens");
    assert!(demoted.iter().all(|id| sim.sessions(id) == 0));
    let logouts = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/admin/logout"))
        .count();
    assert_eq!(logouts, demoted.len().div_ceil(100), "batched");
    let requests = sim.requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with("/api/v1/users/")),
        "no per-user read-back"
    );
    let read_backs = requests
        .iter()
        .filter(|r| r.query.as_deref().is_some_and(|q| q.contains("ids=")))
        .count();
    assert_eq!(
        read_backs,
        demoted.len().div_ceil(100),
        "one listing per 100 users"
    );
    for row in rows.iter().filter(|r| r["status"] == "demoted") {
        assert!(!row["previous_role"].is_empty());
        assert!(!row["snapshot_key"].is_empty());
    }

    let restore = RestoreOptions {
        report_key: summary.report_key.clone(),
        dry_run: false,
        max_actions: 100_000,
        max_action_percent: 100,
        ..RestoreOptions::default()
    };
    let done = restore_from(&sim, &store, &restore).await.unwrap();
    assert_eq!(done.restored as usize, demoted.len(), "{done:?}");
    for id in &demoted {
        let now = sim
            .users()
            .into_iter()
            .find(|u| u["_id"] == id.as_str())
            .unwrap();
        assert_eq!(now["roleId"], before[id]["roleId"]);
        assert_eq!(
            now["groups"], before[id]["groups"],
            "{id}: same group ids, duplicates by name too"
        );
    }

    // The caps apply to restores too.
    let capped = RestoreOptions {
        max_actions: 3,
        ..restore.clone()
    };
    let again = run(&sim, &store, &options).await;
    sim.clear_requests();
    let refused = restore_from(
        &sim,
        &store,
        &RestoreOptions {
            report_key: again.report_key.clone(),
            ..capped
        },
    )
    .await
    .unwrap();
    assert!(refused.aborted && refused.restored == 0, "{refused:?}");
    assert!(sim.writes().is_empty());
}

#[tokio::test]
async fn revocation_failures_are_reported_and_the_actions_stand() {
    let sim = sim(300).await;
    sim.set_faults(Faults {
        logout_status: Some(403),
        ..Faults::default()
    });
    let store = MemoryStore::default();
    let summary = run(&sim, &store, &live(&sim, Action::Demote)).await;
    assert!(summary.acted > 10);
    assert_eq!(
        (summary.revocations_failed, summary.sessions_revoked),
        (summary.acted, 0)
    );
    assert_eq!(summary.failed, 0, "the demotions are done");
    let rows = report(&store, &summary.report_key);
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "demoted")
            .all(|r| r["sessions"].starts_with("not revoked"))
    );

    let off = run(
        &sim,
        &store,
        &StaleOptions {
            revoke_sessions: false,
            ..live(&sim, Action::Demote)
        },
    )
    .await;
    assert_eq!(off.acted, 0, "already demoted");
}

#[tokio::test]
async fn a_deactivate_run_is_restored_where_sisense_applied_it() {
    let sim = common::sim_release(400, now(), Faults::default(), sisense_sim::Release::Newer).await;
    let store = MemoryStore::default();
    let summary = run(&sim, &store, &live(&sim, Action::Deactivate)).await;
    assert!(summary.acted > 10, "{summary:?}");
    let rows = report(&store, &summary.report_key);
    let deactivated = ids_with(&rows, "deactivated");
    let restore = RestoreOptions {
        report_key: summary.report_key.clone(),
        dry_run: false,
        force: true,
        ..RestoreOptions::default()
    };
    let done = restore_from(&sim, &store, &restore).await.unwrap();
    assert_eq!(done.restored as usize, deactivated.len(), "{done:?}");
    let users = sim.users();
    for id in &deactivated {
        let user = users.iter().find(|u| u["_id"] == id.as_str()).unwrap();
        assert_eq!(user["active"], true, "{id} is active again");
    }
}

#[tokio::test]
async fn a_restore_reports_what_it_cannot_read_and_refuses_what_is_not_a_report() {
    let sim = sim(100).await;
    let store = MemoryStore::default();
    let key = "reports/deactivations/dt=2026-11-22/run-x.csv";
    let user = sim.users()[5]["_id"].as_str().unwrap().to_string();
    let header = lifecycle::stale::HEADER.join(",");
    let csv = format!(
        "{header}\n{user},a@example.com,consumer,,,,100,0,demote,demoted,,Designer,Sales,reports/deactivations/snapshots/run-x/gone.json,,revoked\n"
    );
    store.put(key, csv.into_bytes(), "text/csv").await.unwrap();
    let options = RestoreOptions {
        report_key: key.into(),
        dry_run: false,
        ..RestoreOptions::default()
    };
    let done = restore_from(&sim, &store, &options).await.unwrap();
    assert_eq!((done.candidates, done.failed), (1, 1));
    let rows = report(&store, &done.report_key);
    assert!(rows[0]["message"].contains("is missing"), "{:?}", rows[0]);
    assert!(sim.writes().is_empty());

    let export = "exports/users/dt=2026-11-22/users.csv";
    store
        .put(export, b"user_id,email\nu1,a@x.io\n".to_vec(), "text/csv")
        .await
        .unwrap();
    for (key, expected) in [
        (export, "not a deactivate-stale-users report key"),
        (
            "reports/deactivations/dt=2026-11-22/none.csv",
            "does not exist",
        ),
    ] {
        let err = restore_from(
            &sim,
            &store,
            &RestoreOptions {
                report_key: key.into(),
                ..RestoreOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let wrong = "reports/deactivations/dt=2026-11-22/other.csv";
    store
        .put(wrong, b"user_id,email\nu1,a@x.io\n".to_vec(), "text/csv")
        .await
        .unwrap();
    let err = restore_from(
        &sim,
        &store,
        &RestoreOptions {
            report_key: wrong.into(),
            ..RestoreOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("not a deactivate-stale-users report this version"),
        "{err}"
    );
}

#[tokio::test]
async fn a_transfer_cut_off_midway_deletes_nobody_half_moved_and_a_restore_hands_everything_back() {
    let sim = sim(400).await;
    let target = custodian(&sim);
    let options = StaleOptions {
        transfer_dashboards_to: Some(target["email"].as_str().unwrap().into()),
        ..live(&sim, Action::Delete)
    };
    let owners = sim.dashboards_by_owner();
    let emails: BTreeMap<String, String> = sim
        .users()
        .iter()
        .map(|u| {
            (
                u["_id"].as_str().unwrap().to_string(),
                u["email"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let dashboards = sim.dashboards().len();
    // One user at a time, in id order: Sisense refuses transfers from the second dashboard of the first stale
    // owner with two or more on, so that owner is left half moved.
    let options = StaleOptions {
        concurrency: 1,
        ..options
    };
    let stale_owners: Vec<(String, usize)> = stale(&sim, &options)
        .into_iter()
        .filter_map(|id| owners.get(&id).map(|d| (id.clone(), d.len())))
        .collect();
    let at = stale_owners.iter().position(|(_, n)| *n >= 2).unwrap();
    let before: usize = stale_owners[..at].iter().map(|(_, n)| n).sum();
    let half_moved = stale_owners[at].0.clone();
    sim.set_faults(Faults {
        change_owner_fails_after: Some(before as u64 + 1),
        ..Faults::default()
    });
    let store = MemoryStore::default();
    let summary = run(&sim, &store, &options).await;
    assert_eq!(
        summary.dashboards_transferred as usize,
        before + 1,
        "{summary:?}"
    );
    assert!(summary.failed > 0);
    let rows = report(&store, &summary.report_key);
    let row = rows.iter().find(|r| r["user_id"] == half_moved).unwrap();
    assert_eq!(row["status"], "failed", "{row:?}");
    assert_eq!(row["dashboards_moved"].split(';').count(), 1, "{row:?}");
    assert!(
        row["message"].contains("1 of") && row["message"].contains("not deleted"),
        "{row:?}"
    );
    let remaining: BTreeSet<String> = sim
        .users()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    for row in rows.iter().filter(|r| r["status"] == "failed") {
        assert!(
            remaining.contains(&row["user_id"]),
            "a failed transfer deletes nobody"
        );
        if !row["dashboards_moved"].is_empty() {
            assert!(
                !row["snapshot_key"].is_empty(),
                "moved dashboards are recorded: {row:?}"
            );
        }
    }
    assert_eq!(sim.dashboards().len(), dashboards, "no dashboard lost");

    sim.set_faults(Faults::default());
    let restore = RestoreOptions {
        report_key: summary.report_key.clone(),
        dry_run: false,
        force: true,
        ..RestoreOptions::default()
    };
    let done = restore_from(&sim, &store, &restore).await.unwrap();
    assert_eq!(done.failed, 0, "{done:?}");
    assert_eq!(done.dashboards_returned as usize, before + 1);
    let now_owned = sim.dashboards_by_owner();
    for (owner, ids) in &owners {
        let user = sim
            .user_by_email(&emails[owner])
            .expect("every owner exists");
        assert_eq!(
            now_owned.get(user["_id"].as_str().unwrap()),
            Some(ids),
            "{owner} owns its dashboards again"
        );
    }
}
