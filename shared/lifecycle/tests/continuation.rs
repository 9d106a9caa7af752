//! A live stale-user run across invocations: a hop that would pass its deadline checkpoints and hands back a
//! continuation; the continuation finishes the frozen plan (caps decided once, settings as planned), every row is
//! reported once, a hop cut off midway is retried from its checkpoint, and a finished run answers again without
//! writing.

mod common;

use common::{by_id, ids_with, report};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use lifecycle::stale::{Action, StaleOptions, StaleSummary, Thresholds, deactivate_stale_users};
use lifecycle::{FixedClock, JobError, MemoryStore, ObjectStore};
use sisense_sim::{Faults, Simulator, StaleRule};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
}

fn live(sim: &Simulator) -> StaleOptions {
    StaleOptions {
        action: Action::Demote,
        dry_run: false,
        max_actions: 100_000,
        max_action_percent: 100,
        protected_users: vec![sim.username().into()],
        thresholds: Thresholds::new(90, None),
        ..StaleOptions::default()
    }
}

/// The users demote acts on, by the simulator's own rule, minus those already Viewers without groups.
fn to_demote(sim: &Simulator, options: &StaleOptions) -> BTreeSet<String> {
    let consumer = common::role_id(sim, "consumer");
    let users = by_id(sim);
    sim.stale_sets(&StaleRule {
        now: now(),
        inactive_days: 90,
        grace_days: 90,
        roles: options.protected_roles.clone(),
        users: options.protected_users.clone(),
        groups: options.protected_groups.clone(),
    })
    .act
    .into_iter()
    .filter(|id| !(users[id]["roleId"] == consumer && users[id]["groups"] == serde_json::json!([])))
    .collect()
}

/// Runs hops until the run is finished, each with `per_hop` applied to the options; returns every hop's summary.
async fn hops(
    sim: &Simulator,
    store: &dyn ObjectStore,
    first: &StaleOptions,
    per_hop: impl Fn(&mut StaleOptions),
) -> Vec<StaleSummary> {
    let client = common::client(sim);
    let mut options = first.clone();
    let mut summaries = Vec::new();
    loop {
        per_hop(&mut options);
        let summary = deactivate_stale_users(&client, store, &FixedClock(now()), &options)
            .await
            .unwrap();
        let next = summary.continuation.clone();
        summaries.push(summary);
        match next {
            None => return summaries,
            Some(c) => options.run_id = Some(c.run_id),
        }
        assert!(summaries.len() < 100, "a run that never ends");
    }
}

/// Whether every user of the report has exactly one row.
fn each_once(rows: &[BTreeMap<String, String>]) -> bool {
    let mut seen = BTreeMap::new();
    for row in rows {
        *seen.entry(row["user_id"].as_str()).or_insert(0) += 1;
    }
    seen.values().all(|&n| n == 1)
}

#[tokio::test]
async fn a_hop_near_its_deadline_hands_back_a_continuation_and_the_run_finishes_with_every_row_once()
 {
    let faults = Faults {
        latency: Duration::from_millis(1),
        ..Faults::default()
    };
    let sim = common::sim_at(3_000, now(), faults).await;
    let options = live(&sim);
    let expected = to_demote(&sim, &options);
    assert!(expected.len() > 300, "{} to demote", expected.len());
    let store = MemoryStore::default();
    // Each hop's deadline is (nearly) now: one segment of 100 runs, then the next would not fit.
    let summaries = hops(&sim, &store, &options, |o| {
        o.deadline = Some(Instant::now() + Duration::from_millis(1));
    })
    .await;
    let last = summaries.last().unwrap();
    assert_eq!(
        summaries.len(),
        expected.len().div_ceil(100),
        "one segment per hop"
    );
    assert_eq!(last.hops as usize, summaries.len());
    for (n, s) in summaries[..summaries.len() - 1].iter().enumerate() {
        assert_eq!(s.hops as usize, n + 1);
        assert_eq!(
            s.acted as usize,
            100 * (n + 1),
            "progress so far in hop {}",
            n + 1
        );
        assert!(s.continuation.is_some());
    }
    assert_eq!(last.acted as usize, expected.len());
    assert_eq!((last.failed, last.not_applied), (0, 0));
    assert_eq!(
        last.stale as usize,
        expected.len(),
        "planned once, on the first hop"
    );

    let rows = report(&store, &last.report_key);
    assert!(each_once(&rows), "every row reported once");
    assert_eq!(ids_with(&rows, "demoted"), expected);
    assert_eq!(
        rows.iter().filter(|r| r["sessions"] == "revoked").count(),
        expected.len()
    );
    let ids: Vec<&String> = rows.iter().map(|r| &r["user_id"]).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by user id");
    let after = by_id(&sim);
    let consumer = common::role_id(&sim, "consumer");
    for id in &expected {
        assert_eq!(after[id]["roleId"], consumer, "{id} demoted");
    }

    // Without a deadline the same kind of run takes one invocation.
    let sim = common::sim_at(1_000, now(), Faults::default()).await;
    let one = hops(&sim, &MemoryStore::default(), &live(&sim), |_| {}).await;
    assert_eq!((one.len(), one[0].hops), (1, 1));
}

