//! Legacy Sisense for Windows (REST v0.9) under `/api`: `GET /api/users` paged with skip/limit where the server
//! supports it, the array create with `notify` (answered with one object or an array), and either a fresh
//! HS256 JWT `x-api-key` per request (before 6.5) or the v1 login's Bearer token (6.5 and later).
//!
//! v0.9 servers differ in what they honour, so listing relies on nothing but the pages themselves: users are
//! de-duplicated by `_id`; only an empty page ends the list (a server may cap `limit` silently); a page longer
//! than `limit` is taken as the whole list (limit ignored); a page of users already listed after a short page
//! ends it too (skip ignored, the short page was everyone), and after a full page is an [`Error::Paging`]
//! instead of a loop or a silently short list.

mod jwt;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use reqwest::Method;

pub(crate) use jwt::ApiKeySigner;

use crate::transport::Authenticator;

use crate::config::ClientConfig;
use crate::create::{self, Creator};
use crate::directory::{Capabilities, CreateOutcome, Directory, UserQuery};
use crate::error::Error;
use crate::ids::UserId;
use crate::models::{Group, NewUser, Role, User, UserPatch};
use crate::rest::{bodies, bulk_create};
use crate::retry::RetryConfig;
use crate::transport::{Call, Safety, Transport, absent_if_not_found};

/// The family's name in messages.
const LEGACY: &str = "Sisense for Windows (REST v0.9)";

const USERS: [&str; 2] = ["api", "users"];

/// A legacy Sisense for Windows installation.
pub(crate) struct LegacyDirectory {
    transport: Transport,
    auth: Box<dyn Authenticator>,
    config: Arc<ClientConfig>,
}

/// Where a listing is.
struct Cursor {
    skip: u64,
    seen: HashSet<UserId>,
    /// Whether the last page had exactly `limit` users.
    last_full: bool,
    done: bool,
}

impl LegacyDirectory {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        auth: Box<dyn Authenticator>,
    ) -> Result<Self, Error> {
        Ok(LegacyDirectory {
            transport: Transport::new(&config)?,
            auth,
            config,
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, Error> {
        self.transport.json(call, self.auth.as_ref()).await
    }

    /// `POST /api/users?notify=…` with `users` as a JSON array (a create, so resent only when it had no effect).
    fn create_call(&self, users: &[NewUser]) -> Result<Call<'static>, Error> {
        Ok(Call::get(&USERS)
            .query("notify", self.config.notify_new_users.to_string())
            .with_json(Method::POST, &bodies(users))?
            .safety(Safety::NoEffectOnly))
    }

    async fn users_page(&self, skip: u64, limit: u32) -> Result<Vec<User>, Error> {
        let call = Call::get(&USERS)
            .query("skip", skip.to_string())
            .query("limit", limit.to_string());
        self.json(&call).await
    }
}

#[async_trait]
impl Creator for LegacyDirectory {
    async fn post_user(&self, user: &NewUser) -> Result<User, Error> {
        let call = self.create_call(std::slice::from_ref(user))?;
        let created: serde_json::Value = self.json(&call).await?;
        crate::rest::users_with_ids(created)
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(&user.email))
            .ok_or_else(|| Error::Decode {
                method: "POST".into(),
                path: "/api/users".into(),
                detail: "the create succeeded but did not return the user".into(),
                snippet: String::new(),
            })
    }

    async fn find_created(&self, user: &NewUser) -> Result<Option<User>, Error> {
        self.find_user_by_email(&user.email).await
    }

    /// `GET /api/users?orderby=_id&desc=true&limit=…`: ids grow with creation time.
    async fn newest_users(&self, count: usize) -> Result<Vec<User>, Error> {
        let call = Call::get(&USERS)
            .query("orderby", "_id")
            .query("desc", "true")
            .query("limit", count.max(1).to_string());
        self.json(&call).await
    }

    fn retry(&self) -> &RetryConfig {
        &self.config.retry
    }
}

#[async_trait]
impl Directory for LegacyDirectory {
    fn capabilities(&self) -> Capabilities {
        Capabilities::sisense(LEGACY)
    }

