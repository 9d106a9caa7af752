//! The access review: counts and stale candidates read back from an export CSV, rendered as one
//! self-contained HTML page ([`html::render`]). The counts use the export's own [`Summary`], so the page and
//! the export's `.summary.json` always agree; stale candidates use the deactivation job's [`standing`] rule.

pub mod history;
pub mod html;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifecycle::activity::Evidence;
use lifecycle::export::{HEADER, Summary};
use lifecycle::stale::{Standing, Thresholds, standing};
use serde_json::json;
use sisense::User;

/// One stale candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Email.
    pub email: String,
    /// Role name.
    pub role: String,
    /// Group names as exported.
    pub groups: String,
    /// Last login or activity; `None` when never seen.
    pub last_seen: Option<DateTime<Utc>>,
    /// Whole days inactive.
    pub days_inactive: i64,
    /// Dashboards the user owns, from a deactivation report (`None` without one).
    pub dashboards: Option<u64>,
}

/// What the page shows.
#[derive(Debug, Clone)]
pub struct Review {
    /// The export's counts.
    pub summary: Summary,
    /// Activated users and pending invitations per role name.
    pub roles: BTreeMap<String, (u64, u64)>,
    /// Stale candidates, longest inactive first.
    pub candidates: Vec<Candidate>,
    /// The instant ages are judged at.
    pub now: DateTime<Utc>,
    /// The thresholds used.
    pub thresholds: Thresholds,
    /// The stored summaries over time and the latest changes, when the export's prefix holds them.
    pub history: Option<history::History>,
}

/// Undoes the export's formula neutralisation (`'=...` was `=...`).
fn cell(raw: &str) -> &str {
    match raw.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => raw,
    }
}

