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
}
