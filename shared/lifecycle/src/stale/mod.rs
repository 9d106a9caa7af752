//! The deactivate-stale-users job: find active users not seen for N days and deactivate, demote or delete
//! them, under caps, dry run by default, verifying every write by reading the user back, with an audit report.

mod apply;
mod policy;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sisense::{Directory, GroupResolver, ResolveError, RoleResolver, User, UserQuery};

pub use apply::{Action, Status};
pub use policy::{Protection, Standing, Thresholds, standing};

use crate::clock::Clock;
use crate::export::{Names, timestamp};
use crate::progress::Progress;
use crate::report::{csv_bytes, normalise_prefix, put_csv, put_json, stamp};
use crate::store::{ObjectStore, StoreError};

/// Default report prefix.
pub const DEFAULT_PREFIX: &str = "reports/";

/// The report's columns, exactly.
pub const HEADER: [&str; 9] = [
    "user_id",
    "email",
    "role_name",
    "last_seen",
    "created_date",
    "days_inactive",
    "action",
    "status",
    "message",
];

/// How the job runs.
#[derive(Debug, Clone)]
pub struct StaleOptions {
    /// Staleness thresholds.
    pub thresholds: Thresholds,
    /// What to do to a stale user.
    pub action: Action,
    /// Plan and report only; send no write.
    pub dry_run: bool,
    /// Role names never acted on.
    pub protected_roles: Vec<String>,
    /// Emails or user names never acted on.
    pub protected_users: Vec<String>,
    /// Group names whose members are never acted on.
    pub protected_groups: Vec<String>,
    /// Most users acted on in one run.
    pub max_actions: u32,
    /// Most users acted on in one run, in percent of the users currently active.
    pub max_action_percent: u32,
    /// Pass the caps for this run.
    pub force: bool,
    /// Report prefix; the report goes to `{prefix}deactivations/dt=YYYY-MM-DD/run-<timestamp>.csv`.
    pub report_prefix: String,
    /// Actions in flight at once (the client's rate limit still applies).
    pub concurrency: usize,
    /// Told of every user scanned and every action applied.
    pub progress: Progress,
}

impl Default for StaleOptions {
    fn default() -> Self {
        StaleOptions {
            thresholds: Thresholds {
                inactive_days: 90,
                never_logged_in_grace_days: 90,
            },
            action: Action::Deactivate,
            dry_run: true,
            protected_roles: vec!["super".into(), "admin".into()],
            protected_users: Vec::new(),
            protected_groups: Vec::new(),
            max_actions: 50,
            max_action_percent: 10,
            force: false,
            report_prefix: DEFAULT_PREFIX.into(),
            concurrency: 4,
            progress: Progress::default(),
        }
    }
}

/// Why the job could not run. Per-user failures are not errors: they are rows of the report.
#[derive(Debug, thiserror::Error)]
pub enum StaleError {
    /// A protected role or group name does not resolve (or the consumer role for `demote` is missing).
    #[error("configuration: {0}")]
    Config(#[from] ResolveError),
    /// Sisense failed while listing users, roles or groups.
    #[error("Sisense: {0}")]
    Sisense(#[from] sisense::Error),
    /// The object store failed (report, or the snapshots a delete needs).
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Encoding the report failed.
    #[error("writing report: {0}")]
    Csv(#[from] csv::Error),
    /// The API reports no last login or activity (Periscope), so no user can be judged stale.
    #[error(
        "{family} reports no last login or activity for its users, so staleness cannot be judged; \
         no user was listed or changed (review inactive users with the site's own usage data instead)"
    )]
    CannotJudgeStaleness {
        /// The API family, as people name it.
        family: &'static str,
    },
}

/// What a run did; also written as the `.summary.json` beside the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StaleSummary {
    /// Users listed.
    pub scanned: u64,
    /// Users currently active.
    pub active: u64,
    /// Stale, unprotected users that need the action (the plan).
    pub stale: u64,
    /// Stale users left alone because they are protected.
    pub protected: u64,
    /// Stale users already in the action's end state (e.g. already demoted).
    pub already_done: u64,
    /// Users the action was applied to and verified.
    pub acted: u64,
    /// Writes Sisense accepted but did not apply (verified by reading back).
    pub not_applied: u64,
    /// Writes that failed.
    pub failed: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether the plan exceeded a cap, so nothing was changed.
    pub aborted: bool,
    /// The cap applied: `min(maxActions, maxActionPercent of active)`.
    pub cap: u64,
    /// Whether `force` passed the caps.
    pub forced: bool,
    /// The action.
    pub action: Action,
    /// The store the report is in.
    pub bucket: String,
    /// Key of the report CSV.
    pub report_key: String,
    /// Key of the summary JSON.
    pub summary_key: String,
    /// When the run started (also "now" for every age).
    pub started_at: String,
}

/// One report row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    user: User,
    role_name: String,
    last_seen: Option<DateTime<Utc>>,
    days_inactive: i64,
    action: Option<Action>,
    status: Status,
    message: String,
}

impl Row {
    fn cells(&self) -> [String; 9] {
        [
            self.user.id.to_string(),
            self.user.email.clone(),
            self.role_name.clone(),
            timestamp(self.last_seen),
            timestamp(self.user.created),
            self.days_inactive.to_string(),
            self.action.map_or("none", Action::as_str).to_string(),
            self.status.as_str().to_string(),
            self.message.clone(),
        ]
    }
}

