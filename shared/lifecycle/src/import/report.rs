//! Writing an import's results: a part per segment, then the whole report, the summary and the done mark.

use super::outcome::{HEADER, ImportOutcome, ImportSummary, RowResult, RowStatus};
use super::state::{self, Checkpoint, StateKeys};
use crate::artefact::{csv_bytes, put_csv, put_json};
use crate::error::JobError;
use crate::store::{ObjectStore, StoreError};

pub(super) async fn write_part(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: &mut Checkpoint,
    rows: &[RowResult],
) -> Result<(), JobError> {
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

pub(super) async fn finish_from_parts(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: Checkpoint,
    summary: ImportSummary,
) -> Result<ImportOutcome, JobError> {
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
pub(super) async fn finish(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    mut checkpoint: Checkpoint,
    mut summary: ImportSummary,
    rows: Vec<RowResult>,
) -> Result<ImportOutcome, JobError> {
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