impl Review {
    /// Reads an export CSV (the 13 columns `export` writes, in any order).
    pub fn from_csv(
        bytes: &[u8],
        now: DateTime<Utc>,
        thresholds: Thresholds,
    ) -> Result<Self, String> {
        let mut reader = csv::Reader::from_reader(bytes);
        let headers = reader
            .headers()
            .map_err(|e| format!("not an export CSV: {e}"))?
            .clone();
        let index = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| {
                format!(
                    "not an export CSV: column {name:?} is missing (expected the columns {})",
                    HEADER[..13].join(",")
                )
            })
        };
        let [id, email, active, created, login, activity, role, groups] = [
            "user_id",
            "email",
            "is_active",
            "created_date",
            "last_login",
            "last_activity",
            "role_name",
            "group_names",
        ]
        .map(index);
        let (id, email, active, created, login, activity, role, groups) = (
            id?, email?, active?, created?, login?, activity?, role?, groups?,
        );
        // The SSO evidence columns; an export from before they existed judges everyone by the logins alone.
        let (iat, sso) = (
            headers.iter().position(|h| h == "sso_token_iat"),
            headers.iter().position(|h| h == "created_sso"),
        );
        let mut review = Review {
            summary: Summary::with_thresholds(thresholds),
            roles: BTreeMap::new(),
            candidates: Vec::new(),
            now,
            thresholds,
            history: None,
        };
        for (n, record) in reader.records().enumerate() {
            let line = n + 2;
            let record = record.map_err(|e| format!("line {line}: {e}"))?;
            let get = |i: usize| cell(record.get(i).unwrap_or(""));
            let time = |i: usize| -> Result<Option<DateTime<Utc>>, String> {
                let raw = get(i);
                if raw.is_empty() {
                    return Ok(None);
                }
                raw.parse().map(Some).map_err(|e| {
                    format!(
                        "line {line}: {} {raw:?} is not a timestamp: {e}",
                        headers.get(i).unwrap_or("")
                    )
                })
            };
            let is_active = match get(active) {
                "true" => true,
                "false" => false,
                other => {
                    return Err(format!(
                        "line {line}: is_active {other:?} is not true or false"
                    ));
                }
            };
            let mut user = json!({
                "_id": get(id),
                "email": get(email),
                "active": is_active,
                "created": time(created)?,
                "lastLogin": time(login)?,
                "lastActivity": time(activity)?,
            });
            if let Some(at) = iat.map(time).transpose()?.flatten() {
                user["ssoTokenIat"] = json!(at.timestamp());
            }
            if let Some(how) = sso.map(get).filter(|s| !s.is_empty()) {
                user["createdSso"] = json!(how);
            }
            let user: User =
                serde_json::from_value(user).map_err(|e| format!("line {line}: {e}"))?;
            let role_name = get(role);
            review.summary.add(&user, role_name, now);
            let per_role = review
                .roles
                .entry(
                    if role_name.is_empty() {
                        "(none)"
                    } else {
                        role_name
                    }
                    .to_string(),
                )
                .or_default();
            if is_active {
                per_role.0 += 1;
            } else {
                per_role.1 += 1;
            }
            if let Standing::Stale {
                last_seen,
                days_inactive,
                ..
            } = standing(&user, now, thresholds, Evidence::default())
            {
                review.candidates.push(Candidate {
                    email: user.email,
                    role: role_name.to_string(),
                    groups: get(groups).to_string(),
                    last_seen,
                    days_inactive,
                    dashboards: None,
                });
            }
        }
        review.candidates.sort_by(|a, b| {
            b.days_inactive
                .cmp(&a.days_inactive)
                .then(a.email.cmp(&b.email))
        });
        Ok(review)
    }

    /// Adds the dashboards each candidate owns, from a deactivate-stale-users report (dry run or live; its
    /// `email` and `dashboards_owned` columns).
    pub fn with_dashboards(&mut self, report: &[u8]) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Owned {
            email: String,
            dashboards_owned: String,
        }
        let mut owned = BTreeMap::new();
        for (n, row) in csv::Reader::from_reader(report)
            .deserialize::<Owned>()
            .enumerate()
        {
            let row = row.map_err(|e| format!("not a deactivation report: line {}: {e}", n + 2))?;
            if let Ok(count) = row.dashboards_owned.parse::<u64>() {
                owned.insert(cell(&row.email).to_lowercase(), count);
            }
        }
        for candidate in &mut self.candidates {
            candidate.dashboards = Some(
                owned
                    .get(&candidate.email.to_lowercase())
                    .copied()
                    .unwrap_or(0),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-22T12:00:00Z";

    fn thresholds() -> Thresholds {
        Thresholds {
            inactive_days: 90,
            never_logged_in_grace_days: 30,
        }
    }

    #[test]
    fn counts_roles_activity_and_stale_candidates() {
        let csv = format!(
            "{}\n\
             a1,,,,true,r,2025-01-01T00:00:00.000Z,,2026-11-20T00:00:00.000Z,,fresh@x.io,consumer,\n\
             a2,,,,true,r,2025-01-01T00:00:00.000Z,,2026-01-01T00:00:00.000Z,,old@x.io,consumer,Sales\n\
             a3,,,,false,r,2025-01-01T00:00:00.000Z,,,,gone@x.io,admin,\n\
             a4,,,,true,r,2025-01-01T00:00:00.000Z,,,,never@x.io,,\n\
             a5,,,,true,r,2026-11-01T00:00:00.000Z,,,,new@x.io,'=cmd,\n",
            HEADER[..13].join(",")
        );
        let review = Review::from_csv(csv.as_bytes(), NOW.parse().unwrap(), thresholds()).unwrap();
        assert_eq!(
            (
                review.summary.users,
                review.summary.active,
                review.summary.pending_invitations
            ),
            (5, 4, 1)
        );
        assert_eq!(review.roles["consumer"], (2, 0));
        assert_eq!(review.roles["admin"], (0, 1));
        assert_eq!(review.roles["(none)"], (1, 0));
        assert_eq!(
            review.roles["=cmd"],
            (1, 0),
            "neutralised cells are read back as exported"
        );
        let stale: Vec<&str> = review.candidates.iter().map(|c| c.email.as_str()).collect();
        assert_eq!(
            stale,
            ["never@x.io", "old@x.io"],
            "longest inactive first; inactive and new users are not candidates"
        );
        assert_eq!(review.candidates[1].groups, "Sales");

        let mut review = review;
        review
            .with_dashboards(
                b"user_id,email,dashboards_owned,status\na2,OLD@x.io,3,protected_owner\na4,never@x.io,,would_delete\n",
            )
            .unwrap();
        let owned: Vec<Option<u64>> = review.candidates.iter().map(|c| c.dashboards).collect();
        assert_eq!(owned, [Some(0), Some(3)]);
        assert!(review.with_dashboards(b"email\na@x.io\n").is_err());
    }

    #[test]
    fn an_export_with_the_sso_columns_judges_sso_users_by_them() {
        // A SAML user with only an old lastLogin is unknown, not a candidate; a JWT user is judged by its iat.
        let csv = format!(
            "{}\n\
             s1,,,,true,r,2025-01-01T00:00:00.000Z,,2025-06-01T00:00:00.000Z,,saml@x.io,consumer,,,,,saml\n\
             j1,,,,true,r,2025-01-01T00:00:00.000Z,,2025-06-01T00:00:00.000Z,,jwt@x.io,consumer,,,,2026-11-21T00:00:00.000Z,jwt\n\
             j2,,,,true,r,2025-01-01T00:00:00.000Z,,,,gone@x.io,consumer,,,,2026-01-01T00:00:00.000Z,jwt\n",
            HEADER.join(",")
        );
        let review = Review::from_csv(csv.as_bytes(), NOW.parse().unwrap(), thresholds()).unwrap();
        let candidates: Vec<&str> = review.candidates.iter().map(|c| c.email.as_str()).collect();
        assert_eq!(candidates, ["gone@x.io"]);
        assert_eq!(review.summary.activity_unknown, 1);
    }

    #[test]
    fn rejects_what_is_not_an_export() {
        let err = Review::from_csv(
            b"email,role\na@x.io,viewer\n",
            NOW.parse().unwrap(),
            thresholds(),
        )
        .unwrap_err();
        assert!(err.contains("column \"user_id\" is missing"), "{err}");
        let csv = format!("{}\na,,,,yes,,,,,,a@x.io,,\n", HEADER[..13].join(","));
        let err = Review::from_csv(csv.as_bytes(), NOW.parse().unwrap(), thresholds()).unwrap_err();
        assert!(err.contains("line 2: is_active \"yes\""), "{err}");
        let csv = format!(
            "{}\na,,,,true,,2026-13-01,,,,a@x.io,,\n",
            HEADER[..13].join(",")
        );
        let err = Review::from_csv(csv.as_bytes(), NOW.parse().unwrap(), thresholds()).unwrap_err();
        assert!(
            err.contains("created_date \"2026-13-01\" is not a timestamp"),
            "{err}"
        );
    }
}
