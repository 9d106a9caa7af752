//! One restore row: what the report and its snapshot say the user was, what the installation has now, the
//! change that puts it back, and applying that change with a read-back.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;
use sisense::{Dashboard, DashboardId, Directory, GroupId, NewUser, User, UserId, UserPatch};

use crate::error::JobError;
use crate::names::Names;
use crate::stale::transfer::{Problem, hand_over};
use crate::stale::{Action, Status};
use crate::store::ObjectStore;

/// The outcome of one restore row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStatus {
    /// Needs a change (never reported).
    Planned,
    /// Dry run: would be put back.
    WouldRestore,
    /// Put back and verified.
    Restored,
    /// Already as before the run: nothing sent.
    AlreadyRestored,
    /// Sisense accepted the change but reads back unchanged.
    NotApplied,
    /// Could not be put back (see the message).
    Failed,
    /// The plan exceeded a cap: nothing was changed.
    AbortedOverThreshold,
}

impl RestoreStatus {
    /// The report's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreStatus::Planned => "planned",
            RestoreStatus::WouldRestore => "would_restore",
            RestoreStatus::Restored => "restored",
            RestoreStatus::AlreadyRestored => "already_restored",
            RestoreStatus::NotApplied => "not_applied",
            RestoreStatus::Failed => "failed",
            RestoreStatus::AbortedOverThreshold => "aborted_over_threshold",
        }
    }
}

/// The columns of a deactivate-stale-users report a restore reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Record {
    user_id: String,
    email: String,
    action: String,
    status: String,
    snapshot_key: String,
    dashboards_moved: String,
}

impl Record {
    /// The action the run applied and verified on this user, read from its status (as [`Status::Done`] spells
    /// it).
    fn done(&self) -> Option<Action> {
        [Action::Deactivate, Action::Demote, Action::Delete]
            .into_iter()
            .find(|a| Status::Done(*a).as_str() == self.status)
    }

    /// Whether the run handed dashboards of this user to the transfer target.
    pub(crate) fn moved_dashboards(&self) -> bool {
        !self.dashboards_moved.is_empty()
    }
}

/// The rows of `report` a restore applies to: users acted on, and users whose dashboards were moved.
pub(crate) fn candidates(key: &str, report: &[u8]) -> Result<Vec<Record>, JobError> {
    let not_a_report = |e: csv::Error| {
        JobError::Config(format!(
            "{key} is not a deactivate-stale-users report this version can restore from: {e}"
        ))
    };
    let mut rows = Vec::new();
    for record in csv::Reader::from_reader(report).deserialize::<Record>() {
        let record = record.map_err(not_a_report)?;
        if record.done().is_some() || record.moved_dashboards() {
            rows.push(record);
        }
    }
    Ok(rows)
}

/// The snapshot a live run wrote before changing a user.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    user: User,
    #[serde(default)]
    dashboards_moved: Vec<DashboardId>,
}

/// The installation now: users by id and email, dashboard owners.
#[derive(Debug, Default)]
pub(crate) struct Installation {
    users: HashMap<UserId, User>,
    emails: HashMap<String, UserId>,
    owners: HashMap<DashboardId, Option<UserId>>,
    active: u64,
}

impl Installation {
    pub(crate) fn add_user(&mut self, user: User) {
        if user.is_active() {
            self.active += 1;
        }
        self.emails
            .insert(user.email.to_lowercase(), user.id.clone());
        self.users.insert(user.id.clone(), user);
    }

    pub(crate) fn add_dashboard(&mut self, dashboard: Dashboard) {
        self.owners.insert(dashboard.id, dashboard.owner);
    }

    /// Users currently active.
    pub(crate) fn active(&self) -> u64 {
        self.active
    }

    fn by_email(&self, email: &str) -> Option<&User> {
        self.emails
            .get(&email.to_lowercase())
            .and_then(|id| self.users.get(id))
    }
}

/// The change that puts one user back.
#[derive(Debug)]
enum Step {
    Nothing,
    /// Role and groups, or the active flag, back by PATCH.
    Patch {
        id: UserId,
        patch: UserPatch,
    },
    /// The user is gone: create it again (then hand its dashboards back).
    Recreate(NewUser),
    /// The user exists: hand its dashboards back.
    Return(UserId),
}

/// One row of the restore report.
#[derive(Debug)]
pub(crate) struct Item {
    user_id: String,
    email: String,
    action: String,
    restore: &'static str,
    step: Step,
    /// Dashboards to hand back.
    dashboards: Vec<DashboardId>,
    pub(crate) status: RestoreStatus,
    new_user_id: String,
    pub(crate) returned: Vec<DashboardId>,
    pub(crate) message: String,
}

