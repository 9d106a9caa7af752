//! The deactivate-stale-users job: find active users not seen for N days and deactivate, demote or delete
//! them, under caps, dry run by default, verifying every write by reading the user back, with an audit report.

mod apply;
mod policy;
mod sessions;
pub(crate) mod transfer;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::HashMap;

use sisense::{DashboardId, Directory, GroupResolver, RoleResolver, User, UserId, UserQuery};

pub use apply::{Action, Status};
pub use policy::{Protection, Standing, Thresholds, standing};

use crate::artefact::{
    REPORT_PREFIX, csv_bytes, instant, normalise_prefix, put_csv, put_json, stamp, timestamp,
};
use crate::clock::Clock;
use crate::error::{InvalidOption, JobError};
use crate::names::Names;
use crate::progress::Progress;
use crate::store::ObjectStore;

/// Days without a login after which a user is stale, unless configured.
pub const DEFAULT_INACTIVE_DAYS: u32 = 90;
/// Roles never acted on, unless configured.
pub const DEFAULT_PROTECTED_ROLES: [&str; 2] = ["super", "admin"];
/// Most users acted on in one run, unless configured.
pub const DEFAULT_MAX_ACTIONS: u32 = 50;
/// Most users acted on in one run in percent of the active users, unless configured.
pub const DEFAULT_MAX_ACTION_PERCENT: u32 = 10;

/// The report's columns, exactly. `previous_role`, `previous_groups` and `snapshot_key` are the state before a
/// live action (what a restore puts back); `dashboards_moved` the dashboards handed to the transfer target;
/// `sessions` whether the user's tokens were revoked.
pub const HEADER: [&str; 15] = [
    "user_id",
    "email",
    "role_name",
    "last_seen",
    "created_date",
    "days_inactive",
    "dashboards_owned",
    "action",
    "status",
    "message",
    "previous_role",
    "previous_groups",
    "snapshot_key",
    "dashboards_moved",
    "sessions",
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
    /// The account the job runs as (email or user name): always protected, whatever the lists say.
    pub service_account: Option<String>,
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
    /// Email of an existing user who receives the dashboards of users `delete` removes. Without it, `delete`
    /// leaves every dashboard owner alone (`protected_owner`): Sisense deletes a user's dashboards with the user.
    pub transfer_dashboards_to: Option<String>,
    /// Revoke the tokens of every user acted on, so the change takes effect now rather than at the next login.
    pub revoke_sessions: bool,
    /// Told of every user scanned and every action applied.
    pub progress: Progress,
}

impl Default for StaleOptions {
    fn default() -> Self {
        StaleOptions {
            thresholds: Thresholds::new(DEFAULT_INACTIVE_DAYS, None),
            action: Action::Deactivate,
            dry_run: true,
            protected_roles: DEFAULT_PROTECTED_ROLES.map(String::from).to_vec(),
            protected_users: Vec::new(),
            service_account: None,
            protected_groups: Vec::new(),
            max_actions: DEFAULT_MAX_ACTIONS,
            max_action_percent: DEFAULT_MAX_ACTION_PERCENT,
            force: false,
            report_prefix: REPORT_PREFIX.into(),
            concurrency: 4,
            transfer_dashboards_to: None,
            revoke_sessions: true,
            progress: Progress::default(),
        }
    }
}

impl StaleOptions {
    /// Checks the ranges the job relies on: at least one inactive day (0 would target everyone), a
    /// percentage cap of at most 100.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.thresholds.inactive_days == 0 {
            return Err(InvalidOption::new(
                "inactiveDays",
                0,
                "must be at least 1 (0 would target everyone)",
            ));
        }
        if self.max_action_percent > 100 {
            return Err(InvalidOption::new(
                "maxActionPercent",
                self.max_action_percent,
                "must be between 0 and 100",
            ));
        }
        if let Some(email) = &self.transfer_dashboards_to
            && !email.contains('@')
        {
            return Err(InvalidOption::new(
                "transferDashboardsTo",
                email,
                "must be the email of an existing user",
            ));
        }
        Ok(())
    }

    /// Every protected user: the list's, the service account and the dashboards' transfer target.
    pub fn all_protected_users(&self) -> Vec<String> {
        let mut users = self.protected_users.clone();
        users.extend(self.service_account.clone());
        users.extend(self.transfer_dashboards_to.clone());
        users
    }
}

