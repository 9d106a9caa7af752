//! The export summary: counts, users per role and last-login buckets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sisense::User;

use crate::activity::{Evidence, Source, last_seen};
use crate::seats::Seats;
use crate::stale::{DEFAULT_INACTIVE_DAYS, Standing, Thresholds, standing};

/// Last-login buckets, in days since the last login, each exclusive of the previous one.
pub const BUCKETS: [(&str, i64); 5] = [
    ("0-7d", 7),
    ("8-30d", 30),
    ("31-90d", 90),
    ("91-180d", 180),
    ("181-365d", 365),
];

/// Counts over the exported users.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Users exported.
    pub users: u64,
    /// Activated users (`active: true`: on Sisense `active` means the invitation was accepted).
    pub active: u64,
    /// Pending invitations (`active: false`): invited, never activated. Not deactivated users.
    pub pending_invitations: u64,
    /// Users without a `lastLogin`.
    pub never_logged_in: u64,
    /// Users per role name (`(none)` when a user has no known role).
    pub per_role: BTreeMap<String, u64>,
    /// Users per last-login bucket (`0-7d` ... `181-365d`, `older`, `never`).
    pub last_login: BTreeMap<String, u64>,
    /// The most recent login seen.
    pub latest_login: Option<DateTime<Utc>>,
    /// Whether the API reports last logins; when not (Periscope), the last-login counts are all zero and mean
    /// nothing.
    pub last_login_available: bool,
    /// Users per Periscope site (absent for Sisense installations).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_site: BTreeMap<String, u64>,
    /// Days without a login after which an activated user counts as stale (the deactivation job's threshold).
    pub stale_days: u32,
    /// Licence seats per tier: total, active, stale, pending invitations, activity unknown, deactivated.
    pub seats: Seats,
    /// Activated users per source of their last seen (`lastLogin`, `ssoTokenIat`, `lastActivity`, `feed`), and
    /// `none` for those no signal shows.
    pub last_seen_sources: BTreeMap<String, u64>,
    /// Activated SSO users whose activity cannot be told (no SSO evidence): never counted stale.
    pub activity_unknown: u64,
    /// Users per tenant name, where the installation reports tenants.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_tenant: BTreeMap<String, u64>,
    /// Licence seats per tier of each tenant, where the installation reports tenants.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub seats_per_tenant: BTreeMap<String, Seats>,
    #[serde(skip)]
    thresholds: Thresholds,
    /// `TRUST_LAST_LOGIN`: judge SSO users by `lastLogin` too, as the deactivation job does with it.
    #[serde(skip)]
    pub trust_last_login: bool,
}

impl Summary {
    /// An empty summary with every bucket present, judging staleness by the deactivation job's default.
    pub fn new() -> Self {
        Self::with_thresholds(Thresholds::new(DEFAULT_INACTIVE_DAYS, None))
    }

    /// An empty summary judging staleness by `thresholds`.
    pub fn with_thresholds(thresholds: Thresholds) -> Self {
        let mut last_login: BTreeMap<String, u64> = BUCKETS
            .iter()
            .map(|(name, _)| (name.to_string(), 0))
            .collect();
        last_login.insert("older".into(), 0);
        last_login.insert("never".into(), 0);
        Summary {
            users: 0,
            active: 0,
            pending_invitations: 0,
            never_logged_in: 0,
            per_role: BTreeMap::new(),
            last_login,
            latest_login: None,
            last_login_available: true,
            per_site: BTreeMap::new(),
            stale_days: thresholds.inactive_days,
            seats: Seats::new(),
            last_seen_sources: BTreeMap::new(),
            activity_unknown: 0,
            per_tenant: BTreeMap::new(),
            seats_per_tenant: BTreeMap::new(),
            thresholds,
            trust_last_login: false,
        }
    }

