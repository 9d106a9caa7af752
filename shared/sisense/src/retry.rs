//! Backoff schedule, `Retry-After` parsing and the retry budget: pure functions, unit-tested.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// How the client retries transient failures.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff ceiling; doubles per attempt.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// Total time one request may spend sleeping between attempts; a wait beyond it ends the retries.
    pub budget: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            budget: Duration::from_secs(120),
        }
    }
}

impl RetryConfig {
    /// The backoff ceiling before attempt `attempt + 1` (attempt counts from 0): `min(max, base * 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before the next attempt: full jitter (uniform in `[0, ceiling]`), but never shorter than the
    /// server's `Retry-After`.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let jittered = Duration::from_nanos(rng.random_range(0..=nanos));
        retry_after.map_or(jittered, |server| server.max(jittered))
    }
}

/// Where one request stands in its retry budget.
#[derive(Debug)]
pub(crate) struct Attempts<'a> {
    config: &'a RetryConfig,
    attempt: u32,
    slept: Duration,
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(config: &'a RetryConfig) -> Self {
        Attempts {
            config,
            attempt: 0,
            slept: Duration::ZERO,
        }
    }

    /// The wait before another attempt, or `None` when attempts or budget are spent.
    pub(crate) fn next_delay(
        &mut self,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if self.attempt + 1 >= self.config.max_attempts {
            return None;
        }
        let delay = self.config.delay(self.attempt, retry_after, rng);
        if self.slept + delay > self.config.budget {
            return None;
        }
        self.attempt += 1;
        self.slept += delay;
        Some(delay)
    }

    /// Attempts made so far (1 after the first).
    pub(crate) fn made(&self) -> u32 {
        self.attempt + 1
    }
}

/// Parses `Retry-After`: delta seconds or an HTTP date (relative to `now`; a past date means no wait).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn config() -> RetryConfig {
        RetryConfig {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            budget: Duration::from_secs(3),
        }
    }

    #[test]
    fn ceiling_doubles_and_caps() {
        let c = config();
        let ceilings: Vec<_> = (0..6).map(|a| c.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(c.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_within_ceiling_and_varies() {
        let c = config();
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<_> = (0..200).map(|_| c.delay(3, None, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(800)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 150, "jitter should spread the delays");
        assert!(delays.iter().any(|d| *d < Duration::from_millis(200)));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let c = config();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            assert!(c.delay(0, Some(Duration::from_secs(2)), &mut rng) >= Duration::from_secs(2));
        }
    }

    #[test]
    fn attempts_stop_at_max_attempts() {
        let c = config();
        let mut a = Attempts::new(&c);
        let mut rng = StdRng::seed_from_u64(3);
        let granted = std::iter::from_fn(|| a.next_delay(None, &mut rng)).count();
        assert_eq!(granted, 4, "5 attempts means 4 waits");
        assert_eq!(a.made(), 5);
    }

    #[test]
    fn attempts_stop_when_budget_would_be_exceeded() {
        let c = config();
        let mut a = Attempts::new(&c);
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(
            a.next_delay(Some(Duration::from_secs(2)), &mut rng)
                .map(|d| d >= Duration::from_secs(2)),
            Some(true)
        );
        assert_eq!(
            a.next_delay(Some(Duration::from_secs(2)), &mut rng),
            None,
            "2s + 2s > 3s budget"
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
