//! `doctor`: what an installation can tell, read-only (zero writes), with a verdict per job. Run it first: it
//! logs in, names the API family, probes paging and the user count, counts which activity signals the users
//! carry, checks the evidence as the deactivation job would, and whether dashboards and sessions are reachable.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sisense::{Directory, UserQuery};

use crate::activity::{Evidence, Feed, Source, last_seen, signals};
use crate::error::JobError;
use crate::stale::{HealthLimits, SignalHealth, Thresholds};

/// Users asked for in the page probe, unless the count says fewer are there.
pub const PROBE_PAGE: u32 = 5000;

/// What the doctor judges by: the deactivation job's settings.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Staleness thresholds.
    pub thresholds: Thresholds,
    /// The activity feed, if the operator has one.
    pub feed: Option<Arc<Feed>>,
    /// `TRUST_LAST_LOGIN`.
    pub trust_last_login: bool,
    /// The health check's thresholds.
    pub health: HealthLimits,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// `ok`, `warning`, `failed` or `unsupported`.
    pub status: String,
    /// What was found, in words.
    pub detail: String,
}

impl Check {
    fn new(status: &str, detail: impl Into<String>) -> Self {
        Check {
            status: status.into(),
            detail: detail.into(),
        }
    }
}

/// A job's readiness.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready`, `ready with a feed` or `not ready`.
    pub verdict: String,
    /// Why, in words.
    pub why: String,
}

/// Everything the doctor found.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The API family (`Sisense Linux/Fusion`, ...).
    pub family: String,
    /// Logging in and reading roles and groups.
    pub login: Check,
    /// Whether `GET /api/users/count` answers, and what.
    pub count: Check,
    /// Whether the server caps pages below what is asked.
    pub pages: Check,
    /// Users listed.
    pub users: u64,
    /// Activated users among them.
    pub activated: u64,
    /// Per activity source (`lastLogin`, `ssoTokenIat`, `lastActivity`, `feed`): activated users carrying it.
    pub sources: BTreeMap<String, u64>,
    /// The same in percent of activated users (one decimal).
    pub source_percent: BTreeMap<String, f64>,
    /// Activated SSO users (`createdSso`, `ssoToken` or `ssoTokenIat`).
    pub sso_users: u64,
    /// Activated SSO users with no SSO evidence (no `ssoTokenIat`, `lastActivity` or feed entry).
    pub sso_without_evidence: u64,
    /// The deactivation job's health check of this evidence.
    pub signal_health: SignalHealth,
    /// Whether dashboards can be listed as admin (`delete` needs it).
    pub dashboards: Check,
    /// Whether sessions can be revoked.
    pub sessions: Check,
    /// Per job (`export`, `import`, `deactivate`).
    pub jobs: BTreeMap<String, Readiness>,
    /// When the doctor judged ("now" for every age).
    pub checked_at: DateTime<Utc>,
}

/// Examines `directory` read-only. Fails only when it cannot log in or list users; every other probe is a row.
pub async fn diagnose(
    directory: &dyn Directory,
    now: DateTime<Utc>,
    options: &DoctorOptions,
) -> Result<Diagnosis, JobError> {
    let capabilities = directory.capabilities();
    let (roles, groups) = (directory.roles(None).await?, directory.groups(None).await?);
    let login = Check::new(
        "ok",
        format!(
            "logged in; {} roles and {} groups listed",
            roles.len(),
            groups.len()
        ),
    );
    let (count, pages) = paging(directory).await;
    let activity = activity(directory, now, options).await?;
    let signal_health = activity
        .health
        .verdict(options.health, options.thresholds.inactive_days);
    let sources = signal_health.coverage.clone();
    let source_percent = sources
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                crate::stale::percent(*n, signal_health.activated),
            )
        })
        .collect();
    let (dashboards, sessions) = content(directory).await;
    let mut diagnosis = Diagnosis {
        family: capabilities.family.to_string(),
        login,
        count,
        pages,
        users: activity.users,
        activated: signal_health.activated,
        sources,
        source_percent,
        sso_users: activity.sso_users,
        sso_without_evidence: activity.sso_without_evidence,
        signal_health,
        dashboards,
        sessions,
        jobs: BTreeMap::new(),
        checked_at: now,
    };
    diagnosis.jobs = readiness(&diagnosis, capabilities.last_login, options);
    Ok(diagnosis)
}

/// The user count, and whether the first page shows a cap below what was asked.
async fn paging(directory: &dyn Directory) -> (Check, Check) {
    let counted = directory.count_users().await;
    let count = match &counted {
        Ok(Some(n)) => Check::new("ok", format!("GET /api/users/count answers {n}")),
        Ok(None) => Check::new("unsupported", "this family has no user count"),
        Err(e) => Check::new("warning", format!("the user count failed: {e}")),
    };
    let known = counted.ok().flatten();
    let asked = known.map_or(PROBE_PAGE, |n| (n as u32).saturating_add(1).min(PROBE_PAGE));
    let pages = match directory.first_page_len(asked).await {
        Ok(Some(got)) => page_check(asked, got, known),
        Ok(None) => Check::new("unsupported", "this family pages with its own cursor"),
        Err(e) => Check::new("warning", format!("the page probe failed: {e}")),
    };
    (count, pages)
}