    /// The bucket a last login falls in, relative to `now`.
    pub fn bucket(last_login: Option<DateTime<Utc>>, now: DateTime<Utc>) -> &'static str {
        let Some(t) = last_login else { return "never" };
        let days = (now - t).num_days();
        BUCKETS
            .iter()
            .find(|(_, max)| days <= *max)
            .map_or("older", |(name, _)| name)
    }

    /// Counts one user; returns how it stands (for [`Summary::add_tenant`]).
    pub fn add(&mut self, user: &User, role_name: &str, now: DateTime<Utc>) -> Standing {
        self.users += 1;
        if user.is_active() {
            self.active += 1;
        } else {
            self.pending_invitations += 1;
        }
        let role = if role_name.is_empty() {
            "(none)"
        } else {
            role_name
        };
        count(&mut self.per_role, role);
        if let Some(site) = &user.scope {
            count(&mut self.per_site, site);
        }
        // Without last logins nobody can be judged stale: activated users count as active seats.
        let evidence = Evidence {
            feed: None,
            trust_last_login: self.trust_last_login,
        };
        let standing = match standing(user, now, self.thresholds, evidence) {
            Standing::Stale { .. } | Standing::Unknown { .. } if !self.last_login_available => {
                Standing::Current
            }
            judged => judged,
        };
        self.seats.add(role_name, &standing);
        if !self.last_login_available {
            return standing;
        }
        if matches!(standing, Standing::Unknown { .. }) {
            self.activity_unknown += 1;
        }
        if user.is_active() {
            let source = last_seen(user, evidence).source;
            count(
                &mut self.last_seen_sources,
                source.map_or("none", Source::as_str),
            );
        }
        if user.last_login.is_none() {
            self.never_logged_in += 1;
        }
        count(&mut self.last_login, Self::bucket(user.last_login, now));
        self.latest_login = self.latest_login.max(user.last_login);
        standing
    }

    /// Counts a user [`Summary::add`] judged as `standing` in the tenant named `tenant`.
    pub fn add_tenant(&mut self, tenant: &str, role_name: &str, standing: &Standing) {
        count(&mut self.per_tenant, tenant);
        if !self.seats_per_tenant.contains_key(tenant) {
            self.seats_per_tenant
                .insert(tenant.to_string(), Seats::new());
        }
        if let Some(seats) = self.seats_per_tenant.get_mut(tenant) {
            seats.add(role_name, standing);
        }
    }
}

/// Adds one to `key`'s count (copying the key only the first time it is seen).
fn count(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

impl Default for Summary {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::Tier;
    use chrono::{Duration, TimeZone};

    #[test]
    fn buckets_are_exclusive_and_cover_never_and_older() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let ago = |d: i64| Some(now - Duration::days(d) - Duration::hours(1));
        let cases = [
            (Some(now), "0-7d"),
            (ago(7), "0-7d"),
            (ago(8), "8-30d"),
            (ago(30), "8-30d"),
            (ago(31), "31-90d"),
            (ago(90), "31-90d"),
            (ago(91), "91-180d"),
            (ago(365), "181-365d"),
            (ago(366), "older"),
            (None, "never"),
        ];
        for (t, expected) in cases {
            assert_eq!(Summary::bucket(t, now), expected, "{t:?}");
        }
    }

    #[test]
    fn counts_users() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let mut s = Summary::new();
        let user = |v| serde_json::from_value::<User>(v).unwrap();
        s.add(&user(serde_json::json!({"_id": "1", "active": true, "lastLogin": "2026-11-20T00:00:00Z"})), "consumer", now);
        s.add(
            &user(serde_json::json!({"_id": "2", "active": false})),
            "",
            now,
        );
        assert_eq!(
            (s.users, s.active, s.pending_invitations, s.never_logged_in),
            (2, 1, 1, 1)
        );
        assert_eq!(s.per_role["consumer"], 1);
        assert_eq!(s.per_role["(none)"], 1);
        assert_eq!(s.last_login["0-7d"], 1);
        assert_eq!(s.last_login["never"], 1);
        assert_eq!(s.last_login.values().sum::<u64>(), 2);
        let viewers = s.seats.tier(Tier::Viewers);
        assert_eq!((viewers.total, viewers.active), (1, 1));
        assert_eq!(s.seats.tier(Tier::Unclassified).pending_invitations, 1);
    }

    #[test]
    fn stale_seats_are_reclaimable_only_where_last_logins_are_known() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let old = serde_json::json!({"_id": "1", "active": true, "lastLogin": "2026-01-01T00:00:00Z",
            "created": "2025-01-01T00:00:00Z"});
        let user = serde_json::from_value::<User>(old).unwrap();
        let mut s = Summary::with_thresholds(Thresholds::new(30, None));
        s.add(&user, "contributor", now);
        assert_eq!(
            (s.seats.stale(), s.seats.reclaimable()[&Tier::Designers]),
            (1, 1)
        );
        assert_eq!(s.seats.tier(Tier::Designers).stale, 1);
        let mut blind = Summary::new();
        blind.last_login_available = false;
        blind.add(&user, "contributor", now);
        assert_eq!(
            (
                blind.seats.stale(),
                blind.seats.tier(Tier::Designers).active
            ),
            (0, 1)
        );
    }
}
