//! Test oracles computed straight from the simulator's raw JSON, independently of the jobs' code.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::Simulator;

/// The stale-user rule as the issue states it.
#[derive(Debug, Clone)]
pub struct StaleRule {
    /// "Now".
    pub now: DateTime<Utc>,
    /// Last seen more than this many days ago is stale.
    pub inactive_days: i64,
    /// Never seen and created more than this many days ago is stale.
    pub grace_days: i64,
    /// Protected role API names.
    pub roles: Vec<String>,
    /// Protected emails or user names (any case).
    pub users: Vec<String>,
    /// Protected group names.
    pub groups: Vec<String>,
}

/// Stale users split into those to act on and those protected, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaleSets {
    /// Active, stale and not protected.
    pub act: BTreeSet<String>,
    /// Stale (activated or pending) and protected.
    pub protected: BTreeSet<String>,
    /// Pending invitations (`active: false`) created more than the grace period ago, not protected: only
    /// `delete` acts on them.
    pub pending: BTreeSet<String>,
}

impl Simulator {
    /// Which stored users `rule` makes stale.
    pub fn stale_sets(&self, rule: &StaleRule) -> StaleSets {
        let (role_names, group_names) = (self.role_names(), self.group_names());
        let time = |v: &Value| v.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok());
        let older = |t: DateTime<Utc>, days: i64| (rule.now - t).num_seconds() > days * 86_400;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_lowercase();
        let mut sets = StaleSets::default();
        for u in self.users() {
            let pending = u["active"] == false;
            let stale = match time(&u["lastLogin"]).max(time(&u["lastActivity"])) {
                Some(seen) if !pending => older(seen, rule.inactive_days),
                _ => time(&u["created"]).is_some_and(|c| older(c, rule.grace_days)),
            };
            if !stale {
                continue;
            }
            let named = rule.users.iter().any(|p| {
                p.to_lowercase() == text(&u["email"]) || p.to_lowercase() == text(&u["userName"])
            });
            let role = role_names.get(u["roleId"].as_str().unwrap_or_default());
            let in_group = u["groups"].as_array().into_iter().flatten().any(|g| {
                group_names
                    .get(g.as_str().unwrap_or_default())
                    .is_some_and(|name| rule.groups.contains(name))
            });
            let id = u["_id"].as_str().unwrap_or_default().to_string();
            if named || role.is_some_and(|r| rule.roles.contains(r)) || in_group {
                sets.protected.insert(id);
            } else if pending {
                sets.pending.insert(id);
            } else {
                sets.act.insert(id);
            }
        }
        sets
    }
}
