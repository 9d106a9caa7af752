//! Validation and planning: every row becomes one [`Step`] per site it targets (exactly one on a Sisense
//! installation), decided before any write.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sisense::{
    Capabilities, GroupId, GroupResolver, Membership, NewUser, RoleId, RoleResolver, User, UserId,
    UserPatch,
};

use super::input::{Column, InputFile, InputRow, cut};
use crate::artefact::is_unprintable;

/// What to do with a row whose email already exists in Sisense.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// Leave the user as it is.
    #[default]
    Skip,
    /// Patch names, role and groups from the row (only the cells that are filled).
    Update,
    /// Report the row as invalid.
    Error,
}

impl std::str::FromStr for OnExisting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(OnExisting::Skip),
            "update" => Ok(OnExisting::Update),
            "error" => Ok(OnExisting::Error),
            other => Err(format!(
                "unknown onExisting {other:?}; expected skip, update or error"
            )),
        }
    }
}

/// The decision for one row.
#[derive(Debug, Clone)]
pub enum Step {
    /// Invalid: reported, never written.
    Invalid(String),
    /// Existing user left alone.
    Skip {
        /// The user's id.
        id: UserId,
        /// Why.
        message: String,
    },
    /// New user to create.
    Create(Box<NewUser>),
    /// Existing user to patch.
    Update {
        /// The user's id.
        id: UserId,
        /// The change.
        patch: UserPatch,
    },
    /// Absent when the import started, present now: created by an earlier hop of this import.
    AlreadyCreated {
        /// The user's id.
        id: UserId,
    },
}

/// One planned row (on one site, for Periscope).
#[derive(Debug, Clone)]
pub struct Planned {
    /// Spreadsheet row number.
    pub row: usize,
    /// The email as written (trimmed).
    pub email: String,
    /// The Periscope site this step is for.
    pub site: Option<String>,
    /// What to do.
    pub step: Step,
    /// What the report says about the row besides its status (e.g. created without a role), if anything.
    pub note: Option<String>,
    /// The API name of the role the step gives (for messages: a licence refusal names it).
    pub role_name: Option<String>,
}

/// The role and group resolvers of one scope, or of the whole directory.
pub struct Resolvers {
    /// Its roles.
    pub roles: RoleResolver,
    /// Its groups.
    pub groups: GroupResolver,
}

