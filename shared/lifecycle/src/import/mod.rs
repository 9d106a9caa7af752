//! The bulk-create-users job: a CSV in the object store creates (or updates) users, idempotently, in hops that
//! each fit one Lambda invocation, with a per-row result report.
//!
//! One invocation ("hop") claims the object (bucket, key, ETag) with a conditional write, plans every row, and
//! processes segments of rows until its budget is spent, writing each segment's results and a checkpoint.
//! The next hop (same `run_id`) resumes at the checkpoint. Another delivery of the same object finds the claim:
//! it returns the finished summary, or `InProgress` while the owner is still working.

mod execute;
mod input;
mod options;
mod outcome;
mod plan;
mod report;
mod state;

use std::time::Instant;

use futures::StreamExt;

use sisense::Directory;

pub use input::{
    CELL_ECHO, Column, FileError, InputFile, InputRow, LIST_ECHO, bounded_list, column, cut,
    fold_header, parse,
};
pub use options::{DEFAULT_MAX_HOPS, DEFAULT_MAX_ROWS, DEFAULT_ROLE, ImportOptions, ImportRequest};
pub use outcome::{HEADER, ImportOutcome, ImportSummary, RowResult, RowStatus};
pub use plan::{
    Context as PlanContext, OnExisting, Plan, Planned, Resolvers, Step, cell_problem, plan,
    scope_key, split_name, valid_email,
};
pub use state::{Checkpoint, Claim, StateKeys, is_own_output, report_prefix_problem};

use crate::artefact::{instant, normalise_prefix, stamp};
use crate::clock::Clock;
use crate::error::JobError;
use crate::store::ObjectStore;
use execute::{dry_result, existing_users, names_by_scope, run_segment, server_checked};
use report::{Report, finish, finish_from_parts, write_part};
use state::Claimed;

/// Why a hop could not run. Row problems and whole-file problems are not errors: they are in the report.
pub type ImportError = JobError;

