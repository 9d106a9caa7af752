//! The port the lifecycle jobs use. One implementation per Sisense API family (`fusion`, `legacy`,
//! `periscope`); [`crate::connect`] picks it.

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::Error;
use crate::ids::{DashboardId, UserId};
use crate::models::{Dashboard, Group, NewUser, Role, ShareRule, Tenant, User, UserPatch};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Expand `role` into the role object.
    pub expand_role: bool,
    /// Expand `groups` into group objects.
    pub expand_groups: bool,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) users.
    pub active: Option<bool>,
    /// Override the client's page size.
    pub page_size: Option<u32>,
    /// Override the client's prefetch depth.
    pub prefetch: Option<usize>,
    /// Only these fields of each user (besides `_id`), where the family can ask for them (Fusion's `fields`
    /// whitelist); a server may still send more, and the other families always send every field.
    pub fields: Option<Vec<String>>,
}

/// The result of creating one user in a bulk request.
#[derive(Debug)]
pub struct CreateOutcome {
    /// The email the user was requested with.
    pub email: String,
    /// The created user, or why it could not be created.
    pub result: Result<User, Error>,
    /// Whether the user was found already present when reconciling after an ambiguous failure.
    pub reconciled: bool,
}

/// How the users of a scope are given access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Roles and groups (Sisense).
    RolesAndGroups,
    /// Roles only (a Periscope RBAC site).
    Roles,
    /// Groups only (a Periscope site without RBAC).
    Groups,
}

impl Membership {
    /// Whether users have roles here.
    pub fn has_roles(self) -> bool {
        matches!(self, Membership::RolesAndGroups | Membership::Roles)
    }

    /// Whether users have groups here.
    pub fn has_groups(self) -> bool {
        matches!(self, Membership::RolesAndGroups | Membership::Groups)
    }
}

/// A part of a directory whose users, roles and groups are separate from the other parts' (a Periscope site).
/// One person may be a user of several scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The scope's name, as people write it (the `site` column).
    pub name: String,
    /// How its users are given access.
    pub membership: Membership,
}

/// What a directory can tell; the jobs adapt to it instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The API family, as people name it (for messages).
    pub family: &'static str,
    /// The scopes; empty for a directory that is one whole (a Sisense installation: no `site` column anywhere).
    pub scopes: Vec<Scope>,
    /// Whether users carry last login/activity times (staleness can be judged).
    pub last_login: bool,
}

impl Capabilities {
    /// A Sisense installation (Fusion or legacy): no scopes, last logins.
    pub fn sisense(family: &'static str) -> Self {
        Capabilities {
            family,
            scopes: Vec::new(),
            last_login: true,
        }
    }

    /// How users of `scope` (`None`: the whole directory) are given access.
    pub fn membership(&self, scope: Option<&str>) -> Membership {
        scope
            .and_then(|name| self.scopes.iter().find(|s| s.name == name))
            .map_or(Membership::RolesAndGroups, |s| s.membership)
    }

    /// The scope names, comma separated (for messages).
    pub fn scope_names(&self) -> String {
        let names: Vec<&str> = self.scopes.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    }
}

/// User directory operations the jobs depend on.
#[async_trait]
pub trait Directory: Send + Sync {
    /// What this directory can tell, and its scopes.
    fn capabilities(&self) -> Capabilities;
    /// Every user, each exactly once.
    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>>;
    /// One user by id; `None` when it does not exist.
    async fn get_user(&self, id: &UserId) -> Result<Option<User>, Error>;
    /// The users with these ids that exist (a batch read-back: Fusion lists them with `ids=` in one paged listing;
    /// other families read them one by one).
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, Error> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.get_user(id).await?);
        }
        Ok(found)
    }
    /// The user with this email (case-insensitive exact match; the first scope's, where there are several).
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error>;
    /// Creates one user, reconciling by email if the create's outcome is unknown (never creates twice).
    async fn create_user(&self, user: &NewUser) -> Result<User, Error>;
    /// Creates many users; one outcome per input, in input order.
    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome>;
    /// Applies a partial update and returns the user as the server now has it.
    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User, Error>;
    /// Deletes a user; deleting one that is already gone succeeds.
    async fn delete_user(&self, id: &UserId) -> Result<(), Error>;
    /// The roles of `scope`, or of the whole directory (`None`).
    async fn roles(&self, scope: Option<&str>) -> Result<Vec<Role>, Error>;
    /// The groups of `scope`, or of the whole directory (`None`).
    async fn groups(&self, scope: Option<&str>) -> Result<Vec<Group>, Error>;
    /// How many users the server says it has, where it can tell (`GET /api/users/count` on Sisense): lets a
    /// listing prove it is complete. `None` where the API has no count.
    /// The installation's tenants (multitenancy, L2022 and later: `GET /api/v1/tenants`), or `None` where it has
    /// none (the route is absent, as on L8.2.4) or the family has no such notion.
    async fn tenants(&self) -> Result<Option<Vec<Tenant>>, Error> {
        Ok(None)
    }

    /// How many users the first page holds when `limit` are asked for (only `_id` where the family can say so):
    /// a server that answers fewer while holding more caps its pages. `None` where the family cannot ask.
    async fn first_page_len(&self, _limit: u32) -> Result<Option<usize>, Error> {
        Ok(None)
    }

    async fn count_users(&self) -> Result<Option<u64>, Error> {
        Ok(None)
    }
    /// The server's own dry run, where it has one.
    fn server_dry_run(&self) -> Option<&dyn ServerDryRun> {
        None
    }
    /// What people built (dashboards) and their sessions, where the API exposes them (Sisense Linux/Fusion).
    fn content(&self) -> Option<&dyn Content> {
        None
    }
}

/// Dashboards and sessions: what offboarding must not destroy, and the tokens it must revoke.
#[async_trait]
pub trait Content: Send + Sync {
    /// Every dashboard's owner instance, each once, in id order (`GET /api/v1/dashboards/admin`, paged).
    fn dashboards(&self) -> BoxStream<'_, Result<Dashboard, Error>>;
    /// One dashboard's owner instance; `None` when it does not exist.
    async fn dashboard(&self, id: &DashboardId) -> Result<Option<Dashboard>, Error>;
    /// Makes `owner` the dashboard's owner; the previous owner keeps a share with `keep`, if any.
    async fn change_owner(
        &self,
        id: &DashboardId,
        owner: &UserId,
        keep: Option<ShareRule>,
    ) -> Result<(), Error>;
    /// Revokes every token of `users` (batched; an empty list sends nothing).
    async fn revoke_sessions(&self, users: &[UserId]) -> Result<(), Error>;
}

/// A server that validates writes without applying them (Periscope's `test_mode=true`).
#[async_trait]
pub trait ServerDryRun: Send + Sync {
    /// Asks the server to validate a create without applying it.
    async fn check_create(&self, user: &NewUser) -> Result<(), Error>;
    /// Asks the server to validate an update without applying it.
    async fn check_update(&self, id: &UserId, patch: &UserPatch) -> Result<(), Error>;
}
