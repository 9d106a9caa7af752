//! The one place that maps credentials to an API family's [`Directory`], and the cloneable handle over it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::config::{ClientConfig, Credentials, Family};
use crate::directory::{Capabilities, Content, CreateOutcome, Directory, ServerDryRun, UserQuery};
use crate::error::Error;
use crate::fusion::{FusionDirectory, SessionAuth};
use crate::ids::UserId;
use crate::legacy::{ApiKeySigner, LegacyDirectory};
use crate::models::{Group, NewUser, Role, User, UserPatch};
use crate::periscope::PeriscopeDirectory;

/// The [`Directory`] of the API family `config`'s credentials are for. TLS certificate verification is always
/// on. This is the only `match` on the family: a new family is a new module and one arm here.
pub fn connect(config: ClientConfig) -> Result<Arc<dyn Directory>, Error> {
    let config = Arc::new(config);
    Ok(match &config.credentials {
        Credentials::Password { username, password } => Arc::new(FusionDirectory::new(
            config.clone(),
            SessionAuth::login(username, password),
        )?),
        Credentials::Token(token) => Arc::new(FusionDirectory::new(
            config.clone(),
            SessionAuth::token(token),
        )?),
        Credentials::LegacyJwt {
            email,
            password,
            api_token,
        } => Arc::new(LegacyDirectory::new(
            config.clone(),
            Box::new(ApiKeySigner::new(email, password, api_token)),
        )?),
        Credentials::LegacyLogin { email, password } => Arc::new(LegacyDirectory::new(
            config.clone(),
            Box::new(SessionAuth::login(email, password)),
        )?),
        Credentials::Periscope { sites } => {
            Arc::new(PeriscopeDirectory::new(config.clone(), sites)?)
        }
    })
}

/// Which family credentials are for: the same mapping as [`connect`], kept beside it.
impl Credentials {
    /// The API family these credentials are for.
    pub fn family(&self) -> Family {
        match self {
            Credentials::Password { .. } | Credentials::Token(_) => Family::Fusion,
            Credentials::LegacyJwt { .. } | Credentials::LegacyLogin { .. } => Family::Legacy,
            Credentials::Periscope { .. } => Family::Periscope,
        }
    }
}

/// A cloneable client for one Sisense installation (or set of Periscope sites): the [`Directory`] its
/// credentials' family implements, with the configuration it was built from. Clones share the token, the
/// connection pool and the rate limit.
#[derive(Clone)]
pub struct SisenseClient {
    directory: Arc<dyn Directory>,
    config: Arc<ClientConfig>,
}

impl SisenseClient {
    /// Connects (see [`connect`]).
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let shared = Arc::new(config.clone());
        Ok(SisenseClient {
            directory: connect(config)?,
            config: shared,
        })
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The API family the client speaks.
    pub fn family(&self) -> Family {
        self.config.credentials.family()
    }

    /// The directory, shared.
    pub fn directory(&self) -> Arc<dyn Directory> {
        self.directory.clone()
    }
}

/// Every call goes to the family's directory.
#[async_trait]
impl Directory for SisenseClient {
    fn capabilities(&self) -> Capabilities {
        self.directory.capabilities()
    }

    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        self.directory.users(query)
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.directory.get_user(id).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        self.directory.find_user_by_email(email).await
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, Error> {
        self.directory.users_by_ids(ids).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        self.directory.create_user(user).await
    }

    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome> {
        self.directory.create_users(users).await
    }

    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User, Error> {
        self.directory.update_user(id, patch).await
    }

    async fn delete_user(&self, id: &UserId) -> Result<(), Error> {
        self.directory.delete_user(id).await
    }

    async fn roles(&self, scope: Option<&str>) -> Result<Vec<Role>, Error> {
        self.directory.roles(scope).await
    }

    async fn groups(&self, scope: Option<&str>) -> Result<Vec<Group>, Error> {
        self.directory.groups(scope).await
    }

    async fn count_users(&self) -> Result<Option<u64>, Error> {
        self.directory.count_users().await
    }

    async fn first_page_len(&self, limit: u32) -> Result<Option<usize>, Error> {
        self.directory.first_page_len(limit).await
    }

    async fn tenants(&self) -> Result<Option<Vec<crate::Tenant>>, Error> {
        self.directory.tenants().await
    }

    fn server_dry_run(&self) -> Option<&dyn ServerDryRun> {
        self.directory.server_dry_run()
    }

    fn content(&self) -> Option<&dyn Content> {
        self.directory.content()
    }
}

impl fmt::Debug for SisenseClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SisenseClient")
            .field("family", &self.family())
            .field("base_url", &self.config.base_url.as_str())
            .field("credentials", &self.config.credentials)
            .finish_non_exhaustive()
    }
}
