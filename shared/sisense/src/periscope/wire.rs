//! Periscope's own shapes of users, roles, groups and writes.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::PeriscopeSite;
use crate::models::{Group, Ref, User};

use super::qualify;

/// An id or number as Periscope sends it.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Key {
    Text(String),
    Number(i64),
}

impl Key {
    #[cfg(test)]
    fn clone_string(&self) -> String {
        match self {
            Key::Text(s) => s.clone(),
            Key::Number(n) => n.to_string(),
        }
    }

    pub(super) fn into_string(self) -> String {
        match self {
            Key::Text(s) => s,
            Key::Number(n) => n.to_string(),
        }
    }
}

/// A group or role reference: a bare name/id or an object with one.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Named {
    Bare(Key),
    Object {
        #[serde(default)]
        id: Option<Key>,
        #[serde(default)]
        name: Option<String>,
    },
}

/// A user as Periscope answers it.
#[derive(Deserialize)]
pub(super) struct WireUser {
    #[serde(default)]
    pub(super) id: Option<Key>,
    pub(super) email: String,
    #[serde(default)]
    pub(super) first_name: Option<String>,
    #[serde(default)]
    pub(super) last_name: Option<String>,
    #[serde(default)]
    pub(super) groups: Vec<Named>,
    #[serde(default)]
    pub(super) roles: Vec<Named>,
    #[serde(default)]
    pub(super) created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub(super) extra: Map<String, Value>,
}

/// One page of a list, as Periscope answers it: a bare array, or an object wrapping the array under `key`
/// (`users`, `roles`, `groups`; Sisense's own script reads `info['roles']`), with `next_page_start` when more
/// pages follow.
pub(super) struct Page<T> {
    pub(super) items: Vec<T>,
    pub(super) next: Option<String>,
}

/// Reads a list answer of either shape; `Err` says what was wrong.
pub(super) fn page<T: DeserializeOwned>(body: Value, key: &str) -> Result<Page<T>, String> {
    let (items, next) = match body {
        Value::Array(items) => (Value::Array(items), None),
        Value::Object(mut map) => {
            let items = map.remove(key).ok_or_else(|| {
                format!(
                    "expected an array or an object with {key:?}; got keys {:?}",
                    map.keys().collect::<Vec<_>>()
                )
            })?;
            let next = match map.remove("next_page_start") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Err(format!("next_page_start {other} is not a string or number"));
                }
            };
            (items, next)
        }
        other => return Err(format!("expected an array or an object, got {other}")),
    };
    let items = serde_json::from_value(items).map_err(|e| format!("{key}: {e}"))?;
    Ok(Page { items, next })
}

/// One user or a list holding it (single-user reads answer either way).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(Box<WireUser>),
    Many(Vec<WireUser>),
}

#[derive(Deserialize)]
pub(super) struct WireRole {
    pub(super) id: Key,
    #[serde(default)]
    pub(super) name: String,
    #[serde(flatten)]
    pub(super) extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub(super) struct WireGroup {
    pub(super) name: String,
    #[serde(flatten)]
    pub(super) extra: Map<String, Value>,
}

/// A create or update body; absent fields are not sent.
#[derive(Serialize, Default)]
pub(super) struct WireWrite<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) groups: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) roles: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) invited_by_email: Option<&'a str>,
}

impl WireUser {
    /// The user as the port has it: ids qualified by `site`, the user in `site`'s scope.
    pub(super) fn into_user(self, site: &PeriscopeSite) -> User {
        let raw = match self.id {
            Some(id) if site.rbac => id.into_string(),
            _ => self.email.clone(),
        };
        let mut extra = self.extra;
        let roles: Vec<String> = self
            .roles
            .into_iter()
            .filter_map(|r| match r {
                Named::Bare(id) => Some(id.into_string()),
                Named::Object { id, .. } => id.map(Key::into_string),
            })
            .map(|id| qualify(&site.name, &id))
            .collect();
        if roles.len() > 1 {
            extra.insert("roles".into(), Value::from(roles.clone()));
        }
        let groups = self
            .groups
            .into_iter()
            .filter_map(|g| match g {
                Named::Bare(name) => Some(name.into_string()),
                Named::Object { name, .. } => name,
            })
            .map(|name| {
                Ref::Expanded(Group {
                    id: qualify(&site.name, &name).into(),
                    name,
                    extra: Map::new(),
                })
            })
            .collect();
        User {
            id: qualify(&site.name, &raw).into(),
            user_name: None,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            role_id: roles.into_iter().next().map(Into::into),
            role: None,
            groups,
            active: None,
            created: self.created_at,
            last_updated: None,
            last_login: None,
            last_activity: None,
            tenant_id: None,
            scope: Some(site.name.clone()),
            extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_come_bare_or_wrapped_with_an_optional_continuation() {
        let bare: Page<WireRole> = page(json!([{"id": "r1", "name": "A"}]), "roles").unwrap();
        assert_eq!((bare.items.len(), bare.next), (1, None));
        let wrapped: Page<WireRole> =
            page(json!({"roles": [{"id": 7, "name": "B"}]}), "roles").unwrap();
        assert_eq!(wrapped.items[0].id.clone_string(), "7");
        let paged: Page<WireGroup> =
            page(json!({"groups": [], "next_page_start": 200}), "groups").unwrap();
        assert_eq!(paged.next.as_deref(), Some("200"));
        let err = page::<WireRole>(json!({"data": []}), "roles")
            .err()
            .unwrap();
        assert!(err.contains("\"roles\""), "{err}");
        assert!(page::<WireRole>(json!("nope"), "roles").is_err());
    }
}
