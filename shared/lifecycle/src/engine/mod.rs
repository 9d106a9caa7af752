//! One engine for runs longer than one invocation, used by the import and the deactivation job: the run's
//! state under one prefix ([`RunKeys`]), a [`Checkpoint`] rewritten after every segment, report parts written
//! per segment and assembled at the end ([`parts`]), the per-invocation [`Budget`], the segment loop
//! ([`drive`]), the `{done, continuation}` answer ([`Continuation`]) and, for jobs whose runs must not overlap,
//! one live run at a time ([`lock`]).
//!
//! A job plans (and freezes what it planned) before its first write, then hands the engine a [`Work`]: the
//! engine runs segments until the plan is settled or the next segment would not fit this invocation, and the
//! next invocation, given the same run id, goes on from the checkpoint.

mod budget;
mod checkpoint;
mod drive;
mod keys;
pub mod lock;
pub mod parts;

pub use budget::Budget;
pub use checkpoint::Checkpoint;
pub use drive::{Driven, Settled, Work, drive};
pub use keys::RunKeys;
pub use lock::{LiveRun, RUN_LEASE};

use serde::{Deserialize, Serialize};

/// What the next invocation needs to go on with a run: its payload, `{"runId": ...}` plus whatever the job needs
/// to find the run's state again (the import's input object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    /// The run to continue.
    pub run_id: String,
    /// The job's own keys, merged into the payload (none for the deactivation job).
    #[serde(flatten)]
    pub resume: serde_json::Map<String, serde_json::Value>,
}

impl Continuation {
    /// A continuation of `run_id` with nothing else.
    pub fn of(run_id: impl Into<String>) -> Self {
        Continuation {
            run_id: run_id.into(),
            resume: serde_json::Map::new(),
        }
    }
}
