//! The port the lifecycle jobs use. One implementation per Sisense API family.

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::Error;
use crate::models::{Group, NewUser, Role, User, UserPatch};

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

/// A Periscope site as the jobs see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The site's name (user, role and group ids start with `name:`).
    pub name: String,
    /// Whether its users have roles (RBAC) rather than groups.
    pub rbac: bool,
}

impl Capabilities {
    /// Whether users have roles here: always on Sisense, on RBAC sites for Periscope.
    pub fn has_roles(&self, site: Option<&str>) -> bool {
        self.site(site).is_none_or(|s| s.rbac)
    }

    /// Whether users have groups here: always on Sisense, on sites without RBAC for Periscope.
    pub fn has_groups(&self, site: Option<&str>) -> bool {
        self.site(site).is_none_or(|s| !s.rbac)
    }

    fn site(&self, name: Option<&str>) -> Option<&Site> {
        name.and_then(|n| self.sites.iter().find(|s| s.name == n))
    }

    /// The site names, comma separated (for messages).
    pub fn site_names(&self) -> String {
        let names: Vec<&str> = self.sites.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    }
}

/// What a directory can tell and do; the jobs adapt to it instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The API family, as people name it (for messages).
    pub family: &'static str,
    /// The Periscope sites users belong to; empty for a Sisense installation (no `site` column anywhere).
    pub sites: Vec<Site>,
    /// Whether users carry last login/activity times (staleness can be judged).
    pub last_login: bool,
    /// Whether users can be deactivated (kept but locked out).
    pub deactivate: bool,
    /// Whether the server can validate a write without applying it (Periscope's `test_mode=true`).
    pub server_dry_run: bool,
}

impl Capabilities {
    /// A Sisense installation (Fusion or legacy): no sites, last logins, roles and groups, deactivation; no
    /// server dry run.
    pub fn sisense(family: &'static str) -> Self {
        Capabilities {
            family,
            sites: Vec::new(),
            last_login: true,
            deactivate: true,
            server_dry_run: false,
        }
    }
}

/// User directory operations the jobs depend on.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Every user, each exactly once.
    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>>;
    /// One user by id; `None` when it does not exist.
    async fn get_user(&self, id: &str) -> Result<Option<User>, Error>;
    /// The user with this email (case-insensitive exact match).
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error>;
    /// Creates one user, reconciling by email if the create's outcome is unknown (never creates twice).
    async fn create_user(&self, user: &NewUser) -> Result<User, Error>;
    /// Creates many users; one outcome per input, in input order.
    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome>;
    /// Applies a partial update and returns the user as the server now has it.
    async fn update_user(&self, id: &str, patch: &UserPatch) -> Result<User, Error>;
    /// Deletes a user; deleting one that is already gone succeeds.
    async fn delete_user(&self, id: &str) -> Result<(), Error>;
    /// The installation's roles.
    async fn roles(&self) -> Result<Vec<Role>, Error>;
    /// The installation's groups.
    async fn groups(&self) -> Result<Vec<Group>, Error>;
    /// What this directory can tell and do.
    fn capabilities(&self) -> Capabilities {
        Capabilities::sisense("Sisense")
    }
    /// Asks the server to validate a create without applying it (only when `server_dry_run`).
    async fn check_create(&self, _user: &NewUser) -> Result<(), Error> {
        Ok(())
    }
    /// Asks the server to validate an update without applying it (only when `server_dry_run`).
    async fn check_update(&self, _id: &str, _patch: &UserPatch) -> Result<(), Error> {
        Ok(())
    }
}
