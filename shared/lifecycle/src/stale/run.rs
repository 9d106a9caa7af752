//! A live run across invocations, on the [engine](crate::engine). The plan is frozen in the store before the
//! first write (so the caps, decided once on the whole plan, hold over every hop); the engine applies it in
//! segments, writing each segment's report rows and a checkpoint before the next starts, and hands back a
//! [`Continuation`] when the next segment would not fit the invocation; the last hop assembles the report.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sisense::{DashboardId, User, UserId};

use super::apply::{self, Action, Status};
use super::model::{HEADER, Row};
use super::options::StaleOptions;
use super::summary::StaleSummary;
use super::{VERIFY_BATCH, sessions};
use crate::artefact::{get_json, put_csv, put_json, segment, write_safe_record};
use crate::engine::{
    self, Budget, Checkpoint, Continuation, Driven, RunKeys, Settled, Work, parts,
};
use crate::error::JobError;
use crate::store::{ObjectStore, StoreError};

/// Below the report prefix: the state of every live run.
const STATE_DIR: &str = "deactivations/.state/";

/// The keys of run `run_id`'s state under `prefix` (already normalised).
pub(crate) fn keys(prefix: &str, run_id: &str) -> RunKeys {
    RunKeys::new(format!("{prefix}{STATE_DIR}{}/", segment(run_id)))
}

/// The lock that keeps live runs (deactivations and restores) from overlapping, under `prefix`.
pub(crate) fn lock_key(prefix: &str) -> String {
    format!("{prefix}deactivations/.live-run.json")
}

/// The frozen plan: what every hop of the run acts on, with the settings it was planned under.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Frozen {
    pub(crate) action: Action,
    pub(crate) transfer_dashboards_to: Option<String>,
    pub(crate) revoke_sessions: bool,
    pub(crate) snapshot_prefix: String,
    pub(crate) rows: Vec<Planned>,
}

/// One planned row as it was when listed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Planned {
    user: User,
    role_name: String,
    last_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    source: Option<crate::activity::Source>,
    days_inactive: i64,
    dashboards: Option<Vec<DashboardId>>,
}

impl Planned {
    pub(crate) fn new(row: &Row) -> Self {
        Planned {
            user: row.user.clone(),
            role_name: row.role_name.clone(),
            last_seen: row.last_seen,
            source: row.source,
            days_inactive: row.days_inactive,
            dashboards: row.dashboards.clone(),
        }
    }

    fn row(&self, action: Action) -> Row {
        let mut row = Row::new(
            self.user.clone(),
            self.role_name.clone(),
            self.last_seen,
            self.days_inactive,
        );
        row.dashboards = self.dashboards.clone();
        row.source = self.source;
        row.action = Some(action);
        row
    }
}

/// The stale job's part of a run's checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StaleState {
    /// Whether a `deactivate` write has been verified applied (no more probing).
    probed: bool,
    /// Set when the deactivation probe showed the installation does not apply it: the user probed.
    unsupported: Option<UserId>,
    /// Set once the report is assembled.
    finished: bool,
    /// The counts so far.
    pub(crate) summary: StaleSummary,
}

/// A run's checkpoint.
pub(crate) type RunCheckpoint = Checkpoint<StaleState>;

/// Freezes the plan and the rows left alone, then writes the first checkpoint. Nothing is written to Sisense
/// before this succeeds.
pub(crate) async fn freeze(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    frozen: &Frozen,
    keep: &[Row],
    summary: StaleSummary,
) -> Result<RunCheckpoint, JobError> {
    parts::write_rows(store, &keys.file("keep.csv"), keep.iter().map(Row::cells)).await?;
    put_json(store, &keys.file("plan.json"), frozen).await?;
    let checkpoint = Checkpoint {
        hop: 1,
        next: 0,
        parts: 0,
        state: StaleState {
            probed: frozen.action != Action::Deactivate,
            unsupported: None,
            finished: false,
            summary,
        },
    };
    checkpoint.save(store, keys).await?;
    Ok(checkpoint)
}

