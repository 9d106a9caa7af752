//! Applying one action to one user: (for delete, hand the dashboards to the transfer target and verify), snapshot
//! the user as it was, write, then read the user back to verify.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

use sisense::{
    Content, Directory, ResolveError, RoleId, RoleResolver, ShareRule, User, UserId, UserPatch,
};

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
    /// What a user is once the action is done (`deactivated`, `demoted`, `deleted`).
    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Deactivate => "deactivated",
            Action::Demote => "demoted",
            Action::Delete => "deleted",
        }
    }

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
    /// Notice before action: stale for the first time, recorded in the notice ledger; acted on by a live run
    /// once the notice has elapsed and the user is still stale.
    Warned,
    /// Dry run with notice: would be warned (no ledger is written).
    WouldWarn,
    /// Warned earlier; the notice has not elapsed yet.
    AwaitingNotice,
    /// Warned earlier and seen since (or no longer to be acted on): removed from the notice ledger.
    Cleared,
    /// An SSO user with no SSO evidence: whether they are active cannot be told, so they are left alone.
    ActivityUnknown,
    /// Already in the action's end state (an account deactivated earlier, for `deactivate`).
    AlreadyDone,
    /// A live run refused to act: the evidence as a whole failed the health check. Nothing was written.
    SignalUnhealthy,
    /// A user of a tenant outside `TENANTS`: never changed.
    OtherTenant,
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
            Status::Warned => "warned",
            Status::WouldWarn => "would_warn",
            Status::AwaitingNotice => "awaiting_notice",
            Status::Cleared => "cleared",
            Status::ActivityUnknown => "activity_unknown",
            Status::AlreadyDone => "already_done",
            Status::SignalUnhealthy => "signal_unhealthy",
            Status::OtherTenant => "other_tenant",
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

/// What writing one row left to do.
pub(crate) enum Written {
    /// The write was sent: read the user back to know whether it was applied.
    Verify(Row),
    /// Settled without a read-back (failed before or during the write).
    Settled(Row),
}

