//! The deactivate-stale-users job: find active users not seen for N days and deactivate, demote or delete
//! them, under caps, dry run by default, verifying every write by reading the user back, with an audit report.

mod apply;
mod health;
mod notice;
mod policy;
mod run;
mod sessions;
pub(crate) mod transfer;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use sisense::{DashboardId, Directory, GroupResolver, RoleResolver, User, UserId, UserQuery};

pub use apply::{Action, Status};
pub use health::{
    DEFAULT_MAX_UNKNOWN_PERCENT, DEFAULT_MIN_RECENT_PERCENT, HealthLimits, SignalHealth,
};
pub use policy::{Protection, Standing, Thresholds, standing};
pub use run::Continuation;

pub(crate) use health::{HealthCount, percent};
use notice::Ledger;
use run::{Frozen, Planned, RunKeys};

use crate::activity::{Evidence, Feed, LastSeen, Source, last_seen, signals};
use crate::artefact::{
    REPORT_PREFIX, csv_bytes, instant, normalise_prefix, put_csv, put_json, stamp, timestamp,
};
use crate::clock::Clock;
use crate::error::{InvalidOption, JobError};
use crate::names::Names;
use crate::notify::Notifier;
use crate::progress::Progress;
use crate::store::ObjectStore;
use crate::tenancy::Tenancy;

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
pub const HEADER: [&str; 16] = [
    "user_id",
    "email",
    "role_name",
    "last_seen",
    "last_seen_source",
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
    /// The run this invocation belongs to: an existing run is continued, a new one is planned under this id
    /// (default `run-<timestamp>-<nanos>`).
    pub run_id: Option<String>,
    /// A live run starts no segment that would end after this instant (the Lambda deadline minus a margin); it
    /// returns a [`Continuation`] instead.
    pub deadline: Option<std::time::Instant>,
    /// A live run settles at most this many actions per invocation (then returns a [`Continuation`]).
    pub actions_per_hop: Option<usize>,
    /// Notice before action, in days (0: off). When on, a stale user is first warned (recorded in the notice
    /// ledger under `{prefix}deactivations/notice/`), and only a live run at least this many days later acts on
    /// it, if it is still stale.
    pub notice_days: u32,
    /// Told of the users a live run warns (one message per run).
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Told of every user scanned and every action applied.
    pub progress: Progress,
    /// The activity feed (`ACTIVITY_FEED`), loaded by the caller with [`Feed::load`]: one more signal.
    pub feed: Option<Arc<Feed>>,
    /// Judge SSO users by `lastLogin` too: the operator knows their installation writes it for SSO logins.
    pub trust_last_login: bool,
    /// The health check a live run must pass before any write (`force` never passes it).
    pub health: HealthLimits,
    /// The tenants the run may act in (`TENANTS`): `None` the service account's own, names, or `["*"]` for all.
    /// Users of other tenants are reported `other_tenant` and never changed.
    pub tenants: Option<Vec<String>>,
}

