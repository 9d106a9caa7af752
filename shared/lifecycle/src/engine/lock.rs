//! One live run at a time, with S3 conditional writes and no database. The lock is one small JSON object: a
//! run creates it (`If-None-Match: *`), renews it on every invocation (`If-Match` on the tag it read), and marks
//! it released when it ends. A run that died leaves its lock behind; another run takes it over (`If-Match`
//! again, so of two runs trying at once one wins) only after its lease ran out, when that run can no longer
//! be alive.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::artefact::instant;
use crate::error::JobError;
use crate::store::{ObjectStore, StoreError};

/// How long a lock holds without being renewed: longer than a run can go between two of its invocations. An
/// invocation lasts at most 15 minutes (Lambda's limit), and the state machines wait at most about 4 h 8 min
/// between attempts of one hop (24 throttling retries of at most 10 minutes, then 4 transient ones of
/// 30 s doubling); `tests/tests/deactivate_state_machine.rs` checks the sum against the definitions.
pub const RUN_LEASE: std::time::Duration = std::time::Duration::from_secs(4 * 3600 + 30 * 60);

/// What the lock object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Holder {
    run_id: String,
    since: String,
    until: String,
    #[serde(default)]
    released: bool,
}

/// The lock a live run holds (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRun {
    key: String,
    run_id: String,
}

/// Attempts before giving up when the lock keeps changing under us (another run taking it at the same moment).
const ATTEMPTS: usize = 3;

impl LiveRun {
    /// Takes (or, for the run that holds it, renews) the lock at `key` for `run_id`. Refuses with
    /// [`JobError::RunInProgress`], naming the holder, while another run holds it and its lease has not run out.
    pub async fn acquire(
        store: &dyn ObjectStore,
        key: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<LiveRun, JobError> {
        let lease = chrono::Duration::from_std(RUN_LEASE).unwrap_or(chrono::Duration::hours(4));
        let mine = Holder {
            run_id: run_id.to_string(),
            since: instant(now),
            until: instant(now + lease),
            released: false,
        };
        let live = LiveRun {
            key: key.to_string(),
            run_id: run_id.to_string(),
        };
        for _ in 0..ATTEMPTS {
            if store.put_if_absent(key, encode(key, &mine)?, JSON).await? {
                tracing::info!(run_id, lock = key, "took the live-run lock");
                return Ok(live);
            }
            let Some((body, tag)) = store.get_tagged(key).await? else {
                continue;
            };
            let held = decode(key, &body)?;
            let renewed = if held.run_id == run_id && !held.released {
                Holder {
                    since: held.since.clone(),
                    ..mine.clone()
                }
            } else if held.released || expired(&held, now) {
                if !held.released {
                    tracing::warn!(dead = %held.run_id, until = %held.until, "taking over the lock of a run whose lease ran out");
                }
                mine.clone()
            } else {
                return Err(JobError::RunInProgress {
                    run_id: held.run_id,
                    since: held.since,
                    until: held.until,
                    lock: key.to_string(),
                });
            };
            if store
                .put_if_match(key, encode(key, &renewed)?, JSON, &tag)
                .await?
            {
                return Ok(live);
            }
        }
        Err(JobError::Store(StoreError {
            operation: "take the live-run lock",
            location: key.to_string(),
            message: format!("the lock changed {ATTEMPTS} times while this run tried to take it"),
        }))
    }

    /// Marks the lock released, if this run still holds it (a run whose lease ran out may have lost it).
    pub async fn release(
        &self,
        store: &dyn ObjectStore,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some((body, tag)) = store.get_tagged(&self.key).await? else {
            return Ok(());
        };
        let mut held = decode(&self.key, &body)?;
        if held.run_id != self.run_id || held.released {
            tracing::warn!(holder = %held.run_id, "the live-run lock is no longer this run's; left as it is");
            return Ok(());
        }
        held.released = true;
        held.until = instant(now);
        if !store
            .put_if_match(&self.key, encode(&self.key, &held)?, JSON, &tag)
            .await?
        {
            tracing::warn!(lock = %self.key, "the live-run lock changed while this run released it");
        }
        Ok(())
    }
}

const JSON: &str = "application/json";

fn expired(held: &Holder, now: DateTime<Utc>) -> bool {
    // An unreadable expiry never expires: a person must look at the lock then.
    DateTime::parse_from_rfc3339(&held.until).is_ok_and(|until| until < now)
}

fn encode(key: &str, holder: &Holder) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec_pretty(holder).map_err(|e| StoreError {
        operation: "encode lock",
        location: key.to_string(),
        message: e.to_string(),
    })
}

fn decode(key: &str, body: &[u8]) -> Result<Holder, StoreError> {
    serde_json::from_slice(body).map_err(|e| StoreError {
        operation: "read lock",
        location: key.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::hours(hours)
    }

    #[tokio::test]
    async fn a_second_run_is_refused_by_name_until_the_first_ends_or_its_lease_runs_out() {
        let store = MemoryStore::default();
        let first = LiveRun::acquire(&store, "l.json", "run-a", at(0))
            .await
            .unwrap();
        // The same run renews it on its next invocation.
        LiveRun::acquire(&store, "l.json", "run-a", at(1))
            .await
            .unwrap();
        let busy = LiveRun::acquire(&store, "l.json", "run-b", at(2))
            .await
            .unwrap_err();
        assert!(
            matches!(&busy, JobError::RunInProgress { run_id, .. } if run_id == "run-a"),
            "{busy}"
        );
        assert!(busy.to_string().contains("run-a"), "{busy}");
        // Renewed at hour 1, the lease runs to 5h30: still alive at 5, dead at 6.
        assert!(
            LiveRun::acquire(&store, "l.json", "run-b", at(5))
                .await
                .is_err()
        );
        let taken = LiveRun::acquire(&store, "l.json", "run-b", at(6))
            .await
            .unwrap();
        // The dead run, back to life, has lost it and cannot release the new holder's lock.
        first.release(&store, at(6)).await.unwrap();
        assert!(
            LiveRun::acquire(&store, "l.json", "run-c", at(6))
                .await
                .is_err()
        );
        taken.release(&store, at(7)).await.unwrap();
        LiveRun::acquire(&store, "l.json", "run-c", at(7))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn of_two_runs_taking_over_at_once_one_wins() {
        let store = MemoryStore::default();
        LiveRun::acquire(&store, "l.json", "dead", at(0))
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            LiveRun::acquire(&store, "l.json", "run-a", at(9)),
            LiveRun::acquire(&store, "l.json", "run-b", at(9)),
        );
        assert!(a.is_ok() != b.is_ok(), "exactly one: {a:?} {b:?}");
    }
}