/// What planning needs besides the file.
pub struct Context<'a> {
    /// What the directory can do, and its sites.
    pub capabilities: &'a Capabilities,
    /// Role and group names by site (`""` for a Sisense installation).
    pub names: &'a HashMap<String, Resolvers>,
    /// Role for rows with an empty role cell (new users, where users have roles).
    pub default_role: &'a str,
    /// Existing users by [`scope_key`], as listed now.
    pub existing: &'a HashMap<String, User>,
    /// Existing users' emails by [`scope_key`] of their lower-case user name (`user_names`).
    pub existing_names: &'a HashMap<String, String>,
    /// The tenants the import may act in, where the installation has tenants.
    pub tenancy: Option<&'a crate::tenancy::Tenancy>,
    /// The [`scope_key`]s that existed when the import started (first hop).
    pub existing_at_start: &'a HashSet<String>,
    /// Policy for existing users.
    pub on_existing: OnExisting,
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces or control characters.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Splits a full name at its last space: `Mary Ann Smith` -> (`Mary Ann`, `Smith`).
pub fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.rsplit_once(' ') {
        Some((first, last)) => (Some(first.into()), Some(last.into())),
        None if name.is_empty() => (None, None),
        None => (Some(name), None),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The key of a user in the existing-users map: the lowercase email, prefixed `site:` on Periscope (where one
/// person may be a user of several sites).
pub fn scope_key(site: Option<&str>, email: &str) -> String {
    match site {
        Some(site) => format!("{site}:{}", email.to_lowercase()),
        None => email.to_lowercase(),
    }
}

/// Splits a list cell at `;` or `|`, trimmed, empty items dropped.
fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split([';', '|'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
}

/// The sites a row is for (`None` for a Sisense installation), or why the row has none.
type Targets = Result<Vec<Option<String>>, String>;

/// The most characters a cell of `column` may hold: 254 for an email (RFC 5321) and a login name (often an
/// email), more than any real name or list, far less than a pasted document.
fn max_chars(column: Column) -> usize {
    match column {
        Column::Email | Column::UserName => 254,
        Column::FirstName | Column::LastName | Column::Role => 128,
        Column::Name | Column::Password => 256,
        Column::Groups | Column::Site => 4096,
        Column::Tenant => 128,
    }
}

/// Why a row's cells cannot be sent as they are: a cell over its length limit, or a control character (tab
/// apart). Cells are echoed cut to a few characters, control characters escaped.
pub fn cell_problem(row: &InputRow) -> Option<String> {
    row.cells().find_map(|(column, cell)| {
        let chars = cell.chars().count();
        if chars > max_chars(column) {
            return Some(format!(
                "{} has {chars} characters; at most {} are allowed{}",
                column.label(),
                max_chars(column),
                if column == Column::Email {
                    " (RFC 5321)"
                } else {
                    ""
                }
            ));
        }
        cell.chars()
            .find(|c| is_unprintable(*c))
            .map(|c| {
                format!(
                    "{} contains the control character U+{:04X}; remove it (line breaks inside a cell included)",
                    column.label(),
                    u32::from(c)
                )
            })
    })
}

/// The sites a row is for: the ones its site cell names, or every site; `[None]` on a Sisense installation.
fn targets(row: &InputRow, caps: &Capabilities) -> Targets {
    let cell = row.get(Column::Site);
    if caps.scopes.is_empty() {
        if !cell.is_empty() {
            return Err(format!(
                "site {cell:?} given, but {} has no sites; leave the site column empty",
                caps.family
            ));
        }
        return Ok(vec![None]);
    }
    if cell.is_empty() {
        return Ok(caps.scopes.iter().map(|s| Some(s.name.clone())).collect());
    }
    let mut named: Vec<Option<String>> = Vec::new();
    for name in list(cell) {
        let site = caps
            .scopes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "unknown site {name:?}; the secret's sites are {}",
                    caps.scope_names()
                )
            })?;
        if !named.contains(&Some(site.name.clone())) {
            named.push(Some(site.name.clone()));
        }
    }
    Ok(named)
}

/// Every row of a file planned one at a time, in file order: one step per row and target site. Only the
/// emails a file holds more than once are kept (with their rows); the steps are made as they are read, so an
/// import holds its file, never every step of it.
pub struct Plan<'a> {
    file: &'a InputFile,
    ctx: &'a Context<'a>,
    repeated: HashMap<String, Vec<usize>>,
    len: usize,
}

impl<'a> Plan<'a> {
    /// Reads `file` once for the emails it repeats (per site) and the number of steps.
    pub fn new(file: &'a InputFile, ctx: &'a Context<'a>) -> Self {
        // Two passes over the keys: a 64-bit hash of each first, then the exact keys of only the hashes seen
        // twice (a hash collision costs one extra key kept, never a wrong answer).
        let hasher = std::hash::RandomState::new();
        let mut twice: HashMap<u64, bool> = HashMap::with_capacity(file.rows.len());
        let mut len = 0;
        for row in &file.rows {
            let targets = row_targets(row, ctx.capabilities);
            len += targets.as_ref().map_or(1, Vec::len);
            for_each_key(row, &targets, |key| {
                twice
                    .entry(hasher.hash_one(key.as_str()))
                    .and_modify(|seen| *seen = true)
                    .or_insert(false);
            });
        }
        let mut repeated: HashMap<String, Vec<usize>> = HashMap::new();
        for row in &file.rows {
            for_each_key(row, &row_targets(row, ctx.capabilities), |key| {
                if twice.get(&hasher.hash_one(key.as_str())) == Some(&true) {
                    repeated.entry(key).or_default().push(row.row);
                }
            });
        }
        repeated.retain(|_, rows| rows.len() > 1);
        Plan {
            file,
            ctx,
            repeated,
            len,
        }
    }

