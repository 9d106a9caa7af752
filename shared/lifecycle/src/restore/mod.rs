//! Undoing a live deactivate-stale-users run from its report: each acted-on user is put back as the snapshot
//! taken before the change had it. Demoted users get their role and groups back, deactivated users their
//! active flag (where Sisense applied it), deleted users are re-created (same email, user name, names, role and
//! groups) and handed back the dashboards the run moved to the transfer target. Dry run by default, idempotent
//! (what is already back is `already_restored`), under the same caps, with its own report under
//! `{prefix}restores/`.

mod plan;

use futures::TryStreamExt;
use serde::Serialize;
use sisense::{Directory, UserQuery};

use crate::artefact::{csv_bytes, instant, put_csv, put_json, stamp};
use crate::clock::Clock;
use crate::engine::LiveRun;
use crate::error::JobError;
use crate::names::Names;
use crate::progress::Progress;
use crate::stale::{DEFAULT_MAX_ACTION_PERCENT, DEFAULT_MAX_ACTIONS};
use crate::store::ObjectStore;

pub use plan::RestoreStatus;
use plan::{Installation, Item};

/// The restore report's columns, exactly.
pub const HEADER: [&str; 8] = [
    "user_id",
    "email",
    "action",
    "restore",
    "status",
    "new_user_id",
    "dashboards_returned",
    "message",
];

/// How a restore runs.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Key of the deactivate-stale-users report to undo (`{prefix}deactivations/dt=…/run-….csv`).
    pub report_key: String,
    /// Plan and report only; send no write.
    pub dry_run: bool,
    /// Most users restored in one run.
    pub max_actions: u32,
    /// Most users restored in one run, in percent of the users currently active.
    pub max_action_percent: u32,
    /// Pass the caps for this run.
    pub force: bool,
    /// Told of every user restored.
    pub progress: Progress,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            report_key: String::new(),
            dry_run: true,
            max_actions: DEFAULT_MAX_ACTIONS,
            max_action_percent: DEFAULT_MAX_ACTION_PERCENT,
            force: false,
            progress: Progress::default(),
        }
    }
}

/// What a restore did; also written as the `.summary.json` beside its report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSummary {
    /// The report undone.
    pub restore_from: String,
    /// Rows of that report a restore applies to (users acted on, or whose dashboards were moved).
    pub candidates: u64,
    /// Users that need a change to be back (the plan).
    pub to_restore: u64,
    /// Users put back and verified.
    pub restored: u64,
    /// Users already as they were before the run: nothing sent.
    pub already_restored: u64,
    /// Writes Sisense accepted but did not apply.
    pub not_applied: u64,
    /// Users that could not be put back (see the report).
    pub failed: u64,
    /// Dashboards handed back to their owners.
    pub dashboards_returned: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether the plan exceeded a cap, so nothing was changed.
    pub aborted: bool,
    /// The cap applied: `min(maxActions, maxActionPercent of active)`.
    pub cap: u64,
    /// Whether `force` passed the caps.
    pub forced: bool,
    /// The store the report is in.
    pub bucket: String,
    /// Key of the restore report CSV.
    pub report_key: String,
    /// Key of the summary JSON.
    pub summary_key: String,
    /// When the run started.
    pub started_at: String,
}

/// Where the restore's report goes: under `prefix`, the report prefix of the run it undoes, beside that run's
/// `deactivations/` folder.
fn report_stem(prefix: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{prefix}restores/dt={}/restore-{}",
        at.format("%Y-%m-%d"),
        stamp(at)
    )
}

/// The report prefix of the run a report belongs to: what comes before its `deactivations/` folder.
fn report_prefix(source: &str) -> Result<&str, JobError> {
    source
        .rfind("deactivations/dt=")
        .map(|i| &source[..i])
        .ok_or_else(|| {
            JobError::Config(format!(
                "restoreFrom {source:?} is not a deactivate-stale-users report key (expected \
                 …deactivations/dt=YYYY-MM-DD/run-….csv)"
            ))
        })
}

/// Restores the users a live run acted on. Returns the summary; the report and summary are in `store`. A live
/// restore holds the same live-run lock as the deactivation job for its whole run (it is one invocation), so
/// it never overlaps a deactivation or another restore: it is refused with [`JobError::RunInProgress`] then.
#[tracing::instrument(skip_all, fields(report = %options.report_key, dry_run = options.dry_run))]
pub async fn restore_users(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    options: &RestoreOptions,
) -> Result<RestoreSummary, JobError> {
    let now = clock.now();
    let prefix = report_prefix(&options.report_key)?;
    let stem = report_stem(prefix, now);
    if options.dry_run {
        return restore(directory, store, options, &stem, now).await;
    }
    let run_id = format!("restore-{}", stamp(now));
    let lock = LiveRun::acquire(store, &crate::stale::lock_key(prefix), &run_id, now).await?;
    let result = restore(directory, store, options, &stem, now).await;
    lock.release(store, now).await?;
    result
}

