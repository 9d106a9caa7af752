//! The health check of the activity evidence as a whole, before any write: a run that would act on people
//! refuses when too few activated users were seen recently (a frozen signal: SSO logins that do not write
//! `lastLogin`, a feed that stopped) or too many cannot be judged at all.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sisense::User;

use crate::activity::{LastSeen, Source};

/// Least share of activated users seen within the inactive days, unless configured.
pub const DEFAULT_MIN_RECENT_PERCENT: u32 = 5;
/// Largest share of activated users whose activity is unknown, unless configured.
pub const DEFAULT_MAX_UNKNOWN_PERCENT: u32 = 50;

/// The thresholds of the check (options `minRecentPercent`, `maxUnknownPercent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthLimits {
    /// Least percentage of activated users seen within the inactive days.
    pub min_recent_percent: u32,
    /// Largest percentage of activated users with unknown activity.
    pub max_unknown_percent: u32,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            min_recent_percent: DEFAULT_MIN_RECENT_PERCENT,
            max_unknown_percent: DEFAULT_MAX_UNKNOWN_PERCENT,
        }
    }
}

/// The verdict on the evidence, with the counts it rests on (the summary's `signalHealth`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalHealth {
    /// Activated users judged.
    pub activated: u64,
    /// Activated users whose last seen comes from each source (`lastLogin`, `ssoTokenIat`, `lastActivity`,
    /// `feed`), and `none` for those no signal shows.
    pub by_source: BTreeMap<String, u64>,
    /// Activated users carrying each signal at all, whether or not it is their latest.
    pub coverage: BTreeMap<String, u64>,
    /// Activated users seen within the inactive days.
    pub recent: u64,
    /// `recent` in percent of `activated` (one decimal).
    pub recent_percent: f64,
    /// Activated SSO users whose activity cannot be told.
    pub unknown: u64,
    /// `unknown` in percent of `activated` (one decimal).
    pub unknown_percent: f64,
    /// `healthy` or `unhealthy`.
    pub verdict: String,
    /// Why unhealthy (empty when healthy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

// The `f64` fields hold one decimal of a ratio of counts (0 when there is nothing to count): never NaN.
impl Eq for SignalHealth {}

/// `n` in percent of `all`, to one decimal (0 when there is nothing to count).
pub(crate) fn percent(n: u64, all: u64) -> f64 {
    match all {
        0 => 0.0,
        all => (n as f64 * 1000.0 / all as f64).round() / 10.0,
    }
}

/// Counts the evidence while users are listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct HealthCount {
    activated: u64,
    recent: u64,
    unknown: u64,
    by_source: BTreeMap<Source, u64>,
    none: u64,
    coverage: BTreeMap<Source, u64>,
}

impl HealthCount {
    /// Counts one activated user, whose evidence is `seen` and `signals`, at `now`.
    pub(crate) fn add(
        &mut self,
        user: &User,
        seen: &LastSeen,
        signals: &[(DateTime<Utc>, Source)],
        now: DateTime<Utc>,
        inactive_days: u32,
    ) {
        if !user.is_active() {
            return;
        }
        self.activated += 1;
        match seen.source {
            Some(source) => *self.by_source.entry(source).or_default() += 1,
            None => self.none += 1,
        }
        for (_, source) in signals {
            *self.coverage.entry(*source).or_default() += 1;
        }
        if seen
            .at
            .is_some_and(|at| now - at <= Duration::days(inactive_days.into()))
        {
            self.recent += 1;
        } else if seen.unknown {
            self.unknown += 1;
        }
    }