/// What one listing of every user tells of the activity evidence.
struct Activity {
    users: u64,
    sso_users: u64,
    sso_without_evidence: u64,
    health: crate::stale::HealthCount,
}

/// Lists every user once and counts the evidence each carries.
async fn activity(
    directory: &dyn Directory,
    now: DateTime<Utc>,
    options: &DoctorOptions,
) -> Result<Activity, JobError> {
    let evidence = Evidence {
        feed: options.feed.as_deref(),
        trust_last_login: options.trust_last_login,
    };
    let mut activity = Activity {
        users: 0,
        sso_users: 0,
        sso_without_evidence: 0,
        health: crate::stale::HealthCount::default(),
    };
    let mut listing = directory.users(UserQuery::default());
    while let Some(user) = listing.try_next().await? {
        activity.users += 1;
        let seen = last_seen(&user, evidence);
        let signals = signals(&user, evidence.feed);
        if user.is_active() && user.is_sso() {
            activity.sso_users += 1;
            if signals.iter().all(|(_, s)| *s == Source::LastLogin) {
                activity.sso_without_evidence += 1;
            }
        }
        let days = options.thresholds.inactive_days;
        activity.health.add(&user, &seen, &signals, now, days);
    }
    Ok(activity)
}

/// Whether dashboards can be listed (delete protects owners) and sessions revoked.
async fn content(directory: &dyn Directory) -> (Check, Check) {
    let family = directory.capabilities().family;
    let Some(content) = directory.content() else {
        return (
            Check::new(
                "unsupported",
                format!("{family} has no admin dashboards listing: delete is refused"),
            ),
            Check::new("unsupported", format!("{family} has no session revocation")),
        );
    };
    let dashboards = match content.dashboards().try_next().await {
        Ok(_) => Check::new(
            "ok",
            "dashboards can be listed as admin (delete can protect owners)",
        ),
        Err(e) => Check::new(
            "failed",
            format!("dashboards cannot be listed as admin ({e}): delete is not possible"),
        ),
    };
    let sessions = Check::new(
        "ok",
        "supported (GET /api/v1/authentication/admin/logout, admins only); not probed, since revoking is a write",
    );
    (dashboards, sessions)
}

/// Whether the first page shows a cap: fewer users than asked although the server holds more.
fn page_check(asked: u32, got: usize, count: Option<u64>) -> Check {
    let expected = count.map_or(u64::from(asked), |n| n.min(u64::from(asked)));
    if (got as u64) < expected {
        Check::new(
            "warning",
            format!(
                "pages are capped: asked for {asked} users, got {got}{}; the listing continues past short pages, \
                 so exports stay complete",
                count.map_or_else(String::new, |n| format!(" of {n}"))
            ),
        )
    } else {
        Check::new(
            "ok",
            format!("asked for {asked} users, got {got}: no cap seen"),
        )
    }
}

/// The verdict per job.
fn readiness(
    d: &Diagnosis,
    has_activity: bool,
    options: &DoctorOptions,
) -> BTreeMap<String, Readiness> {
    let ready = |why: String| Readiness {
        verdict: "ready".into(),
        why,
    };
    let mut jobs = BTreeMap::new();
    jobs.insert(
        "export".into(),
        ready(format!(
            "{} users listed{}",
            d.users,
            match d.count.status.as_str() {
                "ok" => ", with the server's count as a second witness",
                _ => " (no count to prove completeness: the listing ends on an empty page)",
            }
        )),
    );
    jobs.insert(
        "import".into(),
        ready("roles and groups can be listed to resolve names".into()),
    );
    let health = &d.signal_health;
    let unknown_only = !health.reasons.is_empty()
        && health
            .reasons
            .iter()
            .all(|r| r.contains("MAX_UNKNOWN_PERCENT"));
    let deactivate = if !has_activity && options.feed.is_none() {
        Readiness {
            verdict: "ready with a feed".into(),
            why: format!(
                "{} reports no last login or activity: give an activity feed (ACTIVITY_FEED) to judge anyone",
                d.family
            ),
        }
    } else if health.reasons.is_empty() {
        ready(format!(
            "{}% of {} activated users seen in the last {} days{}",
            health.recent_percent,
            health.activated,
            options.thresholds.inactive_days,
            match d.sso_without_evidence {
                0 => String::new(),
                n => format!(
                    "; {n} SSO users have no SSO evidence and will be left alone (activity_unknown) unless a \
                     feed covers them"
                ),
            }
        ))
    } else if unknown_only && options.feed.is_none() {
        Readiness {
            verdict: "ready with a feed".into(),
            why: health.reasons.join("; "),
        }
    } else {
        Readiness {
            verdict: "not ready".into(),
            why: health.reasons.join("; "),
        }
    };
    jobs.insert("deactivate".into(), deactivate);
    jobs
}
