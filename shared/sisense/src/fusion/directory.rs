//! `Directory` for Fusion: users, roles and groups under `/api/v1`.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::{Method, StatusCode};

use super::FusionClient;
use super::transport::{Call, Safety, decode};
use crate::directory::{CreateOutcome, Directory, UserQuery};
use crate::error::Error;
use crate::models::{Group, NewUser, Role, User, UserPatch};
use crate::paging::paged_users;
use crate::retry::Attempts;

const USERS: &[&str] = &["api", "v1", "users"];

impl FusionClient {
    async fn users_page(
        &self,
        query: &UserQuery,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<User>, Error> {
        let mut call = Call::get(USERS)
            .query("sort", "_id")
            .query("skip", skip.to_string())
            .query("limit", limit.to_string());
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
        self.json(&call).await
    }

    async fn post_user(&self, user: &NewUser) -> Result<User, Error> {
        let call = Call::get(USERS)
            .with_json(Method::POST, user)?
            .safety(Safety::NoEffectOnly);
        self.json(&call).await
    }

    /// Creates one user from the fallback path: a user already present (from a half-applied bulk) is reconciled.
    async fn reconcile_or_create(&self, user: &NewUser) -> CreateOutcome {
        match self.find_user_by_email(&user.email).await {
            Ok(Some(existing)) => CreateOutcome {
                email: user.email.clone(),
                result: Ok(existing),
                reconciled: true,
            },
            Ok(None) => CreateOutcome {
                email: user.email.clone(),
                result: self.create_user(user).await,
                reconciled: false,
            },
            Err(e) => CreateOutcome {
                email: user.email.clone(),
                result: Err(Error::Unconfirmed {
                    email: user.email.clone(),
                    source: Box::new(e),
                }),
                reconciled: false,
            },
        }
    }

    async fn create_chunk(&self, chunk: &[NewUser]) -> Vec<CreateOutcome> {
        let bulk = match Call::get(&["api", "v1", "users", "bulk"]).with_json(Method::POST, &chunk)
        {
            Ok(call) => call.safety(Safety::NoEffectOnly),
            Err(e) => {
                return chunk
                    .iter()
                    .map(|u| failed(u, Error::Config(e.to_string())))
                    .collect();
            }
        };
        let created: Option<Vec<User>> = match self.send(&bulk).await {
            Ok(reply) if reply.status == StatusCode::CREATED => {
                match decode(&bulk.method, "/api/v1/users/bulk", &reply.body) {
                    Ok(users) => Some(users),
                    Err(e) => {
                        tracing::warn!(error = %e, "bulk create answered 201 with an unreadable body; reconciling by email");
                        None
                    }
                }
            }
            Ok(reply) => {
                tracing::warn!(
                    status = reply.status.as_u16(),
                    "bulk create did not answer 201; falling back to single creates"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "bulk create failed; falling back to single creates");
                None
            }
        };
        let mut by_email: HashMap<String, User> = created
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u.email.to_lowercase(), u))
            .collect();
        let mut outcomes = Vec::with_capacity(chunk.len());
        for user in chunk {
            match by_email.remove(&user.email.to_lowercase()) {
                Some(created) => outcomes.push(CreateOutcome {
                    email: user.email.clone(),
                    result: Ok(created),
                    reconciled: false,
                }),
                None => outcomes.push(self.reconcile_or_create(user).await),
            }
        }
        outcomes
    }
}

fn failed(user: &NewUser, error: Error) -> CreateOutcome {
    CreateOutcome {
        email: user.email.clone(),
        result: Err(error),
        reconciled: false,
    }
}

#[async_trait]
impl Directory for FusionClient {
    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        let limit = query.page_size.unwrap_or(self.inner.config.page_size);
        let prefetch = query.prefetch.unwrap_or(self.inner.config.prefetch);
        let query = std::sync::Arc::new(query);
        paged_users(limit, prefetch, move |skip, limit| {
            let query = query.clone();
            async move { self.users_page(&query, skip, limit).await }
        })
        .boxed()
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, Error> {
        match self.json(&Call::get(&["api", "v1", "users", id])).await {
            Ok(user) => Ok(Some(user)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let users: Vec<User> = self.json(&Call::get(USERS).query("email", email)).await?;
        Ok(users
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email)))
    }

    async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        let mut attempts = Attempts::new(&self.inner.config.retry);
        loop {
            let err = match self.post_user(user).await {
                Ok(created) => return Ok(created),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e,
            };
            // The POST may have been applied (5xx, timeout, dropped response): look before sending it again.
            match self.find_user_by_email(&user.email).await {
                Ok(Some(existing)) => {
                    tracing::info!(user_id = %existing.id, "create outcome was unknown; user found by email, not creating twice");
                    return Ok(existing);
                }
                Ok(None) => {}
                Err(find) => {
                    tracing::warn!(error = %find, "could not reconcile an unconfirmed create");
                    return Err(Error::Unconfirmed {
                        email: user.email.clone(),
                        source: Box::new(err),
                    });
                }
            }
            let Some(delay) = attempts.next_delay(err.retry_after(), &mut rand::rng()) else {
                return Err(err);
            };
            tokio::time::sleep(delay).await;
        }
    }

    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome> {
        let mut outcomes = Vec::with_capacity(users.len());
        for chunk in users.chunks(self.inner.config.bulk_chunk.max(1)) {
            outcomes.extend(self.create_chunk(chunk).await);
        }
        outcomes
    }

    async fn update_user(&self, id: &str, patch: &UserPatch) -> Result<User, Error> {
        let path = ["api", "v1", "users", id];
        let call = Call::get(&path).with_json(Method::PATCH, patch)?;
        self.json(&call).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), Error> {
        let path = ["api", "v1", "users", id];
        let mut call = Call::get(&path);
        call.method = Method::DELETE;
        match self.send(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn roles(&self) -> Result<Vec<Role>, Error> {
        match self.json(&Call::get(&["api", "roles"])).await {
            Err(e) if e.is_not_found() => self.json(&Call::get(&["api", "v1", "roles"])).await,
            other => other,
        }
    }

    async fn groups(&self) -> Result<Vec<Group>, Error> {
        self.json(&Call::get(&["api", "v1", "groups"])).await
    }
}