impl Item {
    fn new(record: &Record) -> Self {
        Item {
            user_id: record.user_id.clone(),
            email: record.email.clone(),
            action: record.action.clone(),
            restore: "",
            step: Step::Nothing,
            dashboards: Vec::new(),
            status: RestoreStatus::Failed,
            new_user_id: String::new(),
            returned: Vec::new(),
            message: String::new(),
        }
    }

    fn fail(mut self, message: String) -> Self {
        self.status = RestoreStatus::Failed;
        self.message = message;
        self
    }

    /// Whether the row needs a write.
    pub(crate) fn needs_change(&self) -> bool {
        self.status == RestoreStatus::Planned
    }

    pub(crate) fn cells(&self) -> [String; 8] {
        let returned: Vec<&str> = self.returned.iter().map(DashboardId::as_str).collect();
        [
            self.user_id.clone(),
            self.email.clone(),
            self.action.clone(),
            self.restore.to_string(),
            self.status.as_str().to_string(),
            self.new_user_id.clone(),
            returned.join(";"),
            self.message.clone(),
        ]
    }
}

/// The groups a user was given (not the built-ins), as a set.
fn memberships(names: &Names, user: &User) -> BTreeSet<GroupId> {
    names.memberships(user).cloned().collect()
}

/// Decides what puts `record`'s user back, from its snapshot and the installation now.
pub(crate) async fn decide(
    store: &dyn ObjectStore,
    now: &Installation,
    names: &Names,
    record: Record,
) -> Item {
    let item = Item::new(&record);
    let snapshot = match snapshot(store, &record).await {
        Ok(snapshot) => snapshot,
        Err(why) => return item.fail(why),
    };
    let mut item = item;
    item.status = RestoreStatus::Planned;
    match record.done() {
        Some(action @ (Action::Demote | Action::Deactivate)) => {
            undo_change(item, now, names, &record, snapshot.user, action)
        }
        Some(Action::Delete) | None => undo_delete(item, now, names, snapshot),
    }
}

/// The snapshot the run took of `record`'s user before acting, or why there is none.
async fn snapshot(store: &dyn ObjectStore, record: &Record) -> Result<Snapshot, String> {
    let key = &record.snapshot_key;
    if key.is_empty() {
        return Err("the report records no snapshot for this user".into());
    }
    match store.get(key).await {
        Ok(Some(bytes)) => serde_json::from_slice::<Snapshot>(&bytes)
            .map_err(|e| format!("snapshot {key} is unreadable: {e}")),
        Ok(None) => Err(format!("snapshot {key} is missing")),
        Err(e) => Err(format!("snapshot {key} could not be read: {e}")),
    }
}

/// Undoes a demote (role and groups back) or a deactivate (`active` back), unless already undone.
fn undo_change(
    mut item: Item,
    now: &Installation,
    names: &Names,
    record: &Record,
    before: User,
    action: Action,
) -> Item {
    let Some(current) = now.users.get(&before.id) else {
        return item.fail(format!(
            "user {} no longer exists; its state before the run is in {}",
            before.id, record.snapshot_key
        ));
    };
    let patch = if action == Action::Demote {
        item.restore = "role and groups";
        let back = current.role_id() == before.role_id()
            && memberships(names, current) == memberships(names, &before);
        (!back).then(|| UserPatch {
            role_id: before.role_id().cloned(),
            groups: Some(names.memberships(&before).cloned().collect()),
            ..UserPatch::default()
        })
    } else {
        item.restore = "active";
        (!current.is_active()).then(|| UserPatch {
            active: Some(true),
            ..UserPatch::default()
        })
    };
    match patch {
        Some(patch) => {
            item.step = Step::Patch {
                id: before.id.clone(),
                patch,
            }
        }
        None => item.status = RestoreStatus::AlreadyRestored,
    }
    item
}