/// Why the job could not run. Per-user failures are not errors: they are rows of the report.
pub type StaleError = JobError;

/// What a run did; also written as the `.summary.json` beside the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StaleSummary {
    /// Users listed.
    pub scanned: u64,
    /// Users currently active (activated accounts; pending invitations are not).
    pub active: u64,
    /// Pending invitations (`active: false`) listed; the stale ones are report rows, acted on only by `delete`.
    pub pending_invitations: u64,
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
    /// Planned users not attempted because a probe showed the action is not applied here.
    pub not_attempted: u64,
    /// Dashboards listed (owner instances); `None` where the API cannot list them.
    pub dashboards: Option<u64>,
    /// Stale users `delete` left alone because they own dashboards and no transfer target was set.
    pub protected_owners: u64,
    /// Dashboards handed to the transfer target (and verified) before their owners were deleted.
    pub dashboards_transferred: u64,
    /// The transfer target's email, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_dashboards_to: Option<String>,
    /// Users acted on whose tokens were revoked.
    pub sessions_revoked: u64,
    /// Users acted on whose tokens could not be revoked (reported per row; not fatal).
    pub revocations_failed: u64,
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
    /// The dashboards the user owns (`None` where they cannot be listed).
    dashboards: Option<Vec<DashboardId>>,
    action: Option<Action>,
    status: Status,
    message: String,
    /// State before a live action: role name, group names (`;`), and the snapshot's key.
    previous: Option<(String, String)>,
    snapshot_key: String,
    /// Dashboards handed to the transfer target and verified there.
    moved: Vec<DashboardId>,
    sessions: String,
}

impl Row {
    fn cells(&self) -> [String; 15] {
        let ids = |ids: &[DashboardId]| {
            ids.iter()
                .map(DashboardId::as_str)
                .collect::<Vec<_>>()
                .join(";")
        };
        let (previous_role, previous_groups) = self.previous.clone().unwrap_or_default();
        [
            self.user.id.to_string(),
            self.user.email.clone(),
            self.role_name.clone(),
            timestamp(self.last_seen),
            timestamp(self.user.created),
            self.days_inactive.to_string(),
            self.dashboards
                .as_ref()
                .map_or_else(String::new, |d| d.len().to_string()),
            self.action.map_or("none", Action::as_str).to_string(),
            self.status.as_str().to_string(),
            self.message.clone(),
            previous_role,
            previous_groups,
            self.snapshot_key.clone(),
            ids(&self.moved),
            self.sessions.clone(),
        ]
    }

    /// How many dashboards the user owns (0 where unknown).
    fn owned(&self) -> usize {
        self.dashboards.as_ref().map_or(0, Vec::len)
    }
}

/// The plan: users to act on, and the stale users the report shows without acting.
struct Plan {
    act: Vec<Row>,
    keep: Vec<Row>,
}

