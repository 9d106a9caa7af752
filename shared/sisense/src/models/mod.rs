//! Typed Sisense models. Every model keeps the fields it does not name in `extra`, so nothing is lost.

mod decode;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{DashboardId, GroupId, RoleId, UserId};

/// A reference that the API returns either as a bare id or, when expanded, as the object (read by the
/// hand-written `Deserialize` in `decode`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Ref<I, T> {
    /// The object's `_id`.
    Id(I),
    /// The expanded object.
    Expanded(T),
}

/// A Sisense role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// The role's id (differs per installation).
    #[serde(rename = "_id")]
    pub id: RoleId,
    /// API name: `super`, `admin`, `dataAdmin`, `dataDesigner`, `contributor`, `consumer` or a custom one.
    #[serde(default)]
    pub name: String,
    /// Name shown in the UI (`Viewer`, `Designer`, ...).
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Other ids people may give for this role: a Periscope site's own role id (the [`Role::id`] the directory
    /// hands out is qualified by the site). Matched exactly, whatever its shape.
    #[serde(skip)]
    pub other_ids: Vec<String>,
    /// Fields this model does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Sisense group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group's id.
    #[serde(rename = "_id")]
    pub id: GroupId,
    /// The group's name (not guaranteed unique).
    #[serde(default)]
    pub name: String,
    /// Fields this model does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Group {
    /// Whether this is one of Sisense's built-in groups every user is in ("Everyone", "All users in system"):
    /// never a membership anyone was given, so never exported, matched or verified as one.
    pub fn is_built_in(&self) -> bool {
        crate::resolve::is_built_in_group_name(&self.name)
    }
}

/// A tenant of a multi-tenant installation (L2022 and later), as `GET /api/v1/tenants` lists it; the system
/// tenant is named `system`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's id (what users' and groups' `tenantId` refers to).
    #[serde(rename = "_id")]
    pub id: String,
    /// Its name (the path segment tenant admins use: `https://<host>/<tenant>/`).
    #[serde(default)]
    pub name: String,
}

/// A Sisense user as `GET /api/v1/users` returns it (read by the hand-written `Deserialize` in `decode`, which
/// keeps unknown fields without buffering the known ones as `#[serde(flatten)]` would).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id (24-hex on Sisense; opaque to callers).
    #[serde(rename = "_id")]
    pub id: UserId,
    /// Login name (`username` in some legacy v0.9 answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Email address.
    pub email: String,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name (often missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Role id (not expanded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<RoleId>,
    /// Role, when expanded (`expand=role`); some versions send an id here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Ref<RoleId, Role>>,
    /// Groups, as ids or expanded objects.
    pub groups: Vec<Ref<GroupId, Group>>,
    /// Whether the user is active; missing is treated as active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// When the user was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// When the user was last updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
    /// Last login; missing when never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login: Option<DateTime<Utc>>,
    /// Last activity; missing when never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<DateTime<Utc>>,
    /// Tenant id (multi-tenant installations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The name of the [`crate::Scope`] the user belongs to (`None` where the directory has no scopes).
    #[serde(skip)]
    pub scope: Option<String>,
    /// Fields this model does not name (preferences, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// The role id, whether given as `roleId`, as `role` id or as the expanded role.
    pub fn role_id(&self) -> Option<&RoleId> {
        match (&self.role_id, &self.role) {
            (Some(id), _) => Some(id),
            (None, Some(Ref::Id(id))) => Some(id),
            (None, Some(Ref::Expanded(role))) => Some(&role.id),
            (None, None) => None,
        }
    }

    /// The group ids, whether given as ids or expanded.
    pub fn group_ids(&self) -> impl Iterator<Item = &GroupId> {
        self.groups.iter().map(|g| match g {
            Ref::Id(id) => id,
            Ref::Expanded(group) => &group.id,
        })
    }

    /// Whether the user is active (a missing flag counts as active).
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }

    /// The later of last login and last activity; `None` when never seen. Judging staleness takes more
    /// signals than these (`lifecycle::activity`): SSO logins do not write `lastLogin`.
    pub fn last_seen(&self) -> Option<DateTime<Utc>> {
        self.last_login.max(self.last_activity)
    }

    /// `ssoTokenIat`: the `iat` of the JWT of the user's last JWT SSO login (Sisense writes it there and leaves
    /// `lastLogin` alone). Epoch seconds as Sisense writes it; epoch milliseconds and RFC 3339 text are accepted
    /// too. `None` when absent or unreadable.
    pub fn sso_token_iat(&self) -> Option<DateTime<Utc>> {
        match self.extra.get("ssoTokenIat")? {
            Value::Number(n) => epoch(n.as_f64()?),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(epoch)
                .or_else(|| s.parse::<DateTime<Utc>>().ok()),
            _ => None,
        }
    }

    /// `createdSso`: how an SSO user was created (`saml`, `jwt`, ...); `None` for other users.
    pub fn created_sso(&self) -> Option<&str> {
        self.extra
            .get("createdSso")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Whether the user signs in through SSO: created by SSO, or carrying an SSO token or its `iat`. Such a
    /// user's `lastLogin` does not move when they sign in.
    pub fn is_sso(&self) -> bool {
        self.created_sso().is_some()
            || self.extra.get("ssoToken").is_some_and(|v| !v.is_null())
            || self.extra.get("ssoTokenIat").is_some_and(|v| !v.is_null())
    }
}

/// An epoch instant in seconds, or in milliseconds when too large to be seconds (after the year 5138).
fn epoch(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let millis = if value >= 1e11 { value } else { value * 1000.0 };
    DateTime::from_timestamp_millis(millis as i64)
}

/// A dashboard as `GET /api/v1/dashboards/admin` lists it: one instance of it (the owner's, or a copy a share
/// gave another user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// The dashboard's id (`oid`), the same for every instance of it.
    #[serde(rename = "oid")]
    pub id: DashboardId,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// The owner's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserId>,
    /// `owner` for the owner's instance, `user` or `proxy` for copies; missing on some releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// Fields this model does not name (shares, layout, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Dashboard {
    /// Whether this is the owner's instance (the one whose owner is the dashboard's owner).
    pub fn is_owner_instance(&self) -> bool {
        self.instance_type.as_deref().is_none_or(|t| t == "owner")
    }
}

