//! Maps role and group names (as people write them in spreadsheets) to the ids of this installation.

use std::collections::HashMap;

use crate::ids::{GroupId, RoleId};
use crate::models::{Group, Role};

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing matched.
    #[error("unknown {kind} {name:?}; known: {known}")]
    Unknown {
        /// `role` or `group`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The names that exist, comma separated.
        known: String,
    },
    /// More than one object matched; we never pick one at random.
    #[error("ambiguous {kind} {name:?}: matches ids {}", .ids.join(", "))]
    Ambiguous {
        /// `role` or `group`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The ids that matched.
        ids: Vec<String>,
    },
}

/// Group names every user belongs to implicitly; naming them resolves to nothing to add.
pub const IMPLICIT_GROUPS: [&str; 2] = ["everyone", "all users in system"];

/// The name Sisense's UI shows for a standard role's API name (`consumer` -> `Viewer`); `None` for any other
/// (custom) role. The contract's roles carry no `displayName`, and admins know the UI names.
pub fn ui_role_name(api_name: &str) -> Option<&'static str> {
    match api_name {
        "super" => Some("Sys. Admin"),
        "admin" => Some("Admin"),
        "dataAdmin" => Some("Data Admin"),
        "dataDesigner" => Some("Data Designer"),
        "contributor" => Some("Designer"),
        "consumer" => Some("Viewer"),
        _ => None,
    }
}

const ROLE_ALIASES: [(&str, &str); 5] = [
    ("viewer", "consumer"),
    ("designer", "contributor"),
    ("sysadmin", "super"),
    ("systemadmin", "super"),
    ("dataadministrator", "dataadmin"),
];

/// Whether `name` is one of the [`IMPLICIT_GROUPS`] (any case, white space folded).
pub fn is_built_in_group_name(name: &str) -> bool {
    IMPLICIT_GROUPS.contains(&group_key(name).as_str())
}

/// Lower-case without spaces, dots, underscores or dashes: `Data Designer` == `dataDesigner` ==
/// `data_designer`, `Sys. Admin` == `sysadmin`.
fn role_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A role name as the resolver compares it: lower-case without spaces and punctuation, a UI name mapped to the
/// API name it stands for (`Viewer` -> `consumer`, `Sys. Admin` -> `super`, `Data Designer` -> `datadesigner`).
pub fn canonical_role(name: &str) -> String {
    let key = role_key(name);
    ROLE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, target)| target.to_string())
}

