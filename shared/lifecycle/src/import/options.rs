//! What an import is asked to do, its limits and defaults.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::plan::OnExisting;
use crate::artefact::REPORT_PREFIX;
use crate::error::InvalidOption;
use crate::progress::Progress;
use crate::settings::Settings;

/// Role of new users whose role cell is empty, unless configured.
pub const DEFAULT_ROLE: &str = "consumer";
/// Most data rows in one file, unless configured.
pub const DEFAULT_MAX_ROWS: usize = 100_000;
/// Most invocations one import may take, unless configured.
pub const DEFAULT_MAX_HOPS: u32 = 48;

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

/// Limits and defaults: the import's options, declared once ([`Settings`]; variables `DRY_RUN`, `ON_EXISTING`,
/// `REPORT_PREFIX`, `DEFAULT_ROLE`, `MAX_ROWS`, `MAX_HOPS`, `IMPORT_ROWS_PER_HOP`, `TENANTS`). Fields marked `serde(skip)` are
/// set by the caller at run time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOptions {
    /// Plan and report only, for requests that do not ask it themselves (a `dry-run/` folder or a payload's
    /// `dryRun` also ask it); the request's [`ImportRequest::dry_run`] is what the import does.
    pub dry_run: bool,
    /// What to do with users that exist, for requests that do not say (the request's wins).
    pub on_existing: OnExisting,
    /// Report prefix: reports go to `{prefix}imports/<name>.<timestamp>.result.csv`.
    pub report_prefix: String,
    /// Role for new users whose role cell is empty.
    pub default_role: String,
    /// Most data rows in one file.
    pub max_rows: usize,
    /// Most invocations one import may take; rows left after it are reported `failed`.
    pub max_hops: u32,
    /// Rows per segment (one bulk request, one checkpoint).
    #[serde(skip, default = "segment_rows")]
    pub segment_rows: usize,
    /// Updates in flight at once.
    #[serde(skip, default = "concurrency")]
    pub concurrency: usize,
    /// Stop starting segments after this many rows in one hop.
    pub rows_per_hop: Option<usize>,
    /// Stop starting segments after this instant (the Lambda deadline minus a margin).
    #[serde(skip)]
    pub deadline: Option<Instant>,
    /// Told of every segment of rows processed.
    #[serde(skip)]
    pub progress: Progress,
    /// The tenants the import may act in (`TENANTS`): `None` the service account's own, names, or `["*"]`.
    pub tenants: Option<Vec<String>>,
    /// The account the import runs as (its tenant is the default `TENANTS`).
    #[serde(skip)]
    pub service_account: Option<String>,
}

/// Rows per segment.
fn segment_rows() -> usize {
    100
}

/// Updates in flight at once.
fn concurrency() -> usize {
    4
}

impl Settings for ImportOptions {
    const ENV_NAMES: &'static [(&'static str, &'static str)] =
        &[("rowsPerHop", "IMPORT_ROWS_PER_HOP")];

    fn check(&self) -> Result<(), InvalidOption> {
        self.validate()
    }
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            on_existing: OnExisting::Skip,
            report_prefix: REPORT_PREFIX.into(),
            default_role: DEFAULT_ROLE.into(),
            max_rows: DEFAULT_MAX_ROWS,
            max_hops: DEFAULT_MAX_HOPS,
            segment_rows: segment_rows(),
            concurrency: concurrency(),
            rows_per_hop: None,
            deadline: None,
            progress: Progress::default(),
            tenants: None,
            service_account: None,
        }
    }
}

impl ImportOptions {
    /// Checks what the import relies on: at least one row and one invocation. (Whether reports would trigger
    /// the import again depends on where they go: see [`super::report_prefix_problem`].)
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.max_rows == 0 {
            return Err(InvalidOption::new("maxRows", 0, "must be at least 1"));
        }
        if self.max_hops == 0 {
            return Err(InvalidOption::new("maxHops", 0, "must be at least 1"));
        }
        Ok(())
    }
}
