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

use async_trait::async_trait;
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
pub use state::{Checkpoint, Claim, ImportState, StateKeys, is_own_output, report_prefix_problem};

use crate::artefact::{instant, normalise_prefix, stamp};
use crate::clock::Clock;
use crate::engine::{self, Budget, Continuation, Driven, Settled, Work};
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
        input_etag: etag,
        bucket: reports.container(),
        ..started(request, &claim)
    };
    checkpoint.hop += 1;
    summary.hops = checkpoint.hop;
    let hop = Hop {
        directory,
        reports,
        keys: &keys,
        request,
        options,
    };
    match parse(&bytes, options.max_rows) {
        Ok(file) => {
            // The rows own their cells: the file's bytes are not needed again.
            drop(bytes);
            hop.import(&file, checkpoint, summary).await
        }
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
            finish(reports, &keys, checkpoint, summary, vec![row]).await
        }
    }
}

/// The summary of an import claimed by `claim`, before its counts.
fn started(request: &ImportRequest, claim: &Claim) -> ImportSummary {
    ImportSummary {
        dry_run: request.dry_run,
        input_key: request.key.clone(),
        report_key: claim.report_key.clone(),
        summary_key: claim.summary_key.clone(),
        started_at: claim.claimed_at.clone(),
        ..ImportSummary::default()
    }
}

/// One hop of an import the run owns.
struct Hop<'a> {
    directory: &'a dyn Directory,
    reports: &'a dyn ObjectStore,
    keys: &'a StateKeys,
    request: &'a ImportRequest,
    options: &'a ImportOptions,
}

impl Hop<'_> {
    /// Plans the file against the installation as it was at the start, then checks it (dry run), reports the
    /// rows left at the hop cap, or imports segments for as long as the budget allows.
    async fn import(
        &self,
        file: &InputFile,
        checkpoint: Checkpoint,
        mut summary: ImportSummary,
    ) -> Result<ImportOutcome, JobError> {
        let (directory, options) = (self.directory, self.options);
        summary.rows = file.rows.len() as u64;
        let (ignored, left_out) = bounded_list(file.ignored_headers.iter().map(String::as_str));
        summary.ignored_headers = ignored;
        summary.ignored_headers_left_out = left_out as u64;
        options.progress.start("listing users", None);
        let existing = existing_users(directory, &options.progress).await?;
        let existing_at_start = state::existing_at_start(
            self.reports,
            self.keys,
            existing.keys().cloned().collect(),
            checkpoint.hop == 1,
            self.request.dry_run,
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
            on_existing: self.request.on_existing,
        };
        let planned = Plan::new(file, &context);
        options
            .progress
            .start("importing rows", Some(planned.len() as u64));
        options
            .progress
            .advance(checkpoint.next.min(planned.len()) as u64);
        if self.request.dry_run {
            self.dry_run(&planned, checkpoint, summary).await
        } else if checkpoint.hop > options.max_hops {
            self.over_hop_cap(&planned, checkpoint, summary).await
        } else {
            self.segments(&planned, checkpoint, summary).await
        }
    }

    /// A dry run: every planned row as it would go (checked by the server where it can), in one invocation.
    async fn dry_run(
        &self,
        planned: &Plan<'_>,
        checkpoint: Checkpoint,
        summary: ImportSummary,
    ) -> Result<ImportOutcome, JobError> {
        self.options.progress.advance(planned.len() as u64);
        let mut report = Report::new(summary)?;
        match self.directory.server_dry_run() {
            Some(server) => {
                let mut checked = server_checked(server, planned.steps(), self.options.concurrency);
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
        report.finish(self.reports, self.keys, checkpoint).await
    }

    /// The hop cap is reached: the rows not processed are reported failed, and the import ends.
    async fn over_hop_cap(
        &self,
        planned: &Plan<'_>,
        mut checkpoint: Checkpoint,
        summary: ImportSummary,
    ) -> Result<ImportOutcome, JobError> {
        let max_hops = self.options.max_hops;
        tracing::error!(
            hops = max_hops,
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
                message: format!(
                    "not processed: the import reached its cap of {max_hops} invocations; upload these rows \
                     again"
                ),
            })
            .collect();
        write_part(self.reports, self.keys, &mut checkpoint, &rest).await?;
        checkpoint.next = planned.len();
        finish_from_parts(self.reports, self.keys, checkpoint, summary).await
    }

    /// Imports segments on the engine from the checkpoint until the file is done or the budget is spent.
    async fn segments(
        &self,
        planned: &Plan<'_>,
        mut checkpoint: Checkpoint,
        summary: ImportSummary,
    ) -> Result<ImportOutcome, JobError> {
        state::save(self.reports, self.keys, &checkpoint).await?;
        let options = self.options;
        let mut rows = Rows {
            directory: self.directory,
            remaining: Box::new(planned.steps().skip(checkpoint.next)),
            total: planned.len(),
            concurrency: options.concurrency,
        };
        let budget = Budget {
            deadline: options.deadline,
            rows_per_hop: options.rows_per_hop,
        };
        let keys = self.keys.run();
        let driven = engine::drive(
            self.reports,
            keys,
            &mut checkpoint,
            &mut rows,
            budget,
            options.segment_rows,
            &options.progress,
        )
        .await?;
        match driven {
            Driven::Done => finish_from_parts(self.reports, self.keys, checkpoint, summary).await,
            Driven::Yielded => Ok(ImportOutcome::Continue {
                continuation: self.continuation(),
                hop: checkpoint.hop,
                processed: checkpoint.next,
                rows: planned.len(),
            }),
        }
    }

    /// The next invocation's payload: the same object, mode and run.
    fn continuation(&self) -> Continuation {
        let request = self.request;
        let mut continuation = Continuation::of(request.run_id.clone());
        let resume = serde_json::json!({
            "bucket": request.bucket,
            "key": request.key,
            "dryRun": request.dry_run,
            "onExisting": request.on_existing,
        });
        if let serde_json::Value::Object(keys) = resume {
            continuation.resume = keys;
        }
        continuation
    }
}

/// The planned rows not yet imported, as the engine's [`Work`]: each segment is created in bulk (or one by one
/// where a bulk call is refused), updated and checked.
struct Rows<'a> {
    directory: &'a dyn Directory,
    remaining: Box<dyn Iterator<Item = Planned> + Send + 'a>,
    total: usize,
    concurrency: usize,
}

#[async_trait]
impl Work for Rows<'_> {
    type State = ImportState;
    type Row = RowResult;

    fn total(&self) -> usize {
        self.total
    }

    async fn segment(
        &mut self,
        _: &mut ImportState,
        start: usize,
        end: usize,
    ) -> Result<Settled<RowResult>, JobError> {
        let segment: Vec<Planned> = self.remaining.by_ref().take(end - start).collect();
        let rows = run_segment(self.directory, &segment, self.concurrency).await;
        Ok(Settled { rows, to: end })
    }
}
