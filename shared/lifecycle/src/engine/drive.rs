//! The segment loop every resumable run goes through.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};

use super::{Budget, Checkpoint, RunKeys, parts};
use crate::error::JobError;
use crate::progress::Progress;
use crate::store::ObjectStore;

/// A job's frozen plan, settled a segment at a time.
#[async_trait]
pub trait Work: Send {
    /// The job's part of the checkpoint.
    type State: Serialize + DeserializeOwned + Send + Sync;
    /// One report row as it is kept in a part.
    type Row: Serialize + Send;

    /// Rows in the plan.
    fn total(&self) -> usize;

    /// Settles rows `start..end` of the plan: their report rows, and how far the plan is settled now (`end`, or
    /// the plan's end when the job settled the rest without attempting it).
    async fn segment(
        &mut self,
        state: &mut Self::State,
        start: usize,
        end: usize,
    ) -> Result<Settled<Self::Row>, JobError>;
}

/// What a segment settled.
#[derive(Debug)]
pub struct Settled<R> {
    /// The report rows of the settled rows.
    pub rows: Vec<R>,
    /// The index of the first row not settled yet.
    pub to: usize,
}

/// How a call to [`drive`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Driven {
    /// Every row of the plan is settled: assemble the report.
    Done,
    /// The next segment would not fit this invocation: hand back a continuation.
    Yielded,
}

/// Settles segments of `segment_rows` rows from the checkpoint until the plan is done or `budget` is spent.
/// After every segment its rows are written as the next part and the checkpoint is saved, so an invocation cut
/// off anywhere is repeated from its last checkpoint.
pub async fn drive<W: Work>(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    checkpoint: &mut Checkpoint<W::State>,
    work: &mut W,
    budget: Budget,
    segment_rows: usize,
    progress: &Progress,
) -> Result<Driven, JobError> {
    let total = work.total();
    let (mut done, mut longest) = (0usize, Duration::ZERO);
    while checkpoint.next < total {
        if budget.spent(done, longest) {
            tracing::info!(
                hop = checkpoint.hop,
                settled = checkpoint.next,
                left = total - checkpoint.next,
                "the next segment would not fit in this invocation; continuing in a new one"
            );
            return Ok(Driven::Yielded);
        }
        let start = checkpoint.next;
        let end = (start + budget.allowance(done, segment_rows.max(1))).min(total);
        let began = Instant::now();
        let settled = work.segment(&mut checkpoint.state, start, end).await?;
        let to = settled.to.clamp(end, total);
        checkpoint.parts += 1;
        parts::write_rows(store, &keys.part(checkpoint.parts), settled.rows).await?;
        checkpoint.next = to;
        checkpoint.save(store, keys).await?;
        progress.advance((to - start) as u64);
        done += to - start;
        longest = longest.max(began.elapsed());
    }
    Ok(Driven::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// The test job's state: segments run.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
    struct Count {
        segments: u32,
    }

    /// Settles each row as its index; gives up on the rest at `stop`.
    struct Counting {
        total: usize,
        stop: Option<usize>,
    }

    #[async_trait]
    impl Work for Counting {
        type State = Count;
        type Row = [usize; 1];

        fn total(&self) -> usize {
            self.total
        }

        async fn segment(
            &mut self,
            count: &mut Count,
            start: usize,
            end: usize,
        ) -> Result<Settled<[usize; 1]>, JobError> {
            count.segments += 1;
            let to = match self.stop {
                Some(stop) if (start..end).contains(&stop) => self.total,
                _ => end,
            };
            Ok(Settled {
                rows: (start..to).map(|i| [i]).collect(),
                to,
            })
        }
    }

    async fn rows(store: &MemoryStore, keys: &RunKeys, parts: usize) -> Vec<String> {
        let mut seen = Vec::new();
        parts::read_parts(store, keys, parts, |r| {
            seen.push(r.get(0).unwrap_or_default().to_string());
            Ok(())
        })
        .await
        .unwrap();
        seen
    }

    #[tokio::test]
    async fn a_run_yields_at_its_budget_and_resumes_from_the_saved_checkpoint() {
        let store = MemoryStore::default();
        let keys = RunKeys::new("state/");
        let mut work = Counting {
            total: 250,
            stop: None,
        };
        let budget = Budget {
            deadline: None,
            rows_per_hop: Some(120),
        };
        let mut checkpoint = Checkpoint::<Count>::default();
        let progress = Progress::default();
        let first = drive(
            &store,
            &keys,
            &mut checkpoint,
            &mut work,
            budget,
            100,
            &progress,
        );
        assert_eq!(first.await.unwrap(), Driven::Yielded);
        assert_eq!(
            (checkpoint.next, checkpoint.parts, checkpoint.state.segments),
            (120, 2, 2)
        );
        // The next invocation reads the checkpoint the first one saved.
        let mut resumed = Checkpoint::<Count>::load(&store, &keys)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resumed, checkpoint);
        while drive(
            &store,
            &keys,
            &mut resumed,
            &mut work,
            budget,
            100,
            &progress,
        )
        .await
        .unwrap()
            == Driven::Yielded
        {}
        assert_eq!(resumed.next, 250);
        let all = rows(&store, &keys, resumed.parts).await;
        let expected: Vec<String> = (0..250).map(|i| i.to_string()).collect();
        assert_eq!(all, expected, "every row once, in order");
    }

    #[tokio::test]
    async fn a_segment_that_settles_the_rest_ends_the_run() {
        let store = MemoryStore::default();
        let keys = RunKeys::new("state/");
        let mut work = Counting {
            total: 50,
            stop: Some(15),
        };
        let mut checkpoint = Checkpoint::<Count>::default();
        let progress = Progress::default();
        let driven = drive(
            &store,
            &keys,
            &mut checkpoint,
            &mut work,
            Budget::default(),
            10,
            &progress,
        );
        assert_eq!(driven.await.unwrap(), Driven::Done);
        assert_eq!((checkpoint.next, checkpoint.parts), (50, 2));
        assert_eq!(rows(&store, &keys, 2).await.len(), 50);
    }
}