impl Default for StaleOptions {
    fn default() -> Self {
        StaleOptions {
            thresholds: Thresholds::new(DEFAULT_INACTIVE_DAYS, None),
            action: Action::Demote,
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
            run_id: None,
            deadline: None,
            actions_per_hop: None,
            notice_days: 0,
            notifier: None,
            progress: Progress::default(),
            feed: None,
            trust_last_login: false,
            health: HealthLimits::default(),
            tenants: None,
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
        for (name, value) in [
            ("minRecentPercent", self.health.min_recent_percent),
            ("maxUnknownPercent", self.health.max_unknown_percent),
        ] {
            if value > 100 {
                return Err(InvalidOption::new(name, value, "must be between 0 and 100"));
            }
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
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
    /// The run's id (its state is under `deactivations/.state/<runId>/` when it is live).
    pub run_id: String,
    /// Invocations the run took so far.
    pub hops: u32,
    /// Present while a live run is not finished: invoke again with it (the report is written by the last hop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<Continuation>,
    /// Notice before action, in days (0: off).
    #[serde(default)]
    pub notice_days: u32,
    /// Stale users warned by this run (not acted on; `would_warn` in a dry run).
    #[serde(default)]
    pub warned: u64,
    /// Users warned earlier whose notice has not elapsed (not acted on).
    #[serde(default)]
    pub awaiting_notice: u64,
    /// Users removed from the notice ledger: seen since their warning, or no longer to be acted on.
    #[serde(default)]
    pub cleared: u64,
    /// Whether the warned users were notified (`NOTIFY_TOPIC_ARN`).
    #[serde(default)]
    pub notified: bool,
    /// Activated SSO users whose activity cannot be told (`activity_unknown`): left alone.
    #[serde(default)]
    pub activity_unknown: u64,
    /// Accounts activated once and deactivated since (`active: false`, seen before).
    #[serde(default)]
    pub deactivated: u64,
    /// The evidence as a whole, and whether a live run may act on it.
    #[serde(default)]
    pub signal_health: SignalHealth,
    /// Whether SSO users were judged by `lastLogin` too (`TRUST_LAST_LOGIN`).
    #[serde(default)]
    pub trust_last_login: bool,
    /// People the activity feed names, when a feed was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_users: Option<u64>,
    /// Rows of the activity feed without an email or a readable instant (counted, never fatal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_rows_invalid: Option<u64>,
    /// The tenants the run acted in (`*` for all), where the installation reports tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<String>,
    /// Stale users of other tenants, reported `other_tenant` and never changed.
    #[serde(default)]
    pub other_tenant: u64,
}

/// One report row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    user: User,
    role_name: String,
    last_seen: Option<DateTime<Utc>>,
    /// The signal `last_seen` comes from.
    source: Option<Source>,
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
    /// A row not yet judged: no action, status `planned`.
    fn new(
        user: User,
        role_name: String,
        last_seen: Option<DateTime<Utc>>,
        days_inactive: i64,
    ) -> Self {
        Row {
            role_name,
            user,
            last_seen,
            source: None,
            days_inactive,
            dashboards: None,
            action: None,
            status: Status::Planned,
            message: String::new(),
            previous: None,
            snapshot_key: String::new(),
            moved: Vec::new(),
            sessions: String::new(),
        }
    }

    fn cells(&self) -> [String; 16] {
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
            self.source.map_or("", Source::as_str).to_string(),
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

/// The plan: users to act on, the users the report shows without acting, and the evidence counted on the way.
struct Plan {
    act: Vec<Row>,
    keep: Vec<Row>,
    health: HealthCount,
}

impl Plan {
    /// Reports `row` without acting on it, as `status` with `message`. A user warned earlier is no longer to be
    /// acted on, so its warning goes (the ledger keeps only users acted on or still under notice) and its row
    /// says `cleared`, with why, so that the rows and the summary's `cleared` agree. Returns whether the row is
    /// reported as `status` (not cleared): the caller counts it then.
    fn leave(&mut self, mut row: Row, status: Status, message: String, was_warned: bool) -> bool {
        row.action = None;
        if was_warned {
            notice::clear(&mut row, &message);
            self.keep.push(row);
            return false;
        }
        row.status = status;
        row.message = message;
        self.keep.push(row);
        true
    }
}

/// What the run needs besides the plan, resolved on every hop: role and group names, the action's ids, the
/// transfer target.
struct Setup {
    names: Names,
    roles: RoleResolver,
    groups: GroupResolver,
    target: apply::Target,
    custodian: Option<User>,
}

async fn setup(directory: &dyn Directory, options: &StaleOptions) -> Result<Setup, StaleError> {
    let (roles, groups) = (directory.roles(None).await?, directory.groups(None).await?);
    let names = Names::new(&roles, &groups);
    let roles = RoleResolver::new(roles);
    let target = apply::Target::new(options.action, &roles)?;
    if options.action == Action::Delete && directory.content().is_none() {
        return Err(JobError::Config(format!(
            "delete needs to see who owns dashboards (Sisense deletes a user's dashboards with the user) and {} \
             cannot list them; nothing was changed: use demote instead",
            directory.capabilities().family
        )));
    }
    let custodian = transfer::custodian(directory, options).await?;
    Ok(Setup {
        names,
        roles,
        groups: GroupResolver::new(groups),
        target,
        custodian,
    })
}

/// Runs the job, or one hop of it. A dry run, or a run the caps abort, is planned and reported in one
/// invocation. A live run freezes its plan under `{prefix}deactivations/.state/<runId>/` and applies it in
/// segments until done or until the next segment would pass `options.deadline` (or `actionsPerHop`); then the
/// summary carries a [`Continuation`], and calling again with that `runId` continues the same plan (the settings
/// it was planned with win). A `runId` whose run exists is continued, never planned again; a finished one
/// answers its summary again.
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
    if !capabilities.last_login && options.feed.is_none() {
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
    if let Some(run_id) = &options.run_id {
        let keys = RunKeys::new(&prefix, run_id);
        if let Some(checkpoint) = run::checkpoint(store, &keys).await? {
            return resume(directory, store, options, run_id, &keys, checkpoint).await;
        }
    }
    let run_id = options.run_id.clone().unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("run-{}-{nanos:09}", stamp(now))
    });
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
        run_id: run_id.clone(),
        hops: 1,
        ..StaleSummary::default()
    };

    let setup = setup(directory, options).await?;
    let protection = Protection::resolve(
        &setup.roles,
        &setup.groups,
        &options.protected_roles,
        &options.all_protected_users(),
        &options.protected_groups,
    )?;
    let tenancy = Tenancy::resolve(
        directory,
        options.tenants.as_deref(),
        options.service_account.as_deref(),
    )
    .await?;
    summary.tenants = tenancy.as_ref().map(Tenancy::allowed_names);
    let ledger_key = notice::ledger_key(&prefix);
    let ledger = match options.notice_days {
        0 => None,
        _ => Some(Ledger::load(store, &ledger_key).await?),
    };
    summary.notice_days = options.notice_days;
    let content = directory.content();
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
            target: &setup.target,
            names: &setup.names,
            owned: owned.as_ref(),
            transfer: setup.custodian.is_some(),
            warned: ledger.as_ref(),
            tenancy: tenancy.as_ref(),
        },
        &mut summary,
    )
    .await?;
    let decision = ledger.as_ref().map(|ledger| {
        notice::judge(
            &mut plan,
            ledger,
            now,
            options.notice_days,
            options.dry_run,
            &mut summary,
        )
    });

    summary.trust_last_login = options.trust_last_login;
    summary.feed_users = options.feed.as_ref().map(|f| f.len() as u64);
    summary.feed_rows_invalid = options.feed.as_ref().map(|f| f.rows_invalid);
    summary.signal_health = plan
        .health
        .verdict(options.health, options.thresholds.inactive_days);
    if !options.dry_run && !summary.signal_health.reasons.is_empty() {
        return refuse_unhealthy(store, plan, summary).await;
    }

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
        if let Some(mut decision) = decision {
            if let (Some(notifier), false) = (&options.notifier, decision.warned.is_empty()) {
                let report = format!("{}/{}", summary.bucket, summary.report_key);
                let (subject, message) =
                    notice::notification(&decision, options.action.past_tense(), &report);
                notifier.notify(&subject, &message).await?;
                summary.notified = true;
            }
            // The users acted on now leave the ledger: a restored user who goes stale again is warned again.
            for row in &plan.act {
                decision.ledger.users.remove(row.user.id.as_str());
            }
            decision.ledger.save(store, &ledger_key).await?;
        }
        let keys = RunKeys::new(&prefix, &run_id);
        let frozen = Frozen {
            action: options.action,
            transfer_dashboards_to: options.transfer_dashboards_to.clone(),
            revoke_sessions: options.revoke_sessions,
            snapshot_prefix: format!("{prefix}deactivations/snapshots/run-{}/", stamp(now)),
            rows: plan.act.iter().map(Planned::new).collect(),
        };
        let checkpoint = run::freeze(store, &keys, &frozen, &plan.keep, summary).await?;
        return hop(
            directory, store, options, &setup, &keys, &frozen, checkpoint,
        )
        .await;
    }

    let mut rows = plan.act;
    rows.extend(plan.keep);
    write_report(store, rows, &summary).await?;
    finished(directory, summary, None)
}