fn group_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Resolves role ids, API names, display names (where a release sends them) and the UI names (Sys. Admin,
/// Admin, Data Admin, Data Designer, Designer, Viewer, as aliases: the contract has no `displayName`),
/// case-insensitively.
#[derive(Debug, Clone)]
pub struct RoleResolver {
    roles: Vec<Role>,
    by_key: HashMap<String, Vec<usize>>,
}

impl RoleResolver {
    /// Indexes the installation's roles.
    pub fn new(roles: Vec<Role>) -> Self {
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, role) in roles.iter().enumerate() {
            let mut keys = vec![role_key(&role.name)];
            if let Some(display) = &role.display_name {
                keys.push(role_key(display));
            }
            keys.sort();
            keys.dedup();
            for key in keys {
                by_key.entry(key).or_default().push(i);
            }
        }
        RoleResolver { roles, by_key }
    }

    /// The role an id (its own or one of [`Role::other_ids`], any shape), a name, a display name or an alias
    /// refers to.
    pub fn resolve(&self, name: &str) -> Result<&Role, ResolveError> {
        let trimmed = name.trim();
        if let Some(role) = self.roles.iter().find(|r| {
            r.id.as_str().eq_ignore_ascii_case(trimmed)
                || r.other_ids
                    .iter()
                    .any(|id| id.eq_ignore_ascii_case(trimmed))
        }) {
            return Ok(role);
        }
        let key = role_key(trimmed);
        let matches = match self.by_key.get(&key) {
            Some(found) => found.clone(),
            None => ROLE_ALIASES
                .iter()
                .find(|(alias, _)| *alias == key)
                .and_then(|(_, target)| self.by_key.get(*target).cloned())
                .unwrap_or_default(),
        };
        match matches.as_slice() {
            [one] => Ok(&self.roles[*one]),
            [] => Err(ResolveError::Unknown {
                kind: "role",
                name: name.to_string(),
                known: self.known(),
            }),
            many => Err(ResolveError::Ambiguous {
                kind: "role",
                name: name.to_string(),
                ids: many.iter().map(|i| self.roles[*i].id.to_string()).collect(),
            }),
        }
    }

    /// The role with this id.
    pub fn by_id(&self, id: &RoleId) -> Option<&Role> {
        self.roles.iter().find(|r| &r.id == id)
    }

    /// All roles.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    fn known(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Resolves group names (case-insensitive, white space folded) and ids; duplicates are ambiguity errors.
#[derive(Debug, Clone)]
pub struct GroupResolver {
    groups: Vec<Group>,
    by_key: HashMap<String, Vec<usize>>,
}

impl GroupResolver {
    /// Indexes the installation's groups.
    pub fn new(groups: Vec<Group>) -> Self {
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, group) in groups.iter().enumerate().filter(|(_, g)| !g.is_built_in()) {
            by_key.entry(group_key(&group.name)).or_default().push(i);
        }
        GroupResolver { groups, by_key }
    }

    /// The group a name or id refers to; `Ok(None)` for the implicit built-ins ("Everyone", "All users in system").
    pub fn resolve(&self, name: &str) -> Result<Option<&Group>, ResolveError> {
        let key = group_key(name);
        if is_built_in_group_name(&key) {
            return Ok(None);
        }
        if is_object_id(name.trim())
            && let Some(group) = self
                .groups
                .iter()
                .find(|g| g.id.as_str().eq_ignore_ascii_case(name.trim()))
        {
            return Ok(Some(group));
        }
        match self.by_key.get(&key).map(Vec::as_slice).unwrap_or_default() {
            [one] => Ok(Some(&self.groups[*one])),
            [] => Err(ResolveError::Unknown {
                kind: "group",
                name: name.to_string(),
                known: self
                    .groups
                    .iter()
                    .filter(|g| !g.is_built_in())
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            many => Err(ResolveError::Ambiguous {
                kind: "group",
                name: name.to_string(),
                ids: many
                    .iter()
                    .map(|i| self.groups[*i].id.to_string())
                    .collect(),
            }),
        }
    }

    /// The group with this id.
    pub fn by_id(&self, id: &GroupId) -> Option<&Group> {
        self.groups.iter().find(|g| &g.id == id)
    }

    /// Whether `id` is a built-in group ("Everyone", "All users in system").
    pub fn is_built_in(&self, id: &GroupId) -> bool {
        self.by_id(id).is_some_and(Group::is_built_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str, name: &str, display: &str) -> Role {
        Role {
            id: id.into(),
            name: name.into(),
            display_name: Some(display.into()),
            other_ids: Vec::new(),
            extra: Default::default(),
        }
    }

    fn group(id: &str, name: &str) -> Group {
        Group {
            id: id.into(),
            name: name.into(),
            extra: Default::default(),
        }
    }

    fn roles() -> RoleResolver {
        RoleResolver::new(vec![
            role("5f0000000000000000000001", "super", "Sys Admin"),
            role("5f0000000000000000000002", "admin", "Admin"),
            role("5f0000000000000000000003", "dataAdmin", "Data Admin"),
            role("5f0000000000000000000004", "dataDesigner", "Data Designer"),
            role("5f0000000000000000000005", "contributor", "Designer"),
            role("5f0000000000000000000006", "consumer", "Viewer"),
        ])
    }

    #[test]
    fn resolves_names_display_names_aliases_and_ids() {
        let r = roles();
        let cases = [
            ("consumer", "consumer"),
            ("CONSUMER", "consumer"),
            ("Viewer", "consumer"),
            ("viewer ", "consumer"),
            ("Designer", "contributor"),
            ("designer", "contributor"),
            ("data designer", "dataDesigner"),
            ("data_designer", "dataDesigner"),
            ("Sys Admin", "super"),
            ("sysadmin", "super"),
            ("5f0000000000000000000002", "admin"),
            ("5F0000000000000000000002", "admin"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                r.resolve(input).map(|x| x.name.as_str()),
                Ok(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn ui_names_resolve_without_display_names() {
        // The contract's `/api/roles` has no displayName: the UI names must resolve from the API names alone.
        let bare = RoleResolver::new(
            roles()
                .roles()
                .iter()
                .map(|r| Role {
                    display_name: None,
                    ..r.clone()
                })
                .collect(),
        );
        for (ui, api) in [
            ("Sys. Admin", "super"),
            ("Sys Admin", "super"),
            ("System Admin", "super"),
            ("Admin", "admin"),
            ("Data Admin", "dataAdmin"),
            ("Data Designer", "dataDesigner"),
            ("Designer", "contributor"),
            ("Viewer", "consumer"),
            ("data administrator", "dataAdmin"),
        ] {
            assert_eq!(bare.resolve(ui).map(|x| x.name.as_str()), Ok(api), "{ui}");
        }
    }

    #[test]
    fn a_sites_own_role_id_of_any_shape_resolves() {
        let mut viewer = role("east:0000-viewer-3333-id", "Viewer", "Viewer");
        viewer.other_ids = vec!["0000-viewer-3333-id".into()];
        let admin = Role {
            other_ids: vec!["0000-admin-1111-id".into()],
            ..role("east:0000-admin-1111-id", "Admin", "Admin")
        };
        let r = RoleResolver::new(vec![viewer, admin]);
        for (cell, name) in [
            ("0000-viewer-3333-id", "Viewer"),
            (" 0000-ADMIN-1111-id ", "Admin"),
            ("east:0000-admin-1111-id", "Admin"),
            ("viewer", "Viewer"),
        ] {
            assert_eq!(r.resolve(cell).map(|x| x.name.as_str()), Ok(name), "{cell}");
        }
        assert!(r.resolve("consumer").is_err(), "no Sisense names on a site");
    }

    #[test]
    fn unknown_role_lists_known_names() {
        let err = roles().resolve("overlord").unwrap_err();
        assert!(matches!(&err, ResolveError::Unknown { kind: "role", .. }));
        assert!(err.to_string().contains("consumer"), "{err}");
        assert!(matches!(
            roles().resolve("ffffffffffffffffffffffff"),
            Err(ResolveError::Unknown { .. })
        ));
    }

    #[test]
    fn custom_role_clashing_with_a_display_name_is_ambiguous() {
        let mut all = roles().roles().to_vec();
        all.push(role("5f0000000000000000000007", "viewer", "Custom viewer"));
        let err = RoleResolver::new(all).resolve("viewer").unwrap_err();
        assert_eq!(
            err,
            ResolveError::Ambiguous {
                kind: "role",
                name: "viewer".into(),
                ids: vec![
                    "5f0000000000000000000006".into(),
                    "5f0000000000000000000007".into()
                ]
            }
        );
    }

    #[test]
    fn groups_resolve_case_insensitively_and_report_ambiguity() {
        let g = GroupResolver::new(vec![
            group("6a0000000000000000000001", "Sales"),
            group("6a0000000000000000000002", "Analysts"),
            group("6a0000000000000000000003", "analysts"),
        ]);
        assert_eq!(
            g.resolve(" sales ").unwrap().map(|x| x.id.as_str()),
            Some("6a0000000000000000000001")
        );
        assert_eq!(g.resolve("Everyone").unwrap(), None);
        let with_built_ins = GroupResolver::new(vec![
            group("6a0000000000000000000010", "Everyone"),
            group("6a0000000000000000000011", "everyone"),
            group("6a0000000000000000000012", "All users in system"),
        ]);
        assert_eq!(
            with_built_ins.resolve("EVERYONE").unwrap(),
            None,
            "built-ins are never ambiguous"
        );
        let unknown = with_built_ins.resolve("Nope").unwrap_err().to_string();
        assert!(!unknown.contains("Everyone"), "{unknown}");
        assert_eq!(g.resolve("All  users in SYSTEM").unwrap(), None);
        assert!(
            matches!(g.resolve("Analysts"), Err(ResolveError::Ambiguous { ref ids, .. }) if ids.len() == 2)
        );
        assert!(matches!(
            g.resolve("Nope"),
            Err(ResolveError::Unknown { .. })
        ));
        assert_eq!(
            g.resolve("6a0000000000000000000003")
                .unwrap()
                .map(|x| x.name.as_str()),
            Some("analysts"),
            "an id picks exactly one of the duplicate names"
        );
    }
}
