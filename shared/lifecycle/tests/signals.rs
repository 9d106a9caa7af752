//! Staleness from every activity signal, against a simulator whose users sign in as Sisense's server code says
//! they leave traces: JWT SSO users move `ssoTokenIat` only, SAML users move nothing, v0.9-created users carry
//! `lastLogin = created`, token service accounts move nothing. The oracle is the simulator's truth (when each
//! person really last used Sisense), which the API does not show.

mod common;

use common::{ids_with, report};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use lifecycle::activity::Feed;
use lifecycle::doctor::{DoctorOptions, diagnose};
use lifecycle::export::{ExportOptions, export_users};
use lifecycle::stale::{
    Action, HealthLimits, StaleOptions, StaleSummary, Thresholds, deactivate_stale_users,
};
use lifecycle::{FixedClock, JobError, MemoryStore, ObjectStore};
use sisense_sim::{SignInKind, SignInMix, SimConfig, Simulator};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
}

/// 2,000 users: 40% sign in through JWT SSO, 10% through SAML, 10% were created through v0.9, 1% are token
/// service accounts; the rest use passwords.
async fn enterprise(users: usize) -> Simulator {
    Simulator::start(SimConfig {
        users,
        now: now(),
        sign_ins: SignInMix::enterprise(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The token service accounts: the operator protects them by name (nothing they do is visible).
fn service_accounts(sim: &Simulator) -> Vec<String> {
    sim.sign_ins()
        .iter()
        .filter(|s| s.kind == SignInKind::Token)
        .map(|s| s.email.clone())
        .collect()
}

fn live_demote(sim: &Simulator) -> StaleOptions {
    let mut protected = service_accounts(sim);
    protected.push(sim.username().into());
    StaleOptions {
        action: Action::Demote,
        dry_run: false,
        max_actions: 100_000,
        max_action_percent: 100,
        protected_users: protected,
        thresholds: Thresholds::new(90, None),
        ..StaleOptions::default()
    }
}

async fn run(
    sim: &Simulator,
    store: &MemoryStore,
    options: &StaleOptions,
) -> Result<StaleSummary, JobError> {
    deactivate_stale_users(&common::client(sim), store, &FixedClock(now()), options).await
}

/// Users who really used Sisense within `days`, by id.
fn really_recent(sim: &Simulator, days: i64) -> BTreeSet<String> {
    sim.sign_ins()
        .iter()
        .filter(|s| s.last.is_some_and(|t| now() - t <= Duration::days(days)))
        .map(|s| s.id.clone())
        .collect()
}

fn kind_of(sim: &Simulator) -> BTreeMap<String, SignInKind> {
    sim.sign_ins()
        .iter()
        .map(|s| (s.id.clone(), s.kind))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_demote_spares_every_active_sso_user_and_leaves_saml_users_unknown() {
    let sim = enterprise(2_000).await;
    let kinds = kind_of(&sim);
    let jwt = kinds.values().filter(|k| **k == SignInKind::Jwt).count();
    assert!((700..900).contains(&jwt), "about 40% JWT: {jwt}");
    let recent = really_recent(&sim, 90);
    let store = MemoryStore::default();
    let summary = run(&sim, &store, &live_demote(&sim)).await.unwrap();
    assert_eq!(summary.signal_health.verdict, "healthy", "{summary:?}");
    let rows = report(&store, &summary.report_key);
    let demoted = ids_with(&rows, "demoted");
    assert_eq!(demoted.len() as u64, summary.acted);
    assert!(summary.acted > 100, "{summary:?}");
    let wrongly: Vec<_> = demoted.intersection(&recent).collect();
    assert!(
        wrongly.is_empty(),
        "demoted people who used Sisense in the last 90 days: {wrongly:?}"
    );
    let daily_jwt = sim
        .sign_ins()
        .iter()
        .filter(|s| {
            s.kind == SignInKind::Jwt && s.last.is_some_and(|t| now() - t < Duration::days(2))
        })
        .count();
    assert!(
        daily_jwt > 100,
        "{daily_jwt} JWT users signed in within a day"
    );
    // Stale JWT users are judged by ssoTokenIat, and some are demoted.
    let jwt_demoted: Vec<_> = demoted
        .iter()
        .filter(|id| kinds[*id] == SignInKind::Jwt)
        .collect();
    assert!(!jwt_demoted.is_empty());
    for row in rows.iter().filter(|r| demoted.contains(&r["user_id"])) {
        match kinds[&row["user_id"]] {
            SignInKind::Jwt => assert_eq!(row["last_seen_source"], "ssoTokenIat", "{row:?}"),
            SignInKind::Saml => panic!("a SAML user was demoted without SSO evidence: {row:?}"),
            SignInKind::Token => panic!("a protected service account was demoted: {row:?}"),
            SignInKind::Password | SignInKind::V09 => {
                assert!(
                    ["lastLogin", ""].contains(&row["last_seen_source"].as_str()),
                    "{row:?}"
                )
            }
        }
    }
    // Every activated SAML user older than the grace period is unknown, none acted on.
    let unknown = ids_with(&rows, "activity_unknown");
    assert_eq!(unknown.len() as u64, summary.activity_unknown);
    assert!(
        unknown.iter().all(|id| kinds[id] == SignInKind::Saml),
        "only SAML users here"
    );
    let saml = kinds.values().filter(|k| **k == SignInKind::Saml).count() as u64;
    assert!(
        summary.activity_unknown > saml / 2,
        "{} of {saml}",
        summary.activity_unknown
    );
    let unknown_row = rows
        .iter()
        .find(|r| r["status"] == "activity_unknown")
        .unwrap();
    assert!(
        unknown_row["message"].contains("SSO sign-ins do not write lastLogin"),
        "{unknown_row:?}"
    );
    // v0.9 users never seen after their creation are "never logged in", judged by the grace period.
    assert!(
        rows.iter().any(|r| kinds[&r["user_id"]] == SignInKind::V09
            && r["status"] == "demoted"
            && r["last_seen"].is_empty()),
        "a v0.9 user whose lastLogin is its creation counts as never logged in"
    );
    // The writes are exactly the demotions (one PATCH each) and the session revocations.
    let patches = sim.writes().iter().filter(|w| w.method == "PATCH").count() as u64;
    assert_eq!(patches, summary.acted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_judges_saml_users_correctly_and_bad_rows_are_counted() {
    let sim = enterprise(2_000).await;
    let kinds = kind_of(&sim);
    // An IdP sign-in export covering the SAML users (the only ones whose sign-ins Sisense does not record).
    let mut csv = String::from("User principal name,Created date time,Status\n");
    for s in sim.sign_ins().iter().filter(|s| s.kind == SignInKind::Saml) {
        if let Some(t) = s.last {
            csv.push_str(&format!(
                "{},{},Success\n",
                s.email,
                t.format("%Y-%m-%d %H:%M:%S")
            ));
        }
    }
    csv.push_str("not-an-email,2026-11-20 10:00:00,Success\n");
    csv.push_str("someone@example.com,soon,Success\n");
    csv.push_str(&format!(
        "fresh@example.com,{},Success\n",
        (now() - Duration::hours(1)).format("%Y-%m-%d %H:%M:%S")
    ));
    let store = MemoryStore::default();
    store
        .put("feeds/entra.csv", csv.into_bytes(), "text/csv")
        .await
        .unwrap();
    let feed = Feed::load(&store, "feeds/", now(), 7).await.unwrap();
    assert_eq!(feed.rows_invalid, 2);
    let mut options = live_demote(&sim);
    options.dry_run = true;
    options.feed = Some(Arc::new(feed));
    let summary = run(&sim, &store, &options).await.unwrap();
    assert_eq!(summary.feed_rows_invalid, Some(2));
    let rows = report(&store, &summary.report_key);
    if let Some(r) = rows.iter().find(|r| r["status"] == "activity_unknown") {
        let s = sim
            .sign_ins()
            .iter()
            .find(|s| s.id == r["user_id"])
            .unwrap();
        panic!("{r:?} {s:?}");
    }
    assert_eq!(
        summary.activity_unknown, 0,
        "the feed covers every SAML user who ever signed in"
    );
    let would = ids_with(&rows, "would_demote");
    let recent = really_recent(&sim, 90);
    assert!(would.is_disjoint(&recent));
    let stale_saml: BTreeSet<String> = sim
        .sign_ins()
        .iter()
        .filter(|s| {
            s.kind == SignInKind::Saml && s.last.is_some_and(|t| now() - t > Duration::days(90))
        })
        .map(|s| s.id.clone())
        .collect();
    assert!(stale_saml.len() > 20, "{}", stale_saml.len());
    let protected: BTreeSet<String> = ids_with(&rows, "protected");
    // Already a Viewer without groups: nothing to demote (counted alreadyDone, no row).
    let viewer = common::role_id(&sim, "consumer");
    let already: BTreeSet<String> = sim
        .users()
        .iter()
        .filter(|u| u["roleId"] == viewer && u["groups"].as_array().is_none_or(Vec::is_empty))
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    for id in &stale_saml {
        assert!(
            would.contains(id) || protected.contains(id) || already.contains(id),
            "stale SAML user {id} ({:?}) not planned",
            kinds[id]
        );
    }
    assert!(
        rows.iter()
            .filter(|r| stale_saml.contains(&r["user_id"]))
            .all(|r| r["last_seen_source"] == "feed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_signal_refuses_a_live_run_with_zero_writes_and_says_why() {
    let sim = enterprise(600).await;
    let store = MemoryStore::default();
    // Two years on, nobody's evidence is recent: a signal that stopped (or SSO logins nobody records).
    let later = now() + Duration::days(730);
    let options = live_demote(&sim);
    let err = deactivate_stale_users(&common::client(&sim), &store, &FixedClock(later), &options)
        .await
        .unwrap_err();
    match &err {
        JobError::SignalUnhealthy { reasons, report } => {
            assert!(reasons.contains("looks frozen"), "{reasons}");
            assert!(report.ends_with(".csv"), "{report}");
        }
        other => panic!("{other}"),
    }
    assert!(sim.writes().is_empty(), "zero writes: {:?}", sim.writes());
    let key = store
        .list("reports/deactivations/")
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.ends_with(".summary.json"))
        .expect("the summary is written");
    let summary: StaleSummary =
        serde_json::from_slice(&store.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(summary.signal_health.verdict, "unhealthy");
    assert_eq!(summary.acted, 0);
    let rows = report(&store, &summary.report_key);
    let refused = ids_with(&rows, "signal_unhealthy");
    assert_eq!(refused.len() as u64, summary.stale);
    assert!(refused.len() > 100);

    // `force` passes the caps, never the health check.
    let mut forced = options.clone();
    forced.force = true;
    let err = deactivate_stale_users(&common::client(&sim), &store, &FixedClock(later), &forced)
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::SignalUnhealthy { .. }), "{err}");
    // A dry run reports the same verdict without failing.
    let mut dry = options.clone();
    dry.dry_run = true;
    let summary = deactivate_stale_users(&common::client(&sim), &store, &FixedClock(later), &dry)
        .await
        .unwrap();
    assert_eq!(summary.signal_health.verdict, "unhealthy");
    // An operator who knows their installation is that quiet lowers the threshold.
    let mut quiet = options;
    quiet.health = HealthLimits {
        min_recent_percent: 0,
        max_unknown_percent: 100,
    };
    quiet.max_actions = 5;
    let summary = deactivate_stale_users(&common::client(&sim), &store, &FixedClock(later), &quiet)
        .await
        .unwrap();
    assert!(summary.aborted, "the caps still hold: {summary:?}");
    assert!(sim.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_unknown_users_refuse_until_the_operator_trusts_last_login() {
    let sim = Simulator::start(SimConfig {
        users: 400,
        now: now(),
        sign_ins: SignInMix {
            saml_percent: 80,
            ..SignInMix::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let store = MemoryStore::default();
    let err = run(&sim, &store, &live_demote(&sim)).await.unwrap_err();
    assert!(
        matches!(&err, JobError::SignalUnhealthy { reasons, .. } if reasons.contains("MAX_UNKNOWN_PERCENT")),
        "{err}"
    );
    assert!(sim.writes().is_empty());
    let mut trusting = live_demote(&sim);
    trusting.trust_last_login = true;
    trusting.dry_run = true;
    let summary = run(&sim, &store, &trusting).await.unwrap();
    assert_eq!(summary.activity_unknown, 0);
    assert!(summary.trust_last_login);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exports_seats_agree_with_the_dry_run_on_the_same_data() {
    let sim = enterprise(2_000).await;
    let store = MemoryStore::default();
    let export = export_users(
        &common::client(&sim),
        &store,
        &FixedClock(now()),
        &ExportOptions::default(),
    )
    .await
    .unwrap();
    let summary_key = export.summary_key.clone();
    let exported: serde_json::Value =
        serde_json::from_slice(&store.get(&summary_key).await.unwrap().unwrap()).unwrap();
    let mut options = live_demote(&sim);
    options.dry_run = true;
    options.protected_roles = vec![];
    options.protected_users = vec![];
    let dry = run(&sim, &store, &options).await.unwrap();
    let reclaimable: u64 = exported["reclaimable"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    // Without protections, every stale activated user is planned, already done (a Viewer without groups) or
    // protected (the service account is always).
    assert_eq!(
        reclaimable,
        dry.stale + dry.already_done + dry.protected,
        "export {exported} against dry run {dry:?}"
    );
    assert_eq!(
        exported["activityUnknown"].as_u64(),
        Some(dry.activity_unknown)
    );
    assert_eq!(exported["stale"].as_u64(), Some(reclaimable));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_each_familys_signals_and_verdicts_with_zero_writes() {
    let sim = Simulator::start(SimConfig {
        users: 1_200,
        now: now(),
        sign_ins: SignInMix::enterprise(),
        faults: sisense_sim::Faults {
            page_cap: Some(500),
            ..sisense_sim::Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let options = DoctorOptions {
        thresholds: Thresholds::new(90, None),
        feed: None,
        trust_last_login: false,
        health: HealthLimits::default(),
    };
    for family in ["fusion", "legacy", "periscope"] {
        sim.clear_requests();
        let d = diagnose(&common::client_of(&sim, family), now(), &options)
            .await
            .unwrap();
        assert!(sim.writes().is_empty(), "{family}: {:?}", sim.writes());
        assert_eq!(d.login.status, "ok", "{family}");
        assert!(d.users >= 1_200, "{family}: {}", d.users);
        let deactivate = &d.jobs["deactivate"];
        match family {
            "periscope" => {
                assert_eq!(deactivate.verdict, "ready with a feed", "{deactivate:?}");
                assert_eq!(d.sessions.status, "unsupported");
            }
            _ => {
                assert_eq!(deactivate.verdict, "ready", "{family}: {deactivate:?}");
                assert!(d.sources["ssoTokenIat"] > 300, "{family}: {:?}", d.sources);
                assert!(d.sources["lastLogin"] > 300, "{family}: {:?}", d.sources);
                assert_eq!(
                    d.sources["lastActivity"], 0,
                    "the contract release has none"
                );
                assert!(d.sso_without_evidence > 50, "{family}: SAML users");
                assert_eq!(d.count.status, "ok", "{family}: {:?}", d.count);
            }
        }
        if family == "fusion" {
            assert_eq!(d.pages.status, "warning", "{:?}", d.pages);
            assert!(d.pages.detail.contains("capped"), "{:?}", d.pages);
            assert_eq!(d.dashboards.status, "ok");
        }
        if family == "legacy" {
            assert_eq!(d.dashboards.status, "unsupported");
        }
        let json = serde_json::to_value(&d).unwrap();
        for source in ["lastLogin", "ssoTokenIat", "lastActivity", "feed"] {
            assert!(
                json["sources"][source].is_u64(),
                "{family}: {source} in {json}"
            );
        }
    }
    // A frozen installation is not ready, and says why.
    let later = now() + Duration::days(730);
    let d = diagnose(&common::client_of(&sim, "fusion"), later, &options)
        .await
        .unwrap();
    assert_eq!(d.jobs["deactivate"].verdict, "not ready");
    assert!(d.jobs["deactivate"].why.contains("frozen"), "{:?}", d.jobs);
    assert!(sim.writes().is_empty());
}
