//! Client for the Sisense REST API, built for unattended lifecycle jobs.
//!
//! - [`SisenseClient`] talks to Sisense Linux/Fusion REST v1 (password or API-token auth with one re-login on
//!   401) and to legacy Sisense for Windows REST v0.9 (a fresh HS256 JWT `x-api-key` per request, re-signed once
//!   on 401); the credentials pick the [`Family`]. Both get exponential backoff with full jitter on
//!   429/502/503/504 and transport failures (honouring `Retry-After`), a shared client-side rate limit, and
//!   users as a de-duplicated paged [`futures::Stream`].
//! - [`Directory`] is the port the jobs use; the client implements it for each family.
//! - [`RoleResolver`] and [`GroupResolver`] map the names people type to this installation's ids.
//!
//! Secrets are [`secrecy::SecretString`]s: they never appear in `Debug` output or logs, and the
//! `Authorization` and `x-api-key` headers are marked sensitive.

mod client;
mod config;
mod directory;
mod error;
mod models;
mod paging;
mod resolve;
mod retry;

pub use client::SisenseClient;
pub use config::{
    ClientConfig, Credentials, CredentialsProblem, DEFAULT_RATE_LIMIT, Family, PeriscopeSite,
    validate_base_url,
};
pub use directory::{Capabilities, CreateOutcome, Directory, Site, UserQuery};
pub use error::{Error, ErrorBody, is_retryable_status};
pub use models::{Group, NewUser, Ref, Role, User, UserPatch};
pub use paging::paged_users;
pub use resolve::{GroupResolver, IMPLICIT_GROUPS, ResolveError, RoleResolver};
pub use retry::{RetryConfig, parse_retry_after};
pub use secrecy::{ExposeSecret, SecretString};