/// Runs the job once. Returns the summary; the report and summary are in `store`.
#[tracing::instrument(skip_all, fields(
    family = directory.capabilities().family,
    action = options.action.as_str(),
    dry_run = options.dry_run,
))]
pub async fn deactivate_stale_users(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    options: &StaleOptions,
) -> Result<StaleSummary, StaleError> {
    options
        .validate()
        .map_err(|e| JobError::Config(e.to_string()))?;
    let capabilities = directory.capabilities();
    if !capabilities.last_login {
        tracing::error!(
            family = capabilities.family,
            "no last logins: refusing to judge staleness"
        );
        return Err(JobError::CannotJudgeStaleness {
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
        transfer_dashboards_to: options.transfer_dashboards_to.clone(),
        dry_run: options.dry_run,
        forced: options.force,
        action: options.action,
        bucket: store.container(),
        report_key: format!("{stem}.csv"),
        summary_key: format!("{stem}.summary.json"),
        started_at: instant(now),
        ..StaleSummary::default()
    };

    let (roles, groups) = (directory.roles(None).await?, directory.groups(None).await?);
    let names = Names::new(&roles, &groups);
    let roles = RoleResolver::new(roles);
    let protection = Protection::resolve(
        &roles,
        &GroupResolver::new(groups),
        &options.protected_roles,
        &options.all_protected_users(),
        &options.protected_groups,
    )?;
    let target = apply::Target::new(options.action, &roles)?;
    let content = directory.content();
    if options.action == Action::Delete && content.is_none() {
        return Err(JobError::Config(format!(
            "delete needs to see who owns dashboards (Sisense deletes a user's dashboards with the user) and {} \
             cannot list them; nothing was changed: use demote instead",
            capabilities.family
        )));
    }
    let custodian = transfer::custodian(directory, options).await?;
    let owned = match content {
        Some(content) => Some(transfer::owners(content, &options.progress).await?),
        None => None,
    };
    summary.dashboards = owned
        .as_ref()
        .map(|o| o.values().map(|d| d.len() as u64).sum());
    let mut plan = plan(
        directory,
        options,
        now,
        &Scan {
            protection: &protection,
            target: &target,
            names: &names,
            owned: owned.as_ref(),
            transfer: custodian.is_some(),
        },
        &mut summary,
    )
    .await?;

    summary.cap = u64::from(options.max_actions)
        .min(summary.active * u64::from(options.max_action_percent) / 100);
    let over = summary.stale > summary.cap;
    let mut unsupported = None;
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
            snapshot_prefix: format!("{prefix}deactivations/snapshots/run-{}/", stamp(now)),
            names: &names,
            content,
            custodian: custodian.as_ref(),
            halted: Default::default(),
        };
        options
            .progress
            .start("applying actions", Some(plan.act.len() as u64));
        let (mut acted, probe_failed) = apply_all(&context, plan.act, options).await;
        sessions::revoke(content, options.revoke_sessions, &mut acted, &mut summary).await;
        plan.act = acted;
        for row in &plan.act {
            summary.dashboards_transferred += row.moved.len() as u64;
            match row.status {
                Status::Done(_) => summary.acted += 1,
                Status::NotApplied => summary.not_applied += 1,
                Status::Failed => summary.failed += 1,
                Status::NotAttempted => summary.not_attempted += 1,
                Status::Planned
                | Status::Would(_)
                | Status::Protected
                | Status::ProtectedOwner
                | Status::PendingInvitation
                | Status::AbortedOverThreshold => {
                    tracing::error!(
                        status = row.status.as_str(),
                        "an applied row kept a status applying never gives"
                    );
                    summary.failed += 1;
                }
            }
        }
        unsupported = probe_failed;
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
    if let Some(user) = unsupported {
        tracing::error!(user_id = %user, not_attempted = summary.not_attempted, "deactivation is not applied by this installation; run stopped after one write");
        return Err(JobError::DeactivationUnsupported {
            family: capabilities.family,
            user: user.to_string(),
            not_attempted: summary.not_attempted,
            report: format!("{}/{}", summary.bucket, summary.report_key),
        });
    }
    tracing::info!(
        scanned = summary.scanned, stale = summary.stale, protected = summary.protected,
        acted = summary.acted, not_applied = summary.not_applied, failed = summary.failed,
        dry_run = summary.dry_run, aborted = summary.aborted, report = %summary.report_key,
        "stale-user run finished"
    );
    Ok(summary)
}

/// Users written between two read-back listings.
const VERIFY_BATCH: usize = 100;

/// Applies the plan. A live `deactivate` probes first: rows are applied one at a time until one is verified
/// applied (then the rest go concurrently) or accepted-but-not-applied (then no other write is sent, the rest
/// are `not_attempted`, and the user probed is returned). Writes are verified in batches of [`VERIFY_BATCH`] by
/// one listing each.
async fn apply_all(
    context: &apply::Context<'_>,
    rows: Vec<Row>,
    options: &StaleOptions,
) -> (Vec<Row>, Option<sisense::UserId>) {
    let mut rows = rows.into_iter();
    let mut applied = Vec::with_capacity(rows.len());
    if options.action == Action::Deactivate {
        for row in rows.by_ref() {
            let row = context.apply(row).await;
            options.progress.advance(1);
            let status = row.status;
            let id = row.user.id.clone();
            applied.push(row);
            match status {
                Status::Done(_) => break,
                Status::NotApplied => {
                    let message = format!(
                        "not attempted: Sisense did not apply the deactivation of {id}, so this installation does \
                         not support it; use demote or delete"
                    );
                    applied.extend(rows.map(|mut row| {
                        row.status = Status::NotAttempted;
                        row.message = message.clone();
                        row
                    }));
                    return (applied, Some(id));
                }
                Status::Failed
                | Status::Planned
                | Status::Would(_)
                | Status::Protected
                | Status::ProtectedOwner
                | Status::PendingInvitation
                | Status::NotAttempted
                | Status::AbortedOverThreshold => {}
            }
        }
    }
    // The rest: writes concurrently, then one read-back listing per batch instead of one GET per user.
    let rows: Vec<Row> = rows.collect();
    for batch in rows.chunks(VERIFY_BATCH) {
        let written: Vec<apply::Written> = futures::stream::iter(batch.iter().cloned())
            .map(|row| context.write(row))
            .buffered(options.concurrency.max(1))
            .collect()
            .await;
        let mut to_verify = Vec::with_capacity(written.len());
        for w in written {
            match w {
                apply::Written::Settled(row) => applied.push(row),
                apply::Written::Verify(row) => to_verify.push(row),
            }
        }
        if !to_verify.is_empty() {
            applied.extend(context.verify(to_verify).await);
        }
        options.progress.advance(batch.len() as u64);
    }
    (applied, None)
}

/// What the scan judges each user by.
struct Scan<'a> {
    protection: &'a Protection,
    target: &'a apply::Target,
    names: &'a Names,
    /// Dashboards per owner, where they can be listed.
    owned: Option<&'a HashMap<UserId, Vec<DashboardId>>>,
    /// Whether a transfer target takes the dashboards of users `delete` removes.
    transfer: bool,
}