    /// How many steps the file makes (rows times their sites; an invalid row is one step).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file makes no step.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The steps, in file order (a row's sites in the order it names them).
    pub fn steps(&self) -> impl Iterator<Item = Planned> + '_ {
        self.file.rows.iter().flat_map(|row| self.row(row))
    }

    fn row(&self, row: &InputRow) -> Vec<Planned> {
        let email = row.get(Column::Email);
        let sites = match row_targets(row, self.ctx.capabilities) {
            Ok(sites) => sites,
            Err(message) => {
                return vec![Planned {
                    row: row.row,
                    email: email.to_string(),
                    site: None,
                    step: Step::Invalid(message),
                    note: None,
                    role_name: None,
                }];
            }
        };
        sites
            .into_iter()
            .map(|site| {
                let (step, note) = plan_row(row, email, site.as_deref(), &self.repeated, self.ctx)
                    .unwrap_or_else(|message| (Step::Invalid(message), None));
                let role_id = match &step {
                    Step::Create(new) => new.role_id.as_ref(),
                    Step::Update { patch, .. } => patch.role_id.as_ref(),
                    Step::Invalid(_) | Step::Skip { .. } | Step::AlreadyCreated { .. } => None,
                };
                let role_name = role_id.and_then(|id| {
                    let names = self.ctx.names.get(site.as_deref().unwrap_or_default())?;
                    names
                        .roles
                        .resolve(id.as_str())
                        .ok()
                        .map(|r| r.name.clone())
                });
                Planned {
                    row: row.row,
                    email: email.to_string(),
                    site,
                    step,
                    note,
                    role_name,
                }
            })
            .collect()
    }
}

/// Plans every row of `file` at once (see [`Plan`] for one step at a time).
pub fn plan(file: &InputFile, ctx: &Context<'_>) -> Vec<Planned> {
    Plan::new(file, ctx).steps().collect()
}

/// The row's sites, or why it has none (a cell problem first).
fn row_targets(row: &InputRow, caps: &Capabilities) -> Targets {
    match cell_problem(row) {
        Some(problem) => Err(problem),
        None => targets(row, caps),
    }
}

/// Calls `f` with the row's [`scope_key`] on each of its sites (none for a row without an email or sites).
fn for_each_key(row: &InputRow, targets: &Targets, mut f: impl FnMut(String)) {
    let email = row.get(Column::Email);
    if email.is_empty() {
        return;
    }
    for site in targets.iter().flatten() {
        f(scope_key(site.as_deref(), email));
    }
}

/// The step for one row on one site, and the report's note about it.
fn plan_row(
    row: &InputRow,
    email: &str,
    site: Option<&str>,
    repeated: &HashMap<String, Vec<usize>>,
    ctx: &Context<'_>,
) -> Result<(Step, Option<String>), String> {
    let step = plan_step(row, email, site, repeated, ctx)?;
    let roles_only = ctx.capabilities.membership(site) == Membership::Roles;
    let note = match &step {
        Step::Create(new) if roles_only && new.role_id.is_none() => Some(format!(
            "no role given and DEFAULT_ROLE {:?} is not a role of this site: created with no role (the \
             site's Everyone)",
            ctx.default_role
        )),
        Step::Create(_)
        | Step::Invalid(_)
        | Step::Skip { .. }
        | Step::Update { .. }
        | Step::AlreadyCreated { .. } => None,
    };
    Ok((step, note))
}

