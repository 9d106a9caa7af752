//! Applying one action to one user: (for delete, hand the dashboards to the transfer target and verify), snapshot
//! the user as it was, write, then read the user back to verify.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sisense::{Content, Directory, ResolveError, RoleId, RoleResolver, User, UserId, UserPatch};

use super::Row;
use super::transfer::{Problem, hand_over};
use crate::artefact::put_json;
use crate::names::Names;
use crate::store::ObjectStore;

/// What happens to a stale user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `PATCH {"active": false}`. The published contract's PATCH does not take `active`, so a live run probes:
    /// the first write is verified before any other, and the run stops if Sisense did not apply it.
    #[default]
    Deactivate,
    /// Role set to `consumer` (Viewer), groups cleared (the built-in "Everyone" stays).
    Demote,
    /// Dashboards handed to the transfer target (owners are left alone without one), snapshot to the store,
    /// then `DELETE`. The only action that removes stale pending invitations.
    Delete,
}

impl Action {
    /// The name used in configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deactivate => "deactivate",
            Action::Demote => "demote",
            Action::Delete => "delete",
        }
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deactivate" => Ok(Action::Deactivate),
            "demote" => Ok(Action::Demote),
            "delete" => Ok(Action::Delete),
            other => Err(format!(
                "unknown action {other:?}; expected deactivate, demote or delete"
            )),
        }
    }
}

/// The outcome of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In the plan, not yet acted on (never reported).
    Planned,
    /// Dry run: would be acted on.
    Would(Action),
    /// Applied and verified.
    Done(Action),
    /// Sisense accepted the write but reading back shows it was not applied.
    NotApplied,
    /// The write (or the snapshot before a delete) failed.
    Failed,
    /// Stale but protected: left alone.
    Protected,
    /// `delete` without a transfer target: the user owns dashboards Sisense would delete with it.
    ProtectedOwner,
    /// A stale pending invitation the action does not apply to (only `delete` removes invitations).
    PendingInvitation,
    /// Not attempted: a probe showed the installation does not apply the action.
    NotAttempted,
    /// The plan exceeded a cap: nothing was changed.
    AbortedOverThreshold,
}

impl Status {
    /// The report's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Would(Action::Deactivate) => "would_deactivate",
            Status::Would(Action::Demote) => "would_demote",
            Status::Would(Action::Delete) => "would_delete",
            Status::Done(Action::Deactivate) => "deactivated",
            Status::Done(Action::Demote) => "demoted",
            Status::Done(Action::Delete) => "deleted",
            Status::NotApplied => "not_applied",
            Status::Failed => "failed",
            Status::Protected => "protected",
            Status::ProtectedOwner => "protected_owner",
            Status::PendingInvitation => "pending_invitation",
            Status::NotAttempted => "not_attempted",
            Status::AbortedOverThreshold => "aborted_over_threshold",
        }
    }
}

/// The action with the ids it needs, resolved once per run.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    action: Action,
    /// The `consumer` role's id (for demote).
    consumer: Option<RoleId>,
}

impl Target {
    pub(crate) fn new(action: Action, roles: &RoleResolver) -> Result<Self, ResolveError> {
        let consumer = match action {
            Action::Demote => Some(roles.resolve("consumer")?.id.clone()),
            Action::Deactivate | Action::Delete => None,
        };
        Ok(Target { action, consumer })
    }

    /// The action.
    pub(crate) fn action(&self) -> Action {
        self.action
    }

    /// Whether `user` is already in the action's end state (built-in groups are not memberships).
    pub(crate) fn is_done(&self, user: &User, names: &Names) -> bool {
        match self.action {
            Action::Deactivate => !user.is_active(),
            Action::Demote => {
                user.role_id() == self.consumer.as_ref() && names.memberships(user).next().is_none()
            }
            Action::Delete => false,
        }
    }

    /// The write of a patching action; `None` for delete.
    fn patch(&self) -> Option<UserPatch> {
        match self.action {
            Action::Deactivate => Some(UserPatch {
                active: Some(false),
                ..UserPatch::default()
            }),
            Action::Demote => Some(UserPatch {
                role_id: self.consumer.clone(),
                groups: Some(Vec::new()),
                ..UserPatch::default()
            }),
            Action::Delete => None,
        }
    }
}

/// What applying needs.
pub(crate) struct Context<'a> {
    pub(crate) directory: &'a dyn Directory,
    pub(crate) store: &'a dyn ObjectStore,
    pub(crate) target: &'a Target,
    pub(crate) snapshot_prefix: String,
    pub(crate) names: &'a Names,
    /// Dashboards and sessions, where the API has them.
    pub(crate) content: Option<&'a dyn Content>,
    /// Who receives the dashboards of users `delete` removes.
    pub(crate) custodian: Option<&'a User>,
    /// Set once Sisense refused the credentials: the remaining rows are not attempted.
    pub(crate) halted: AtomicBool,
}