    /// The verdict under `limits`.
    pub(crate) fn verdict(&self, limits: HealthLimits, inactive_days: u32) -> SignalHealth {
        let (recent_percent, unknown_percent) = (
            percent(self.recent, self.activated),
            percent(self.unknown, self.activated),
        );
        let mut reasons = Vec::new();
        if self.activated > 0 && recent_percent < f64::from(limits.min_recent_percent) {
            reasons.push(format!(
                "only {} of {} activated users ({recent_percent}%) were seen in the last {inactive_days} days, \
                 fewer than MIN_RECENT_PERCENT ({}%): the activity signal looks frozen (SSO logins do not write \
                 lastLogin; a feed may have stopped). Supply an activity feed, or lower MIN_RECENT_PERCENT if \
                 this installation really is that quiet",
                self.recent, self.activated, limits.min_recent_percent
            ));
        }
        if unknown_percent > f64::from(limits.max_unknown_percent) {
            reasons.push(format!(
                "{} of {} activated users ({unknown_percent}%) are SSO users with no SSO evidence, more than \
                 MAX_UNKNOWN_PERCENT ({}%): supply an activity feed (an IdP sign-in export), or set \
                 TRUST_LAST_LOGIN=true if this installation writes lastLogin for SSO logins",
                self.unknown, self.activated, limits.max_unknown_percent
            ));
        }
        let mut by_source: BTreeMap<String, u64> = Source::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str().to_string(),
                    self.by_source.get(s).copied().unwrap_or(0),
                )
            })
            .collect();
        by_source.insert("none".into(), self.none);
        SignalHealth {
            activated: self.activated,
            by_source,
            coverage: Source::ALL
                .iter()
                .map(|s| {
                    (
                        s.as_str().to_string(),
                        self.coverage.get(s).copied().unwrap_or(0),
                    )
                })
                .collect(),
            recent: self.recent,
            recent_percent,
            unknown: self.unknown,
            unknown_percent,
            verdict: if reasons.is_empty() {
                "healthy"
            } else {
                "unhealthy"
            }
            .into(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::{Evidence, last_seen, signals};
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn count(users: &[serde_json::Value]) -> HealthCount {
        let mut count = HealthCount::default();
        for (i, u) in users.iter().enumerate() {
            let mut v = json!({"_id": format!("u{i}"), "email": format!("u{i}@example.com"), "active": true});
            v.as_object_mut()
                .unwrap()
                .extend(u.as_object().unwrap().clone());
            let user: User = serde_json::from_value(v).unwrap();
            let seen = last_seen(&user, Evidence::default());
            count.add(&user, &seen, &signals(&user, None), now(), 90);
        }
        count
    }

    fn ago(days: i64) -> String {
        (now() - Duration::days(days)).to_rfc3339()
    }

    #[test]
    fn a_frozen_signal_is_unhealthy_and_a_lively_one_healthy() {
        let mut users = vec![json!({"lastLogin": ago(400)}); 96];
        users.extend(vec![json!({"lastLogin": ago(1)}); 4]);
        let health = count(&users).verdict(HealthLimits::default(), 90);
        assert_eq!((health.activated, health.recent), (100, 4));
        assert_eq!(health.verdict, "unhealthy");
        assert!(
            health.reasons[0].contains("4 of 100"),
            "{:?}",
            health.reasons
        );
        users.push(json!({"lastLogin": ago(2)}));
        let health = count(&users).verdict(HealthLimits::default(), 90);
        assert_eq!(health.verdict, "healthy", "5 of 101 is 5.0%: {health:?}");
        assert_eq!(health.by_source["lastLogin"], 101);
        assert_eq!(health.by_source["ssoTokenIat"], 0);
    }

    #[test]
    fn too_many_unknown_sso_users_is_unhealthy_and_inactive_users_do_not_count() {
        let mut users =
            vec![json!({"createdSso": "saml", "created": ago(500), "lastLogin": ago(500)}); 51];
        users.extend(vec![
            json!({"ssoTokenIat": (now() - Duration::days(1)).timestamp()});
            49
        ]);
        users.extend(vec![json!({"active": false}); 500]);
        let health = count(&users).verdict(HealthLimits::default(), 90);
        assert_eq!(health.activated, 100);
        assert_eq!(health.unknown, 51);
        assert_eq!(health.verdict, "unhealthy");
        assert!(
            health.reasons.iter().any(|r| r.contains("51 of 100")),
            "{:?}",
            health.reasons
        );
        assert_eq!(health.coverage["ssoTokenIat"], 49);
        assert_eq!(health.by_source["none"], 51, "a SAML JIT login is no login");
        let relaxed = count(&users).verdict(
            HealthLimits {
                min_recent_percent: 5,
                max_unknown_percent: 60,
            },
            90,
        );
        assert_eq!(relaxed.verdict, "healthy");
    }
}
