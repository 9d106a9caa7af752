//! Writing an import's results: a part per segment, then the whole report, the summary and the done mark.

use super::outcome::{HEADER, ImportOutcome, ImportSummary, RowResult, RowStatus};
use super::state::{self, Checkpoint, StateKeys};
use crate::artefact::{put_csv, put_json, write_safe_record};
use crate::engine::parts;
use crate::error::JobError;
use crate::store::ObjectStore;

/// Writes `rows` as the run's next result part.
pub(super) async fn write_part(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: &mut Checkpoint,
    rows: &[RowResult],
) -> Result<(), JobError> {
    checkpoint.parts += 1;
    parts::write_rows(reports, &keys.part(checkpoint.parts), rows).await
}

/// The report as it is written: its CSV and the summary's counts, one row at a time, so that no import holds
/// every result at once.
pub(super) struct Report {
    csv: csv::Writer<Vec<u8>>,
    summary: ImportSummary,
}

impl Report {
    pub(super) fn new(summary: ImportSummary) -> Result<Self, JobError> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(HEADER)?;
        Ok(Report { csv, summary })
    }

    /// Counts the row (unless the whole file was rejected: its one row describes the file) and writes it.
    pub(super) fn push(&mut self, row: &RowResult) -> Result<(), JobError> {
        if self.summary.error.is_none() {
            let counter = match row.status {
                RowStatus::Created => &mut self.summary.created,
                RowStatus::Updated => &mut self.summary.updated,
                RowStatus::Skipped => &mut self.summary.skipped,
                RowStatus::Invalid => &mut self.summary.invalid,
                RowStatus::Failed => &mut self.summary.failed,
                RowStatus::WouldCreate => &mut self.summary.would_create,
                RowStatus::WouldUpdate => &mut self.summary.would_update,
            };
            *counter += 1;
        }
        write_safe_record(&mut self.csv, &row.cells())?;
        Ok(())
    }

    /// Writes every row of the parts the hops wrote, in order.
    pub(super) async fn push_parts(
        &mut self,
        reports: &dyn ObjectStore,
        keys: &StateKeys,
        parts: usize,
    ) -> Result<(), JobError> {
        parts::read_parts(reports, keys.run(), parts, |record| {
            let row: RowResult = record.deserialize(None)?;
            self.push(&row)
        })
        .await
    }

    /// Writes the report and summary, then marks the checkpoint done (the mark is what duplicates find).
    pub(super) async fn finish(
        self,
        reports: &dyn ObjectStore,
        keys: &StateKeys,
        mut checkpoint: Checkpoint,
    ) -> Result<ImportOutcome, JobError> {
        let Report { csv, summary } = self;
        let body = csv
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        put_csv(reports, &summary.report_key, body).await?;
        put_json(reports, &summary.summary_key, &summary).await?;
        checkpoint.state.summary = Some(summary.clone());
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
}

/// The report of the segments the hops wrote, then the summary and the done mark.
pub(super) async fn finish_from_parts(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: Checkpoint,
    summary: ImportSummary,
) -> Result<ImportOutcome, JobError> {
    let mut report = Report::new(summary)?;
    report.push_parts(reports, keys, checkpoint.parts).await?;
    report.finish(reports, keys, checkpoint).await
}

/// The report of `rows`, then the summary and the done mark.
pub(super) async fn finish(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: Checkpoint,
    summary: ImportSummary,
    rows: impl IntoIterator<Item = RowResult>,
) -> Result<ImportOutcome, JobError> {
    let mut report = Report::new(summary)?;
    for row in rows {
        report.push(&row)?;
    }
    report.finish(reports, keys, checkpoint).await
}
