//! When a user was last seen, from every signal there is: the one rule the deactivation job, the export's seats
//! and the access review judge staleness by.
//!
//! Sisense's own server code (a 2018 build whose users API matches the L8.2.4 contract) writes `lastLogin` only
//! for password and Active Directory logins. A JWT SSO login writes `ssoTokenIat` instead, a SAML login writes
//! nothing visible, users created through v0.9 or SAML just-in-time get `lastLogin = created`, and API-token
//! calls write nothing. So the latest of `lastLogin`, `ssoTokenIat`, `lastActivity` and an activity feed (an IdP
//! sign-in export, say) is the user's last seen; a `lastLogin` within a minute of `created` is no login; and an
//! SSO user whose only evidence is `lastLogin` has **unknown** activity, never "stale".

mod feed;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sisense::User;

pub use feed::{Feed, FeedError};

/// A `lastLogin` this close to `created` was written by the creation (v0.9 creates, SAML just-in-time), not by
/// a login.
pub const CREATION_LOGIN_WINDOW: Duration = Duration::seconds(60);

/// Where a last-seen instant comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Source {
    /// `lastLogin`: password and Active Directory logins.
    #[serde(rename = "lastLogin")]
    LastLogin,
    /// `ssoTokenIat`: JWT SSO logins.
    #[serde(rename = "ssoTokenIat")]
    SsoTokenIat,
    /// `lastActivity`: releases that send it.
    #[serde(rename = "lastActivity")]
    LastActivity,
    /// The operator's activity feed.
    #[serde(rename = "feed")]
    Feed,
}

impl Source {
    /// Every source, in the order reports list them.
    pub const ALL: [Source; 4] = [
        Source::LastLogin,
        Source::SsoTokenIat,
        Source::LastActivity,
        Source::Feed,
    ];

    /// The name reports and the CSV use: the field's own name (`lastLogin`, ...) or `feed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::LastLogin => "lastLogin",
            Source::SsoTokenIat => "ssoTokenIat",
            Source::LastActivity => "lastActivity",
            Source::Feed => "feed",
        }
    }
}

/// What the rule may use besides the user's own fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// The activity feed, when the operator gave one.
    pub feed: Option<&'a Feed>,
    /// The operator knows their installation writes `lastLogin` for SSO users too (`TRUST_LAST_LOGIN`).
    pub trust_last_login: bool,
}

/// A user's last seen, and whether the evidence can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSeen {
    /// The latest instant any signal shows; `None` when none does.
    pub at: Option<DateTime<Utc>>,
    /// The signal that instant comes from.
    pub source: Option<Source>,
    /// An SSO user with no SSO evidence (no `ssoTokenIat`, `lastActivity` or feed entry): their `lastLogin`, if
    /// any, does not move when they sign in, so being old (or missing) says nothing.
    pub unknown: bool,
}

/// The signals `user` carries: `(instant, source)`, any order. A `lastLogin` within
/// [`CREATION_LOGIN_WINDOW`] of `created` is left out (the creation wrote it).
pub fn signals(user: &User, feed: Option<&Feed>) -> Vec<(DateTime<Utc>, Source)> {
    let login = user.last_login.filter(|login| {
        user.created
            .is_none_or(|created| (*login - created).abs() > CREATION_LOGIN_WINDOW)
    });
    [
        (login, Source::LastLogin),
        (user.sso_token_iat(), Source::SsoTokenIat),
        (user.last_activity, Source::LastActivity),
        (feed.and_then(|f| f.last_seen(&user.email)), Source::Feed),
    ]
    .into_iter()
    .filter_map(|(at, source)| at.map(|at| (at, source)))
    .collect()
}

/// The one rule: the latest signal, and whether the evidence can tell for this user.
pub fn last_seen(user: &User, evidence: Evidence<'_>) -> LastSeen {
    let signals = signals(user, evidence.feed);
    let latest = signals
        .iter()
        .copied()
        .max_by_key(|(at, source)| (*at, std::cmp::Reverse(*source)));
    let sso_evidence = signals.iter().any(|(_, s)| *s != Source::LastLogin);
    LastSeen {
        at: latest.map(|(at, _)| at),
        source: latest.map(|(_, s)| s),
        unknown: user.is_sso() && !sso_evidence && !evidence.trust_last_login,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn ago(days: i64) -> String {
        (now() - Duration::days(days)).to_rfc3339()
    }

    fn user(v: serde_json::Value) -> User {
        let mut base = json!({"_id": "u1", "email": "Ann@Example.com", "active": true});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn the_latest_signal_wins_and_names_its_source() {
        let iat = (now() - Duration::days(2)).timestamp();
        let u = user(json!({"lastLogin": ago(400), "ssoTokenIat": iat, "createdSso": "jwt"}));
        let seen = last_seen(&u, Evidence::default());
        assert_eq!(seen.source, Some(Source::SsoTokenIat));
        assert_eq!((now() - seen.at.unwrap()).num_days(), 2);
        assert!(!seen.unknown, "an SSO user with SSO evidence is known");

        let u = user(json!({"lastLogin": ago(10), "lastActivity": ago(1)}));
        assert_eq!(
            last_seen(&u, Evidence::default()).source,
            Some(Source::LastActivity)
        );
        let u = user(json!({"lastLogin": ago(1), "lastActivity": ago(10)}));
        assert_eq!(
            last_seen(&u, Evidence::default()).source,
            Some(Source::LastLogin)
        );
    }

    #[test]
    fn a_login_written_by_the_creation_is_no_login() {
        let created = now() - Duration::days(300);
        let u = user(json!({
            "created": created.to_rfc3339(),
            "lastLogin": (created + Duration::seconds(59)).to_rfc3339(),
        }));
        assert_eq!(last_seen(&u, Evidence::default()).at, None);
        let u = user(json!({
            "created": created.to_rfc3339(),
            "lastLogin": (created + Duration::seconds(61)).to_rfc3339(),
        }));
        assert_eq!(
            last_seen(&u, Evidence::default()).source,
            Some(Source::LastLogin)
        );
    }

    #[test]
    fn an_sso_user_known_only_by_last_login_is_unknown_unless_trusted_or_in_the_feed() {
        let saml = user(json!({"createdSso": "saml", "lastLogin": ago(400)}));
        let seen = last_seen(&saml, Evidence::default());
        assert!(seen.unknown);
        assert_eq!(seen.source, Some(Source::LastLogin), "still shown");
        assert!(
            !last_seen(
                &saml,
                Evidence {
                    trust_last_login: true,
                    ..Evidence::default()
                }
            )
            .unknown
        );
        let feed = Feed::from_pairs([("ann@example.com", now() - Duration::days(400))]);
        let seen = last_seen(
            &saml,
            Evidence {
                feed: Some(&feed),
                ..Evidence::default()
            },
        );
        assert!(
            !seen.unknown,
            "the feed covers the user (by case-insensitive email)"
        );
        assert_eq!(
            seen.source,
            Some(Source::LastLogin),
            "a tie goes to the user's own field"
        );
        let password = user(json!({"lastLogin": ago(400)}));
        assert!(!last_seen(&password, Evidence::default()).unknown);
        let never = user(json!({"createdSso": "saml"}));
        let seen = last_seen(&never, Evidence::default());
        assert!(seen.unknown && seen.at.is_none());
    }
}