/// Writes a one-invocation run's report (rows by user id) and its summary.
async fn write_report(
    store: &dyn ObjectStore,
    mut rows: Vec<Row>,
    summary: &StaleSummary,
) -> Result<(), StaleError> {
    rows.sort_by(|a, b| a.user.id.cmp(&b.user.id));
    put_csv(
        store,
        &summary.report_key,
        csv_bytes(HEADER, rows.iter().map(Row::cells))?,
    )
    .await?;
    put_json(store, &summary.summary_key, summary).await?;
    Ok(())
}

/// A live run whose evidence failed the health check: every planned row (and every warning it would have given)
/// says why, the report and summary are written, and the run ends with `SignalUnhealthy`. Nothing is written to
/// Sisense, and no notice ledger.
async fn refuse_unhealthy(
    store: &dyn ObjectStore,
    plan: Plan,
    mut summary: StaleSummary,
) -> Result<StaleSummary, StaleError> {
    let reasons = summary.signal_health.reasons.join("; ");
    tracing::error!(reasons = %reasons, "activity evidence unhealthy: refusing to act");
    let mut rows = plan.act;
    rows.extend(plan.keep);
    for row in &mut rows {
        if row.action.is_some() || matches!(row.status, Status::Warned) {
            row.action = None;
            row.status = Status::SignalUnhealthy;
            row.message = format!("not acted on: {reasons}");
        }
    }
    summary.warned = 0;
    write_report(store, rows, &summary).await?;
    Err(JobError::SignalUnhealthy {
        reasons,
        report: format!("{}/{}", summary.bucket, summary.report_key),
    })
}

