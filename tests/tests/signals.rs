//! The deactivation function judging staleness from every signal, end to end: the real binary under the Lambda
//! Runtime API, moto S3 and Secrets Manager, and a simulator of 2,000 users of whom 40% sign in through JWT SSO
//! (only `ssoTokenIat` moves), 10% through SAML (nothing moves), 10% were created through v0.9 and 1% are token
//! service accounts. The oracle is the simulator's truth: when each person really last signed in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use e2e_tests::world::{BUCKET, World};
use e2e_tests::{Family, NOW, now, with_status};
use serde_json::json;
use sisense_sim::{SignInKind, SignInMix, SimConfig, Simulator};

async fn enterprise() -> Simulator {
    Simulator::start(SimConfig {
        users: 2_000,
        now: now(),
        sign_ins: SignInMix::enterprise(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_then_a_live_demote_with_a_feed_spares_active_sso_users_and_a_frozen_signal_writes_nothing()
 {
    let world = World::new().await;
    let sim = enterprise().await;
    let secret = world
        .sim_secret("sisense/signals", &sim, Family::Fusion)
        .await;
    let service_accounts: Vec<String> = sim
        .sign_ins()
        .iter()
        .filter(|s| s.kind == SignInKind::Token)
        .map(|s| s.email.clone())
        .collect();
    let protected = service_accounts.join(",");
    let env = [
        ("SISENSE_SECRET_ID", secret.as_str()),
        ("REPORT_BUCKET", BUCKET),
        ("CLOCK_FIXED_AT", NOW),
        ("SISENSE_RATE_LIMIT", "0"),
        ("PROTECTED_USERS", protected.as_str()),
        ("MAX_ACTIONS", "100000"),
        ("MAX_ACTION_PERCENT", "100"),
    ];
    let mut f = world.function("deactivate-stale-users", &env).await;

    // 1. doctor: read-only, the signals by their field names, a verdict per job.
    let doctor = f
        .invoke(&json!({"doctor": true}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    assert_eq!(doctor["jobs"]["deactivate"]["verdict"], "ready", "{doctor}");
    for source in ["lastLogin", "ssoTokenIat", "lastActivity", "feed"] {
        assert!(doctor["sources"][source].is_u64(), "{source}: {doctor}");
    }
    assert!(doctor["ssoWithoutEvidence"].as_u64() > Some(50), "{doctor}");

    // 2. Without a feed: a live demote acts on nobody who signed in within 90 days; SAML users are unknown.
    let recent: BTreeSet<String> = sim
        .sign_ins()
        .iter()
        .filter(|s| s.last.is_some_and(|t| now() - t <= Duration::days(90)))
        .map(|s| s.id.clone())
        .collect();
    let kinds: BTreeMap<String, SignInKind> = sim
        .sign_ins()
        .iter()
        .map(|s| (s.id.clone(), s.kind))
        .collect();
    let summary = f
        .invoke(&json!({"dryRun": false}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", f.logs()));
    assert_eq!(summary["action"], "demote", "demote is the default");
    assert_eq!(summary["signalHealth"]["verdict"], "healthy");
    let rows = world.report(&summary).await;
    let demoted = with_status(&rows, "demoted");
    assert!(demoted.len() > 100, "{summary}");
    assert!(
        demoted.is_disjoint(&recent),
        "no recently active user demoted"
    );
    let unknown = with_status(&rows, "activity_unknown");
    assert!(!unknown.is_empty() && unknown.iter().all(|id| kinds[id] == SignInKind::Saml));
    assert!(demoted.iter().all(|id| kinds[id] != SignInKind::Saml));

    // 3. With a feed in S3 covering the SAML users (an IdP export), they are judged: the stale ones demoted.
    let mut csv = String::from("actor.alternateId,eventType,published\n");
    for s in sim.sign_ins().iter().filter(|s| s.kind == SignInKind::Saml) {
        if let Some(t) = s.last {
            csv.push_str(&format!(
                "{},user.session.start,{}\n",
                s.email,
                t.to_rfc3339()
            ));
        }
    }
    csv.push_str(&format!("nobody@example.com,user.session.start,{NOW}\n"));
    csv.push_str("broken row without a date\n");
    world
        .put("activity/okta/2026-11-22.csv", csv.into_bytes())
        .await;
    let summary = f
        .invoke(&json!({"dryRun": false, "activityFeed": "activity/okta/"}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", f.logs()));
    assert_eq!(summary["activityUnknown"], 0, "{summary}");
    assert_eq!(summary["feedRowsInvalid"], 1);
    let rows = world.report(&summary).await;
    let fed = with_status(&rows, "demoted");
    assert!(fed.is_disjoint(&recent));
    assert!(
        fed.iter().any(|id| kinds[id] == SignInKind::Saml),
        "stale SAML users are demoted once the feed covers them"
    );
    assert!(
        rows.iter()
            .filter(|r| r["status"] == "demoted")
            .all(|r| kinds[&r["user_id"]] != SignInKind::Saml || r["last_seen_source"] == "feed")
    );

    // 4. A feed the operator named that is not there stops the run: ConfigError, nothing written.
    sim.clear_requests();
    let err = f
        .invoke(&json!({"dryRun": false, "activityFeed": "activity/missing.csv"}))
        .await
        .expect_err("a missing feed");
    assert_eq!(err["errorType"], "ConfigError", "{err}");
    assert!(sim.writes().is_empty());

    // 5. Two years on, nobody's evidence is recent: SignalUnhealthy, zero writes, the report says why.
    drop(f);
    let later = (now() + Duration::days(730)).to_rfc3339();
    let mut frozen_env = env.to_vec();
    frozen_env.retain(|(k, _)| *k != "CLOCK_FIXED_AT");
    frozen_env.push(("CLOCK_FIXED_AT", later.as_str()));
    let mut f = world.function("deactivate-stale-users", &frozen_env).await;
    sim.clear_requests();
    let err = f
        .invoke(&json!({"dryRun": false, "force": true}))
        .await
        .expect_err("an unhealthy signal");
    assert_eq!(err["errorType"], "SignalUnhealthy", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("looks frozen"),
        "{err}"
    );
    assert!(sim.writes().is_empty(), "zero writes: {:?}", sim.writes());
}