impl Context<'_> {
    /// Applies the action to `row`'s user and verifies it on its own; the row comes back with its status.
    pub(crate) async fn apply(&self, row: Row) -> Row {
        match self.write(row).await {
            Written::Settled(row) => row,
            Written::Verify(row) => self.verify(vec![row]).await.remove(0),
        }
    }

    /// Snapshots, (for delete) hands the dashboards over, and sends the write; verification comes after, in
    /// batches ([`Context::verify`]).
    pub(crate) async fn write(&self, mut row: Row) -> Written {
        if self.halted.load(Ordering::Relaxed) {
            row.status = Status::Failed;
            row.message =
                "not attempted: Sisense refused the credentials earlier in this run".into();
            return Written::Settled(row);
        }
        row.previous = Some((
            self.names.role(&row.user).to_string(),
            self.names.groups(&row.user),
        ));
        let key = format!("{}{}.json", self.snapshot_prefix, row.user.id);
        let sent = match self.target.patch() {
            None => self.delete(&mut row, &key).await,
            Some(patch) => match self.snapshot(&row, &key).await {
                Err(message) => Err((Status::Failed, message)),
                Ok(()) => {
                    row.snapshot_key = key;
                    match self.directory.update_user(&row.user.id, &patch).await {
                        Ok(_) => Ok(()),
                        Err(e) => Err(self.failed("", &e)),
                    }
                }
            },
        };
        match sent {
            Ok(()) => Written::Verify(row),
            Err((status, message)) => {
                row.status = status;
                row.message = message;
                self.log(&row);
                Written::Settled(row)
            }
        }
    }

    /// Reads the written rows' users back with one listing (`ids=` on Fusion) and settles each row.
    pub(crate) async fn verify(&self, mut rows: Vec<Row>) -> Vec<Row> {
        let ids: Vec<UserId> = rows.iter().map(|r| r.user.id.clone()).collect();
        let found = match self.directory.users_by_ids(&ids).await {
            Ok(users) => users,
            Err(e) => {
                let context = match self.target.action {
                    Action::Delete => "deleted but not verified: reading back failed: ",
                    Action::Deactivate | Action::Demote => {
                        "written but not verified: reading back failed: "
                    }
                };
                for row in &mut rows {
                    let (status, message) = self.failed(context, &e);
                    row.status = status;
                    row.message = [row.message.as_str(), message.as_str()]
                        .iter()
                        .filter(|m| !m.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.log(row);
                }
                return rows;
            }
        };
        let found: HashMap<UserId, User> = found.into_iter().map(|u| (u.id.clone(), u)).collect();
        for row in &mut rows {
            let (status, message) = match (self.target.action, found.get(&row.user.id)) {
                (Action::Delete, None) => (
                    Status::Done(Action::Delete),
                    format!("snapshot at {}", row.snapshot_key),
                ),
                (Action::Delete, Some(_)) => (
                    Status::NotApplied,
                    format!(
                        "Sisense accepted the delete but the user still exists; snapshot at {}",
                        row.snapshot_key
                    ),
                ),
                (Action::Deactivate | Action::Demote, Some(user))
                    if self.target.is_done(user, self.names) =>
                {
                    (Status::Done(self.target.action), String::new())
                }
                (Action::Deactivate | Action::Demote, Some(user)) => (
                    Status::NotApplied,
                    format!(
                        "Sisense accepted the change but the user reads back unchanged (active {}, role {}, {} groups)",
                        user.is_active(),
                        self.names.role(user),
                        self.names.memberships(user).count()
                    ),
                ),
                (Action::Deactivate | Action::Demote, None) => (
                    Status::Failed,
                    "the user disappeared before it could be verified".into(),
                ),
            };
            row.status = status;
            row.message = message;
            self.log(row);
        }
        rows
    }

    fn log(&self, row: &Row) {
        let id = &row.user.id;
        match row.status {
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
            | Status::AbortedOverThreshold
            | Status::Warned
            | Status::WouldWarn
            | Status::AwaitingNotice
            | Status::Cleared
            | Status::ActivityUnknown
            | Status::AlreadyDone
            | Status::SignalUnhealthy
            | Status::OtherTenant => {
                tracing::warn!(user_id = %id, status = row.status.as_str(), message = %row.message, "action not done")
            }
        }
    }

    /// Records a Sisense failure; a refusal of the credentials halts the run.
    fn failed(&self, context: &str, e: &sisense::Error) -> (Status, String) {
        if matches!(e, sisense::Error::Unauthorized { .. }) {
            self.halted.store(true, Ordering::Relaxed);
        }
        (Status::Failed, format!("{context}{e}"))
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

    /// Hands the dashboards over (each verified), snapshots, and sends the DELETE.
    async fn delete(&self, row: &mut Row, key: &str) -> Result<(), (Status, String)> {
        let owned = row.dashboards.clone().unwrap_or_default();
        if !owned.is_empty() {
            let (Some(content), Some(custodian)) = (self.content, self.custodian) else {
                return Err((
                    Status::Failed,
                    "owns dashboards and no transfer target is set: not deleted".into(),
                ));
            };
            let transferred =
                hand_over(content, &owned, &custodian.id, Some(ShareRule::Edit)).await;
            row.moved = transferred.moved;
            let done = format!(
                "{} of {} dashboards handed to {}; not deleted: ",
                row.moved.len(),
                owned.len(),
                custodian.email
            );
            let stopped = match transferred.problem {
                None => None,
                Some(Problem::Failed(e)) => Some(self.failed(&done, &e)),
                Some(Problem::NotApplied(why)) => {
                    Some((Status::NotApplied, format!("{done}{why}")))
                }
            };
            if let Some((status, mut message)) = stopped {
                // Dashboards already moved must find their way back: record them in a snapshot a restore reads.
                if !row.moved.is_empty() {
                    match self.snapshot(row, key).await {
                        Ok(()) => row.snapshot_key = key.to_string(),
                        Err(e) => message = format!("{message}; {e}"),
                    }
                }
                return Err((status, message));
            }
        }
        self.snapshot(row, key)
            .await
            .map_err(|m| (Status::Failed, m))?;
        row.snapshot_key = key.to_string();
        self.directory
            .delete_user(&row.user.id)
            .await
            .map_err(|e| self.failed(&format!("snapshot at {key}; delete failed: "), &e))
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
