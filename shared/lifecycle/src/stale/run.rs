//! A live run across invocations. The plan is frozen in the store before the first write (so the caps, decided
//! once on the whole plan, hold over every hop); rows are applied in segments, and each segment's report rows and
//! a checkpoint are written before the next starts. When the next segment would not fit before the invocation's
//! deadline, the hop returns a [`Continuation`]; the last hop assembles the report from the segments.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sisense::{DashboardId, User, UserId};

use super::apply::{self, Action, Status};
use super::{HEADER, Row, StaleOptions, StaleSummary, VERIFY_BATCH, sessions};
use crate::artefact::{csv_bytes, get_json, put_csv, put_json, segment};
use crate::error::JobError;
use crate::store::{ObjectStore, StoreError};

/// Below the report prefix: the state of every live run.
const STATE_DIR: &str = "deactivations/.state/";

/// What the next invocation needs to finish a run: the payload `{"runId": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    /// The run to continue.
    pub run_id: String,
}

/// The keys of one run's state.
#[derive(Debug, Clone)]
pub(crate) struct RunKeys {
    base: String,
}

impl RunKeys {
    /// The state of run `run_id` under `prefix` (already normalised).
    pub(crate) fn new(prefix: &str, run_id: &str) -> Self {
        RunKeys {
            base: format!("{prefix}{STATE_DIR}{}/", segment(run_id)),
        }
    }

    fn plan(&self) -> String {
        format!("{}plan.json", self.base)
    }

    fn keep(&self) -> String {
        format!("{}keep.csv", self.base)
    }

    fn checkpoint(&self) -> String {
        format!("{}checkpoint.json", self.base)
    }

    fn part(&self, n: usize) -> String {
        format!("{}parts/{n:06}.csv", self.base)
    }
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

/// How far the run is; rewritten after every segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Checkpoint {
    /// Invocations so far, the current one included.
    pub(crate) hop: u32,
    /// Index of the first planned row not yet settled.
    next: usize,
    /// Segments written.
    parts: usize,
    /// Whether a `deactivate` write has been verified applied (no more probing).
    probed: bool,
    /// Set when the deactivation probe showed the installation does not apply it: the user probed.
    unsupported: Option<UserId>,
    /// Set once the report is assembled.
    finished: bool,
    /// The counts so far.
    pub(crate) summary: StaleSummary,
}

/// Reads a run's checkpoint, if the run exists.
pub(crate) async fn checkpoint(
    store: &dyn ObjectStore,
    keys: &RunKeys,
) -> Result<Option<Checkpoint>, StoreError> {
    get_json(store, &keys.checkpoint()).await
}

/// Freezes the plan and the rows left alone, then writes the first checkpoint. Nothing is written to Sisense
/// before this succeeds.
pub(crate) async fn freeze(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    frozen: &Frozen,
    keep: &[Row],
    summary: StaleSummary,
) -> Result<Checkpoint, JobError> {
    put_csv(
        store,
        &keys.keep(),
        csv_bytes(HEADER, keep.iter().map(Row::cells))?,
    )
    .await?;
    put_json(store, &keys.plan(), frozen).await?;
    let checkpoint = Checkpoint {
        hop: 1,
        next: 0,
        parts: 0,
        probed: frozen.action != Action::Deactivate,
        unsupported: None,
        finished: false,
        summary,
    };
    put_json(store, &keys.checkpoint(), &checkpoint).await?;
    Ok(checkpoint)
}

/// Reads the frozen plan of a run whose checkpoint exists.
pub(crate) async fn frozen(store: &dyn ObjectStore, keys: &RunKeys) -> Result<Frozen, JobError> {
    get_json(store, &keys.plan()).await?.ok_or_else(|| {
        JobError::Store(StoreError {
            operation: "read run state",
            location: keys.plan(),
            message: "the run's checkpoint exists but its plan does not".into(),
        })
    })
}

/// Starts a further hop: counts it and saves the checkpoint.
pub(crate) async fn next_hop(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    checkpoint: &mut Checkpoint,
) -> Result<(), StoreError> {
    checkpoint.hop += 1;
    put_json(store, &keys.checkpoint(), checkpoint).await
}

/// Whether the run ended (report written): a repeated continuation gets its outcome again.
pub(crate) fn finished(checkpoint: &Checkpoint) -> Option<(StaleSummary, Option<UserId>)> {
    checkpoint
        .finished
        .then(|| (checkpoint.summary.clone(), checkpoint.unsupported.clone()))
}

