//! How far a run is.

use serde::Deserialize;
use serde::{Serialize, de::DeserializeOwned};

use super::RunKeys;
use crate::artefact::{get_json, put_json};
use crate::store::{ObjectStore, StoreError};

/// How far a run is, rewritten after every segment: the engine's counters and the job's own state `S`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint<S> {
    /// Invocations so far, the current one included.
    pub hop: u32,
    /// Index of the first planned row not yet settled.
    pub next: usize,
    /// Report parts written.
    pub parts: usize,
    /// The job's state (its counts so far, its finished mark).
    #[serde(flatten)]
    pub state: S,
}

impl<S: Serialize + DeserializeOwned> Checkpoint<S> {
    /// Reads the run's checkpoint; `None` when the run has none yet.
    pub async fn load(store: &dyn ObjectStore, keys: &RunKeys) -> Result<Option<Self>, StoreError> {
        get_json(store, &keys.checkpoint()).await
    }

    /// Writes the checkpoint.
    pub async fn save(&self, store: &dyn ObjectStore, keys: &RunKeys) -> Result<(), StoreError> {
        put_json(store, &keys.checkpoint(), self).await
    }
}
