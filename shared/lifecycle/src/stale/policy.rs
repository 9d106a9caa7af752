//! Who is stale and who is protected: pure functions over one user, unit-tested without any I/O.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sisense::{GroupId, GroupResolver, ResolveError, RoleId, RoleResolver, User};

/// The thresholds, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A user last seen more than this many days ago is stale.
    pub inactive_days: u32,
    /// A user never seen is stale once created more than this many days ago.
    pub never_logged_in_grace_days: u32,
}

impl Thresholds {
    /// `inactive_days`, with the grace for users never seen defaulting to it.
    pub fn new(inactive_days: u32, never_logged_in_grace_days: Option<u32>) -> Self {
        Thresholds {
            inactive_days,
            never_logged_in_grace_days: never_logged_in_grace_days.unwrap_or(inactive_days),
        }
    }
}

/// Protected roles, users and groups, resolved to this installation's ids.
#[derive(Debug, Clone, Default)]
pub struct Protection {
    role_ids: HashSet<RoleId>,
    emails: HashSet<String>,
    group_ids: HashSet<GroupId>,
}

impl Protection {
    /// Resolves names. An unknown role or group is an error (a typo must not silently unprotect anyone);
    /// an ambiguous group name protects every group of that name.
    pub fn resolve(
        roles: &RoleResolver,
        groups: &GroupResolver,
        role_names: &[String],
        users: &[String],
        group_names: &[String],
    ) -> Result<Self, ResolveError> {
        let mut protection = Protection::default();
        for name in role_names {
            protection.role_ids.insert(roles.resolve(name)?.id.clone());
        }
        for name in group_names {
            match groups.resolve(name) {
                Ok(Some(group)) => {
                    protection.group_ids.insert(group.id.clone());
                }
                // "Everyone" would protect every user: refuse it rather than disable the job silently.
                Ok(None) => {
                    return Err(ResolveError::Unknown {
                        kind: "group",
                        name: format!(
                            "{name} (a built-in group every user is in cannot be protected)"
                        ),
                        known: String::new(),
                    });
                }
                Err(ResolveError::Ambiguous { ids, .. }) => protection
                    .group_ids
                    .extend(ids.into_iter().map(GroupId::from)),
                Err(e) => return Err(e),
            }
        }
        protection.emails = users.iter().map(|u| u.trim().to_lowercase()).collect();
        Ok(protection)
    }

    /// Why `user` is protected, or `None`.
    pub fn reason(&self, user: &User) -> Option<String> {
        let named = |value: &Option<String>| {
            value
                .as_deref()
                .is_some_and(|v| self.emails.contains(&v.to_lowercase()))
        };
        if self.emails.contains(&user.email.to_lowercase()) || named(&user.user_name) {
            return Some("protected user".into());
        }
        if let Some(role) = user.role_id()
            && self.role_ids.contains(role)
        {
            return Some("protected role".into());
        }
        user.group_ids()
            .find(|g| self.group_ids.contains(*g))
            .map(|g| format!("member of protected group {g}"))
    }
}

/// Where one user stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// A pending invitation (`active: false`: on Sisense `active` means the account was activated, not that it
    /// is enabled). Never "already deactivated"; only `delete` acts on it, once `stale`.
    Pending {
        /// Whole days since the invitation was created (0 when unknown).
        days_since_created: i64,
        /// Created more than the never-logged-in grace period ago.
        stale: bool,
    },
    /// Seen recently enough, or too new, or its age cannot be told (no timestamps at all).
    Current,
    /// Stale by age.
    Stale {
        /// Last login or activity; `None` when never seen.
        last_seen: Option<DateTime<Utc>>,
        /// Whole days since last seen (or since created, when never seen).
        days_inactive: i64,
    },
}

