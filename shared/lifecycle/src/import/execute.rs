//! Talking to the directory for an import: who exists, which names resolve per scope, the server's dry run, and
//! one segment of creates and updates.

use std::collections::HashMap;

use futures::{Stream, StreamExt, TryStreamExt};
use sisense::{
    Capabilities, Directory, GroupResolver, NewUser, RoleResolver, ServerDryRun, User, UserId,
    UserPatch, UserQuery,
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
/// Sends one update and checks Sisense's answer against it.
async fn update_one(
    directory: &dyn Directory,
    p: &Planned,
    id: &UserId,
    patch: &UserPatch,
) -> RowResult {
    match directory.update_user(id, patch).await {
        Ok(user) => match not_applied(&user, patch) {
            None => result(p, RowStatus::Updated, id.as_str(), ""),
            Some(what) => result(
                p,
                RowStatus::Failed,
                id.as_str(),
                format!("update not applied: Sisense answered success but {what}"),
            ),
        },
        Err(e) => result(p, RowStatus::Failed, id.as_str(), failure(p, "update", &e)),
    }
}

/// Sends the segment's updates, `concurrency` at a time; their results in the segment's order.
async fn update_all(
    directory: &dyn Directory,
    segment: &[Planned],
    concurrency: usize,
) -> Vec<RowResult> {
    let to_update: Vec<(&Planned, &UserId, &UserPatch)> = segment
        .iter()
        .filter_map(|p| match &p.step {
            Step::Update { id, patch } => Some((p, id, patch)),
            Step::Invalid(_)
            | Step::Skip { .. }
            | Step::Create(_)
            | Step::AlreadyCreated { .. } => None,
        })
        .collect();
    // The futures are made before they are streamed (a closure in the stream would not be provably `Send` for
    // every lifetime inside the engine's boxed segment future).
    let pending: Vec<_> = to_update
        .into_iter()
        .map(|(p, id, patch)| update_one(directory, p, id, patch))
        .collect();
    futures::stream::iter(pending)
        .buffered(concurrency.max(1))
        .collect()
        .await
}

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
    let updates = update_all(directory, segment, concurrency).await;
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
                    Err(e) => result(p, RowStatus::Failed, "", failure(p, "create", &e)),
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

/// What of `patch` the user Sisense answered with does not show; `None` when all of it does.
fn not_applied(user: &sisense::User, patch: &sisense::UserPatch) -> Option<String> {
    let differs = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_some_and(|w| have.as_ref() != Some(w))
    };
    if let Some(role) = &patch.role_id
        && user.role_id() != Some(role)
    {
        return Some(format!(
            "the role is still {:?}",
            user.role_id().map(|r| r.as_str())
        ));
    }
    if differs(&patch.first_name, &user.first_name) || differs(&patch.last_name, &user.last_name) {
        return Some("the name is unchanged".into());
    }
    if let Some(groups) = &patch.groups {
        let have: Vec<_> = user.group_ids().collect();
        if let Some(missing) = groups.iter().find(|g| !have.contains(g)) {
            return Some(format!("group {missing} is not among the user's groups"));
        }
    }
    None
}

/// What a failed write says on its row: a licence refusal (Sisense's 2007) in words, else the error.
fn failure(p: &Planned, what: &str, e: &sisense::Error) -> String {
    if let sisense::Error::Api {
        code: Some(2007), ..
    } = e
    {
        let role = p.role_name.as_deref().unwrap_or("the role asked for");
        let tier = match crate::seats::Tier::of_role(role) {
            crate::seats::Tier::Administrators => "administrator",
            crate::seats::Tier::Designers => "designer",
            crate::seats::Tier::Viewers => "viewer",
            crate::seats::Tier::Unclassified => "licence",
        };
        return format!(
            "{what} failed: no free {tier} seat for role {role} (Sisense refused it with 2007: the licence has no \
             {tier} seat left; free one or buy more)"
        );
    }
    format!("{what} failed: {e}")
}