#[tokio::test]
async fn the_caps_and_settings_are_the_plans_a_continuation_never_plans_again_and_a_finished_run_answers_again()
 {
    let sim = common::sim_at(2_000, now(), Faults::default()).await;
    let mut options = live(&sim);
    options.max_actions = 50;
    let expected = to_demote(&sim, &options);
    assert!(expected.len() > 150);
    let store = MemoryStore::default();
    let client = common::client(&sim);

    // Over the cap: nothing is written, no state either.
    let aborted = deactivate_stale_users(&client, &store, &FixedClock(now()), &options)
        .await
        .unwrap();
    assert!(aborted.aborted && aborted.continuation.is_none());
    assert!(sim.writes().is_empty());
    assert!(!store.objects().keys().any(|k| k.contains("/.state/")));

    // Forced once, in hops of 60: later hops carry neither force nor the action, and still finish the plan.
    options.force = true;
    options.actions_per_hop = Some(60);
    let summaries = hops(&sim, &store, &options, |o| {
        if o.run_id.is_some() {
            o.force = false;
            o.action = Action::Delete;
            o.dry_run = true;
        }
    })
    .await;
    let last = summaries.last().unwrap();
    assert_eq!(summaries.len(), expected.len().div_ceil(60));
    assert_eq!(
        last.acted as usize,
        expected.len(),
        "the cap of 50 counted once, for the whole run"
    );
    assert!(last.forced && last.action == Action::Demote && !last.dry_run);
    let changes: Vec<_> = sim
        .writes()
        .into_iter()
        .filter(|w| w.path.starts_with("/api/v1/users"))
        .collect();
    assert_eq!(changes.len(), expected.len());
    assert!(
        changes.iter().all(|w| w.method == "PATCH"),
        "the continuations demoted, as planned"
    );
    let rows = report(&store, &last.report_key);
    assert_eq!(ids_with(&rows, "demoted"), expected);
    assert!(each_once(&rows));
    let stored: StaleSummary = serde_json::from_slice(&store.objects()[&last.summary_key]).unwrap();
    assert_eq!(&stored, last);

    // The same continuation again (a duplicate delivery): the summary, no write.
    sim.clear_requests();
    let mut again = options.clone();
    again.run_id = Some(last.run_id.clone());
    let repeated = deactivate_stale_users(&client, &store, &FixedClock(now()), &again)
        .await
        .unwrap();
    assert_eq!(&repeated, last);
    assert!(
        sim.writes()
            .iter()
            .all(|w| !w.path.starts_with("/api/v1/users"))
    );
}

