//! The bulk-create-users job: a CSV in the object store creates (or updates) users, idempotently, in hops that
//! each fit one Lambda invocation, with a per-row result report.
//!
//! One invocation ("hop") claims the object (bucket, key, ETag) with a conditional write, plans every row, and
//! processes segments of rows until its budget is spent, writing each segment's results and a checkpoint.
//! The next hop (same `run_id`) resumes at the checkpoint. Another delivery of the same object finds the claim:
//! it returns the finished summary, or `InProgress` while the owner is still working.

mod input;
mod plan;
mod state;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::SecondsFormat;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sisense::{
    Capabilities, Directory, GroupResolver, NewUser, RoleResolver, ServerDryRun, User, UserQuery,
};

pub use input::{Column, FileError, InputFile, InputRow, column, fold_header, parse};
pub use plan::{Names, OnExisting, Planned, Step, scope_key, split_name, valid_email};
pub use state::{Checkpoint, Claim, StateKeys};

use crate::clock::Clock;
use crate::progress::Progress;
use crate::report::{csv_bytes, normalise_prefix, put_csv, put_json, stamp};
use crate::store::{ObjectStore, StoreError};

/// Default report prefix.
pub const DEFAULT_PREFIX: &str = "reports/";

/// The report's columns, exactly.
pub const HEADER: [&str; 5] = ["row", "email", "status", "user_id", "message"];

/// The outcome of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Created.
    Created,
    /// Patched.
    Updated,
    /// Left alone (existing, or already up to date).
    Skipped,
    /// Invalid: never written.
    Invalid,
    /// A write failed.
    Failed,
    /// Dry run: would be created.
    WouldCreate,
    /// Dry run: would be patched.
    WouldUpdate,
}

/// One report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowResult {
    /// Spreadsheet row number (the header is row 1).
    pub row: usize,
    /// The email as written.
    pub email: String,
    /// What happened.
    pub status: RowStatus,
    /// The user's id, when known.
    pub user_id: String,
    /// Why, for anything but a plain success.
    pub message: String,
}

impl RowResult {
    fn cells(&self) -> [String; 5] {
        let status = serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        [
            self.row.to_string(),
            self.email.clone(),
            status,
            self.user_id.clone(),
            self.message.clone(),
        ]
    }
}

/// Which object to import and how.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The input's bucket (or folder) name, for state keys and the summary.
    pub bucket: String,
    /// The input's key.
    pub key: String,
    /// Plan and report only; no write to Sisense.
    pub dry_run: bool,
    /// Policy for existing users.
    pub on_existing: OnExisting,
    /// The run this invocation belongs to: the first hop's id, carried by every continuation.
    pub run_id: String,
}

/// Limits and defaults.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Report prefix: reports go to `{prefix}imports/<name>.<timestamp>.result.csv`.
    pub report_prefix: String,
    /// Role for new users whose role cell is empty.
    pub default_role: String,
    /// Most data rows in one file.
    pub max_rows: usize,
    /// Most invocations one import may take; rows left after it are reported `failed`.
    pub max_hops: u32,
    /// Rows per segment (one bulk request, one checkpoint).
    pub segment_rows: usize,
    /// Updates in flight at once.
    pub concurrency: usize,
    /// Stop starting segments after this many rows in one hop.
    pub rows_per_hop: Option<usize>,
    /// Stop starting segments after this instant (the Lambda deadline minus a margin).
    pub deadline: Option<Instant>,
    /// Told of every segment of rows processed.
    pub progress: Progress,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            report_prefix: DEFAULT_PREFIX.into(),
            default_role: "consumer".into(),
            max_rows: 100_000,
            max_hops: 48,
            segment_rows: 100,
            concurrency: 4,
            rows_per_hop: None,
            deadline: None,
            progress: Progress::default(),
        }
    }
}

