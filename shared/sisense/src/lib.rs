//! Client for the Sisense REST API, built for unattended lifecycle jobs.
//!
//! - [`connect`] (or the cloneable [`SisenseClient`]) gives the [`Directory`] of the family the credentials
//!   name: one module per family over one shared transport. `fusion`: Sisense Linux/Fusion REST v1 (password
//!   or API-token auth with one re-login on 401); `legacy`: Sisense for Windows REST v0.9 (a fresh HS256 JWT
//!   `x-api-key` per request, re-signed once on 401); `periscope`: Periscope / Sisense for Cloud Data Teams
//!   sites, each a [`Scope`]. All get exponential backoff with full jitter on 429/502/503/504 and transport
//!   failures (honouring `Retry-After`), a shared client-side rate limit, and users as a de-duplicated paged
//!   [`futures::Stream`].
//! - [`Directory`] is the port the jobs use; ids ([`UserId`], [`RoleId`], [`GroupId`]) are opaque to them.
//! - [`RoleResolver`] and [`GroupResolver`] map the names people type to this installation's ids.
//!
//! Secrets are [`secrecy::SecretString`]s: they never appear in `Debug` output or logs, and the
//! `Authorization` and `x-api-key` headers are marked sensitive.

mod body;
mod config;
mod connect;
mod create;
mod directory;
mod error;
mod fusion;
mod ids;
mod legacy;
mod models;
mod paging;
mod periscope;
mod resolve;
mod rest;
mod retry;
mod transport;

pub use config::{
    ClientConfig, Credentials, CredentialsProblem, DEFAULT_RATE_LIMIT, DEFAULT_READ_RATE_LIMIT,
    Family, PeriscopeSite, validate_base_url,
};
pub use connect::{SisenseClient, connect};
pub use directory::{
    Capabilities, Content, CreateOutcome, Directory, Membership, Scope, ServerDryRun, UserQuery,
};
pub use error::{Error, ErrorBody, is_retryable_status};
pub use ids::{DashboardId, GroupId, RoleId, UserId};
pub use models::{Dashboard, Group, NewUser, Ref, Role, ShareRule, Tenant, User, UserPatch};
pub use paging::{Listed, paged, paged_users};
pub use resolve::{
    GroupResolver, IMPLICIT_GROUPS, ResolveError, RoleResolver, canonical_role, ui_role_name,
};
pub use retry::{RetryConfig, parse_retry_after};
pub use secrecy::{ExposeSecret, SecretString};
