//! Client for the Sisense REST API, built for unattended lifecycle jobs.
//!
//! - [`FusionClient`] talks to Sisense Linux/Fusion REST v1: password or API-token auth with one re-login on
//!   401, exponential backoff with full jitter on 429/502/503/504 and transport failures (honouring
//!   `Retry-After`), a shared client-side rate limit, and users as a de-duplicated paged [`futures::Stream`].
//! - [`Directory`] is the port the jobs use; each Sisense API family implements it.
//! - [`RoleResolver`] and [`GroupResolver`] map the names people type to this installation's ids.
//!
//! Secrets are [`secrecy::SecretString`]s: they never appear in `Debug` output or logs, and the
//! `Authorization` header is marked sensitive.

mod config;
mod directory;
mod error;
mod fusion;
mod models;
mod paging;
mod resolve;
mod retry;

pub use config::{
    ClientConfig, Credentials, CredentialsProblem, DEFAULT_RATE_LIMIT, validate_base_url,
};
pub use directory::{CreateOutcome, Directory, UserQuery};
pub use error::{Error, ErrorBody, is_retryable_status};
pub use fusion::FusionClient;
pub use models::{Group, NewUser, Ref, Role, User, UserPatch};
pub use paging::paged_users;
pub use resolve::{GroupResolver, IMPLICIT_GROUPS, ResolveError, RoleResolver};
pub use retry::{RetryConfig, parse_retry_after};
pub use secrecy::{ExposeSecret, SecretString};
