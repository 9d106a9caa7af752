//! Reporting: the report and summary of a run that ends in one invocation, the refusal of an unhealthy one, and
//! the end of every run.

use sisense::{Directory, UserId};

use super::StaleError;
use super::apply::Status;
use super::model::{HEADER, Plan, Row};
use super::summary::StaleSummary;
use crate::artefact::{csv_bytes, put_csv, put_json};
use crate::error::JobError;
use crate::store::ObjectStore;

/// Writes a one-invocation run's report (rows by user id) and its summary.
pub(crate) async fn write_report(
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
pub(crate) async fn refuse_unhealthy(
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

/// The run's end: its summary, or `DeactivationUnsupported` when the probe showed the action is not applied.
pub(crate) fn finished(
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