fn plan_step(
    row: &InputRow,
    email: &str,
    site: Option<&str>,
    repeated: &HashMap<String, Vec<usize>>,
    ctx: &Context<'_>,
) -> Result<Step, String> {
    check_address(row, email, site, repeated)?;
    let key = scope_key(site, email);
    let names = ctx
        .names
        .get(site.unwrap_or_default())
        .ok_or_else(|| format!("no role and group names were read for site {site:?}"))?;
    let membership = ctx.capabilities.membership(site);
    let role = role_of(row, names, site, membership.has_roles())?;
    let groups = groups_of(row, names, site, membership.has_groups())?;
    let (mut first, mut last) = (
        non_empty(row.get(Column::FirstName)),
        non_empty(row.get(Column::LastName)),
    );
    if !file_has_split_names(row) {
        (first, last) = split_name(row.get(Column::Name));
    }
    check_tenant(row, &key, ctx)?;
    check_user_name(row, &key, site, ctx)?;
    let wanted = Wanted {
        first,
        last,
        role,
        groups,
    };
    match ctx.existing.get(&key) {
        Some(user) if !ctx.existing_at_start.contains(&key) => Ok(Step::AlreadyCreated {
            id: user.id.clone(),
        }),
        Some(user) => existing_step(row, user, names, wanted, ctx.on_existing),
        None => create_step(
            row,
            email,
            site,
            names,
            membership,
            wanted,
            ctx.default_role,
        ),
    }
}

/// What a row asks of its user.
struct Wanted {
    first: Option<String>,
    last: Option<String>,
    role: Option<RoleId>,
    groups: Vec<GroupId>,
}

/// The row's shape and email: present, valid, and only once in the file.
fn check_address(
    row: &InputRow,
    email: &str,
    site: Option<&str>,
    repeated: &HashMap<String, Vec<usize>>,
) -> Result<(), String> {
    if let Some(shape) = &row.shape_error {
        return Err(format!("malformed row: {shape}"));
    }
    if email.is_empty() {
        return Err("email is empty".into());
    }
    if !valid_email(email) {
        return Err(format!("invalid email {:?}", cut(email)));
    }
    if let Some(rows) = repeated.get(&scope_key(site, email)) {
        let list = rows.iter().map(usize::to_string).collect::<Vec<_>>();
        let on = site.map_or_else(String::new, |s| format!(" for site {s}"));
        return Err(format!(
            "email appears more than once in the file{on} (rows {}); fix the file, no row of it is imported",
            list.join(", ")
        ));
    }
    Ok(())
}

/// The role cell's role, where the site has roles.
fn role_of(
    row: &InputRow,
    names: &Resolvers,
    site: Option<&str>,
    has_roles: bool,
) -> Result<Option<RoleId>, String> {
    match row.get(Column::Role) {
        "" => Ok(None),
        name if !has_roles => Err(format!(
            "role {name:?} given, but site {} uses groups, not roles (no RBAC); leave the role cell empty",
            site.unwrap_or_default()
        )),
        name => Ok(Some(
            names
                .roles
                .resolve(name)
                .map_err(|e| e.to_string())?
                .id
                .clone(),
        )),
    }
}

/// The groups cell's groups (each once), where the site has groups; built-in groups are refused.
fn groups_of(
    row: &InputRow,
    names: &Resolvers,
    site: Option<&str>,
    has_groups: bool,
) -> Result<Vec<GroupId>, String> {
    let groups_cell = row.get(Column::Groups);
    if !has_groups && !groups_cell.is_empty() {
        return Err(format!(
            "groups {groups_cell:?} given, but site {} uses roles (RBAC), not groups; leave the groups cell empty",
            site.unwrap_or_default()
        ));
    }
    let mut groups = Vec::new();
    for name in list(groups_cell) {
        if let Some(built_in) = UNASSIGNABLE_GROUPS
            .iter()
            .find(|g| g.eq_ignore_ascii_case(name.trim()))
        {
            return Err(format!(
                "group {built_in:?} is built into Sisense and cannot be assigned through the API (Sisense refuses \
                 it with 2010); remove it from the groups cell"
            ));
        }
        if let Some(group) = names.groups.resolve(name).map_err(|e| e.to_string())?
            && !groups.contains(&group.id)
        {
            groups.push(group.id.clone());
        }
    }
    Ok(groups)
}

