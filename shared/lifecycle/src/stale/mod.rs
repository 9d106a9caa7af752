//! The deactivate-stale-users job: find active users not seen for N days and deactivate, demote or delete
//! them, under caps, dry run by default, verifying every write by reading the user back, with an audit report.
//!
//! In steps, one module each: `options` (what a run may do, declared once), `planning` (one listing, each user
//! judged by every activity signal), the health check (`health`) and notice (`notice`), the `caps`, applying a
//! frozen plan across invocations on the [engine](crate::engine) (`run`, `apply`), and `reporting`.

mod apply;
mod caps;
mod health;
mod model;
mod notice;
mod options;
mod planning;
mod policy;
mod reporting;
mod run;
mod sessions;
mod summary;
pub(crate) mod transfer;

use chrono::{DateTime, Utc};

use sisense::Directory;

pub use crate::engine::Continuation;
pub use apply::{Action, Status};
pub use health::{
    DEFAULT_MAX_UNKNOWN_PERCENT, DEFAULT_MIN_RECENT_PERCENT, HealthLimits, SignalHealth,
};
pub use model::HEADER;
pub use options::{
    DEFAULT_FEED_MAX_AGE_DAYS, DEFAULT_INACTIVE_DAYS, DEFAULT_MAX_ACTION_PERCENT,
    DEFAULT_MAX_ACTIONS, DEFAULT_PROTECTED_ROLES, StaleOptions,
};
pub use policy::{Protection, Standing, Thresholds, standing};
pub use summary::StaleSummary;

pub(crate) use health::{HealthCount, percent};
pub(crate) use model::{Plan, Row};
pub(crate) use run::lock_key;

use caps::Verdict;
use notice::{Decision, Ledger};
use planning::{Scan, Setup, plan, setup};
use reporting::{finished, refuse_unhealthy, write_report};
use run::{Frozen, Planned, RunCheckpoint};

use crate::artefact::{instant, normalise_prefix, stamp};
use crate::clock::Clock;
use crate::engine::{Driven, LiveRun, RunKeys};
use crate::error::JobError;
use crate::store::ObjectStore;
use crate::tenancy::Tenancy;

/// Why the job could not run. Per-user failures are not errors: they are rows of the report.
pub type StaleError = JobError;

/// Users written between two read-back listings (and rows per segment of a live run).
const VERIFY_BATCH: usize = 100;

/// Runs the job, or one hop of it. A dry run, or a run the caps abort, is planned and reported in one
/// invocation. A live run takes the live-run lock (one at a time: a second is refused with
/// [`JobError::RunInProgress`]), freezes its plan under `{prefix}deactivations/.state/<runId>/` and applies it
/// in segments until done or until the next segment would pass `options.deadline` (or `actionsPerHop`); then
/// the summary carries a [`Continuation`], and calling again with that `runId` continues the same plan (the
/// settings it was planned with win). A `runId` whose run exists is continued, never planned again; a finished
/// one answers its summary again.
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
        let keys = run::keys(&prefix, run_id);
        if let Some(checkpoint) = RunCheckpoint::load(store, &keys).await? {
            return resume(directory, store, options, run_id, &keys, checkpoint, now).await;
        }
    }
    let run_id = options.run_id.clone().unwrap_or_else(|| new_run_id(now));
    // Names, the action's target and the transfer target first: a run they refuse leaves nothing behind.
    let setup = setup(directory, options).await?;
    let protection = Protection::resolve(
        &setup.roles,
        &setup.groups,
        &options.protected_roles,
        &options.all_protected_users(),
        &options.protected_groups,
    )?;
    let start = Start {
        setup: &setup,
        protection: &protection,
        prefix: &prefix,
        run_id: &run_id,
        now,
    };
    if options.dry_run {
        return plan_run(directory, store, options, start).await;
    }
    let lock = LiveRun::acquire(store, &lock_key(&prefix), &run_id, now).await?;
    let result = plan_run(directory, store, options, start).await;
    settle_lock(store, &lock, &result, options, now).await?;
    result
}

