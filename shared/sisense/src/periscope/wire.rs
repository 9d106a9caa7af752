//! Periscope's own shapes of users, roles, groups and writes.

use chrono::{DateTime, Utc};
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
