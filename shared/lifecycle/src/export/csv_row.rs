//! The export CSV: header, one row per user, formula-injection neutralisation.

use std::borrow::Cow;

use sisense::User;

use crate::activity::{Evidence, Source, last_seen};
use crate::artefact::{neutralise, timestamp};
use crate::names::Names;

/// The CSV header, exactly. The first ten columns are those of the script this replaces, in its order; the last
/// four are the activity evidence: `last_seen` and its `last_seen_source` by [`crate::activity`]'s rule (without a
/// feed), and the SSO fields it reads (`sso_token_iat` as RFC 3339, `created_sso` as Sisense writes it).
pub const HEADER: [&str; 17] = [
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
    "last_seen",
    "last_seen_source",
    "sso_token_iat",
    "created_sso",
];

/// The user fields the export reads (rows, summary, seat standing), asked for as the listing's `fields`
/// whitelist so the server sends nothing else (`role` in case a release sends the role there, not in `roleId`).
/// `ssoTokenIat` and `createdSso` are what the staleness rule needs besides the logins; the SSO token itself is
/// never asked for.
pub const FIELDS: [&str; 15] = [
    "userName",
    "email",
    "firstName",
    "lastName",
    "active",
    "roleId",
    "role",
    "groups",
    "created",
    "tenantId",
    "lastLogin",
    "lastActivity",
    "ssoTokenIat",
    "createdSso",
    "_id",
];

/// Positions in [`HEADER`] of the cells the comparison with the previous export reads.
pub(crate) mod column {
    pub(crate) const USER_ID: usize = 0;
    pub(crate) const IS_ACTIVE: usize = 4;
    pub(crate) const EMAIL: usize = 10;
    pub(crate) const ROLE_NAME: usize = 11;
    pub(crate) const GROUP_NAMES: usize = 12;
}

/// The column added after [`HEADER`] when users belong to Periscope sites.
pub const SITE_COLUMN: &str = "site";

/// The column added last when the installation reports tenants (multitenancy): the user's tenant name.
pub const TENANT_COLUMN: &str = "tenant";

/// The 17 cells of a user's row, neutralised; cells the user holds as written are borrowed, not copied.
pub fn row<'a>(user: &'a User, names: &'a Names) -> [Cow<'a, str>; 17] {
    let text = |t: &'a Option<String>| Cow::Borrowed(t.as_deref().unwrap_or_default());
    let seen = last_seen(user, Evidence::default());
    let cells = [
        Cow::Borrowed(user.id.as_str()),
        text(&user.user_name),
        text(&user.first_name),
        text(&user.last_name),
        Cow::Borrowed(if user.is_active() { "true" } else { "false" }),
        Cow::Borrowed(user.role_id().map_or("", |id| id.as_str())),
        Cow::Owned(timestamp(user.created)),
        text(&user.tenant_id),
        Cow::Owned(timestamp(user.last_login)),
        Cow::Owned(timestamp(user.last_activity)),
        Cow::Borrowed(user.email.as_str()),
        Cow::Borrowed(names.role(user)),
        Cow::Owned(names.groups(user)),
        Cow::Owned(timestamp(seen.at)),
        Cow::Borrowed(seen.source.map_or("", Source::as_str)),
        Cow::Owned(timestamp(user.sso_token_iat())),
        Cow::Borrowed(user.created_sso().unwrap_or_default()),
    ];
    cells.map(|cell| match neutralise(&cell) {
        Cow::Borrowed(_) => cell,
        Cow::Owned(neutralised) => Cow::Owned(neutralised),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: serde_json::Value) -> User {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_compared_columns_are_where_the_header_says() {
        assert_eq!(HEADER[column::USER_ID], "user_id");
        assert_eq!(HEADER[column::IS_ACTIVE], "is_active");
        assert_eq!(HEADER[column::EMAIL], "email");
        assert_eq!(HEADER[column::ROLE_NAME], "role_name");
        assert_eq!(HEADER[column::GROUP_NAMES], "group_names");
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
        let names = crate::names::of(&[("r1", "consumer")], &[("g1", "Sales"), ("g2", "Finance")]);
        let u = user(json!({
            "_id": "u1", "userName": "ann", "email": "ann@x.io", "firstName": "=cmd", "roleId": "r1",
            "groups": ["g1", "g2", "g9"], "active": false, "created": "2025-01-02T03:04:05Z",
            "lastLogin": "2026-11-01T10:00:00.5Z", "tenantId": "t1", "createdSso": "jwt",
            "ssoTokenIat": 1_795_163_400, "ssoToken": "never-exported"
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
                "Sales;Finance;g9",
                "2026-11-20T08:30:00.000Z",
                "ssoTokenIat",
                "2026-11-20T08:30:00.000Z",
                "jwt",
            ]
        );
    }
}
