//! Who is stale and who is protected: pure functions over one user, unit-tested without any I/O.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sisense::{GroupId, GroupResolver, ResolveError, RoleId, RoleResolver, User};

use crate::activity::{Evidence, Source, last_seen};

/// The thresholds, in days. As options they are `inactiveDays` and `neverLoggedInGraceDays` (unset: the inactive
/// days, so setting only `inactiveDays` moves both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "ThresholdsOption", into = "ThresholdsOption")]
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

/// How the thresholds read as options: the grace unset while it follows the inactive days.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThresholdsOption {
    inactive_days: u32,
    never_logged_in_grace_days: Option<u32>,
}

impl From<ThresholdsOption> for Thresholds {
    fn from(o: ThresholdsOption) -> Self {
        Thresholds::new(o.inactive_days, o.never_logged_in_grace_days)
    }
}

impl From<Thresholds> for ThresholdsOption {
    fn from(t: Thresholds) -> Self {
        ThresholdsOption {
            inactive_days: t.inactive_days,
            never_logged_in_grace_days: (t.never_logged_in_grace_days != t.inactive_days)
                .then_some(t.never_logged_in_grace_days),
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
    /// A pending invitation (`active: false` and never seen: on Sisense `active` means the account was
    /// activated, not that it is enabled). Never "already deactivated"; only `delete` acts on it, once `stale`.
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
        /// The latest signal; `None` when never seen.
        last_seen: Option<DateTime<Utc>>,
        /// The signal `last_seen` comes from.
        source: Option<Source>,
        /// Whole days since last seen (or since created, when never seen).
        days_inactive: i64,
    },
    /// An SSO user whose only evidence is a `lastLogin` that SSO logins do not move (or nothing): whether they
    /// are active cannot be told, so they are left alone (`activity_unknown`) until a feed covers them.
    Unknown {
        /// The latest signal there is (an old `lastLogin`), if any.
        last_seen: Option<DateTime<Utc>>,
        /// Its source.
        source: Option<Source>,
        /// Whole days since that signal (or since created).
        days_inactive: i64,
    },
    /// `active: false` but seen at some time: an account that was activated and later deactivated (on a
    /// release that honours `active: false`), not an invitation.
    Deactivated {
        /// The latest signal.
        last_seen: DateTime<Utc>,
        /// Its source.
        source: Source,
        /// Whole days since then.
        days_inactive: i64,
        /// Not seen for the inactive days.
        stale: bool,
    },
}

impl Standing {
    /// The last seen instant and its source, where the standing has one.
    pub fn seen(&self) -> (Option<DateTime<Utc>>, Option<Source>) {
        match self {
            Standing::Pending { .. } | Standing::Current => (None, None),
            Standing::Stale {
                last_seen, source, ..
            }
            | Standing::Unknown {
                last_seen, source, ..
            } => (*last_seen, *source),
            Standing::Deactivated {
                last_seen, source, ..
            } => (Some(*last_seen), Some(*source)),
        }
    }
}

/// Classifies `user` at `now` by every activity signal ([`crate::activity`]).
pub fn standing(
    user: &User,
    now: DateTime<Utc>,
    thresholds: Thresholds,
    evidence: Evidence<'_>,
) -> Standing {
    let days = |since: DateTime<Utc>| (now - since).num_days();
    let inactive = Duration::days(thresholds.inactive_days.into());
    let grace = Duration::days(thresholds.never_logged_in_grace_days.into());
    let seen = last_seen(user, evidence);
    if !user.is_active() {
        return match (seen.at, seen.source) {
            (Some(at), Some(source)) => Standing::Deactivated {
                last_seen: at,
                source,
                days_inactive: days(at),
                stale: now - at > inactive,
            },
            _ => Standing::Pending {
                days_since_created: user.created.map_or(0, days),
                stale: user.created.is_some_and(|created| now - created > grace),
            },
        };
    }
    let recent = seen.at.is_some_and(|at| now - at <= inactive);
    let too_new = seen.at.is_none() && user.created.is_none_or(|created| now - created <= grace);
    if recent || too_new {
        return Standing::Current;
    }
    let days_inactive = seen.at.or(user.created).map_or(0, days);
    if seen.unknown {
        return Standing::Unknown {
            last_seen: seen.at,
            source: seen.source,
            days_inactive,
        };
    }
    Standing::Stale {
        last_seen: seen.at,
        source: seen.source,
        days_inactive,
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
            standing(
                &user(json!({"lastLogin": at(90)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Current,
            "exactly 90 days is not more than 90"
        );
        assert_eq!(
            standing(
                &user(json!({"lastLogin": at(200), "lastActivity": at(3)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Current,
            "recent activity counts even with an old login"
        );
        match standing(
            &user(json!({"lastLogin": at(91)})),
            now(),
            T,
            Evidence::default(),
        ) {
            Standing::Stale {
                days_inactive: 91,
                last_seen: Some(_),
                source: Some(Source::LastLogin),
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_seen_users_get_the_grace_period_from_creation() {
        let at = |days: i64| (now() - Duration::days(days)).to_rfc3339();
        assert_eq!(
            standing(
                &user(json!({"created": at(29)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Current
        );
        assert_eq!(
            standing(
                &user(json!({"created": at(31)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Stale {
                last_seen: None,
                source: None,
                days_inactive: 31
            }
        );
        assert_eq!(
            standing(&user(json!({})), now(), T, Evidence::default()),
            Standing::Current,
            "no timestamps at all: age unknown, never acted on"
        );
        assert_eq!(
            standing(
                &user(json!({"active": false, "created": at(999)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Pending {
                days_since_created: 999,
                stale: true
            },
            "active false and never seen is a pending invitation, never 'already deactivated'"
        );
        assert_eq!(
            standing(
                &user(json!({"active": false, "created": at(999), "lastLogin": at(999)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Pending {
                days_since_created: 999,
                stale: true
            },
            "a lastLogin written by a v0.9 create is no login"
        );
        match standing(
            &user(json!({"active": false, "created": at(999), "lastLogin": at(500)})),
            now(),
            T,
            Evidence::default(),
        ) {
            Standing::Deactivated {
                days_inactive: 500,
                source: Source::LastLogin,
                stale: true,
                ..
            } => {}
            other => panic!("active false but logged in once is a deactivated account: {other:?}"),
        }
        assert_eq!(
            standing(
                &user(json!({"active": false, "created": at(29)})),
                now(),
                T,
                Evidence::default()
            ),
            Standing::Pending {
                days_since_created: 29,
                stale: false
            },
            "within the grace period"
        );
    }

    #[test]
    fn sso_users_are_judged_by_sso_evidence_and_unknown_without_it() {
        let at = |days: i64| (now() - Duration::days(days)).to_rfc3339();
        let iat = |days: i64| (now() - Duration::days(days)).timestamp();
        let daily_jwt = user(
            json!({"createdSso": "jwt", "created": at(800), "lastLogin": at(700),
            "ssoTokenIat": iat(0)}),
        );
        assert_eq!(
            standing(&daily_jwt, now(), T, Evidence::default()),
            Standing::Current,
            "a daily JWT user with an old lastLogin is current"
        );
        let gone_jwt =
            user(json!({"createdSso": "jwt", "created": at(800), "ssoTokenIat": iat(200)}));
        assert!(matches!(
            standing(&gone_jwt, now(), T, Evidence::default()),
            Standing::Stale {
                source: Some(Source::SsoTokenIat),
                days_inactive: 200,
                ..
            }
        ));
        let saml = user(json!({"createdSso": "saml", "created": at(400), "lastLogin": at(400)}));
        assert_eq!(
            standing(&saml, now(), T, Evidence::default()),
            Standing::Unknown {
                last_seen: None,
                source: None,
                days_inactive: 400
            },
            "a SAML JIT user's lastLogin is its creation: nothing is known"
        );
        let new_saml = user(json!({"createdSso": "saml", "created": at(3)}));
        assert_eq!(
            standing(&new_saml, now(), T, Evidence::default()),
            Standing::Current,
            "too new to judge"
        );
        let fed = crate::activity::Feed::from_pairs([("a@example.com", now() - Duration::days(1))]);
        let with_feed = Evidence {
            feed: Some(&fed),
            trust_last_login: false,
        };
        assert_eq!(standing(&saml, now(), T, with_feed), Standing::Current);
        let stale_fed =
            crate::activity::Feed::from_pairs([("a@example.com", now() - Duration::days(120))]);
        assert!(matches!(
            standing(
                &saml,
                now(),
                T,
                Evidence {
                    feed: Some(&stale_fed),
                    trust_last_login: false
                }
            ),
            Standing::Stale {
                source: Some(Source::Feed),
                days_inactive: 120,
                ..
            }
        ));
        let old_login =
            user(json!({"createdSso": "saml", "created": at(900), "lastLogin": at(300)}));
        assert!(matches!(
            standing(&old_login, now(), T, Evidence::default()),
            Standing::Unknown {
                days_inactive: 300,
                ..
            }
        ));
        assert!(matches!(
            standing(
                &old_login,
                now(),
                T,
                Evidence {
                    feed: None,
                    trust_last_login: true
                }
            ),
            Standing::Stale {
                days_inactive: 300,
                ..
            }
        ));
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
