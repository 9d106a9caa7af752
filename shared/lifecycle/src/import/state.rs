//! The import's ledger: where it keeps its progress between invocations (a claim created with
//! `If-None-Match`, the emails that existed at the start, a checkpoint, the result rows of every finished
//! segment), the claim protocol, and the key layout of everything it writes.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::outcome::ImportSummary;
use crate::artefact::{get_json, put_json, segment};
use crate::engine::RunKeys;
use crate::store::{ObjectStore, StoreError};

/// Where reports and state go below the report prefix; inputs are watched under `imports/` too, so every key
/// written here must be recognisable by [`is_own_output`].
const OUTPUT_DIR: &str = "imports/";
/// Below [`OUTPUT_DIR`]: the state of every import.
const STATE_DIR: &str = "imports/.state/";
/// The suffix of a result report.
const RESULT_SUFFIX: &str = ".result.csv";
/// The suffix of a summary.
const SUMMARY_SUFFIX: &str = ".summary.json";

/// Whether a key is one of the import's own outputs (a report or import state), never an input.
pub fn is_own_output(key: &str) -> bool {
    key.ends_with(RESULT_SUFFIX) || key.contains(STATE_DIR)
}

/// Why reports under `prefix` would trigger the import again, if they would: reports go to
/// `{prefix}imports/...`, so an empty prefix (or one inside `imports/`) puts them where inputs are watched.
pub fn report_prefix_problem(prefix: &str) -> Option<&'static str> {
    let trimmed = prefix.trim().trim_start_matches('/');
    (trimmed.is_empty() || trimmed.starts_with(OUTPUT_DIR)).then_some(
        "reports would land under imports/ and trigger the import again; use e.g. reports/",
    )
}

/// The report and summary keys of an import of `key` claimed at `stamp`, under `prefix`.
pub(super) fn report_keys(prefix: &str, key: &str, stamp: &str) -> (String, String) {
    let stem = format!("{prefix}{OUTPUT_DIR}{}.{stamp}", input_name(key));
    (
        format!("{stem}{RESULT_SUFFIX}"),
        format!("{stem}{SUMMARY_SUFFIX}"),
    )
}

/// The file's stem for report names: the last key segment without `.csv`.
fn input_name(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(".csv")
        .or_else(|| name.strip_suffix(".CSV"))
        .unwrap_or(name)
}

/// Who owns an import and where its report goes; written once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    /// The run that claimed the object (Step Functions execution or first Lambda request id).
    pub owner: String,
    /// When it was claimed.
    pub claimed_at: String,
    /// The report's key.
    pub report_key: String,
    /// The summary's key.
    pub summary_key: String,
}

/// The import's part of the engine's checkpoint: the finished mark.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImportState {
    /// Set when the import is finished.
    pub summary: Option<ImportSummary>,
}

/// Progress, rewritten after every segment by the owner only.
pub type Checkpoint = crate::engine::Checkpoint<ImportState>;

/// The keys of one import's state: the engine's, plus the claim and the emails that existed at the start.
#[derive(Debug, Clone)]
pub struct StateKeys {
    run: RunKeys,
}

impl StateKeys {
    /// State of `key` at `etag` (dry runs apart) under `prefix`. The container is one key segment whatever
    /// it is: an S3 bucket name is kept as it is, a local folder (`/tmp/x`, `..`) has `%`, `/` and an
    /// all-dots name percent-encoded, so the key stays valid in every store.
    pub fn new(prefix: &str, bucket: &str, key: &str, etag: &str, dry_run: bool) -> Self {
        let mode = if dry_run { "dry-run" } else { "live" };
        let bucket = segment(bucket);
        StateKeys {
            run: RunKeys::new(format!("{prefix}{STATE_DIR}{bucket}/{key}/{etag}/{mode}/")),
        }
    }

    /// The engine's keys of the run.
    pub fn run(&self) -> &RunKeys {
        &self.run
    }

    /// The claim.
    pub fn claim(&self) -> String {
        self.run.file("claim.json")
    }

