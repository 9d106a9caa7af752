//! How much one invocation may do.

use std::time::{Duration, Instant};

/// What one invocation may spend: a deadline (the Lambda deadline minus a margin) and a row budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// No segment starts that would end after this instant.
    pub deadline: Option<Instant>,
    /// At most this many rows settled per invocation (`0`, like unset, is no limit).
    pub rows_per_hop: Option<usize>,
}

impl Budget {
    /// Whether the next segment should wait for the next invocation, after `done` rows in this one whose
    /// longest segment took `longest`. The first segment always runs, so every invocation makes progress.
    pub fn spent(&self, done: usize, longest: Duration) -> bool {
        done > 0
            && (self.limit().is_some_and(|limit| done >= limit)
                || self
                    .deadline
                    .is_some_and(|deadline| Instant::now() + longest >= deadline))
    }

    /// The rows the next segment may take: `segment`, cut to what is left of the row budget, at least one.
    pub fn allowance(&self, done: usize, segment: usize) -> usize {
        self.limit()
            .map_or(segment, |limit| limit.saturating_sub(done).min(segment))
            .max(1)
    }
}

impl Budget {
    /// The row budget, if there is one.
    fn limit(&self) -> Option<usize> {
        self.rows_per_hop.filter(|n| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_segment_always_runs_and_the_row_budget_cuts_segments() {
        let past = Budget {
            deadline: Some(Instant::now()),
            rows_per_hop: Some(150),
        };
        assert!(
            !past.spent(0, Duration::from_secs(60)),
            "progress every hop"
        );
        assert!(past.spent(1, Duration::ZERO));
        assert_eq!(past.allowance(100, 100), 50);
        assert_eq!(past.allowance(150, 100), 1);
        let zero = Budget {
            deadline: None,
            rows_per_hop: Some(0),
        };
        assert!(
            !zero.spent(10_000, Duration::ZERO),
            "0, like unset, is no limit"
        );
        assert_eq!(zero.allowance(0, 100), 100);
        let open = Budget::default();
        assert!(!open.spent(10_000, Duration::from_secs(600)));
        assert_eq!(open.allowance(10_000, 100), 100);
        let later = Budget {
            deadline: Some(Instant::now() + Duration::from_secs(30)),
            rows_per_hop: None,
        };
        assert!(!later.spent(5, Duration::from_secs(1)));
        assert!(
            later.spent(5, Duration::from_secs(31)),
            "the longest segment would not fit"
        );
    }
}
