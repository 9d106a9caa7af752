//! The create rules every family shares: look before creating again when a create's outcome is unknown, and
//! confirm a bulk create user by user (reconciling by email what it did not confirm).

use std::collections::HashMap;

use async_trait::async_trait;

use crate::directory::CreateOutcome;
use crate::error::Error;
use crate::models::{NewUser, User};
use crate::retry::{Attempts, RetryConfig};

/// What a family provides for the shared create rules.
#[async_trait]
pub(crate) trait Creator: Send + Sync {
    /// Sends one create; it may be applied even when it fails (the caller reconciles).
    async fn post_user(&self, user: &NewUser) -> Result<User, Error>;
    /// The user a create whose outcome is unknown may have made.
    async fn find_created(&self, user: &NewUser) -> Result<Option<User>, Error>;
    /// How often and how long to retry.
    fn retry(&self) -> &RetryConfig;
}

/// Creates one user; after a failure that may have been applied (5xx, timeout, dropped response) it looks for
/// the user before sending the create again, so it never creates twice.
pub(crate) async fn create_user(creator: &dyn Creator, user: &NewUser) -> Result<User, Error> {
    let mut attempts = Attempts::new(creator.retry());
    loop {
        let err = match creator.post_user(user).await {
            Ok(created) => return Ok(created),
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => e,
        };
        match creator.find_created(user).await {
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

/// One outcome per user of `chunk`: the users a bulk create confirmed (matched by email), and for every other
/// user a look (a half-applied bulk may have made it) and, if absent, a single create.
pub(crate) async fn confirm_bulk(
    creator: &dyn Creator,
    chunk: &[NewUser],
    confirmed: Vec<User>,
) -> Vec<CreateOutcome> {
    let mut by_email: HashMap<String, User> = confirmed
        .into_iter()
        .map(|u| (u.email.to_lowercase(), u))
        .collect();
    let mut outcomes = Vec::with_capacity(chunk.len());
    for user in chunk {
        let outcome = match by_email.remove(&user.email.to_lowercase()) {
            Some(created) => outcome(user, Ok(created), false),
            None => reconcile_or_create(creator, user).await,
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Creates one user from the fallback path: a user already present (from a half-applied bulk) is reconciled.
async fn reconcile_or_create(creator: &dyn Creator, user: &NewUser) -> CreateOutcome {
    match creator.find_created(user).await {
        Ok(Some(existing)) => outcome(user, Ok(existing), true),
        Ok(None) => outcome(user, create_user(creator, user).await, false),
        Err(e) => outcome(
            user,
            Err(Error::Unconfirmed {
                email: user.email.clone(),
                source: Box::new(e),
            }),
            false,
        ),
    }
}

/// The outcome of creating `user`.
pub(crate) fn outcome(
    user: &NewUser,
    result: Result<User, Error>,
    reconciled: bool,
) -> CreateOutcome {
    CreateOutcome {
        email: user.email.clone(),
        result,
        reconciled,
    }
}