/// Why a hop could not run. Row problems and whole-file problems are not errors: they are in the report.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input object does not exist.
    #[error("input {0} does not exist")]
    Missing(String),
    /// Sisense failed while listing users, roles or groups.
    #[error("Sisense: {0}")]
    Sisense(#[from] sisense::Error),
    /// The object store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Encoding the report failed.
    #[error("writing report: {0}")]
    Csv(#[from] csv::Error),
}

/// What an import produced; also the `.summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: u64,
    /// Users created.
    pub created: u64,
    /// Users patched.
    pub updated: u64,
    /// Rows skipped.
    pub skipped: u64,
    /// Invalid rows.
    pub invalid: u64,
    /// Rows whose write failed.
    pub failed: u64,
    /// Dry run: users that would be created.
    pub would_create: u64,
    /// Dry run: users that would be patched.
    pub would_update: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// A whole-file problem, when the file could not be imported at all.
    pub error: Option<String>,
    /// Headers that were not understood (ignored).
    pub ignored_headers: Vec<String>,
    /// Invocations the import took.
    pub hops: u32,
    /// The input object.
    pub input_key: String,
    /// The input's ETag.
    pub input_etag: String,
    /// Where the report is.
    pub bucket: String,
    /// The report's key.
    pub report_key: String,
    /// The summary's key.
    pub summary_key: String,
    /// When the import was claimed.
    pub started_at: String,
}

/// What one invocation ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Finished (now, or earlier when `duplicate`).
    Done {
        /// The summary.
        summary: Box<ImportSummary>,
        /// The object had been imported already; nothing was done.
        duplicate: bool,
    },
    /// Budget spent: invoke again with the same request to continue.
    Continue {
        /// Invocations so far.
        hop: u32,
        /// Rows processed so far.
        processed: usize,
        /// Rows in the file.
        rows: usize,
    },
    /// Another run owns this object and has not finished.
    InProgress {
        /// The owner's run id.
        owner: String,
    },
}

impl ImportOutcome {
    /// What the bulk-create-users function returns for this hop (and `sisense-lifecycle import --json` prints);
    /// the function adds the `continuation` to re-invoke with.
    pub fn response(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            ImportOutcome::Done { summary, duplicate } => {
                let mut value = serde_json::to_value(&**summary).unwrap_or_else(|_| json!({}));
                value["done"] = json!(true);
                value["status"] = json!(if *duplicate { "duplicate" } else { "done" });
                value
            }
            ImportOutcome::Continue {
                hop,
                processed,
                rows,
            } => json!({
                "done": false,
                "status": "continue",
                "hop": hop,
                "processed": processed,
                "rows": rows,
            }),
            ImportOutcome::InProgress { owner } => json!({
                "done": true,
                "status": "in_progress",
                "owner": owner,
                "message": "another run is importing this object; this delivery did nothing",
            }),
        }
    }
}

/// Why reports under `prefix` would trigger the import again, if they would: reports go to
/// `{prefix}imports/...`, so an empty prefix (or one inside `imports/`) puts them where inputs are watched.
pub fn report_prefix_problem(prefix: &str) -> Option<&'static str> {
    let trimmed = prefix.trim().trim_start_matches('/');
    (trimmed.is_empty() || trimmed.starts_with("imports/")).then_some(
        "reports would land under imports/ and trigger the import again; use e.g. reports/",
    )
}

/// The file's stem for report names: the last key segment without `.csv`.
fn input_name(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(".csv")
        .or_else(|| name.strip_suffix(".CSV"))
        .unwrap_or(name)
}