/// A fresh run id: `run-<timestamp>-<nanos>`.
fn new_run_id(now: DateTime<Utc>) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("run-{}-{nanos:09}", stamp(now))
}

/// Releases the live-run lock when the run is over: it finished, it refused, or it failed where nobody repeats
/// the invocation (no deadline: the CLI). A hop that continues, or fails where the state machine retries it,
/// keeps the lock for the run's next invocation.
async fn settle_lock(
    store: &dyn ObjectStore,
    lock: &LiveRun,
    result: &Result<StaleSummary, StaleError>,
    options: &StaleOptions,
    now: DateTime<Utc>,
) -> Result<(), StaleError> {
    let over = match result {
        Ok(summary) => summary.continuation.is_none(),
        Err(e) => e.is_refusal() || options.deadline.is_none(),
    };
    if over {
        lock.release(store, now).await?;
    }
    Ok(())
}

/// The summary a new run starts from.
fn new_summary(
    store: &dyn ObjectStore,
    options: &StaleOptions,
    prefix: &str,
    run_id: &str,
    now: DateTime<Utc>,
) -> StaleSummary {
    let stem = format!(
        "{prefix}deactivations/dt={}/run-{}",
        now.format("%Y-%m-%d"),
        stamp(now)
    );
    StaleSummary {
        transfer_dashboards_to: options.transfer_dashboards_to.clone(),
        dry_run: options.dry_run,
        forced: options.force,
        action: options.action,
        bucket: store.container(),
        report_key: format!("{stem}.csv"),
        summary_key: format!("{stem}.summary.json"),
        started_at: instant(now),
        run_id: run_id.to_string(),
        hops: 1,
        notice_days: options.notice_days,
        trust_last_login: options.trust_last_login,
        feed_users: options.feed.as_ref().map(|f| f.len() as u64),
        feed_rows_invalid: options.feed.as_ref().map(|f| f.rows_invalid),
        ..StaleSummary::default()
    }
}

/// Plans a new run: lists and judges every user, checks the evidence and the caps, then reports (a dry run, an
/// unhealthy or aborted one) or starts applying.
async fn plan_run(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &StaleOptions,
    start: Start<'_>,
) -> Result<StaleSummary, StaleError> {
    let now = start.now;
    let mut summary = new_summary(store, options, start.prefix, start.run_id, now);
    let ledger = match options.notice_days {
        0 => None,
        _ => Some(Ledger::load(store, &notice::ledger_key(start.prefix)).await?),
    };
    let mut plan = survey(directory, options, start, ledger.as_ref(), &mut summary).await?;
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
    summary.signal_health = plan
        .health
        .verdict(options.health, options.thresholds.inactive_days);
    if !options.dry_run && !summary.signal_health.reasons.is_empty() {
        return refuse_unhealthy(store, plan, summary).await;
    }
    summary.cap = caps::cap(summary.active, options);
    match caps::judge(summary.stale, summary.active, options) {
        Verdict::Over(message) => {
            tracing::warn!(stale = summary.stale, cap = summary.cap, "{message}");
            summary.aborted = true;
            for row in &mut plan.act {
                row.status = Status::AbortedOverThreshold;
                row.message = message.clone();
            }
        }
        Verdict::Within | Verdict::Forced if options.dry_run => {
            for row in &mut plan.act {
                row.status = Status::Would(options.action);
            }
        }
        verdict @ (Verdict::Within | Verdict::Forced) => {
            if verdict == Verdict::Forced {
                tracing::warn!(
                    stale = summary.stale,
                    cap = summary.cap,
                    "force passes the cap"
                );
            }
            return start_live(directory, store, options, start, plan, decision, summary).await;
        }
    }
    let mut rows = plan.act;
    rows.extend(plan.keep);
    write_report(store, rows, &summary).await?;
    finished(directory, summary, None)
}

