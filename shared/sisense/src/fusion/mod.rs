//! Sisense Linux/Fusion, REST v1 under `/api/v1` (roles and the user count on v0.9's `/api/roles` and
//! `/api/users/count`, as the contract has them): users listed sorted by `_id`, paged with skip/limit and
//! prefetch until an empty page (the server may cap `limit`); bulk creates on `/api/v1/users/bulk`, whose 201
//! carries no ids, confirmed by one listing of the newest users.

mod content;
mod session;

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::{Method, StatusCode};

pub(crate) use session::SessionAuth;

use crate::config::ClientConfig;
use crate::create::{self, Creator};
use crate::directory::{Capabilities, CreateOutcome, Directory, UserQuery};
use crate::error::Error;
use crate::ids::UserId;
use crate::models::{Group, NewUser, Role, User, UserPatch};
use crate::paging::paged_raw;
use crate::rest::{NewUserBody, bodies, bulk_create};
use crate::retry::RetryConfig;
use crate::transport::{Call, Safety, Transport, absent_if_not_found};

/// The family's name in messages.
const FUSION: &str = "Sisense (Linux/Fusion REST v1)";

const USERS: [&str; 3] = ["api", "v1", "users"];

/// User ids per `ids=` listing (each id is 24 characters plus a comma: about 2.5 kB of query).
const IDS_PER_LISTING: usize = 100;

/// A Sisense Linux/Fusion installation.
pub(crate) struct FusionDirectory {
    transport: Transport,
    auth: SessionAuth,
    config: Arc<ClientConfig>,
}

impl FusionDirectory {
    pub(crate) fn new(config: Arc<ClientConfig>, auth: SessionAuth) -> Result<Self, Error> {
        Ok(FusionDirectory {
            transport: Transport::new(&config)?,
            auth,
            config,
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, Error> {
        self.transport.json(call, &self.auth).await
    }

    /// One page of the listing, restricted to `ids` when given.
    async fn users_page_of(
        &self,
        query: &UserQuery,
        ids: Option<&str>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<User>, Error> {
        self.json(&users_call(query, ids, skip, limit)).await
    }

    /// One page of the listing as the response body, parsed by [`parse_users_page`] when the listing reaches it.
    async fn users_page_body(
        &self,
        query: &UserQuery,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<u8>, Error> {
        let call = users_call(query, None, skip, limit);
        Ok(self.transport.send(&call, &self.auth).await?.body)
    }
}

/// The users of a page body of `GET /api/v1/users`.
fn parse_users_page(body: Vec<u8>) -> Result<Vec<User>, Error> {
    crate::transport::decode(&Method::GET, &Call::get(&USERS).path(), &body)
}

/// `GET /api/v1/users` sorted by `_id`, one page, restricted to `ids` when given.
fn users_call<'a>(query: &UserQuery, ids: Option<&str>, skip: u64, limit: u32) -> Call<'a> {
    let mut call = Call::get(&USERS)
        .query("sort", "_id")
        .query("skip", skip.to_string())
        .query("limit", limit.to_string());
    if let Some(ids) = ids {
        call = call.query("ids", ids);
    }
    if let Some(fields) = &query.fields {
        call = call.query("fields", fields.join(","));
    }
    let expand: Vec<&str> = [(query.expand_role, "role"), (query.expand_groups, "groups")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if !expand.is_empty() {
        call = call.query("expand", expand.join(","));
    }
    if let Some(active) = query.active {
        call = call.query("active", active.to_string());
    }
    call
}

#[async_trait]
impl Creator for FusionDirectory {
    async fn post_user(&self, user: &NewUser) -> Result<User, Error> {
        let call = Call::get(&USERS)
            .with_json(Method::POST, &NewUserBody::from(user))?
            .safety(Safety::NoEffectOnly);
        self.json(&call).await
    }

    async fn find_created(&self, user: &NewUser) -> Result<Option<User>, Error> {
        self.find_user_by_email(&user.email).await
    }

    /// `GET /api/v1/users?sort=-_id&limit=…`: ids grow with creation time.
    async fn newest_users(&self, count: usize) -> Result<Vec<User>, Error> {
        let call = Call::get(&USERS)
            .query("sort", "-_id")
            .query("limit", count.max(1).to_string());
        self.json(&call).await
    }

    fn retry(&self) -> &RetryConfig {
        &self.config.retry
    }
}

#[async_trait]
impl Directory for FusionDirectory {
    fn capabilities(&self) -> Capabilities {
        Capabilities::sisense(FUSION)
    }

    /// Every user once, in `_id` order.
    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        let limit = query.page_size.unwrap_or(self.config.page_size);
        let prefetch = query.prefetch.unwrap_or(self.config.prefetch);
        let query = Arc::new(query);
        let fetch = move |skip, limit| {
            let query = query.clone();
            async move { self.users_page_body(&query, skip, limit).await }
        };
        paged_raw(limit, prefetch, fetch, parse_users_page).boxed()
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", user_id = %id))]
    async fn get_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let segments = ["api", "v1", "users", id.as_str()];
        absent_if_not_found(self.json(&Call::get(&segments)).await)
    }

    /// `GET /api/v1/users?ids=…`, paged like every listing (a server may cap the page below the ids asked).
    #[tracing::instrument(skip_all, fields(family = "fusion", users = ids.len()))]
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, Error> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_LISTING) {
            let list: Vec<&str> = chunk.iter().map(UserId::as_str).collect();
            let list = list.join(",");
            let query = UserQuery::default();
            let limit = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            // The answer holds at most the ids asked: once all are found the listing is complete; otherwise
            // (missing users, or a page cap) continue until an empty page.
            let mut of_chunk: Vec<User> = Vec::with_capacity(chunk.len());
            loop {
                let skip = of_chunk.len() as u64;
                let page = self.users_page_of(&query, Some(&list), skip, limit).await?;
                let empty = page.is_empty();
                of_chunk.extend(page);
                if empty || of_chunk.len() >= chunk.len() {
                    break;
                }
            }
            found.extend(of_chunk);
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(family = "fusion"))]
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let candidates: Vec<User> = self.json(&Call::get(&USERS).query("email", email)).await?;
        Ok(candidates
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email)))
    }