/// Continues the run at `keys` with the settings it was planned with.
async fn resume(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &StaleOptions,
    run_id: &str,
    keys: &RunKeys,
    mut checkpoint: run::Checkpoint,
) -> Result<StaleSummary, StaleError> {
    if let Some((summary, unsupported)) = run::finished(&checkpoint) {
        tracing::info!(
            run_id,
            "the run is already finished; answering its summary again"
        );
        return finished(directory, summary, unsupported);
    }
    let frozen = run::frozen(store, keys).await?;
    let options = StaleOptions {
        action: frozen.action,
        dry_run: false,
        transfer_dashboards_to: frozen.transfer_dashboards_to.clone(),
        revoke_sessions: frozen.revoke_sessions,
        ..options.clone()
    };
    run::next_hop(store, keys, &mut checkpoint).await?;
    tracing::info!(run_id, hop = checkpoint.hop, "continuing the run");
    let setup = setup(directory, &options).await?;
    hop(
        directory, store, &options, &setup, keys, &frozen, checkpoint,
    )
    .await
}

/// Applies the frozen plan from the checkpoint for as long as this invocation allows; finishes the run when done.
async fn hop(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &StaleOptions,
    setup: &Setup,
    keys: &RunKeys,
    frozen: &Frozen,
    mut checkpoint: run::Checkpoint,
) -> Result<StaleSummary, StaleError> {
    let context = apply::Context {
        directory,
        store,
        target: &setup.target,
        snapshot_prefix: frozen.snapshot_prefix.clone(),
        names: &setup.names,
        content: directory.content(),
        custodian: setup.custodian.as_ref(),
        halted: Default::default(),
    };
    if !run::drive(&context, store, keys, frozen, &mut checkpoint, options).await? {
        return Ok(run::unfinished(&checkpoint, &checkpoint.summary.run_id));
    }
    let (summary, unsupported) = run::finish(store, keys, checkpoint).await?;
    finished(directory, summary, unsupported)
}

