//! Role and group names by id, read once per run, for reports and snapshots.

use foldhash::HashMap;

use sisense::{Group, GroupId, Ref, Role, RoleId, User};

/// Role and group names by id, resolved once per run. Looked up for every user an export writes, so the maps
/// hash with foldhash rather than std's SipHash: the keys are ids the server assigns, not input to defend against
/// flooding.
#[derive(Debug, Default)]
pub struct Names {
    roles: HashMap<RoleId, String>,
    groups: HashMap<GroupId, GroupName>,
}

/// A group's name, and whether it is one of Sisense's built-in groups (every user is in them: never a
/// membership to report or verify).
#[derive(Debug)]
struct GroupName {
    name: String,
    built_in: bool,
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
                .map(|g| {
                    let name = GroupName {
                        name: g.name.clone(),
                        built_in: g.is_built_in(),
                    };
                    (g.id.clone(), name)
                })
                .collect(),
        }
    }

    fn built_in(&self, id: &GroupId) -> bool {
        self.groups.get(id).is_some_and(|g| g.built_in)
    }

    /// The groups `user` was given, without the built-ins every user is in.
    pub fn memberships<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a GroupId> + 'a {
        user.groups.iter().filter_map(|g| match g {
            Ref::Expanded(group) if group.is_built_in() => None,
            Ref::Expanded(group) => Some(&group.id),
            Ref::Id(id) if self.built_in(id) => None,
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
        let mut joined = String::new();
        let mut first = true;
        for g in &user.groups {
            let name = match g {
                Ref::Expanded(group) if group.is_built_in() => continue,
                Ref::Expanded(group) => group.name.as_str(),
                Ref::Id(id) => match self.groups.get(id) {
                    Some(known) if known.built_in => continue,
                    Some(known) => known.name.as_str(),
                    None => id.as_str(),
                },
            };
            if !first {
                joined.push(';');
            }
            first = false;
            joined.push_str(name);
        }
        joined
    }
}

/// Names made of `(id, name)` pairs, read the way a listing's roles and groups are (tests only).
#[cfg(test)]
pub(crate) fn of(roles: &[(&str, &str)], groups: &[(&str, &str)]) -> Names {
    fn parsed<T: serde::de::DeserializeOwned>(pairs: &[(&str, &str)]) -> Vec<T> {
        pairs
            .iter()
            .map(|(id, name)| {
                serde_json::from_value(serde_json::json!({"_id": id, "name": name})).unwrap()
            })
            .collect()
    }
    Names::new(&parsed(roles), &parsed(groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_are_named_in_order_without_built_ins_and_unknown_ids_kept() {
        let names = of(
            &[("r1", "Viewer")],
            &[("g1", "Sales"), ("g0", "Everyone"), ("g2", "")],
        );
        let user: User = serde_json::from_value(json!({
            "_id": "u1", "email": "a@x.io", "roleId": "r1",
            "groups": ["g2", "g0", "g1", {"_id": "g3", "name": "Finance"}, {"_id": "g4", "name": "Everyone"}, "g9"]
        }))
        .unwrap();
        assert_eq!(names.groups(&user), ";Sales;Finance;g9");
        assert_eq!(
            names
                .memberships(&user)
                .map(|g| g.as_str())
                .collect::<Vec<_>>(),
            ["g2", "g1", "g3", "g9"]
        );
        assert_eq!(names.role(&user), "Viewer");
    }
}
