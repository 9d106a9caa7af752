//! Role and group names by id, read once per run, for reports and snapshots.

use std::collections::{HashMap, HashSet};

use sisense::{Group, GroupId, Ref, Role, RoleId, User};

/// Role and group names by id, resolved once per run.
#[derive(Debug, Default)]
pub struct Names {
    roles: HashMap<RoleId, String>,
    groups: HashMap<GroupId, String>,
    /// Sisense's built-in groups (every user is in them): never a membership to report or verify.
    built_in: HashSet<GroupId>,
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
            built_in: groups
                .iter()
                .filter(|g| g.is_built_in())
                .map(|g| g.id.clone())
                .collect(),
        }
    }

    /// The groups `user` was given, without the built-ins every user is in.
    pub fn memberships<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a GroupId> + 'a {
        user.groups.iter().filter_map(|g| match g {
            Ref::Expanded(group) if group.is_built_in() => None,
            Ref::Expanded(group) => Some(&group.id),
            Ref::Id(id) if self.built_in.contains(id) => None,
            Ref::Id(id) => Some(id),
        })
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

    /// Group names joined with `;`, without the built-ins (an unknown group id is written as the id, so nothing
    /// is hidden).
    pub fn groups(&self, user: &User) -> String {
        let names = user
            .groups
            .iter()
            .filter(|g| match g {
                Ref::Expanded(group) => !group.is_built_in(),
                Ref::Id(id) => !self.built_in.contains(id),
            })
            .map(|g| match g {
                Ref::Expanded(group) => group.name.as_str(),
                Ref::Id(id) => self.groups.get(id).map_or(id.as_str(), String::as_str),
            });
        let mut joined = String::new();
        for (i, name) in names.enumerate() {
            if i > 0 {
                joined.push(';');
            }
            joined.push_str(name);
        }
        joined
    }
}