/// The run's end: its summary, or `DeactivationUnsupported` when the probe showed the action is not applied.
fn finished(
    directory: &dyn Directory,
    summary: StaleSummary,
    unsupported: Option<UserId>,
) -> Result<StaleSummary, StaleError> {
    if let Some(user) = unsupported {
        tracing::error!(user_id = %user, not_attempted = summary.not_attempted, "deactivation is not applied by this installation; run stopped after one write");
        return Err(JobError::DeactivationUnsupported {
            family: directory.capabilities().family,
            user: user.to_string(),
            not_attempted: summary.not_attempted,
            report: format!("{}/{}", summary.bucket, summary.report_key),
        });
    }
    tracing::info!(
        scanned = summary.scanned, stale = summary.stale, protected = summary.protected,
        acted = summary.acted, not_applied = summary.not_applied, failed = summary.failed,
        dry_run = summary.dry_run, aborted = summary.aborted, hops = summary.hops,
        report = %summary.report_key, "stale-user run finished"
    );
    Ok(summary)
}

/// Users written between two read-back listings (and rows per segment of a live run).
const VERIFY_BATCH: usize = 100;

/// What the scan judges each user by.
struct Scan<'a> {
    protection: &'a Protection,
    target: &'a apply::Target,
    names: &'a Names,
    /// Dashboards per owner, where they can be listed.
    owned: Option<&'a HashMap<UserId, Vec<DashboardId>>>,
    /// Whether a transfer target takes the dashboards of users `delete` removes.
    transfer: bool,
    /// The notice ledger, when notice is on.
    warned: Option<&'a Ledger>,
    /// The tenants the run may act in, where the installation has tenants.
    tenancy: Option<&'a Tenancy>,
}

/// Lists every user once and sorts the stale ones into "act" and "keep", judging each by every activity signal.
async fn plan(
    directory: &dyn Directory,
    options: &StaleOptions,
    now: DateTime<Utc>,
    scan: &Scan<'_>,
    summary: &mut StaleSummary,
) -> Result<Plan, StaleError> {
    let mut plan = Plan {
        act: Vec::new(),
        keep: Vec::new(),
        health: HealthCount::default(),
    };
    let evidence = Evidence {
        feed: options.feed.as_deref(),
        trust_last_login: options.trust_last_login,
    };
    options.progress.start("scanning users", None);
    let mut users = directory.users(UserQuery::default());
    while let Some(user) = users.try_next().await? {
        summary.scanned += 1;
        options.progress.advance(1);
        let seen = last_seen(&user, evidence);
        plan.health.add(
            &user,
            &seen,
            &signals(&user, evidence.feed),
            now,
            options.thresholds.inactive_days,
        );
        let standing = standing(&user, now, options.thresholds, evidence);
        judge(&mut plan, user, standing, &seen, scan, options, summary);
    }
    Ok(plan)
}

