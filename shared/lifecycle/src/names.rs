//! Role and group names by id, read once per run, for reports and snapshots.

use std::collections::HashMap;

use sisense::{Group, GroupId, Ref, Role, RoleId, User};

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