    /// Every user once, in the server's order.
    async fn first_page_len(&self, limit: u32) -> Result<Option<usize>, Error> {
        Ok(Some(self.users_page(0, limit).await?.len()))
    }

    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        let limit = query.page_size.unwrap_or(self.config.page_size).max(1);
        let active = query.active;
        let start = Cursor {
            skip: 0,
            seen: HashSet::new(),
            last_full: false,
            done: false,
        };
        stream::unfold(start, move |mut cursor| async move {
            if cursor.done {
                return None;
            }
            let page = match self.users_page(cursor.skip, limit).await {
                Ok(page) => page,
                Err(e) => {
                    cursor.done = true;
                    return Some((vec![Err(e)], cursor));
                }
            };
            let got = page.len() as u64;
            let whole = got > u64::from(limit);
            cursor.skip += got;
            let fresh: Vec<User> = page
                .into_iter()
                .filter(|u| cursor.seen.insert(u.id.clone()))
                .collect();
            if got > 0 && fresh.is_empty() {
                cursor.done = true;
                if cursor.last_full {
                    let err = Error::Paging(format!(
                        "GET /api/users at skip={} repeated users already listed; the server seems to ignore \
                         skip, so the list cannot be completed",
                        cursor.skip - got
                    ));
                    return Some((vec![Err(err)], cursor));
                }
                // A short page followed by the same users: skip is ignored and the short page was everyone.
                return Some((Vec::new(), cursor));
            }
            // Only an empty page ends the list (a server may cap `limit`); a page longer than `limit` is the
            // whole list (an older server ignoring paging).
            cursor.done = got == 0 || whole;
            cursor.last_full = got == u64::from(limit);
            let items = fresh
                .into_iter()
                .filter(|u| active.is_none_or(|want| u.active.unwrap_or(true) == want))
                .map(Ok)
                .collect();
            Some((items, cursor))
        })
        .flat_map(stream::iter)
        .boxed()
    }

    #[tracing::instrument(skip_all, fields(family = "legacy", user_id = %id))]
    async fn get_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let segments = ["api", "users", id.as_str()];
        absent_if_not_found(self.json(&Call::get(&segments)).await)
    }

    /// `GET /api/users/{id or email}`.
    #[tracing::instrument(skip_all, fields(family = "legacy"))]
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let segments = ["api", "users", email];
        let found: Option<User> = absent_if_not_found(self.json(&Call::get(&segments)).await)?;
        Ok(found.filter(|u| u.email.eq_ignore_ascii_case(email)))
    }

    #[tracing::instrument(skip_all, fields(family = "legacy"))]
    async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        create::create_user(self, user).await
    }

    #[tracing::instrument(skip_all, fields(family = "legacy", users = users.len()))]
    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome> {
        let mut outcomes = Vec::with_capacity(users.len());
        for chunk in users.chunks(self.config.bulk_chunk.max(1)) {
            // The array create answers 200 or 201.
            let accepted = |status: reqwest::StatusCode| status.is_success();
            let call = self.create_call(chunk);
            outcomes.extend(
                bulk_create(
                    &self.transport,
                    self.auth.as_ref(),
                    self,
                    chunk,
                    call,
                    accepted,
                )
                .await,
            );
        }
        outcomes
    }

    /// `PUT /api/users/{id}` with the changed fields only.
    #[tracing::instrument(skip_all, fields(family = "legacy", user_id = %id))]
    /// `PUT /api/users/{id}`, whose 200 has no response schema in the contract (Sisense answers an empty body, or
    /// whatever it likes): the user is read back instead.
    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User, Error> {
        let segments = ["api", "users", id.as_str()];
        let call = Call::get(&segments).with_json(Method::PUT, patch)?;
        self.transport.send(&call, self.auth.as_ref()).await?;
        self.get_user(id).await?.ok_or_else(|| Error::Api {
            status: reqwest::StatusCode::NOT_FOUND,
            request: format!("GET /api/users/{id}"),
            code: None,
            message: format!("user {id} vanished after its update"),
            body: String::new(),
            retry_after: None,
        })
    }

    /// `POST /api/users/delete` with the ids in the body: repeating it deletes nothing more.
    #[tracing::instrument(skip_all, fields(family = "legacy", user_id = %id))]
    async fn delete_user(&self, id: &UserId) -> Result<(), Error> {
        let call = Call::get(&["api", "users", "delete"]).with_json(Method::POST, &[id])?;
        absent_if_not_found(self.transport.send(&call, self.auth.as_ref()).await).map(drop)
    }

    async fn roles(&self, _scope: Option<&str>) -> Result<Vec<Role>, Error> {
        self.json(&Call::get(&["api", "roles"])).await
    }

    async fn groups(&self, _scope: Option<&str>) -> Result<Vec<Group>, Error> {
        self.json(&Call::get(&["api", "groups"])).await
    }

    async fn count_users(&self) -> Result<Option<u64>, Error> {
        crate::rest::count_users(&self.transport, self.auth.as_ref()).await
    }
}