/// The plan: users to act on, and the stale users the report shows without acting.
struct Plan {
    act: Vec<Row>,
    keep: Vec<Row>,
}

/// Runs the job once. Returns the summary; the report and summary are in `store`.
pub async fn deactivate_stale_users(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    options: &StaleOptions,
) -> Result<StaleSummary, StaleError> {
    let capabilities = directory.capabilities();
    if !capabilities.last_login {
        tracing::error!(
            family = capabilities.family,
            "no last logins: refusing to judge staleness"
        );
        return Err(StaleError::CannotJudgeStaleness {
            family: capabilities.family,
        });
    }
    let now = clock.now();
    let prefix = normalise_prefix(&options.report_prefix);
    let stem = format!(
        "{prefix}deactivations/dt={}/run-{}",
        now.format("%Y-%m-%d"),
        stamp(now)
    );
    let mut summary = StaleSummary {
        dry_run: options.dry_run,
        forced: options.force,
        action: options.action,
        bucket: store.container(),
        report_key: format!("{stem}.csv"),
        summary_key: format!("{stem}.summary.json"),
        started_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        ..StaleSummary::default()
    };

    let (roles, groups) = (directory.roles(None).await?, directory.groups(None).await?);
    let names = Names::new(&roles, &groups);
    let roles = RoleResolver::new(roles);
    let protection = Protection::resolve(
        &roles,
        &GroupResolver::new(groups),
        &options.protected_roles,
        &options.protected_users,
        &options.protected_groups,
    )?;
    let target = apply::Target::new(options.action, &roles)?;
    let mut plan = plan(
        directory,
        options,
        now,
        &protection,
        &target,
        &names,
        &mut summary,
    )
    .await?;

    summary.cap = u64::from(options.max_actions)
        .min(summary.active * u64::from(options.max_action_percent) / 100);
    let over = summary.stale > summary.cap;
    if over && !options.force {
        summary.aborted = true;
        let message = format!(
            "plan of {} exceeds the cap of {} (maxActions {}, maxActionPercent {} of {} active); nothing changed",
            summary.stale,
            summary.cap,
            options.max_actions,
            options.max_action_percent,
            summary.active
        );
        tracing::warn!(stale = summary.stale, cap = summary.cap, "{message}");
        for row in &mut plan.act {
            row.status = Status::AbortedOverThreshold;
            row.message = message.clone();
        }
    } else if options.dry_run {
        for row in &mut plan.act {
            row.status = Status::Would(options.action);
        }
    } else {
        if over {
            tracing::warn!(
                stale = summary.stale,
                cap = summary.cap,
                "force passes the cap"
            );
        }
        let context = apply::Context {
            directory,
            store,
            target: &target,
            snapshot_prefix: format!("{prefix}deactivations/snapshots/"),
            names: &names,
            halted: Default::default(),
        };
        options
            .progress
            .start("applying actions", Some(plan.act.len() as u64));
        plan.act = futures::stream::iter(plan.act)
            .map(|row| context.apply(row))
            .buffered(options.concurrency.max(1))
            .inspect(|_| options.progress.advance(1))
            .collect()
            .await;
        for row in &plan.act {
            match row.status {
                Status::Done(_) => summary.acted += 1,
                Status::NotApplied => summary.not_applied += 1,
                _ => summary.failed += 1,
            }
        }
    }

    let mut rows = plan.act;
    rows.extend(plan.keep);
    rows.sort_by(|a, b| a.user.id.cmp(&b.user.id));
    put_csv(
        store,
        &summary.report_key,
        csv_bytes(HEADER, rows.iter().map(Row::cells))?,
    )
    .await?;
    put_json(store, &summary.summary_key, &summary).await?;
    tracing::info!(
        scanned = summary.scanned, stale = summary.stale, protected = summary.protected,
        acted = summary.acted, not_applied = summary.not_applied, failed = summary.failed,
        dry_run = summary.dry_run, aborted = summary.aborted, report = %summary.report_key,
        "stale-user run finished"
    );
    Ok(summary)
}

/// Lists every user once and sorts the stale ones into "act" and "keep".
async fn plan(
    directory: &dyn Directory,
    options: &StaleOptions,
    now: DateTime<Utc>,
    protection: &Protection,
    target: &apply::Target,
    names: &Names,
    summary: &mut StaleSummary,
) -> Result<Plan, StaleError> {
    let mut plan = Plan {
        act: Vec::new(),
        keep: Vec::new(),
    };
    options.progress.start("scanning users", None);
    let mut users = directory.users(UserQuery::default());
    while let Some(user) = users.try_next().await? {
        summary.scanned += 1;
        options.progress.advance(1);
        let Standing::Stale {
            last_seen,
            days_inactive,
        } = standing(&user, now, options.thresholds)
        else {
            summary.active += u64::from(user.is_active());
            continue;
        };
        summary.active += 1;
        let mut row = Row {
            role_name: names.role(&user).to_string(),
            user,
            last_seen,
            days_inactive,
            action: Some(options.action),
            status: Status::Planned,
            message: String::new(),
        };
        if let Some(reason) = protection.reason(&row.user) {
            summary.protected += 1;
            row.action = None;
            row.status = Status::Protected;
            row.message = reason;
            plan.keep.push(row);
        } else if target.is_done(&row.user) {
            summary.already_done += 1;
        } else {
            summary.stale += 1;
            plan.act.push(row);
        }
    }
    Ok(plan)
}