/// Applies segments from the checkpoint until the plan is done or the next segment would not fit this hop
/// (`actionsPerHop` reached, or the longest segment so far would end past the deadline). At least one segment
/// runs per hop, so every hop makes progress. Returns whether the plan is done.
pub(crate) async fn drive(
    context: &apply::Context<'_>,
    store: &dyn ObjectStore,
    keys: &RunKeys,
    frozen: &Frozen,
    checkpoint: &mut Checkpoint,
    options: &StaleOptions,
) -> Result<bool, JobError> {
    let total = frozen.rows.len();
    let mut longest = Duration::ZERO;
    let mut this_hop = 0usize;
    options.progress.start(
        "applying actions",
        Some(total.saturating_sub(checkpoint.next) as u64),
    );
    while checkpoint.next < total {
        if this_hop > 0 && out_of_time(options, this_hop, longest) {
            tracing::info!(
                hop = checkpoint.hop,
                done = checkpoint.next,
                left = total - checkpoint.next,
                "the next segment would not fit in this invocation; continuing in a new one"
            );
            return Ok(false);
        }
        let allowance = options
            .actions_per_hop
            .map_or(VERIFY_BATCH, |limit| {
                limit.saturating_sub(this_hop).min(VERIFY_BATCH)
            })
            .max(1);
        let (start, end) = (checkpoint.next, (checkpoint.next + allowance).min(total));
        let rows: Vec<Row> = frozen.rows[start..end]
            .iter()
            .map(|p| p.row(frozen.action))
            .collect();
        let began = Instant::now();
        let (mut settled, unsupported) =
            apply_segment(context, rows, options.concurrency, &mut checkpoint.probed).await;
        let mut settled_to = end;
        let halted = context.halted.load(std::sync::atomic::Ordering::Relaxed);
        let rest = |status: Status, message: String| {
            frozen.rows[end..].iter().map(move |p| {
                let mut row = p.row(frozen.action);
                row.status = status;
                row.message = message.clone();
                row
            })
        };
        if let Some(id) = unsupported {
            settled.extend(rest(Status::NotAttempted, unsupported_message(&id)));
            checkpoint.unsupported = Some(id);
            settled_to = total;
        } else if halted {
            settled.extend(rest(
                Status::Failed,
                "not attempted: Sisense refused the credentials earlier in this run".into(),
            ));
            settled_to = total;
        }
        sessions::revoke(
            context.content,
            frozen.revoke_sessions,
            &mut settled,
            &mut checkpoint.summary,
        )
        .await;
        count(&settled, &mut checkpoint.summary);
        checkpoint.parts += 1;
        put_csv(
            store,
            &keys.part(checkpoint.parts),
            csv_bytes(HEADER, settled.iter().map(Row::cells))?,
        )
        .await?;
        checkpoint.next = settled_to;
        put_json(store, &keys.checkpoint(), checkpoint).await?;
        options.progress.advance((settled_to - start) as u64);
        this_hop += settled_to - start;
        longest = longest.max(began.elapsed());
    }
    Ok(true)
}

/// Whether the next segment should wait for the next invocation.
fn out_of_time(options: &StaleOptions, this_hop: usize, longest: Duration) -> bool {
    options
        .actions_per_hop
        .is_some_and(|limit| this_hop >= limit)
        || options
            .deadline
            .is_some_and(|deadline| Instant::now() + longest >= deadline)
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

/// Assembles the report (the rows left alone and every segment, sorted by user id), writes it and the summary,
/// and marks the run finished; returns its outcome as [`finished`] does.
pub(crate) async fn finish(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    mut checkpoint: Checkpoint,
) -> Result<(StaleSummary, Option<UserId>), JobError> {
    let mut records = Vec::new();
    let sources = std::iter::once(keys.keep()).chain((1..=checkpoint.parts).map(|n| keys.part(n)));
    for key in sources {
        let bytes = store.get(&key).await?.ok_or_else(|| StoreError {
            operation: "assemble report",
            location: key.clone(),
            message: "a segment of the run is missing".into(),
        })?;
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        for record in reader.records() {
            records.push(record?);
        }
    }
    records.sort_by(|a, b| a.get(0).cmp(&b.get(0)));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for record in &records {
        writer.write_record(record)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    checkpoint.summary.hops = checkpoint.hop;
    checkpoint.summary.continuation = None;
    put_csv(store, &checkpoint.summary.report_key, body).await?;
    put_json(store, &checkpoint.summary.summary_key, &checkpoint.summary).await?;
    checkpoint.finished = true;
    put_json(store, &keys.checkpoint(), &checkpoint).await?;
    Ok((checkpoint.summary, checkpoint.unsupported))
}

/// The summary of a hop that stops before the plan is done.
pub(crate) fn unfinished(checkpoint: &Checkpoint, run_id: &str) -> StaleSummary {
    StaleSummary {
        hops: checkpoint.hop,
        continuation: Some(Continuation {
            run_id: run_id.to_string(),
        }),
        ..checkpoint.summary.clone()
    }
}