/// Classifies `user` at `now`.
pub fn standing(user: &User, now: DateTime<Utc>, thresholds: Thresholds) -> Standing {
    let days = |since: DateTime<Utc>| (now - since).num_days();
    if !user.is_active() {
        let grace = Duration::days(thresholds.never_logged_in_grace_days.into());
        return Standing::Pending {
            days_since_created: user.created.map_or(0, days),
            stale: user.created.is_some_and(|created| now - created > grace),
        };
    }
    match (user.last_seen(), user.created) {
        (Some(seen), _) if now - seen > Duration::days(thresholds.inactive_days.into()) => {
            Standing::Stale {
                last_seen: Some(seen),
                days_inactive: days(seen),
            }
        }
        (None, Some(created))
            if now - created > Duration::days(thresholds.never_logged_in_grace_days.into()) =>
        {
            Standing::Stale {
                last_seen: None,
                days_inactive: days(created),
            }
        }
        _ => Standing::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sisense::{Group, Role};

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn user(v: serde_json::Value) -> User {
        let mut base =
            json!({"_id": "u1", "email": "a@example.com", "roleId": "r-consumer", "active": true});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    const T: Thresholds = Thresholds {
        inactive_days: 90,
        never_logged_in_grace_days: 30,
    };

    #[test]
    fn last_seen_is_the_later_of_login_and_activity_and_the_boundary_is_exclusive() {
        let at = |days: i64| (now() - Duration::days(days)).to_rfc3339();
        assert_eq!(
            standing(&user(json!({"lastLogin": at(90)})), now(), T),
            Standing::Current,
            "exactly 90 days is not more than 90"
        );
        assert_eq!(
            standing(
                &user(json!({"lastLogin": at(200), "lastActivity": at(3)})),
                now(),
                T
            ),
            Standing::Current,
            "recent activity counts even with an old login"
        );
        match standing(&user(json!({"lastLogin": at(91)})), now(), T) {
            Standing::Stale {
                days_inactive: 91,
                last_seen: Some(_),
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_seen_users_get_the_grace_period_from_creation() {
        let at = |days: i64| (now() - Duration::days(days)).to_rfc3339();
        assert_eq!(
            standing(&user(json!({"created": at(29)})), now(), T),
            Standing::Current
        );
        assert_eq!(
            standing(&user(json!({"created": at(31)})), now(), T),
            Standing::Stale {
                last_seen: None,
                days_inactive: 31
            }
        );
        assert_eq!(
            standing(&user(json!({})), now(), T),
            Standing::Current,
            "no timestamps at all: age unknown, never acted on"
        );
        assert_eq!(
            standing(
                &user(json!({"active": false, "created": at(999), "lastLogin": at(500)})),
                now(),
                T
            ),
            Standing::Pending {
                days_since_created: 999,
                stale: true
            },
            "active false is a pending invitation, never 'already deactivated'"
        );
        assert_eq!(
            standing(&user(json!({"active": false, "created": at(29)})), now(), T),
            Standing::Pending {
                days_since_created: 29,
                stale: false
            },
            "within the grace period"
        );
    }

    #[test]
    fn protection_by_email_user_name_role_and_group() {
        let roles = RoleResolver::new(vec![
            serde_json::from_value::<Role>(json!({"_id": "r-admin", "name": "admin"})).unwrap(),
            serde_json::from_value::<Role>(json!({"_id": "r-consumer", "name": "consumer"}))
                .unwrap(),
        ]);
        let groups = GroupResolver::new(
            [("g1", "Execs"), ("g2", "Twin"), ("g3", "Twin")]
                .iter()
                .map(|(id, name)| {
                    serde_json::from_value::<Group>(json!({"_id": id, "name": name})).unwrap()
                })
                .collect(),
        );
        let p = Protection::resolve(
            &roles,
            &groups,
            &["Admin".into()],
            &["Boss@Example.com".into(), "svc-login".into()],
            &["execs".into(), "Twin".into()],
        )
        .unwrap();
        assert_eq!(
            p.reason(&user(json!({"email": "boss@example.com"}))),
            Some("protected user".into())
        );
        assert_eq!(
            p.reason(&user(json!({"userName": "SVC-login"}))),
            Some("protected user".into())
        );
        assert_eq!(
            p.reason(&user(json!({"roleId": "r-admin"}))),
            Some("protected role".into())
        );
        assert!(
            p.reason(&user(json!({"groups": ["g3"]}))).is_some(),
            "every group of an ambiguous name"
        );
        assert_eq!(p.reason(&user(json!({"groups": ["g9"]}))), None);

        let typo = Protection::resolve(&roles, &groups, &["admn".into()], &[], &[]).unwrap_err();
        assert!(typo.to_string().contains("unknown role"), "{typo}");
        assert!(Protection::resolve(&roles, &groups, &[], &[], &["Everyone".into()]).is_err());
    }
}