/// Reads the frozen plan of a run whose checkpoint exists.
pub(crate) async fn frozen(store: &dyn ObjectStore, keys: &RunKeys) -> Result<Frozen, JobError> {
    let key = keys.file("plan.json");
    get_json(store, &key).await?.ok_or_else(|| {
        JobError::Store(StoreError {
            operation: "read run state",
            location: key,
            message: "the run's checkpoint exists but its plan does not".into(),
        })
    })
}

/// Starts a further hop: counts it and saves the checkpoint.
pub(crate) async fn next_hop(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    checkpoint: &mut RunCheckpoint,
) -> Result<(), StoreError> {
    checkpoint.hop += 1;
    checkpoint.save(store, keys).await
}

/// Whether the run ended (report written): a repeated continuation gets its outcome again.
pub(crate) fn finished(checkpoint: &RunCheckpoint) -> Option<(StaleSummary, Option<UserId>)> {
    let state = &checkpoint.state;
    state
        .finished
        .then(|| (state.summary.clone(), state.unsupported.clone()))
}

/// The frozen plan as the engine's [`Work`]: each segment is applied, its sessions revoked and its rows counted.
struct Segments<'a> {
    context: &'a apply::Context<'a>,
    frozen: &'a Frozen,
    concurrency: usize,
}

#[async_trait]
impl Work for Segments<'_> {
    type State = StaleState;
    type Row = [String; 16];

    fn total(&self) -> usize {
        self.frozen.rows.len()
    }

    async fn segment(
        &mut self,
        state: &mut StaleState,
        start: usize,
        end: usize,
    ) -> Result<Settled<[String; 16]>, JobError> {
        let (frozen, total) = (self.frozen, self.frozen.rows.len());
        let rows: Vec<Row> = frozen.rows[start..end]
            .iter()
            .map(|p| p.row(frozen.action))
            .collect();
        let (mut settled, unsupported) =
            apply_segment(self.context, rows, self.concurrency, &mut state.probed).await;
        let rest = |status: Status, message: String| {
            frozen.rows[end..].iter().map(move |p| {
                let mut row = p.row(frozen.action);
                row.status = status;
                row.message = message.clone();
                row
            })
        };
        let mut to = end;
        if let Some(id) = unsupported {
            settled.extend(rest(Status::NotAttempted, unsupported_message(&id)));
            state.unsupported = Some(id);
            to = total;
        } else if self
            .context
            .halted
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let why = "not attempted: Sisense refused the credentials earlier in this run";
            settled.extend(rest(Status::Failed, why.into()));
            to = total;
        }
        let content = self.context.content;
        sessions::revoke(
            content,
            frozen.revoke_sessions,
            &mut settled,
            &mut state.summary,
        )
        .await;
        count(&settled, &mut state.summary);
        Ok(Settled {
            rows: settled.iter().map(Row::cells).collect(),
            to,
        })
    }
}

/// Applies the frozen plan from the checkpoint for as long as the invocation's budget allows (`deadline`,
/// `actionsPerHop`). Returns whether the plan is done.
pub(crate) async fn drive(
    context: &apply::Context<'_>,
    store: &dyn ObjectStore,
    keys: &RunKeys,
    frozen: &Frozen,
    checkpoint: &mut RunCheckpoint,
    options: &StaleOptions,
) -> Result<Driven, JobError> {
    let total = frozen.rows.len();
    options.progress.start(
        "applying actions",
        Some(total.saturating_sub(checkpoint.next) as u64),
    );
    let budget = Budget {
        deadline: options.deadline,
        rows_per_hop: options.actions_per_hop,
    };
    let mut work = Segments {
        context,
        frozen,
        concurrency: options.concurrency,
    };
    engine::drive(
        store,
        keys,
        checkpoint,
        &mut work,
        budget,
        VERIFY_BATCH,
        &options.progress,
    )
    .await
}