/// Runs one hop of the import of `request.key` from `input`, keeping state and reports in `reports`.
#[tracing::instrument(skip_all, fields(
    family = directory.capabilities().family,
    key = %request.key,
    run_id = %request.run_id,
    dry_run = request.dry_run,
))]
pub async fn import_users(
    directory: &dyn Directory,
    input: &dyn ObjectStore,
    reports: &dyn ObjectStore,
    clock: &dyn Clock,
    request: &ImportRequest,
    options: &ImportOptions,
) -> Result<ImportOutcome, JobError> {
    options
        .validate()
        .map_err(|e| JobError::Config(e.to_string()))?;
    let location = format!("{}/{}", request.bucket, request.key);
    let (bytes, etag) = input
        .get_tagged(&request.key)
        .await?
        .ok_or_else(|| JobError::InputMissing(location.clone()))?;
    let prefix = normalise_prefix(&options.report_prefix);
    let keys = StateKeys::new(
        &prefix,
        &request.bucket,
        &request.key,
        &etag,
        request.dry_run,
    );
    let now = clock.now();
    let (report_key, summary_key) = state::report_keys(&prefix, &request.key, &stamp(now));
    let fresh = Claim {
        owner: request.run_id.clone(),
        claimed_at: instant(now),
        report_key,
        summary_key,
    };
    let (claim, mut checkpoint) = match state::claim(reports, &keys, fresh).await? {
        Claimed::Owned { claim, checkpoint } => (claim, checkpoint),
        Claimed::Finished { summary, duplicate } => {
            return Ok(ImportOutcome::Done {
                summary: Box::new(summary),
                duplicate,
            });
        }
        Claimed::Busy { owner } => return Ok(ImportOutcome::InProgress { owner }),
    };
    let mut summary = ImportSummary {
        dry_run: request.dry_run,
        input_key: request.key.clone(),
        input_etag: etag.clone(),
        bucket: reports.container(),
        report_key: claim.report_key.clone(),
        summary_key: claim.summary_key.clone(),
        started_at: claim.claimed_at.clone(),
        ..ImportSummary::default()
    };
    checkpoint.hop += 1;
    summary.hops = checkpoint.hop;

    let file = match parse(&bytes, options.max_rows) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(error = %e, "the file cannot be imported");
            summary.error = Some(e.to_string());
            let row = RowResult {
                row: 1,
                email: String::new(),
                status: RowStatus::Invalid,
                user_id: String::new(),
                message: format!("whole file rejected: {e}"),
            };
            return finish(reports, &keys, checkpoint, summary, vec![row]).await;
        }
    };
    // The rows own their cells: the file's bytes are not needed again.
    drop(bytes);
    summary.rows = file.rows.len() as u64;
    let (ignored, left_out) = bounded_list(file.ignored_headers.iter().map(String::as_str));
    summary.ignored_headers = ignored;
    summary.ignored_headers_left_out = left_out as u64;

    options.progress.start("listing users", None);
    let existing = existing_users(directory, &options.progress).await?;
    let existing_at_start = state::existing_at_start(
        reports,
        &keys,
        existing.keys().cloned().collect(),
        checkpoint.hop == 1,
        request.dry_run,
    )
    .await?;
    let capabilities = directory.capabilities();
    let names = names_by_scope(directory, &capabilities).await?;
    let existing_names = plan::user_names(&existing);
    let tenancy = crate::tenancy::Tenancy::resolve(
        directory,
        options.tenants.as_deref(),
        options.service_account.as_deref(),
    )
    .await?;
    let context = plan::Context {
        capabilities: &capabilities,
        names: &names,
        default_role: &options.default_role,
        existing: &existing,
        existing_names: &existing_names,
        tenancy: tenancy.as_ref(),
        existing_at_start: &existing_at_start,
        on_existing: request.on_existing,
    };
    let planned = Plan::new(&file, &context);
    let steps = planned.len();

    options.progress.start("importing rows", Some(steps as u64));
    options.progress.advance(checkpoint.next.min(steps) as u64);
    if request.dry_run {
        options.progress.advance(steps as u64);
        let mut report = Report::new(summary)?;
        match directory.server_dry_run() {
            Some(server) => {
                let mut checked = server_checked(server, planned.steps(), options.concurrency);
                while let Some(row) = checked.next().await {
                    report.push(&row)?;
                }
            }
            None => {
                for p in planned.steps() {
                    report.push(&dry_result(&p))?;
                }
            }
        }
        return report.finish(reports, &keys, checkpoint).await;
    }
    if checkpoint.hop > options.max_hops {
        tracing::error!(
            hops = options.max_hops,
            next = checkpoint.next,
            "hop cap reached; reporting the remaining rows as failed"
        );
        let rest: Vec<RowResult> = planned
            .steps()
            .skip(checkpoint.next)
            .map(|p| RowResult {
                row: p.row,
                email: p.email,
                status: RowStatus::Failed,
                user_id: String::new(),
                message: format!("not processed: the import reached its cap of {} invocations; upload these rows again", options.max_hops),
            })
            .collect();
        write_part(reports, &keys, &mut checkpoint, &rest).await?;
        checkpoint.next = steps;
        return finish_from_parts(reports, &keys, checkpoint, summary).await;
    }
    state::save(reports, &keys, &checkpoint).await?;

    let started_at_row = checkpoint.next;
    let mut remaining = planned.steps().skip(checkpoint.next);
    while checkpoint.next < steps {
        let spent_rows = options
            .rows_per_hop
            .is_some_and(|max| checkpoint.next - started_at_row >= max);
        let spent_time = options.deadline.is_some_and(|d| Instant::now() >= d);
        if spent_rows || spent_time {
            tracing::info!(
                hop = checkpoint.hop,
                next = checkpoint.next,
                rows = steps,
                "hop budget spent; continuing in a new invocation"
            );
            return Ok(ImportOutcome::Continue {
                hop: checkpoint.hop,
                processed: checkpoint.next,
                rows: steps,
            });
        }
        let end = (checkpoint.next + options.segment_rows.max(1)).min(steps);
        let segment: Vec<Planned> = remaining.by_ref().take(end - checkpoint.next).collect();
        let results = run_segment(directory, &segment, options.concurrency).await;
        write_part(reports, &keys, &mut checkpoint, &results).await?;
        options.progress.advance((end - checkpoint.next) as u64);
        checkpoint.next = end;
        state::save(reports, &keys, &checkpoint).await?;
    }
    finish_from_parts(reports, &keys, checkpoint, summary).await
}
