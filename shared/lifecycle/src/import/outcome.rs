//! What an import reports: one row per planned row, the summary, and what each invocation returns.

use serde::{Deserialize, Serialize};

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
    pub(super) fn cells(&self) -> [String; 5] {
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
    /// Headers that were not understood (ignored): the first 20, each cut to 100 characters, so that the
    /// response stays small whatever the file.
    pub ignored_headers: Vec<String>,
    /// Ignored headers beyond those listed.
    #[serde(default)]
    pub ignored_headers_left_out: u64,
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
    /// Budget spent: invoke again with `continuation` to go on.
    Continue {
        /// The payload of the next invocation.
        continuation: crate::engine::Continuation,
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
    /// What the bulk-create-users function returns for this hop (and `sisense-lifecycle import --json` prints):
    /// `done`, and the `continuation` to re-invoke with while not done.
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
                continuation,
                hop,
                processed,
                rows,
            } => json!({
                "done": false,
                "continuation": continuation,
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
