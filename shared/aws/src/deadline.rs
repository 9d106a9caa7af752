//! An invocation's time budget: the instant a hop stops starting work, a margin before the Lambda deadline.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The instant `margin` before a Lambda deadline given in epoch milliseconds.
pub fn hop_deadline(deadline_ms: u64, margin: Duration) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hop_deadline_keeps_the_margin() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let deadline = hop_deadline(now_ms + 900_000, Duration::from_secs(120));
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(780) && left > Duration::from_secs(770),
            "{left:?}"
        );
        assert!(hop_deadline(now_ms, Duration::from_secs(120)) <= Instant::now());
    }
}