/// The tenant cell and the existing user's tenant against `TENANTS`.
fn check_tenant(row: &InputRow, key: &str, ctx: &Context<'_>) -> Result<(), String> {
    let tenant_cell = row.get(Column::Tenant).trim();
    let Some(t) = ctx.tenancy else {
        if tenant_cell.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "tenant {tenant_cell:?} given, but this installation reports no tenants; leave the tenant column empty"
        ));
    };
    if !tenant_cell.is_empty() && !t.allows_name(tenant_cell) {
        return Err(format!(
            "tenant {tenant_cell:?} is outside TENANTS ({}): rows of other tenants are not imported",
            t.allowed_names()
        ));
    }
    match ctx.existing.get(key) {
        Some(user) if !t.allows(user) => Err(format!(
            "the user exists in tenant {}, outside TENANTS ({}): never changed",
            t.name_of(user),
            t.allowed_names()
        )),
        // A new user is created in the caller's tenant: a row for another one would land in the wrong place.
        None if !tenant_cell.is_empty()
            && t.own_name()
                .is_some_and(|own| !own.eq_ignore_ascii_case(tenant_cell)) =>
        {
            Err(format!(
                "new users are created in the service account's tenant ({}), not {tenant_cell:?}: create that \
                 tenant's users with its own admin (https://<host>/{tenant_cell}/)",
                t.own_name().unwrap_or_default()
            ))
        }
        _ => Ok(()),
    }
}

/// A new user's user name must not be another user's: the row would change that user's email.
fn check_user_name(
    row: &InputRow,
    key: &str,
    site: Option<&str>,
    ctx: &Context<'_>,
) -> Result<(), String> {
    let wanted_name = row.get(Column::UserName).trim();
    if !wanted_name.is_empty()
        && !ctx.existing.contains_key(key)
        && let Some(owner) = ctx
            .existing_names
            .get(&scope_key(site, &wanted_name.to_lowercase()))
    {
        return Err(format!(
            "user name {wanted_name:?} belongs to the existing user {owner}: this row would change that user's \
             email, and Sisense does not change email or user name through the API; fix the row or the user in \
             Sisense"
        ));
    }
    Ok(())
}

/// The step for a user that existed when the import started, as `onExisting` says.
fn existing_step(
    row: &InputRow,
    user: &User,
    names: &Resolvers,
    wanted: Wanted,
    on_existing: OnExisting,
) -> Result<Step, String> {
    match on_existing {
        OnExisting::Skip => {
            return Ok(Step::Skip {
                id: user.id.clone(),
                message: "user already exists (onExisting=skip)".into(),
            });
        }
        OnExisting::Error => {
            return Err(format!(
                "user already exists with id {} (onExisting=error)",
                user.id
            ));
        }
        OnExisting::Update => {}
    }
    let wanted_name = row.get(Column::UserName).trim();
    if !wanted_name.is_empty()
        && user
            .user_name
            .as_deref()
            .is_some_and(|current| !current.eq_ignore_ascii_case(wanted_name))
    {
        return Err(format!(
            "Sisense does not change email or user name through the API (its PATCH drops them): the user name \
             stays {:?}; leave the user_name cell empty or equal to it",
            user.user_name.as_deref().unwrap_or_default()
        ));
    }
    let current = user
        .group_ids()
        .filter(|id| !names.groups.is_built_in(id))
        .collect();
    let patch = changes(
        user,
        wanted.first,
        wanted.last,
        wanted.role,
        (row.get(Column::Groups), current),
        wanted.groups,
    );
    Ok(if patch.is_empty() {
        Step::Skip {
            id: user.id.clone(),
            message: "already up to date".into(),
        }
    } else {
        Step::Update {
            id: user.id.clone(),
            patch,
        }
    })
}

