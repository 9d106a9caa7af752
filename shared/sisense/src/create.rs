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
    /// The `count` most recently created users, in one request where the family can (newest first); empty where
    /// it cannot, so each user is then looked up alone.
    async fn newest_users(&self, _count: usize) -> Result<Vec<User>, Error> {
        Ok(Vec::new())
    }
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

/// Users the newest-users listing asks for beyond the chunk (others may create users at the same time).
const NEWEST_SLACK: usize = 20;

/// How a bulk create answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkAnswer {
    /// Success: the users found afterwards were created by it.
    Accepted,
    /// A definite refusal (a 4xx): Sisense's bulk create is all-or-nothing, so it created nobody, and a user
    /// found by email afterwards existed before: never to be reported as created.
    Refused,
    /// Anything else (a 5xx, a timeout, an undocumented status): it may have created some.
    Unknown,
}

/// One outcome per user of `chunk`: the users a bulk create confirmed with their ids (matched by email); the
/// others found in one listing of the newest users (the contract's bulk 201 carries no `_id`, and a half-applied
/// bulk may have made some); and for each still missing, a look and, if absent, a single create. After a
/// [`BulkAnswer::Refused`] nothing is looked for: each user is created alone, and one that exists already is
/// that create's error.
pub(crate) async fn confirm_bulk(
    creator: &dyn Creator,
    chunk: &[NewUser],
    confirmed: Vec<User>,
    answer: BulkAnswer,
) -> Vec<CreateOutcome> {
    if answer == BulkAnswer::Refused {
        let mut outcomes = Vec::with_capacity(chunk.len());
        for user in chunk {
            outcomes.push(outcome(user, create_user(creator, user).await, false));
        }
        return outcomes;
    }
    let accepted = answer == BulkAnswer::Accepted;
    let mut by_email: HashMap<String, (User, bool)> = confirmed
        .into_iter()
        .map(|u| (u.email.to_lowercase(), (u, false)))
        .collect();
    let missing = chunk
        .iter()
        .filter(|u| !by_email.contains_key(&u.email.to_lowercase()))
        .count();
    if missing > 1 {
        match creator.newest_users(missing + NEWEST_SLACK).await {
            Ok(newest) => {
                for found in newest {
                    let key = found.email.to_lowercase();
                    let wanted = chunk.iter().any(|u| u.email.eq_ignore_ascii_case(&key));
                    if wanted && !by_email.contains_key(&key) {
                        by_email.insert(key, (found, !accepted));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing the newest users failed; looking users up one by one")
            }
        }
    }
    let mut outcomes = Vec::with_capacity(chunk.len());
    for user in chunk {
        let outcome = match by_email.remove(&user.email.to_lowercase()) {
            Some((created, reconciled)) => outcome(user, Ok(created), reconciled),
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