/// Applies one segment. Until a `deactivate` write has been verified (`probed`), rows go one at a time: the first
/// verified applied ends the probing, the first accepted-but-not-applied stops the segment and is returned (the
/// rest of the plan is then not attempted). The rest are written concurrently and read back with one listing.
async fn apply_segment(
    context: &apply::Context<'_>,
    rows: Vec<Row>,
    concurrency: usize,
    probed: &mut bool,
) -> (Vec<Row>, Option<UserId>) {
    use futures::StreamExt;

    let mut rows = rows.into_iter();
    let mut applied = Vec::with_capacity(rows.len());
    if !*probed {
        for row in rows.by_ref() {
            let row = context.apply(row).await;
            let status = row.status;
            let id = row.user.id.clone();
            applied.push(row);
            match status {
                Status::Done(_) => {
                    *probed = true;
                    break;
                }
                Status::NotApplied => {
                    let message = unsupported_message(&id);
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
                | Status::AbortedOverThreshold
                | Status::Warned
                | Status::WouldWarn
                | Status::AwaitingNotice
                | Status::Cleared
                | Status::ActivityUnknown
                | Status::AlreadyDone
                | Status::SignalUnhealthy
                | Status::OtherTenant => {}
            }
        }
    }
    let written: Vec<apply::Written> = futures::stream::iter(rows)
        .map(|row| context.write(row))
        .buffered(concurrency.max(1))
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
    (applied, None)
}

/// Why a planned row was not attempted after the probe of `id` showed deactivation is not applied.
fn unsupported_message(id: &UserId) -> String {
    format!(
        "not attempted: Sisense did not apply the deactivation of {id}, so this installation does not support \
         it; use demote or delete"
    )
}

/// Adds a segment's settled rows to the summary.
fn count(rows: &[Row], summary: &mut StaleSummary) {
    for row in rows {
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
            | Status::AbortedOverThreshold
            | Status::Warned
            | Status::WouldWarn
            | Status::AwaitingNotice
            | Status::Cleared
            | Status::ActivityUnknown
            | Status::AlreadyDone
            | Status::SignalUnhealthy
            | Status::OtherTenant => {
                tracing::error!(
                    status = row.status.as_str(),
                    "an applied row kept a status applying never gives"
                );
                summary.failed += 1;
            }
        }
    }
}

/// Assembles the report (the rows left alone and every part, sorted by user id), writes it and the summary,
/// and marks the run finished; returns its outcome as [`finished`] does.
pub(crate) async fn finish(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    mut checkpoint: RunCheckpoint,
) -> Result<(StaleSummary, Option<UserId>), JobError> {
    let mut records = Vec::new();
    let mut collect = |record: csv::StringRecord| {
        records.push(record);
        Ok(())
    };
    parts::read_rows(store, &keys.file("keep.csv"), &mut collect).await?;
    parts::read_parts(store, keys, checkpoint.parts, &mut collect).await?;
    records.sort_by(|a, b| a.get(0).cmp(&b.get(0)));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for record in &records {
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        write_safe_record(&mut writer, &cells)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    let state = &mut checkpoint.state;
    state.summary.hops = checkpoint.hop;
    state.summary.continuation = None;
    put_csv(store, &state.summary.report_key, body).await?;
    put_json(store, &state.summary.summary_key, &state.summary).await?;
    state.finished = true;
    checkpoint.save(store, keys).await?;
    Ok((checkpoint.state.summary, checkpoint.state.unsupported))
}

/// The summary of a hop that stops before the plan is done.
pub(crate) fn unfinished(checkpoint: &RunCheckpoint, run_id: &str) -> StaleSummary {
    StaleSummary {
        hops: checkpoint.hop,
        continuation: Some(Continuation::of(run_id)),
        ..checkpoint.state.summary.clone()
    }
}