/// Lists every user once and sorts the stale ones into "act" and "keep".
async fn plan(
    directory: &dyn Directory,
    options: &StaleOptions,
    now: DateTime<Utc>,
    scan: &Scan<'_>,
    summary: &mut StaleSummary,
) -> Result<Plan, StaleError> {
    let Scan {
        protection,
        target,
        names,
        ..
    } = scan;
    let mut plan = Plan {
        act: Vec::new(),
        keep: Vec::new(),
    };
    options.progress.start("scanning users", None);
    let mut users = directory.users(UserQuery::default());
    while let Some(user) = users.try_next().await? {
        summary.scanned += 1;
        options.progress.advance(1);
        let (last_seen, days_inactive, pending) = match standing(&user, now, options.thresholds) {
            Standing::Current => {
                summary.active += 1;
                continue;
            }
            Standing::Pending { stale: false, .. } => {
                summary.pending_invitations += 1;
                continue;
            }
            Standing::Pending {
                days_since_created,
                stale: true,
            } => {
                summary.pending_invitations += 1;
                (None, days_since_created, true)
            }
            Standing::Stale {
                last_seen,
                days_inactive,
            } => {
                summary.active += 1;
                (last_seen, days_inactive, false)
            }
        };
        let mut row = Row {
            role_name: names.role(&user).to_string(),
            user,
            last_seen,
            days_inactive,
            dashboards: None,
            action: Some(options.action),
            status: Status::Planned,
            message: String::new(),
            previous: None,
            snapshot_key: String::new(),
            moved: Vec::new(),
            sessions: String::new(),
        };
        row.dashboards = scan
            .owned
            .map(|owned| owned.get(&row.user.id).cloned().unwrap_or_default());
        if let Some(reason) = protection.reason(&row.user) {
            summary.protected += 1;
            row.action = None;
            row.status = Status::Protected;
            row.message = reason;
            plan.keep.push(row);
        } else if pending && target.action() != Action::Delete {
            row.action = None;
            row.status = Status::PendingInvitation;
            row.message = format!(
                "invitation never accepted (created {days_inactive} days ago); only the delete action removes \
                 invitations"
            );
            plan.keep.push(row);
        } else if target.action() == Action::Delete && row.owned() > 0 && !scan.transfer {
            summary.protected_owners += 1;
            row.action = None;
            row.status = Status::ProtectedOwner;
            row.message = format!(
                "owns {} dashboards, which Sisense deletes with the user: left alone (set transferDashboardsTo \
                 to hand them to another user first)",
                row.owned()
            );
            plan.keep.push(row);
        } else if target.is_done(&row.user, names) {
            summary.already_done += 1;
        } else {
            summary.stale += 1;
            plan.act.push(row);
        }
    }
    Ok(plan)
}
