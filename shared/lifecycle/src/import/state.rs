//! Where an import keeps its progress between invocations: a claim created with `If-None-Match`, the emails
//! that existed at the start, a checkpoint, and the result rows of every finished segment.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ImportSummary;
use crate::report::put_json;
use crate::store::{ObjectStore, StoreError};

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

/// Progress, rewritten after every segment by the owner only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Invocations so far (including the current one once it starts).
    pub hop: u32,
    /// Index of the first planned row not yet processed.
    pub next: usize,
    /// Result segments written.
    pub parts: usize,
    /// Set when the import is finished.
    pub summary: Option<ImportSummary>,
}

/// `name` as a single key segment.
fn segment(name: &str) -> String {
    let encoded = name.replace('%', "%25").replace('/', "%2F");
    if !encoded.is_empty() && encoded.chars().all(|c| c == '.') {
        encoded.replace('.', "%2E")
    } else {
        encoded
    }
}

/// The keys of one import's state.
#[derive(Debug, Clone)]
pub struct StateKeys {
    base: String,
}

impl StateKeys {
    /// State of `key` at `etag` (dry runs apart) under `prefix`. The container is one key segment whatever
    /// it is: an S3 bucket name is kept as it is, a local folder (`/tmp/x`, `..`) has `%`, `/` and an
    /// all-dots name percent-encoded, so the key stays valid in every store.
    pub fn new(prefix: &str, bucket: &str, key: &str, etag: &str, dry_run: bool) -> Self {
        let mode = if dry_run { "dry-run" } else { "live" };
        let bucket = segment(bucket);
        StateKeys {
            base: format!("{prefix}imports/.state/{bucket}/{key}/{etag}/{mode}/"),
        }
    }

    /// The claim.
    pub fn claim(&self) -> String {
        format!("{}claim.json", self.base)
    }

    /// Emails present at the start.
    pub fn existing(&self) -> String {
        format!("{}existing-at-start.json", self.base)
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> String {
        format!("{}checkpoint.json", self.base)
    }

    /// Result segment `n`.
    pub fn part(&self, n: usize) -> String {
        format!("{}parts/{n:06}.csv", self.base)
    }
}

/// Reads JSON at `key`; `None` when absent. Undecodable state is a storage error, never ignored.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match store.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError {
                operation: "decode state",
                location: key.to_string(),
                message: e.to_string(),
            }),
    }
}

/// Writes the checkpoint.
pub async fn save(
    store: &dyn ObjectStore,
    keys: &StateKeys,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    put_json(store, &keys.checkpoint(), checkpoint).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
