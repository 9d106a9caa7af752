//! `doctor`: read-only checks of what the installation can tell ([`lifecycle::doctor::diagnose`]), as a table
//! or JSON, with a verdict per job.

use std::fmt::Write as _;
use std::sync::Arc;

use lifecycle::activity::Feed;
use lifecycle::doctor::{Check, Diagnosis, DoctorOptions, diagnose};
use lifecycle::stale::{HealthLimits, Thresholds};

use super::Context;
use crate::args::{DoctorArgs, EvidenceArgs};
use crate::error::{CliError, Exit};
use crate::output::Outcome;

/// Runs the doctor.
pub async fn run(ctx: &Context<'_>, args: &DoctorArgs) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let options = DoctorOptions {
        thresholds: Thresholds::new(args.inactive_days, None),
        feed: load_feed(ctx, &args.evidence, now).await?,
        trust_last_login: args.evidence.trust_last_login,
        health: limits(&args.evidence),
    };
    let diagnosis = diagnose(&client, now, &options)
        .await
        .map_err(CliError::job("doctor"))?;
    Ok(Outcome {
        exit: Exit::Success,
        json: serde_json::to_value(&diagnosis).unwrap_or_default(),
        text: table(&diagnosis),
    })
}

/// The health check's thresholds from the flags.
pub fn limits(evidence: &EvidenceArgs) -> HealthLimits {
    HealthLimits {
        min_recent_percent: evidence.min_recent_percent,
        max_unknown_percent: evidence.max_unknown_percent,
    }
}

/// The activity feed the flags name, loaded and checked for freshness at `now`; `None` without one. A feed that
/// cannot be used stops the command before anything is read from Sisense.
pub async fn load_feed(
    ctx: &Context<'_>,
    evidence: &EvidenceArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Arc<Feed>>, CliError> {
    let Some(location) = &evidence.activity_feed else {
        return Ok(None);
    };
    let (store, key) = match location {
        crate::location::Location::Local(path) if path.is_dir() => {
            (location.store_and_prefix(&ctx.aws).await?.0, String::new())
        }
        crate::location::Location::Local(_) => location.store_and_key(&ctx.aws).await?,
        crate::location::Location::S3 { .. } => location.store_and_prefix(&ctx.aws).await?,
    };
    let feed = Feed::load(
        store.as_ref(),
        &key,
        now,
        evidence.activity_feed_max_age_days,
    )
    .await
    .map_err(|e| CliError::Refused(format!("--activity-feed {location}: {e}")))?;
    Ok(Some(Arc::new(feed)))
}

/// The diagnosis as a table for people.
fn table(d: &Diagnosis) -> String {
    let mut out = format!(
        "{}: {} users, {} activated\n\n",
        d.family, d.users, d.activated
    );
    let row = |out: &mut String, name: &str, check: &Check| {
        let _ = writeln!(out, "  {name:<12} {:<11} {}", check.status, check.detail);
    };
    row(&mut out, "login", &d.login);
    row(&mut out, "user count", &d.count);
    row(&mut out, "pages", &d.pages);
    row(&mut out, "dashboards", &d.dashboards);
    row(&mut out, "sessions", &d.sessions);
    out.push_str("\n  activity signals (activated users carrying each):\n");
    for (source, n) in &d.sources {
        let _ = writeln!(
            out,
            "    {source:<13} {n:>7}  {:>5.1}%",
            d.source_percent.get(source).copied().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        out,
        "    SSO users {}, of whom {} have no SSO evidence (activity unknown)",
        d.sso_users, d.sso_without_evidence
    );
    let h = &d.signal_health;
    let _ = writeln!(
        out,
        "  evidence health: {} ({}% seen recently, {}% unknown)",
        h.verdict, h.recent_percent, h.unknown_percent
    );
    out.push_str("\n  jobs:\n");
    for (job, readiness) in &d.jobs {
        let _ = writeln!(
            out,
            "    {job:<11} {:<18} {}",
            readiness.verdict, readiness.why
        );
    }
    out
}