/// The share the previous owner keeps when a dashboard changes owner (`originalOwnerRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareRule {
    /// May edit.
    Edit,
    /// May view.
    View,
}

/// A user to create; each family turns it into its own request body.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Email address (the key users are reconciled by).
    pub email: String,
    /// Login name; Sisense uses the email when absent.
    pub user_name: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Role id (resolve names first); Sisense requires one, a scope whose users have groups takes none.
    pub role_id: Option<RoleId>,
    /// Group ids.
    pub groups: Vec<GroupId>,
    /// The [`crate::Scope`] to create the user in (needed when the directory has several).
    pub scope: Option<String>,
    /// Initial password; never sent unless set.
    pub password: Option<SecretString>,
}

/// A partial update (`PATCH /api/v1/users/{id}`); `groups` replaces the whole list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    /// New first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// New role id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<RoleId>,
    /// New group ids (the whole list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupId>>,
    /// Activate or deactivate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl UserPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_with_ids_keeps_unknown_fields_and_missing_logins() {
        let raw = json!({
            "_id": "64a000000000000000000001", "userName": "ann@example.com", "email": "ann@example.com",
            "firstName": "Ann", "roleId": "r1", "groups": ["g1", "g2"], "active": true,
            "created": "2025-01-02T03:04:05.678Z", "preferences": {"language": "en-US"}, "tenantId": "t1"
        });
        let user: User = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(user.role_id().map(RoleId::as_str), Some("r1"));
        assert_eq!(
            user.group_ids().map(GroupId::as_str).collect::<Vec<_>>(),
            ["g1", "g2"]
        );
        assert_eq!(user.last_name, None);
        assert_eq!(user.last_login, None);
        assert_eq!(user.last_seen(), None);
        assert_eq!(user.extra["preferences"], json!({"language": "en-US"}));
        let back = serde_json::to_value(&user).unwrap();
        assert_eq!(back, raw, "round trip keeps every field");
    }

    #[test]
    fn user_with_expanded_role_and_groups() {
        let user: User = serde_json::from_value(json!({
            "_id": "u1", "email": "a@b.c",
            "role": {"_id": "r9", "name": "consumer", "displayName": "Viewer", "manifest": {}},
            "groups": [{"_id": "g1", "name": "Sales"}],
            "lastLogin": "2026-11-01T10:00:00.000Z", "lastActivity": "2026-11-03T10:00:00.000Z", "active": false
        }))
        .unwrap();
        assert_eq!(user.role_id().map(RoleId::as_str), Some("r9"));
        assert_eq!(
            user.group_ids().map(GroupId::as_str).collect::<Vec<_>>(),
            ["g1"]
        );
        assert!(!user.is_active());
        assert_eq!(
            user.last_seen().unwrap().to_rfc3339(),
            "2026-11-03T10:00:00+00:00"
        );
        match &user.role {
            Some(Ref::Expanded(role)) => assert_eq!(role.extra["manifest"], json!({})),
            other => panic!("expected expanded role, got {other:?}"),
        }
    }

    #[test]
    fn sso_signals_are_read_in_seconds_milliseconds_or_text_and_the_token_is_never_kept() {
        let user = |v: serde_json::Value| -> User {
            let mut base = json!({"_id": "u1", "email": "a@example.com"});
            base.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            serde_json::from_value(base).unwrap()
        };
        let at = "2026-11-20T08:30:00Z".parse::<DateTime<Utc>>().unwrap();
        for iat in [
            json!(1_795_163_400),
            json!(1_795_163_400_000_u64),
            json!("1795163400"),
            json!("2026-11-20T08:30:00Z"),
        ] {
            let u = user(json!({"ssoTokenIat": iat.clone()}));
            assert_eq!(u.sso_token_iat(), Some(at), "{iat}");
            assert!(u.is_sso());
        }
        assert_eq!(user(json!({"ssoTokenIat": "soon"})).sso_token_iat(), None);
        assert_eq!(user(json!({"ssoTokenIat": null})).sso_token_iat(), None);
        let saml = user(json!({"createdSso": "saml"}));
        assert_eq!(saml.created_sso(), Some("saml"));
        assert!(saml.is_sso());
        assert!(!user(json!({"createdSso": ""})).is_sso());
        assert!(!user(json!({"lastLogin": "2026-11-20T08:30:00Z"})).is_sso());

        let token = "eyJhbGciOiJIUzI1NiJ9.secret.signature";
        let u = user(json!({"ssoToken": token}));
        assert!(u.is_sso(), "the token's presence is kept");
        let shown = format!("{u:?} {}", serde_json::to_string(&u).unwrap());
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }

    #[test]
    fn patch_serialises_only_what_changes() {
        let patch = UserPatch {
            active: Some(false),
            groups: Some(vec![]),
            ..UserPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"active": false, "groups": []})
        );
        assert!(UserPatch::default().is_empty());
        assert!(!patch.is_empty());
    }
}