/// Sorts one listed user into the plan.
fn judge(
    plan: &mut Plan,
    user: User,
    standing: Standing,
    seen: &LastSeen,
    scan: &Scan<'_>,
    options: &StaleOptions,
    summary: &mut StaleSummary,
) {
    let was_warned = scan.warned.is_some_and(|l| l.contains(user.id.as_str()));
    let role_name = scan.names.role(&user).to_string();
    let mut row = Row::new(user, role_name, seen.at, 0);
    row.source = seen.source;
    if let Some(tenancy) = scan.tenancy
        && !tenancy.allows(&row.user)
    {
        let actionable = matches!(
            standing,
            Standing::Stale { .. }
                | Standing::Pending { stale: true, .. }
                | Standing::Deactivated { stale: true, .. }
        );
        if actionable {
            let message = format!(
                "in tenant {}, outside TENANTS ({}): never changed",
                tenancy.name_of(&row.user),
                tenancy.allowed_names()
            );
            if plan.leave(row, Status::OtherTenant, message, was_warned) {
                summary.other_tenant += 1;
            }
        }
        return;
    }
    let (days_inactive, pending, deactivated) = match standing {
        Standing::Current => {
            summary.active += 1;
            if was_warned {
                plan.leave(row, Status::Cleared, "seen since the warning".into(), true);
            }
            return;
        }
        Standing::Pending { stale: false, .. } => {
            summary.pending_invitations += 1;
            if was_warned {
                plan.leave(row, Status::Cleared, "no longer stale".into(), true);
            }
            return;
        }
        Standing::Deactivated { stale: false, .. } => {
            summary.deactivated += 1;
            if was_warned {
                plan.leave(row, Status::Cleared, "seen since the warning".into(), true);
            }
            return;
        }
        Standing::Unknown { days_inactive, .. } => {
            summary.active += 1;
            summary.activity_unknown += 1;
            row.days_inactive = days_inactive;
            let message = unknown_message(&row.user, row.last_seen);
            plan.leave(row, Status::ActivityUnknown, message, was_warned);
            return;
        }
        Standing::Pending {
            days_since_created,
            stale: true,
        } => {
            summary.pending_invitations += 1;
            (days_since_created, true, false)
        }
        Standing::Deactivated {
            days_inactive,
            stale: true,
            ..
        } => {
            summary.deactivated += 1;
            (days_inactive, false, true)
        }
        Standing::Stale { days_inactive, .. } => {
            summary.active += 1;
            (days_inactive, false, false)
        }
    };
    row.days_inactive = days_inactive;
    row.action = Some(options.action);
    row.dashboards = scan
        .owned
        .map(|owned| owned.get(&row.user.id).cloned().unwrap_or_default());
    let action = scan.target.action();
    if let Some(reason) = scan.protection.reason(&row.user) {
        if plan.leave(row, Status::Protected, reason, was_warned) {
            summary.protected += 1;
        }
    } else if pending && action != Action::Delete {
        let message = format!(
            "invitation never accepted (created {days_inactive} days ago); only the delete action removes              invitations"
        );
        plan.leave(row, Status::PendingInvitation, message, was_warned);
    } else if deactivated && action == Action::Deactivate {
        summary.already_done += 1;
        let message = format!(
            "already deactivated (active: false; last seen {} days ago)",
            days_inactive
        );
        plan.leave(row, Status::AlreadyDone, message, was_warned);
    } else if action == Action::Delete && row.owned() > 0 && !scan.transfer {
        let message = format!(
            "owns {} dashboards, which Sisense deletes with the user: left alone (set transferDashboardsTo              to hand them to another user first)",
            row.owned()
        );
        if plan.leave(row, Status::ProtectedOwner, message, was_warned) {
            summary.protected_owners += 1;
        }
    } else if scan.target.is_done(&row.user, scan.names) {
        summary.already_done += 1;
        if was_warned {
            plan.leave(row, Status::Cleared, "already done".into(), true);
        }
    } else {
        // Only a user still to be acted on keeps its warning.
        summary.stale += 1;
        plan.act.push(row);
    }
}

/// Why an SSO user's activity is unknown, in words.
fn unknown_message(user: &User, last_login: Option<DateTime<Utc>>) -> String {
    let how = user.created_sso().map_or_else(
        || "an SSO user".to_string(),
        |s| format!("an SSO user ({s})"),
    );
    let login = last_login.map_or_else(
        || "no login recorded".to_string(),
        |t| format!("lastLogin {}", t.format("%Y-%m-%d")),
    );
    format!(
        "activity unknown: {how} with {login}; SSO sign-ins do not write lastLogin, so it says nothing. Left \
         alone: give an activity feed that covers this user, or set TRUST_LAST_LOGIN=true"
    )
}