#[tokio::test]
async fn a_hop_cut_off_after_its_writes_is_retried_from_the_checkpoint_and_reports_each_user_once()
{
    let sim = common::sim_at(2_000, now(), Faults::default()).await;
    let mut options = live(&sim);
    options.run_id = Some("exec-cut".into());
    let expected = to_demote(&sim, &options);
    assert!(expected.len() > 250);
    let store = MemoryStore::default();
    // The third segment's rows are written to Sisense, then its part cannot be stored: the hop fails.
    let cut =
        store.refusing_puts_under_shared("reports/deactivations/.state/exec-cut/parts/000003");
    let client = common::client(&sim);
    let err = deactivate_stale_users(&client, &cut, &FixedClock(now()), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::Store(_)), "{err}");
    let patches = || sim.writes().iter().filter(|w| w.method == "PATCH").count();
    assert_eq!(patches(), 300, "three segments were written");

    // The retry (same runId, as a Step Functions retry sends) resumes at the checkpoint: segment 3 again.
    let summaries = hops(&sim, &store, &options, |_| {}).await;
    let last = summaries.last().unwrap();
    assert_eq!(last.hops, 2, "the failed hop counts");
    assert_eq!(last.acted as usize, expected.len());
    assert_eq!(
        patches(),
        expected.len() + 100,
        "only the cut segment was written twice"
    );
    let rows = report(&store, &last.report_key);
    assert!(each_once(&rows), "every row reported once");
    assert_eq!(ids_with(&rows, "demoted"), expected);
}

#[tokio::test]
async fn one_live_run_at_a_time_a_second_is_refused_by_name_and_a_dead_run_is_taken_over_after_its_lease()
 {
    let sim = common::sim_at(1_500, now(), Faults::default()).await;
    let client = common::client(&sim);
    let store = MemoryStore::default();
    let first = StaleOptions {
        run_id: Some("scheduled-1".into()),
        actions_per_hop: Some(100),
        ..live(&sim)
    };
    let hop = deactivate_stale_users(&client, &store, &FixedClock(now()), &first)
        .await
        .unwrap();
    assert!(
        hop.continuation.is_some(),
        "the scheduled run is still going"
    );
    let writes = sim.writes().len();

    // A manual run, live, while the scheduled one is between hops: refused, naming it, with nothing done.
    let manual = StaleOptions {
        run_id: Some("manual-1".into()),
        ..live(&sim)
    };
    let err = deactivate_stale_users(&client, &store, &FixedClock(now()), &manual)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, JobError::RunInProgress { run_id, .. } if run_id == "scheduled-1"),
        "{err}"
    );
    assert!(err.to_string().contains("scheduled-1"), "{err}");
    assert_eq!(
        sim.writes().len(),
        writes,
        "the refused run wrote nothing to Sisense"
    );
    assert!(
        !store
            .objects()
            .keys()
            .any(|k| k.contains("/.state/manual-1/")),
        "nor planned anything"
    );
    // A restore is refused too; a dry run is not (it writes nothing to Sisense).
    let restore = lifecycle::restore::RestoreOptions {
        report_key: "reports/deactivations/dt=2026-11-22/run-x.csv".into(),
        dry_run: false,
        ..Default::default()
    };
    let err = lifecycle::restore::restore_users(&client, &store, &FixedClock(now()), &restore)
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::RunInProgress { .. }), "{err}");
    let dry = StaleOptions {
        dry_run: true,
        ..manual.clone()
    };
    deactivate_stale_users(&client, &store, &FixedClock(now()), &dry)
        .await
        .expect("a dry run plans beside a live run");

    // The scheduled run dies here. Four hours later its lease still holds; after it ran out, the manual run takes
    // over (the engine's unit tests show a holder that comes back after losing its lock cannot release it).
    let later = |hours| FixedClock(now() + chrono::Duration::hours(hours));
    assert!(
        deactivate_stale_users(&client, &store, &later(4), &manual)
            .await
            .is_err()
    );
    let taken = deactivate_stale_users(&client, &store, &later(5), &manual)
        .await
        .expect("the dead run's lock is taken over");
    assert!(
        taken.continuation.is_none(),
        "no hop budget: one invocation"
    );
    let back = StaleOptions {
        run_id: Some("scheduled-1".into()),
        ..live(&sim)
    };
    let fresh = StaleOptions {
        run_id: Some("manual-2".into()),
        ..live(&sim)
    };
    // The manual run ended and released the lock: the next run is not refused, and neither is the dead one's
    // continuation.
    deactivate_stale_users(&client, &store, &later(5), &fresh)
        .await
        .expect("the lock was released at the end of the manual run");
    deactivate_stale_users(&client, &store, &later(5), &back)
        .await
        .expect("a released lock is taken by whoever comes");
}