/// Runs one hop of the import of `request.key` from `input`, keeping state and reports in `reports`.
pub async fn import_users(
    directory: &dyn Directory,
    input: &dyn ObjectStore,
    reports: &dyn ObjectStore,
    clock: &dyn Clock,
    request: &ImportRequest,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    let location = format!("{}/{}", request.bucket, request.key);
    let (bytes, etag) = input
        .get_tagged(&request.key)
        .await?
        .ok_or_else(|| ImportError::Missing(location.clone()))?;
    let prefix = normalise_prefix(&options.report_prefix);
    let keys = StateKeys::new(
        &prefix,
        &request.bucket,
        &request.key,
        &etag,
        request.dry_run,
    );
    let now = clock.now();
    let stem = format!(
        "{prefix}imports/{}.{}",
        input_name(&request.key),
        stamp(now)
    );
    let fresh = Claim {
        owner: request.run_id.clone(),
        claimed_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        report_key: format!("{stem}.result.csv"),
        summary_key: format!("{stem}.summary.json"),
    };
    let claim_body = serde_json::to_vec(&fresh).map_err(|e| StoreError {
        operation: "encode claim",
        location: keys.claim(),
        message: e.to_string(),
    })?;
    // A fresh claim has no checkpoint yet; an existing one is read once, here.
    let (claim, mut checkpoint) = if reports
        .put_if_absent(&keys.claim(), claim_body, "application/json")
        .await?
    {
        tracing::info!(input = %location, etag = %etag, run_id = %request.run_id, "claimed the import");
        (fresh, Checkpoint::default())
    } else {
        let claim: Claim = state::get_json(reports, &keys.claim())
            .await?
            .ok_or_else(|| StoreError {
                operation: "read claim",
                location: keys.claim(),
                message: "the claim exists but cannot be read".into(),
            })?;
        let checkpoint: Checkpoint = state::get_json(reports, &keys.checkpoint())
            .await?
            .unwrap_or_default();
        if let Some(summary) = checkpoint.summary {
            tracing::info!(input = %location, etag = %etag, report = %summary.report_key, "already imported; returning its summary");
            return Ok(ImportOutcome::Done {
                summary: Box::new(summary),
                duplicate: claim.owner != request.run_id,
            });
        }
        if claim.owner != request.run_id {
            tracing::info!(input = %location, owner = %claim.owner, "another run is importing this object");
            return Ok(ImportOutcome::InProgress { owner: claim.owner });
        }
        (claim, checkpoint)
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
            tracing::warn!(input = %location, error = %e, "the file cannot be imported");
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
    summary.rows = file.rows.len() as u64;
    summary.ignored_headers = file.ignored_headers.clone();

    options.progress.start("listing users", None);
    let existing = existing_users(directory, &options.progress).await?;
    let existing_at_start: HashSet<String> = if checkpoint.hop == 1 || request.dry_run {
        let emails: HashSet<String> = existing.keys().cloned().collect();
        if !request.dry_run {
            let mut sorted: Vec<&String> = emails.iter().collect();
            sorted.sort();
            put_json(reports, &keys.existing(), &sorted).await?;
        }
        emails
    } else {
        state::get_json(reports, &keys.existing())
            .await?
            .ok_or_else(|| StoreError {
                operation: "read state",
                location: keys.existing(),
                message: "missing: the import's first hop did not record existing users".into(),
            })?
    };
    let capabilities = directory.capabilities();
    let names = names_by_site(directory, &capabilities).await?;
    let planned = plan::plan(
        &file,
        &plan::Context {
            capabilities: &capabilities,
            names: &names,
            default_role: &options.default_role,
            existing: &existing,
            existing_at_start: &existing_at_start,
            on_existing: request.on_existing,
        },
    );

    options
        .progress
        .start("importing rows", Some(planned.len() as u64));
    options
        .progress
        .advance(checkpoint.next.min(planned.len()) as u64);
    if request.dry_run {
        options.progress.advance(planned.len() as u64);
        let rows = match directory.server_dry_run() {
            Some(server) => server_checked(server, &planned, options.concurrency).await,
            None => planned.iter().map(dry_result).collect(),
        };
        return finish(reports, &keys, checkpoint, summary, rows).await;
    }
    if checkpoint.hop > options.max_hops {
        tracing::error!(
            hops = options.max_hops,
            next = checkpoint.next,
            "hop cap reached; reporting the remaining rows as failed"
        );
        let rest: Vec<RowResult> = planned[checkpoint.next.min(planned.len())..]
            .iter()
            .map(|p| RowResult {
                row: p.row,
                email: p.email.clone(),
                status: RowStatus::Failed,
                user_id: String::new(),
                message: format!("not processed: the import reached its cap of {} invocations; upload these rows again", options.max_hops),
            })
            .collect();
        write_part(reports, &keys, &mut checkpoint, &rest).await?;
        checkpoint.next = planned.len();
        return finish_from_parts(reports, &keys, checkpoint, summary).await;
    }
    state::save(reports, &keys, &checkpoint).await?;

    let started_at_row = checkpoint.next;
    while checkpoint.next < planned.len() {
        let spent_rows = options
            .rows_per_hop
            .is_some_and(|max| checkpoint.next - started_at_row >= max);
        let spent_time = options.deadline.is_some_and(|d| Instant::now() >= d);
        if spent_rows || spent_time {
            tracing::info!(
                hop = checkpoint.hop,
                next = checkpoint.next,
                rows = planned.len(),
                "hop budget spent; continuing in a new invocation"
            );
            return Ok(ImportOutcome::Continue {
                hop: checkpoint.hop,
                processed: checkpoint.next,
                rows: planned.len(),
            });
        }
        let end = (checkpoint.next + options.segment_rows.max(1)).min(planned.len());
        let results = run_segment(
            directory,
            &planned[checkpoint.next..end],
            options.concurrency,
        )
        .await;
        write_part(reports, &keys, &mut checkpoint, &results).await?;
        options.progress.advance((end - checkpoint.next) as u64);
        checkpoint.next = end;
        state::save(reports, &keys, &checkpoint).await?;
    }
    finish_from_parts(reports, &keys, checkpoint, summary).await
}

/// Role and group names by site (`""` for a Sisense installation): a site's names never resolve on another.
async fn names_by_site(
    directory: &dyn Directory,
    capabilities: &Capabilities,
) -> Result<HashMap<String, Names>, sisense::Error> {
    let scopes: Vec<Option<&str>> = if capabilities.scopes.is_empty() {
        vec![None]
    } else {
        capabilities
            .scopes
            .iter()
            .map(|s| Some(s.name.as_str()))
            .collect()
    };
    let mut by_scope = HashMap::with_capacity(scopes.len());
    for scope in scopes {
        let names = Names {
            roles: RoleResolver::new(directory.roles(scope).await?),
            groups: GroupResolver::new(directory.groups(scope).await?),
        };
        by_scope.insert(scope.unwrap_or_default().to_string(), names);
    }
    Ok(by_scope)
}

/// The dry run's rows with every create and update validated by the server without applying it
/// (Periscope's `test_mode=true`); a refusal makes the row invalid with the server's reason.
async fn server_checked(
    server: &dyn ServerDryRun,
    planned: &[Planned],
    concurrency: usize,
) -> Vec<RowResult> {
    futures::stream::iter(planned)
        .map(|p| async move {
            let checked = match &p.step {
                Step::Create(new) => server.check_create(new).await,
                Step::Update { id, patch } => server.check_update(id, patch).await,
                Step::Invalid(_) | Step::Skip { .. } | Step::AlreadyCreated { .. } => Ok(()),
            };
            match checked {
                Ok(()) => dry_result(p),
                Err(e) => result(
                    p,
                    RowStatus::Invalid,
                    "",
                    format!("the server's test mode refused it: {e}"),
                ),
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Every user by [`scope_key`] (one listing).
async fn existing_users(
    directory: &dyn Directory,
    progress: &Progress,
) -> Result<HashMap<String, User>, sisense::Error> {
    directory
        .users(UserQuery::default())
        .try_fold(HashMap::new(), |mut map, user| async move {
            progress.advance(1);
            map.insert(scope_key(user.scope.as_deref(), &user.email), user);
            Ok(map)
        })
        .await
}

/// The report row for `p`; on Periscope the message starts with the site.
fn result(p: &Planned, status: RowStatus, user_id: &str, message: impl Into<String>) -> RowResult {
    let message = message.into();
    let message = match (&p.site, message.is_empty()) {
        (Some(site), true) => format!("site {site}"),
        (Some(site), false) => format!("site {site}: {message}"),
        (None, _) => message,
    };
    RowResult {
        row: p.row,
        email: p.email.clone(),
        status,
        user_id: user_id.to_string(),
        message,
    }
}

fn dry_result(p: &Planned) -> RowResult {
    match &p.step {
        Step::Invalid(m) => result(p, RowStatus::Invalid, "", m.as_str()),
        Step::Skip { id, message } => result(p, RowStatus::Skipped, id.as_str(), message.as_str()),
        Step::Create(_) => result(p, RowStatus::WouldCreate, "", ""),
        Step::Update { id, .. } => result(p, RowStatus::WouldUpdate, id.as_str(), ""),
        Step::AlreadyCreated { id } => result(p, RowStatus::Skipped, id.as_str(), "already exists"),
    }
}

/// Processes one segment: its creates in one bulk call, its updates concurrently; results in row order.
async fn run_segment(
    directory: &dyn Directory,
    segment: &[Planned],
    concurrency: usize,
) -> Vec<RowResult> {
    let creates: Vec<NewUser> = segment
        .iter()
        .filter_map(|p| match &p.step {
            Step::Create(new) => Some((**new).clone()),
            _ => None,
        })
        .collect();
    let mut created = directory.create_users(&creates).await.into_iter();
    let updates: Vec<RowResult> =
        futures::stream::iter(segment.iter().filter_map(|p| match &p.step {
            Step::Update { id, patch } => Some((p, id, patch)),
            _ => None,
        }))
        .map(|(p, id, patch)| async move {
            match directory.update_user(id, patch).await {
                Ok(_) => result(p, RowStatus::Updated, id.as_str(), ""),
                Err(e) => result(
                    p,
                    RowStatus::Failed,
                    id.as_str(),
                    format!("update failed: {e}"),
                ),
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut updates = updates.into_iter();
    segment
        .iter()
        .map(|p| match &p.step {
            Step::Invalid(m) => result(p, RowStatus::Invalid, "", m.as_str()),
            Step::Skip { id, message } => {
                result(p, RowStatus::Skipped, id.as_str(), message.as_str())
            }
            Step::AlreadyCreated { id } => result(
                p,
                RowStatus::Created,
                id.as_str(),
                "created by an earlier invocation of this import (confirmed by email)",
            ),
            Step::Create(_) => match created.next() {
                Some(outcome) => match outcome.result {
                    Ok(user) if outcome.reconciled => result(
                        p,
                        RowStatus::Created,
                        user.id.as_str(),
                        "the create's response was lost; confirmed by email, not created twice",
                    ),
                    Ok(user) => result(p, RowStatus::Created, user.id.as_str(), ""),
                    Err(e) => result(p, RowStatus::Failed, "", format!("create failed: {e}")),
                },
                None => result(
                    p,
                    RowStatus::Failed,
                    "",
                    "create failed: no outcome returned",
                ),
            },
            Step::Update { .. } => updates.next().unwrap_or_else(|| {
                result(
                    p,
                    RowStatus::Failed,
                    "",
                    "update failed: no outcome returned",
                )
            }),
        })
        .collect()
}

async fn write_part(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: &mut Checkpoint,
    rows: &[RowResult],
) -> Result<(), ImportError> {
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for row in rows {
        csv.serialize(row)?;
    }
    let body = csv
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    reports
        .put(&keys.part(checkpoint.parts), body, "text/csv")
        .await?;
    checkpoint.parts += 1;
    Ok(())
}

async fn finish_from_parts(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: Checkpoint,
    summary: ImportSummary,
) -> Result<ImportOutcome, ImportError> {
    let mut rows = Vec::new();
    for n in 0..checkpoint.parts {
        let key = keys.part(n);
        let bytes = reports.get(&key).await?.ok_or_else(|| StoreError {
            operation: "read state",
            location: key.clone(),
            message: "result segment missing".into(),
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        for row in reader.deserialize() {
            rows.push(row?);
        }
    }
    finish(reports, keys, checkpoint, summary, rows).await
}

/// Writes the report and summary, then marks the checkpoint done (the mark is what duplicates find).
async fn finish(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    mut checkpoint: Checkpoint,
    mut summary: ImportSummary,
    rows: Vec<RowResult>,
) -> Result<ImportOutcome, ImportError> {
    // A whole-file rejection counts no rows: its one report row describes the file.
    let counted: &[RowResult] = if summary.error.is_some() { &[] } else { &rows };
    for row in counted {
        let counter = match row.status {
            RowStatus::Created => &mut summary.created,
            RowStatus::Updated => &mut summary.updated,
            RowStatus::Skipped => &mut summary.skipped,
            RowStatus::Invalid => &mut summary.invalid,
            RowStatus::Failed => &mut summary.failed,
            RowStatus::WouldCreate => &mut summary.would_create,
            RowStatus::WouldUpdate => &mut summary.would_update,
        };
        *counter += 1;
    }
    put_csv(
        reports,
        &summary.report_key,
        csv_bytes(HEADER, rows.iter().map(RowResult::cells))?,
    )
    .await?;
    put_json(reports, &summary.summary_key, &summary).await?;
    checkpoint.summary = Some(summary.clone());
    state::save(reports, keys, &checkpoint).await?;
    tracing::info!(
        rows = summary.rows, created = summary.created, updated = summary.updated, skipped = summary.skipped,
        invalid = summary.invalid, failed = summary.failed, dry_run = summary.dry_run, hops = summary.hops,
        report = %summary.report_key, "import finished"
    );
    Ok(ImportOutcome::Done {
        summary: Box::new(summary),
        duplicate: false,
    })
}
