//! The export CSV: header, one row per user, formula-injection neutralisation.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use sisense::{Group, GroupId, Ref, Role, RoleId, User};

/// The CSV header, exactly. The first ten columns are those of the script this replaces, in its order.
pub const HEADER: [&str; 13] = [
    "user_id",
    "user_name",
    "first_name",
    "last_name",
    "is_active",
    "role_id",
    "created_date",
    "tenant_id",
    "last_login",
    "last_activity",
    "email",
    "role_name",
    "group_names",
];

/// The column added after [`HEADER`] when users belong to Periscope sites.
pub const SITE_COLUMN: &str = "site";

/// Prefixes a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) with `'` (OWASP).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// RFC 3339 UTC with milliseconds; empty when absent.
pub fn timestamp(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Role and group names by id, resolved once per run.
#[derive(Debug, Default)]
pub struct Names {
    roles: HashMap<RoleId, String>,
    groups: HashMap<GroupId, String>,
}

impl Names {
    /// Indexes roles and groups by id.
    pub fn new(roles: &[Role], groups: &[Group]) -> Self {
        Names {
            roles: roles
                .iter()
                .map(|r| (r.id.clone(), r.name.clone()))
                .collect(),
            groups: groups
                .iter()
                .map(|g| (g.id.clone(), g.name.clone()))
                .collect(),
        }
    }

    /// The role name of a user; empty when it has none or it is unknown.
    pub fn role<'a>(&'a self, user: &'a User) -> &'a str {
        if let Some(Ref::Expanded(role)) = &user.role {
            return &role.name;
        }
        user.role_id()
            .and_then(|id| self.roles.get(id))
            .map_or("", String::as_str)
    }

    /// Group names joined with `;` (an unknown group id is written as the id, so nothing is hidden).
    pub fn groups(&self, user: &User) -> String {
        user.groups
            .iter()
            .map(|g| match g {
                Ref::Expanded(group) => group.name.as_str(),
                Ref::Id(id) => self.groups.get(id).map_or(id.as_str(), String::as_str),
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// The 13 cells of a user's row, neutralised.
pub fn row(user: &User, names: &Names) -> [String; 13] {
    let cells = [
        user.id.to_string(),
        user.user_name.clone().unwrap_or_default(),
        user.first_name.clone().unwrap_or_default(),
        user.last_name.clone().unwrap_or_default(),
        user.is_active().to_string(),
        user.role_id().map(ToString::to_string).unwrap_or_default(),
        timestamp(user.created),
        user.tenant_id.clone().unwrap_or_default(),
        timestamp(user.last_login),
        timestamp(user.last_activity),
        user.email.clone(),
        names.role(user).to_string(),
        names.groups(user),
    ];
    cells.map(|c| neutralise(&c).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: serde_json::Value) -> User {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn neutralises_formula_starts_only() {
        for (input, expected) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
            ("", ""),
            ("O'Brien", "O'Brien"),
        ] {
            assert_eq!(neutralise(input), expected, "{input:?}");
        }
    }

    #[test]
    fn row_formats_every_column() {
        let names = Names::new(
            &[serde_json::from_value(json!({"_id": "r1", "name": "consumer"})).unwrap()],
            &[
                serde_json::from_value(json!({"_id": "g1", "name": "Sales"})).unwrap(),
                serde_json::from_value(json!({"_id": "g2", "name": "Finance"})).unwrap(),
            ],
        );
        let u = user(json!({
            "_id": "u1", "userName": "ann", "email": "ann@x.io", "firstName": "=cmd", "roleId": "r1",
            "groups": ["g1", "g2", "g9"], "active": false, "created": "2025-01-02T03:04:05Z",
            "lastLogin": "2026-11-01T10:00:00.5Z", "tenantId": "t1"
        }));
        assert_eq!(
            row(&u, &names),
            [
                "u1",
                "ann",
                "'=cmd",
                "",
                "false",
                "r1",
                "2025-01-02T03:04:05.000Z",
                "t1",
                "2026-11-01T10:00:00.500Z",
                "",
                "ann@x.io",
                "consumer",
                "Sales;Finance;g9"
            ]
            .map(String::from)
        );
    }
}