/// Undoes a delete: hands the moved dashboards back to the user where it exists again, else re-creates it.
fn undo_delete(mut item: Item, now: &Installation, names: &Names, snapshot: Snapshot) -> Item {
    let before = snapshot.user;
    let existing = now
        .users
        .get(&before.id)
        .or_else(|| now.by_email(&before.email));
    let gone = snapshot
        .dashboards_moved
        .iter()
        .filter(|d| !now.owners.contains_key(*d))
        .count();
    if gone > 0 {
        item.message = format!("{gone} moved dashboards no longer exist");
    }
    let owned_by =
        |id: &UserId, d: &DashboardId| now.owners.get(d).is_some_and(|o| o.as_ref() == Some(id));
    let still_there = snapshot
        .dashboards_moved
        .iter()
        .filter(|d| now.owners.contains_key(*d));
    match existing {
        Some(user) => {
            item.restore = "dashboards";
            item.new_user_id = user.id.to_string();
            item.dashboards = still_there
                .filter(|d| !owned_by(&user.id, d))
                .cloned()
                .collect();
            if item.dashboards.is_empty() {
                item.status = RestoreStatus::AlreadyRestored;
            } else {
                item.step = Step::Return(user.id.clone());
            }
        }
        None => {
            item.restore = "re-create";
            item.dashboards = still_there.cloned().collect();
            item.step = Step::Recreate(NewUser {
                email: before.email.clone(),
                user_name: before.user_name.clone(),
                first_name: before.first_name.clone(),
                last_name: before.last_name.clone(),
                role_id: before.role_id().cloned(),
                groups: names.memberships(&before).cloned().collect(),
                scope: None,
                password: None,
            });
        }
    }
    item
}

/// Applies a planned row and verifies it; the row gets its status and message.
pub(crate) async fn apply(directory: &dyn Directory, names: &Names, item: &mut Item) {
    let (status, message) = match std::mem::replace(&mut item.step, Step::Nothing) {
        Step::Nothing => return,
        Step::Patch { id, patch } => patch_back(directory, names, &id, &patch).await,
        Step::Recreate(new) => match directory.create_user(&new).await {
            Err(e) => (RestoreStatus::Failed, format!("re-creating failed: {e}")),
            Ok(user) => {
                item.new_user_id = user.id.to_string();
                let note = "re-created as an invitation (Sisense keeps no password to restore): the person \
                            accepts it to log in again";
                match return_dashboards(directory, item, &user.id).await {
                    None => (RestoreStatus::Restored, note.to_string()),
                    Some((status, why)) => (status, format!("{note}; {why}")),
                }
            }
        },
        Step::Return(to) => match return_dashboards(directory, item, &to).await {
            None => (RestoreStatus::Restored, String::new()),
            Some(problem) => problem,
        },
    };
    item.status = status;
    item.message = [item.message.as_str(), message.as_str()]
        .iter()
        .filter(|m| !m.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("; ");
}

async fn patch_back(
    directory: &dyn Directory,
    names: &Names,
    id: &UserId,
    patch: &UserPatch,
) -> (RestoreStatus, String) {
    if let Err(e) = directory.update_user(id, patch).await {
        return (RestoreStatus::Failed, e.to_string());
    }
    match directory.get_user(id).await {
        Ok(Some(user)) => {
            let role_back = patch.role_id.is_none() || user.role_id() == patch.role_id.as_ref();
            let groups_back = patch.groups.as_ref().is_none_or(|groups| {
                memberships(names, &user) == groups.iter().cloned().collect::<BTreeSet<_>>()
            });
            let active_back = patch.active.is_none_or(|a| user.is_active() == a);
            if role_back && groups_back && active_back {
                (RestoreStatus::Restored, String::new())
            } else {
                (
                    RestoreStatus::NotApplied,
                    "Sisense accepted the change but the user reads back unchanged".into(),
                )
            }
        }
        Ok(None) => (RestoreStatus::Failed, "the user disappeared".into()),
        Err(e) => (
            RestoreStatus::Failed,
            format!("written but not verified: {e}"),
        ),
    }
}

/// Hands `item`'s dashboards to `to`; `None` when all are back.
async fn return_dashboards(
    directory: &dyn Directory,
    item: &mut Item,
    to: &UserId,
) -> Option<(RestoreStatus, String)> {
    if item.dashboards.is_empty() {
        return None;
    }
    let Some(content) = directory.content() else {
        return Some((
            RestoreStatus::Failed,
            "dashboards cannot be handed back: this API cannot transfer them".into(),
        ));
    };
    let done = hand_over(content, &item.dashboards, to, None).await;
    item.returned = done.moved;
    let of = format!(
        "{} of {} dashboards returned",
        item.returned.len(),
        item.dashboards.len()
    );
    match done.problem {
        None => None,
        Some(Problem::Failed(e)) => Some((RestoreStatus::Failed, format!("{of}: {e}"))),
        Some(Problem::NotApplied(why)) => Some((RestoreStatus::NotApplied, format!("{of}: {why}"))),
    }
}
