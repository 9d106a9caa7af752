//! `Directory` for every family: the shared rules (look before creating again, chunked bulk creates with
//! reconciliation, deletes that succeed when the user is already gone) over each family's requests.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::stream::BoxStream;
use reqwest::Method;

use super::SisenseClient;
use super::transport::{Call, Safety, decode};
use crate::config::Family;
use crate::directory::{Capabilities, CreateOutcome, Directory, UserQuery};
use crate::error::Error;
use crate::models::{Group, NewUser, Role, User, UserPatch};
use crate::retry::Attempts;

impl SisenseClient {
    /// The users collection's path segments (Sisense families; Periscope's depend on the site).
    pub(super) fn users_path(&self) -> &'static [&'static str] {
        match self.family() {
            Family::Fusion | Family::Periscope => &["api", "v1", "users"],
            Family::Legacy => &["api", "users"],
        }
    }

    /// The path of one user (`id`, or for legacy also an email).
    fn user_path<'a>(&self, id: &'a str) -> Vec<&'a str> {
        let mut path = self.users_path().to_vec();
        path.push(id);
        path
    }

    /// Sends one create; it may be applied even when it fails (the caller reconciles).
    async fn post_user(&self, user: &NewUser) -> Result<User, Error> {
        match self.family() {
            Family::Fusion => {
                let call = Call::get(self.users_path())
                    .with_json(Method::POST, user)?
                    .safety(Safety::NoEffectOnly);
                self.json(&call).await
            }
            Family::Legacy => {
                let call = self.legacy_create(std::slice::from_ref(user))?;
                let created: Vec<User> = self.json(&call).await?;
                created
                    .into_iter()
                    .find(|u| u.email.eq_ignore_ascii_case(&user.email))
                    .ok_or_else(|| Error::Decode {
                        method: "POST".into(),
                        path: "/api/users".into(),
                        detail: "the create succeeded but did not return the user".into(),
                        snippet: String::new(),
                    })
            }
            Family::Periscope => self.periscope_post_user(user).await,
        }
    }

    /// The user a create whose outcome is unknown may have made.
    async fn find_created(&self, user: &NewUser) -> Result<Option<User>, Error> {
        match self.family() {
            Family::Periscope => self.periscope_find_created(user).await,
            Family::Fusion | Family::Legacy => self.find_user_by_email(&user.email).await,
        }
    }

    /// Creates one user from the fallback path: a user already present (from a half-applied bulk) is reconciled.
    async fn reconcile_or_create(&self, user: &NewUser) -> CreateOutcome {
        match self.find_created(user).await {
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

    /// One bulk request, then single creates (after a look) for every user it did not confirm.
    async fn create_chunk(&self, chunk: &[NewUser]) -> Vec<CreateOutcome> {
        let bulk = match self.family() {
            Family::Fusion => Call::get(&["api", "v1", "users", "bulk"])
                .with_json(Method::POST, &chunk)
                .map(|call| call.safety(Safety::NoEffectOnly)),
            Family::Legacy => self.legacy_create(chunk),
            // Periscope has no bulk create: one create (reconciled when unsure) per user.
            Family::Periscope => {
                let mut outcomes = Vec::with_capacity(chunk.len());
                for user in chunk {
                    outcomes.push(CreateOutcome {
                        email: user.email.clone(),
                        result: self.create_user(user).await,
                        reconciled: false,
                    });
                }
                return outcomes;
            }
        };
        let bulk = match bulk {
            Ok(call) => call,
            Err(e) => {
                return chunk
                    .iter()
                    .map(|u| failed(u, Error::Config(e.to_string())))
                    .collect();
            }
        };
        let created: Option<Vec<User>> = match self.send(&bulk).await {
            // Fusion documents 201 for the bulk route; the legacy array create answers 200 or 201.
            Ok(reply)
                if reply.status == reqwest::StatusCode::CREATED
                    || (self.family() == Family::Legacy && reply.status.is_success()) =>
            {
                match decode(&bulk.method, &bulk.path(), &reply.body) {
                    Ok(users) => Some(users),
                    Err(e) => {
                        tracing::warn!(error = %e, "bulk create succeeded with an unreadable body; reconciling by email");
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
impl Directory for SisenseClient {
    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        match self.family() {
            Family::Fusion => self.fusion_users(query),
            Family::Legacy => self.legacy_users(query),
            Family::Periscope => self.periscope_users(query),
        }
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, Error> {
        if self.family() == Family::Periscope {
            return self.periscope_get_user(id).await;
        }
        match self.json(&Call::get(&self.user_path(id))).await {
            Ok(user) => Ok(Some(user)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let candidates: Vec<User> = match self.family() {
            Family::Fusion => {
                self.json(&Call::get(self.users_path()).query("email", email))
                    .await?
            }
            // `GET /api/users/{id or email}`.
            Family::Legacy => match self.json(&Call::get(&self.user_path(email))).await {
                Ok(user) => vec![user],
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e),
            },
            Family::Periscope => return self.periscope_find_user_by_email(email).await,
        };
        Ok(candidates
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
            match self.find_created(user).await {
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
        let path = self.user_path(id);
        // Fusion's PATCH and legacy's PUT both take the changed fields only.
        let method = match self.family() {
            Family::Fusion => Method::PATCH,
            Family::Legacy => Method::PUT,
            Family::Periscope => return self.periscope_update_user(id, patch).await,
        };
        self.json(&Call::get(&path).with_json(method, patch)?).await
    }

    async fn delete_user(&self, id: &str) -> Result<(), Error> {
        let path = self.user_path(id);
        let call = match self.family() {
            Family::Periscope => return self.periscope_delete_user(id).await,
            Family::Fusion => {
                let mut call = Call::get(&path);
                call.method = Method::DELETE;
                call
            }
            // `POST /api/users/delete` with the ids in the body: repeating it deletes nothing more.
            Family::Legacy => {
                Call::get(&["api", "users", "delete"]).with_json(Method::POST, &[id])?
            }
        };
        match self.send(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn roles(&self) -> Result<Vec<Role>, Error> {
        if self.family() == Family::Periscope {
            return self.periscope_roles().await;
        }
        match (
            self.family(),
            self.json(&Call::get(&["api", "roles"])).await,
        ) {
            (Family::Fusion, Err(e)) if e.is_not_found() => {
                self.json(&Call::get(&["api", "v1", "roles"])).await
            }
            (_, other) => other,
        }
    }

    async fn groups(&self) -> Result<Vec<Group>, Error> {
        match self.family() {
            Family::Fusion => self.json(&Call::get(&["api", "v1", "groups"])).await,
            Family::Legacy => self.json(&Call::get(&["api", "groups"])).await,
            Family::Periscope => self.periscope_groups().await,
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self.family() {
            Family::Fusion => Capabilities::sisense("Sisense (Linux/Fusion REST v1)"),
            Family::Legacy => Capabilities::sisense("Sisense for Windows (REST v0.9)"),
            Family::Periscope => self.periscope_capabilities(),
        }
    }

    async fn check_create(&self, user: &NewUser) -> Result<(), Error> {
        match self.family() {
            Family::Periscope => self.periscope_check_create(user).await,
            Family::Fusion | Family::Legacy => Ok(()),
        }
    }

    async fn check_update(&self, id: &str, patch: &UserPatch) -> Result<(), Error> {
        match self.family() {
            Family::Periscope => self.periscope_check_update(id, patch).await,
            Family::Fusion | Family::Legacy => Ok(()),
        }
    }
}