/// Everything else the plan is judged by, then the plan: tenants, dashboard owners and the listing.
async fn survey(
    directory: &dyn Directory,
    options: &StaleOptions,
    start: Start<'_>,
    ledger: Option<&Ledger>,
    summary: &mut StaleSummary,
) -> Result<Plan, StaleError> {
    let setup = start.setup;
    let tenancy = Tenancy::resolve(
        directory,
        options.tenants.as_deref(),
        options.service_account.as_deref(),
    )
    .await?;
    summary.tenants = tenancy.as_ref().map(Tenancy::allowed_names);
    let owned = match directory.content() {
        Some(content) => Some(transfer::owners(content, &options.progress).await?),
        None => None,
    };
    summary.dashboards = owned
        .as_ref()
        .map(|o| o.values().map(|d| d.len() as u64).sum());
    let scan = Scan {
        protection: start.protection,
        target: &setup.target,
        names: &setup.names,
        owned: owned.as_ref(),
        transfer: setup.custodian.is_some(),
        warned: ledger,
        tenancy: tenancy.as_ref(),
    };
    plan(directory, options, start.now, &scan, summary).await
}

/// Where a new run starts from.
#[derive(Clone, Copy)]
struct Start<'a> {
    setup: &'a Setup,
    protection: &'a Protection,
    prefix: &'a str,
    run_id: &'a str,
    now: DateTime<Utc>,
}

/// Starts a live run: tells of the users warned, saves the notice ledger, freezes the plan and runs its first hop.
async fn start_live(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &StaleOptions,
    start: Start<'_>,
    plan: Plan,
    decision: Option<Decision>,
    mut summary: StaleSummary,
) -> Result<StaleSummary, StaleError> {
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
        decision
            .ledger
            .save(store, &notice::ledger_key(start.prefix))
            .await?;
    }
    let keys = run::keys(start.prefix, start.run_id);
    let frozen = Frozen {
        action: options.action,
        transfer_dashboards_to: options.transfer_dashboards_to.clone(),
        revoke_sessions: options.revoke_sessions,
        snapshot_prefix: format!(
            "{}deactivations/snapshots/run-{}/",
            start.prefix,
            stamp(start.now)
        ),
        rows: plan.act.iter().map(Planned::new).collect(),
    };
    let checkpoint = run::freeze(store, &keys, &frozen, &plan.keep, summary).await?;
    hop(
        directory,
        store,
        options,
        start.setup,
        &keys,
        &frozen,
        checkpoint,
    )
    .await
}

/// Continues the run at `keys` with the settings it was planned with, holding the live-run lock.
async fn resume(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &StaleOptions,
    run_id: &str,
    keys: &RunKeys,
    mut checkpoint: RunCheckpoint,
    now: DateTime<Utc>,
) -> Result<StaleSummary, StaleError> {
    if let Some((summary, unsupported)) = run::finished(&checkpoint) {
        tracing::info!(
            run_id,
            "the run is already finished; answering its summary again"
        );
        return finished(directory, summary, unsupported);
    }
    let prefix = normalise_prefix(&options.report_prefix);
    let lock = LiveRun::acquire(store, &lock_key(&prefix), run_id, now).await?;
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
    let result = match setup(directory, &options).await {
        Ok(setup) => {
            hop(
                directory, store, &options, &setup, keys, &frozen, checkpoint,
            )
            .await
        }
        Err(e) => Err(e),
    };
    settle_lock(store, &lock, &result, &options, now).await?;
    result
}

/// Applies the frozen plan from the checkpoint for as long as this invocation allows; finishes the run when done.
async fn hop(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &StaleOptions,
    setup: &Setup,
    keys: &RunKeys,
    frozen: &Frozen,
    mut checkpoint: RunCheckpoint,
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
    match run::drive(&context, store, keys, frozen, &mut checkpoint, options).await? {
        Driven::Yielded => Ok(run::unfinished(
            &checkpoint,
            &checkpoint.state.summary.run_id,
        )),
        Driven::Done => {
            let (summary, unsupported) = run::finish(store, keys, checkpoint).await?;
            finished(directory, summary, unsupported)
        }
    }
}