/// The step for a new user. An empty role cell takes DEFAULT_ROLE where it resolves; a roles-only site
/// (Periscope RBAC) without it gets no role (the site's Everyone, the API's own default); Sisense requires a role.
fn create_step(
    row: &InputRow,
    email: &str,
    site: Option<&str>,
    names: &Resolvers,
    membership: Membership,
    wanted: Wanted,
    default_role: &str,
) -> Result<Step, String> {
    let role_id = match wanted.role {
        Some(id) => Some(id),
        None if !membership.has_roles() => None,
        None => match names.roles.resolve(default_role) {
            Ok(found) => Some(found.id.clone()),
            Err(_) if membership == Membership::Roles => None,
            Err(e) => {
                return Err(format!(
                    "no role given and DEFAULT_ROLE does not resolve: {e}"
                ));
            }
        },
    };
    Ok(Step::Create(Box::new(NewUser {
        email: email.to_string(),
        user_name: non_empty(row.get(Column::UserName)),
        first_name: wanted.first,
        last_name: wanted.last,
        role_id,
        groups: wanted.groups,
        scope: site.map(str::to_string),
        password: non_empty(row.get(Column::Password)).map(SecretString::from),
    })))
}

/// The emails of `existing` users by [`scope_key`] of their lower-case user name (users without one are left out).
pub fn user_names(existing: &HashMap<String, User>) -> HashMap<String, String> {
    existing
        .values()
        .filter_map(|u| {
            let name = u.user_name.as_deref()?.trim().to_lowercase();
            (!name.is_empty()).then(|| (scope_key(u.scope.as_deref(), &name), u.email.clone()))
        })
        .collect()
}

/// Built-in groups Sisense never assigns through its API (2010): a row naming one is invalid, never sent.
pub const UNASSIGNABLE_GROUPS: [&str; 3] = ["Admins", "Everyone", "All users in system"];

/// Whether the row's file has first or last name columns (then `name` is not split).
fn file_has_split_names(row: &InputRow) -> bool {
    row.has(Column::FirstName) || row.has(Column::LastName)
}