    #[tracing::instrument(skip_all, fields(family = "fusion"))]
    async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        create::create_user(self, user).await
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", users = users.len()))]
    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome> {
        let mut outcomes = Vec::with_capacity(users.len());
        for chunk in users.chunks(self.config.bulk_chunk.max(1)) {
            let call = Call::get(&["api", "v1", "users", "bulk"])
                .with_json(Method::POST, &bodies(chunk))
                .map(|call| call.safety(Safety::NoEffectOnly));
            // The contract documents 201 for the bulk route.
            let accepted = |status| status == StatusCode::CREATED;
            outcomes.extend(
                bulk_create(&self.transport, &self.auth, self, chunk, call, accepted).await,
            );
        }
        outcomes
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", user_id = %id))]
    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User, Error> {
        let segments = ["api", "v1", "users", id.as_str()];
        self.json(&Call::get(&segments).with_json(Method::PATCH, patch)?)
            .await
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", user_id = %id))]
    async fn delete_user(&self, id: &UserId) -> Result<(), Error> {
        let segments = ["api", "v1", "users", id.as_str()];
        let sent = self
            .transport
            .send(&Call::delete(&segments), &self.auth)
            .await;
        absent_if_not_found(sent).map(drop)
    }

    /// `GET /api/roles` (v0.9: the contract has no `/api/v1/roles`).
    async fn roles(&self, _scope: Option<&str>) -> Result<Vec<Role>, Error> {
        self.json(&Call::get(&["api", "roles"])).await
    }

    async fn count_users(&self) -> Result<Option<u64>, Error> {
        crate::rest::count_users(&self.transport, &self.auth).await
    }

    /// `GET /api/v1/tenants`; a 404 (no such route before multitenancy) means no tenants.
    async fn tenants(&self) -> Result<Option<Vec<crate::Tenant>>, Error> {
        absent_if_not_found(self.json(&Call::get(&["api", "v1", "tenants"])).await)
    }

    async fn first_page_len(&self, limit: u32) -> Result<Option<usize>, Error> {
        let query = UserQuery {
            fields: Some(vec!["_id".into()]),
            ..UserQuery::default()
        };
        let body = self.users_page_body(&query, 0, limit).await?;
        Ok(Some(parse_users_page(body)?.len()))
    }

    async fn groups(&self, _scope: Option<&str>) -> Result<Vec<Group>, Error> {
        self.json(&Call::get(&["api", "v1", "groups"])).await
    }

    fn content(&self) -> Option<&dyn crate::directory::Content> {
        Some(self)
    }
}