    /// Emails present at the start.
    pub fn existing(&self) -> String {
        self.run.file("existing-at-start.json")
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> String {
        self.run.checkpoint()
    }

    /// Result part `n` (from 1).
    pub fn part(&self, n: usize) -> String {
        self.run.part(n)
    }
}

/// Writes the checkpoint.
pub async fn save(
    store: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    checkpoint.save(store, keys.run()).await
}

/// What a delivery of an object found when it claimed the import.
pub(super) enum Claimed {
    /// This run owns the import: go on from the checkpoint.
    Owned {
        /// The claim (this delivery's, or the one an earlier hop of the run wrote).
        claim: Claim,
        /// Where the run is.
        checkpoint: Checkpoint,
    },
    /// The import is finished.
    Finished {
        /// Its summary.
        summary: ImportSummary,
        /// Finished by another run: this delivery is a duplicate.
        duplicate: bool,
    },
    /// Another run owns the import and has not finished.
    Busy {
        /// The owner's run id.
        owner: String,
    },
}

/// Claims the import with `fresh` (a conditional write), or reads the claim and checkpoint that exist.
pub(super) async fn claim(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    fresh: Claim,
) -> Result<Claimed, StoreError> {
    let body = serde_json::to_vec(&fresh).map_err(|e| StoreError {
        operation: "encode claim",
        location: keys.claim(),
        message: e.to_string(),
    })?;
    // A fresh claim has no checkpoint yet; an existing one is read once, here.
    if reports
        .put_if_absent(&keys.claim(), body, "application/json")
        .await?
    {
        tracing::info!(run_id = %fresh.owner, "claimed the import");
        return Ok(Claimed::Owned {
            claim: fresh,
            checkpoint: Checkpoint::default(),
        });
    }
    let claim: Claim = get_json(reports, &keys.claim())
        .await?
        .ok_or_else(|| StoreError {
            operation: "read claim",
            location: keys.claim(),
            message: "the claim exists but cannot be read".into(),
        })?;
    let checkpoint = Checkpoint::load(reports, keys.run())
        .await?
        .unwrap_or_default();
    let ours = claim.owner == fresh.owner;
    Ok(match checkpoint.state.summary {
        Some(summary) => {
            tracing::info!(report = %summary.report_key, "already imported; returning its summary");
            Claimed::Finished {
                summary,
                duplicate: !ours,
            }
        }
        None if !ours => {
            tracing::info!(owner = %claim.owner, "another run is importing this object");
            Claimed::Busy { owner: claim.owner }
        }
        None => Claimed::Owned { claim, checkpoint },
    })
}

/// The (scoped) emails that existed when the import started: `now` on the first hop (recorded for the next
/// hops unless a dry run), the record on later hops.
pub(super) async fn existing_at_start(
    reports: &dyn ObjectStore,
    keys: &StateKeys,
    now: HashSet<String>,
    first_hop: bool,
    dry_run: bool,
) -> Result<HashSet<String>, StoreError> {
    if first_hop || dry_run {
        if !dry_run {
            let mut sorted: Vec<&String> = now.iter().collect();
            sorted.sort();
            put_json(reports, &keys.existing(), &sorted).await?;
        }
        return Ok(now);
    }
    get_json(reports, &keys.existing())
        .await?
        .ok_or_else(|| StoreError {
            operation: "read state",
            location: keys.existing(),
            message: "missing: the import's first hop did not record existing users".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_outputs_are_recognised_by_the_layout_that_writes_them() {
        let (report, summary) =
            report_keys("reports/", "imports/new hires.csv", "20261130T000000Z");
        assert_eq!(
            report,
            "reports/imports/new hires.20261130T000000Z.result.csv"
        );
        assert_eq!(
            summary,
            "reports/imports/new hires.20261130T000000Z.summary.json"
        );
        assert!(is_own_output(&report));
        let keys = StateKeys::new("", "b", "imports/a.csv", "e", false);
        for key in [
            keys.claim(),
            keys.checkpoint(),
            keys.existing(),
            keys.part(1),
        ] {
            assert!(is_own_output(&key), "{key}");
        }
        assert!(!is_own_output("imports/new-hires.csv"));
        assert!(report_prefix_problem("imports/x/").is_some());
        assert!(report_prefix_problem(" ").is_some());
        assert!(report_prefix_problem("reports/").is_none());
    }

    #[test]
    fn the_container_is_one_segment_and_bucket_names_are_unchanged() {
        let s3 = StateKeys::new(
            "reports/",
            "lifecycle-data.eu",
            "imports/a.csv",
            "e1",
            false,
        );
        assert_eq!(
            s3.claim(),
            "reports/imports/.state/lifecycle-data.eu/imports/a.csv/e1/live/claim.json"
        );
        let local = StateKeys::new("", "/tmp/out/imports", "a.csv", "e1", true);
        assert_eq!(
            local.claim(),
            "imports/.state/%2Ftmp%2Fout%2Fimports/a.csv/e1/dry-run/claim.json"
        );
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("../x%"), "..%2Fx%25");
        assert_eq!(segment("."), "%2E");
    }
}
