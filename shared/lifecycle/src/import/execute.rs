//! Talking to the directory for an import: who exists, which names resolve per scope, the server's dry run, and
//! one segment of creates and updates.

use std::collections::HashMap;

use futures::{Stream, StreamExt, TryStreamExt};
use sisense::{
    Capabilities, Directory, GroupResolver, NewUser, RoleResolver, ServerDryRun, User, UserQuery,
};

use super::outcome::{RowResult, RowStatus};
use super::plan::{Planned, Resolvers, Step, scope_key};
use crate::progress::Progress;

/// Role and group resolvers by scope (`""` for a directory without scopes): a scope's names never resolve in
/// another.
pub(super) async fn names_by_scope(
    directory: &dyn Directory,
    capabilities: &Capabilities,
) -> Result<HashMap<String, Resolvers>, sisense::Error> {
    let scopes: Vec<Option<&str>> = if capabilities.scopes.is_empty() {
        vec![None]
    } else {
        capabilities
            .scopes
            .iter()
            .map(|s| Some(s.name.as_str()))
            .collect()
    };
    let mut by_scope = HashMap::with_capacity(scopes.len());
    for scope in scopes {
        let names = Resolvers {
            roles: RoleResolver::new(directory.roles(scope).await?),
            groups: GroupResolver::new(directory.groups(scope).await?),
        };
        by_scope.insert(scope.unwrap_or_default().to_string(), names);
    }
    Ok(by_scope)
}

/// The dry run's rows with every create and update validated by the server without applying it
/// (Periscope's `test_mode=true`); a refusal makes the row invalid with the server's reason.
pub(super) fn server_checked<'a>(
    server: &'a dyn ServerDryRun,
    planned: impl Iterator<Item = Planned> + 'a,
    concurrency: usize,
) -> impl Stream<Item = RowResult> + 'a {
    futures::stream::iter(planned)
        .map(move |p| async move {
            let checked = match &p.step {
                Step::Create(new) => server.check_create(new).await,
                Step::Update { id, patch } => server.check_update(id, patch).await,
                Step::Invalid(_) | Step::Skip { .. } | Step::AlreadyCreated { .. } => Ok(()),
            };
            match checked {
                Ok(()) => dry_result(&p),
                Err(e) => result(
                    &p,
                    RowStatus::Invalid,
                    "",
                    format!("the server's test mode refused it: {e}"),
                ),
            }
        })
        .buffered(concurrency.max(1))
}

/// Every user by [`scope_key`] (one listing).
pub(super) async fn existing_users(
    directory: &dyn Directory,
    progress: &Progress,
) -> Result<HashMap<String, User>, sisense::Error> {
    directory
        .users(UserQuery::default())
        .try_fold(HashMap::new(), |mut map, user| async move {
            progress.advance(1);
            map.insert(scope_key(user.scope.as_deref(), &user.email), user);
            Ok(map)
        })
        .await
}

/// The report row for `p`; on Periscope the message starts with the site.
fn result(p: &Planned, status: RowStatus, user_id: &str, message: impl Into<String>) -> RowResult {
    let message = message.into();
    let message = match (&p.site, message.is_empty()) {
        (Some(site), true) => format!("site {site}"),
        (Some(site), false) => format!("site {site}: {message}"),
        (None, _) => message,
    };
    RowResult {
        row: p.row,
        email: p.email.clone(),
        status,
        user_id: user_id.to_string(),
        message,
    }
}

pub(super) fn dry_result(p: &Planned) -> RowResult {
    match &p.step {
        Step::Invalid(m) => result(p, RowStatus::Invalid, "", m.as_str()),
        Step::Skip { id, message } => result(p, RowStatus::Skipped, id.as_str(), message.as_str()),
        Step::Create(_) => result(
            p,
            RowStatus::WouldCreate,
            "",
            p.note.clone().unwrap_or_default(),
        ),
        Step::Update { id, .. } => result(p, RowStatus::WouldUpdate, id.as_str(), ""),
        Step::AlreadyCreated { id } => result(p, RowStatus::Skipped, id.as_str(), "already exists"),
    }
}

/// Processes one segment: its creates in one bulk call, its updates concurrently; results in row order.
pub(super) async fn run_segment(
    directory: &dyn Directory,
    segment: &[Planned],
    concurrency: usize,
) -> Vec<RowResult> {
    let creates: Vec<NewUser> = segment
        .iter()
        .filter_map(|p| match &p.step {
            Step::Create(new) => Some((**new).clone()),
            Step::Invalid(_)
            | Step::Skip { .. }
            | Step::Update { .. }
            | Step::AlreadyCreated { .. } => None,
        })
        .collect();
    let mut created = directory.create_users(&creates).await.into_iter();
    let updates: Vec<RowResult> =
        futures::stream::iter(segment.iter().filter_map(|p| match &p.step {
            Step::Update { id, patch } => Some((p, id, patch)),
            Step::Invalid(_)
            | Step::Skip { .. }
            | Step::Create(_)
            | Step::AlreadyCreated { .. } => None,
        }))
        .map(|(p, id, patch)| async move {
            match directory.update_user(id, patch).await {
                Ok(_) => result(p, RowStatus::Updated, id.as_str(), ""),
                Err(e) => result(
                    p,
                    RowStatus::Failed,
                    id.as_str(),
                    format!("update failed: {e}"),
                ),
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut updates = updates.into_iter();
    segment
        .iter()
        .map(|p| match &p.step {
            Step::Invalid(m) => result(p, RowStatus::Invalid, "", m.as_str()),
            Step::Skip { id, message } => {
                result(p, RowStatus::Skipped, id.as_str(), message.as_str())
            }
            Step::AlreadyCreated { id } => result(
                p,
                RowStatus::Created,
                id.as_str(),
                "created by an earlier invocation of this import (confirmed by email)",
            ),
            Step::Create(_) => match created.next() {
                Some(outcome) => match outcome.result {
                    Ok(user) if outcome.reconciled => result(
                        p,
                        RowStatus::Created,
                        user.id.as_str(),
                        "the create's response was lost; confirmed by email, not created twice",
                    ),
                    Ok(user) => result(
                        p,
                        RowStatus::Created,
                        user.id.as_str(),
                        p.note.clone().unwrap_or_default(),
                    ),
                    Err(e) => result(p, RowStatus::Failed, "", format!("create failed: {e}")),
                },
                None => result(
                    p,
                    RowStatus::Failed,
                    "",
                    "create failed: no outcome returned",
                ),
            },
            Step::Update { .. } => updates.next().unwrap_or_else(|| {
                result(
                    p,
                    RowStatus::Failed,
                    "",
                    "update failed: no outcome returned",
                )
            }),
        })
        .collect()
}