/// The patch that brings `user` to the row's filled cells; empty cells change nothing. `current` are the
/// user's groups without the built-ins (Sisense lists "Everyone" for every user).
fn changes(
    user: &User,
    first: Option<String>,
    last: Option<String>,
    role: Option<RoleId>,
    (groups_cell, current): (&str, HashSet<&GroupId>),
    groups: Vec<GroupId>,
) -> UserPatch {
    let wanted: HashSet<&GroupId> = groups.iter().collect();
    UserPatch {
        first_name: first.filter(|f| user.first_name.as_deref() != Some(f.as_str())),
        last_name: last.filter(|l| user.last_name.as_deref() != Some(l.as_str())),
        role_id: role.filter(|r| user.role_id() != Some(r)),
        groups: (!groups_cell.trim().is_empty() && current != wanted).then_some(groups),
        active: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: &[(&str, &str, &str)]) -> InputFile {
        InputFile {
            delimiter: b',',
            columns: vec![Column::Email, Column::Role, Column::Site],
            ignored_headers: vec![],
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, (email, role, site))| {
                    InputRow::new(
                        i + 2,
                        [
                            (Column::Email, *email),
                            (Column::Role, *role),
                            (Column::Site, *site),
                        ],
                        None,
                    )
                })
                .collect(),
        }
    }

    fn no_names() -> Resolvers {
        Resolvers {
            roles: RoleResolver::new(vec![]),
            groups: GroupResolver::new(vec![]),
        }
    }

    fn steps(planned: &[Planned]) -> Vec<(usize, Option<&str>, String)> {
        planned
            .iter()
            .map(|p| {
                let step = match &p.step {
                    Step::Create(_) => "create".to_string(),
                    Step::Invalid(m) => m.clone(),
                    other => format!("{other:?}"),
                };
                (p.row, p.site.as_deref(), step)
            })
            .collect()
    }

    #[test]
    fn rows_go_to_every_site_or_the_named_ones_and_duplicates_count_per_site() {
        let capabilities = Capabilities {
            scopes: ["east", "west"]
                .map(|name| sisense::Scope {
                    name: name.into(),
                    membership: sisense::Membership::Groups,
                })
                .to_vec(),
            ..Capabilities::sisense("Periscope")
        };
        let names = HashMap::from([("east".into(), no_names()), ("west".into(), no_names())]);
        let (existing, at_start) = (HashMap::new(), HashSet::new());
        let ctx = Context {
            capabilities: &capabilities,
            names: &names,
            default_role: "consumer",
            existing: &existing,
            existing_names: &HashMap::new(),
            tenancy: None,
            existing_at_start: &at_start,
            on_existing: OnExisting::Skip,
        };
        let rows = file(&[
            ("all@x.io", "", ""),
            ("split@x.io", "", "east"),
            ("split@x.io", "", "WEST"),
            ("twice@x.io", "", "east"),
            ("twice@x.io", "", ""),
            ("who@x.io", "", "north"),
        ]);
        let planned = plan(&rows, &ctx);
        assert_eq!(
            Plan::new(&rows, &ctx).len(),
            planned.len(),
            "the count a live import loops to is the number of steps made"
        );
        let got = steps(&planned);
        assert_eq!(got[0], (2, Some("east"), "create".into()));
        assert_eq!(got[1], (2, Some("west"), "create".into()));
        assert_eq!(got[2], (3, Some("east"), "create".into()));
        assert_eq!(got[3], (4, Some("west"), "create".into()));
        assert!(
            got[4]
                .2
                .contains("more than once in the file for site east (rows 5, 6)"),
            "{got:?}"
        );
        assert_eq!((got[5].0, got[5].1), (6, Some("east")));
        assert!(got[5].2.contains("rows 5, 6"));
        assert_eq!((got[6].0, got[6].1), (6, Some("west")));
        assert_eq!(got[6].2, "create", "west has only the second row");
        assert!(got[7].2.contains("unknown site \"north\""), "{got:?}");
        assert_eq!(got.len(), 8);
        let Step::Create(new) = &planned[0].step else {
            panic!()
        };
        assert_eq!(
            (new.scope.as_deref(), new.role_id.as_ref()),
            (Some("east"), None)
        );

        // A Sisense installation has no sites: a site cell is refused, rows plan once.
        let sisense = Capabilities::sisense("Sisense");
        let names = HashMap::from([(String::new(), no_names())]);
        let ctx = Context {
            capabilities: &sisense,
            names: &names,
            ..ctx
        };
        let planned = plan(&file(&[("a@x.io", "", "east")]), &ctx);
        let got = steps(&planned);
        assert!(
            got[0]
                .2
                .contains("has no sites; leave the site column empty"),
            "{got:?}"
        );
    }

    #[test]
    fn email_syntax() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "o'brien@x.ie"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@b..co", "a@.b.co", "a@b.co.",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn full_names_split_at_the_last_space() {
        assert_eq!(
            split_name("Mary  Ann Smith"),
            (Some("Mary Ann".into()), Some("Smith".into()))
        );
        assert_eq!(split_name("Cher"), (Some("Cher".into()), None));
        assert_eq!(split_name("  "), (None, None));
    }

    #[test]
    fn on_existing_parses_case_insensitively() {
        assert_eq!("UPDATE".parse::<OnExisting>(), Ok(OnExisting::Update));
        assert!(
            "merge"
                .parse::<OnExisting>()
                .unwrap_err()
                .contains("skip, update or error")
        );
    }
}