impl Context<'_> {
    /// Applies the action to `row`'s user and verifies it; the row comes back with its status.
    pub(crate) async fn apply(&self, mut row: Row) -> Row {
        let id = row.user.id.clone();
        if self.halted.load(Ordering::Relaxed) {
            row.status = Status::Failed;
            row.message =
                "not attempted: Sisense refused the credentials earlier in this run".into();
            return row;
        }
        row.previous = Some((
            self.names.role(&row.user).to_string(),
            self.names.groups(&row.user),
        ));
        let key = format!("{}{}.json", self.snapshot_prefix, id);
        let (status, message) = match self.target.patch() {
            None => self.delete(&mut row, &key).await,
            Some(patch) => match self.snapshot(&row, &key).await {
                Err(message) => (Status::Failed, message),
                Ok(()) => {
                    row.snapshot_key = key;
                    self.patch(&id, &patch).await
                }
            },
        };
        match status {
            Status::Done(_) => {
                tracing::info!(user_id = %id, action = self.target.action.as_str(), "applied and verified")
            }
            Status::NotApplied
            | Status::Failed
            | Status::Planned
            | Status::Would(_)
            | Status::Protected
            | Status::ProtectedOwner
            | Status::PendingInvitation
            | Status::NotAttempted
            | Status::AbortedOverThreshold => {
                tracing::warn!(user_id = %id, status = status.as_str(), message = %message, "action not done")
            }
        }
        row.status = status;
        row.message = message;
        row
    }

    /// Records a Sisense failure; a refusal of the credentials halts the run.
    fn failed(&self, context: &str, e: &sisense::Error) -> (Status, String) {
        if matches!(e, sisense::Error::Unauthorized { .. }) {
            self.halted.store(true, Ordering::Relaxed);
        }
        (Status::Failed, format!("{context}{e}"))
    }

    async fn patch(&self, id: &UserId, patch: &UserPatch) -> (Status, String) {
        if let Err(e) = self.directory.update_user(id, patch).await {
            return self.failed("", &e);
        }
        match self.directory.get_user(id).await {
            Ok(Some(user)) if self.target.is_done(&user, self.names) => {
                (Status::Done(self.target.action), String::new())
            }
            Ok(Some(user)) => (
                Status::NotApplied,
                format!(
                    "Sisense accepted the change but the user reads back unchanged (active {}, role {}, {} groups)",
                    user.is_active(),
                    self.names.role(&user),
                    self.names.memberships(&user).count()
                ),
            ),
            Ok(None) => (
                Status::Failed,
                "the user disappeared before it could be verified".into(),
            ),
            Err(e) => self.failed("written but not verified: reading back failed: ", &e),
        }
    }

    /// Writes the user as it is, with the dashboards moved so far, to `key`.
    async fn snapshot(&self, row: &Row, key: &str) -> Result<(), String> {
        let mut value = snapshot(&row.user, self.names);
        value["dashboardsMoved"] = json!(row.moved);
        value["dashboardsTo"] = json!(self.custodian.map(|c| &c.id));
        put_json(self.store, key, &value).await.map_err(|e| {
            let moved = if row.moved.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} dashboards are already with the transfer target; see dashboards_moved)",
                    row.moved.len()
                )
            };
            format!("snapshot not written, so the user was not changed{moved}: {e}")
        })
    }

    async fn delete(&self, row: &mut Row, key: &str) -> (Status, String) {
        let owned = row.dashboards.clone().unwrap_or_default();
        if !owned.is_empty() {
            let (Some(content), Some(custodian)) = (self.content, self.custodian) else {
                return (
                    Status::Failed,
                    "owns dashboards and no transfer target is set: not deleted".into(),
                );
            };
            let transferred = hand_over(content, &owned, &custodian.id, None).await;
            row.moved = transferred.moved;
            let done = format!(
                "{} of {} dashboards handed to {}; not deleted: ",
                row.moved.len(),
                owned.len(),
                custodian.email
            );
            match transferred.problem {
                None => {}
                Some(Problem::Failed(e)) => return self.failed(&done, &e),
                Some(Problem::NotApplied(why)) => {
                    return (Status::NotApplied, format!("{done}{why}"));
                }
            }
        }
        if let Err(message) = self.snapshot(row, key).await {
            return (Status::Failed, message);
        }
        row.snapshot_key = key.to_string();
        let user = &row.user;
        if let Err(e) = self.directory.delete_user(&user.id).await {
            return self.failed(&format!("snapshot at {key}; delete failed: "), &e);
        }
        match self.directory.get_user(&user.id).await {
            Ok(None) => (Status::Done(Action::Delete), format!("snapshot at {key}")),
            Ok(Some(_)) => (
                Status::NotApplied,
                format!("Sisense accepted the delete but the user still exists; snapshot at {key}"),
            ),
            Err(e) => self.failed(
                &format!("snapshot at {key}; deleted but not verified: reading back failed: "),
                &e,
            ),
        }
    }
}

/// The user as Sisense returned it, plus role and group names, so it can be re-created.
fn snapshot(user: &User, names: &Names) -> Value {
    json!({
        "user": user,
        "roleName": names.role(user),
        "groupNames": names.groups(user).split(';').filter(|g| !g.is_empty()).collect::<Vec<_>>(),
    })
}