/// The restore itself, with the report at `stem`.
async fn restore(
    directory: &dyn Directory,
    store: &dyn ObjectStore,
    options: &RestoreOptions,
    stem: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RestoreSummary, JobError> {
    let mut summary = RestoreSummary {
        restore_from: options.report_key.clone(),
        dry_run: options.dry_run,
        forced: options.force,
        bucket: store.container(),
        report_key: format!("{stem}.csv"),
        summary_key: format!("{stem}.summary.json"),
        started_at: instant(now),
        ..RestoreSummary::default()
    };
    let report = store
        .get(&options.report_key)
        .await?
        .ok_or_else(|| JobError::InputMissing(options.report_key.clone()))?;
    let rows = plan::candidates(&options.report_key, &report)?;
    summary.candidates = rows.len() as u64;

    let (roles, groups) = (directory.roles(None).await?, directory.groups(None).await?);
    let names = Names::new(&roles, &groups);
    let installation = installation(directory, &rows, &options.progress).await?;

    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(plan::decide(store, &installation, &names, row).await);
    }
    summary.to_restore = items.iter().filter(|i| i.needs_change()).count() as u64;
    summary.already_restored = items
        .iter()
        .filter(|i| i.status == RestoreStatus::AlreadyRestored)
        .count() as u64;
    summary.cap = u64::from(options.max_actions)
        .min(installation.active() * u64::from(options.max_action_percent) / 100);
    if summary.to_restore > summary.cap && !options.force {
        summary.aborted = true;
        refuse_over_cap(&mut items, &summary, options, installation.active());
    } else if options.dry_run {
        for item in items.iter_mut().filter(|i| i.needs_change()) {
            item.status = RestoreStatus::WouldRestore;
        }
    } else {
        options
            .progress
            .start("restoring users", Some(summary.to_restore));
        for item in items.iter_mut().filter(|i| i.needs_change()) {
            plan::apply(directory, &names, item).await;
            options.progress.advance(1);
        }
    }
    count(&items, &mut summary);
    put_csv(
        store,
        &summary.report_key,
        csv_bytes(HEADER, items.iter().map(Item::cells))?,
    )
    .await?;
    put_json(store, &summary.summary_key, &summary).await?;
    tracing::info!(
        candidates = summary.candidates, restored = summary.restored, already = summary.already_restored,
        failed = summary.failed, dry_run = summary.dry_run, aborted = summary.aborted,
        report = %summary.report_key, "restore finished"
    );
    Ok(summary)
}

/// Lists the installation: every user, and the dashboards' owners where the run moved dashboards.
async fn installation(
    directory: &dyn Directory,
    rows: &[plan::Record],
    progress: &Progress,
) -> Result<Installation, JobError> {
    let mut installation = Installation::default();
    progress.start("scanning users", None);
    let mut users = directory.users(UserQuery::default());
    while let Some(user) = users.try_next().await? {
        progress.advance(1);
        installation.add_user(user);
    }
    // Dashboard owners matter only where the run moved dashboards.
    if let Some(content) = directory
        .content()
        .filter(|_| rows.iter().any(plan::Record::moved_dashboards))
    {
        let mut dashboards = content.dashboards();
        while let Some(dashboard) = dashboards.try_next().await? {
            installation.add_dashboard(dashboard);
        }
    }
    Ok(installation)
}

/// Marks every row to restore as refused by the cap, with why.
fn refuse_over_cap(
    items: &mut [Item],
    summary: &RestoreSummary,
    options: &RestoreOptions,
    active: u64,
) {
    let message = format!(
        "{} users to restore exceed the cap of {} (maxActions {}, maxActionPercent {} of {active} active); \
         nothing changed: pass force for this run",
        summary.to_restore, summary.cap, options.max_actions, options.max_action_percent,
    );
    tracing::warn!("{message}");
    for item in items.iter_mut().filter(|i| i.needs_change()) {
        item.status = RestoreStatus::AbortedOverThreshold;
        item.message = message.clone();
    }
}

/// Adds the rows' outcomes to the summary.
fn count(items: &[Item], summary: &mut RestoreSummary) {
    for item in items {
        summary.dashboards_returned += item.returned.len() as u64;
        match item.status {
            RestoreStatus::Restored => summary.restored += 1,
            RestoreStatus::NotApplied => summary.not_applied += 1,
            RestoreStatus::Failed => summary.failed += 1,
            RestoreStatus::Planned
            | RestoreStatus::WouldRestore
            | RestoreStatus::AlreadyRestored
            | RestoreStatus::AbortedOverThreshold => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_restore_report_goes_beside_the_deactivations_folder() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 4, 5, 6).unwrap();
        let stem = report_stem(
            report_prefix("reports/deactivations/dt=2026-11-30/run-x.csv").unwrap(),
            at,
        );
        assert!(
            stem.starts_with("reports/restores/dt=2026-12-01/restore-"),
            "{stem}"
        );
        let local = report_stem(
            report_prefix("deactivations/dt=2026-11-30/run-x.csv").unwrap(),
            at,
        );
        assert!(local.starts_with("restores/dt=2026-12-01/"), "{local}");
        let err = report_prefix("exports/users/latest.csv").unwrap_err();
        assert!(
            err.to_string()
                .contains("not a deactivate-stale-users report"),
            "{err}"
        );
    }
}
