//! The stale job's model: the report's columns, one report row, and the plan (the rows to act on and the rows
//! only reported).

use chrono::{DateTime, Utc};
use sisense::{DashboardId, User};

use super::apply::{Action, Status};
use super::health::HealthCount;
use super::notice;
use crate::activity::Source;
use crate::artefact::timestamp;

/// The report's columns, exactly. `previous_role`, `previous_groups` and `snapshot_key` are the state before a
/// live action (what a restore puts back); `dashboards_moved` the dashboards handed to the transfer target;
/// `sessions` whether the user's tokens were revoked.
pub const HEADER: [&str; 16] = [
    "user_id",
    "email",
    "role_name",
    "last_seen",
    "last_seen_source",
    "created_date",
    "days_inactive",
    "dashboards_owned",
    "action",
    "status",
    "message",
    "previous_role",
    "previous_groups",
    "snapshot_key",
    "dashboards_moved",
    "sessions",
];

/// One report row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) user: User,
    pub(crate) role_name: String,
    pub(crate) last_seen: Option<DateTime<Utc>>,
    /// The signal `last_seen` comes from.
    pub(crate) source: Option<Source>,
    pub(crate) days_inactive: i64,
    /// The dashboards the user owns (`None` where they cannot be listed).
    pub(crate) dashboards: Option<Vec<DashboardId>>,
    pub(crate) action: Option<Action>,
    pub(crate) status: Status,
    pub(crate) message: String,
    /// State before a live action: role name, group names (`;`), and the snapshot's key.
    pub(crate) previous: Option<(String, String)>,
    pub(crate) snapshot_key: String,
    /// Dashboards handed to the transfer target and verified there.
    pub(crate) moved: Vec<DashboardId>,
    pub(crate) sessions: String,
}

impl Row {
    /// A row not yet judged: no action, status `planned`.
    pub(crate) fn new(
        user: User,
        role_name: String,
        last_seen: Option<DateTime<Utc>>,
        days_inactive: i64,
    ) -> Self {
        Row {
            role_name,
            user,
            last_seen,
            source: None,
            days_inactive,
            dashboards: None,
            action: None,
            status: Status::Planned,
            message: String::new(),
            previous: None,
            snapshot_key: String::new(),
            moved: Vec::new(),
            sessions: String::new(),
        }
    }

    pub(crate) fn cells(&self) -> [String; 16] {
        let ids = |ids: &[DashboardId]| {
            ids.iter()
                .map(DashboardId::as_str)
                .collect::<Vec<_>>()
                .join(";")
        };
        let (previous_role, previous_groups) = self.previous.clone().unwrap_or_default();
        [
            self.user.id.to_string(),
            self.user.email.clone(),
            self.role_name.clone(),
            timestamp(self.last_seen),
            self.source.map_or("", Source::as_str).to_string(),
            timestamp(self.user.created),
            self.days_inactive.to_string(),
            self.dashboards
                .as_ref()
                .map_or_else(String::new, |d| d.len().to_string()),
            self.action.map_or("none", Action::as_str).to_string(),
            self.status.as_str().to_string(),
            self.message.clone(),
            previous_role,
            previous_groups,
            self.snapshot_key.clone(),
            ids(&self.moved),
            self.sessions.clone(),
        ]
    }

    /// How many dashboards the user owns (0 where unknown).
    pub(crate) fn owned(&self) -> usize {
        self.dashboards.as_ref().map_or(0, Vec::len)
    }
}

/// The plan: users to act on, the users the report shows without acting, and the evidence counted on the way.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) act: Vec<Row>,
    pub(crate) keep: Vec<Row>,
    pub(crate) health: HealthCount,
}

impl Plan {
    /// Reports `row` without acting on it, as `status` with `message`. A user warned earlier is no longer to be
    /// acted on, so its warning goes (the ledger keeps only users acted on or still under notice) and its row
    /// says `cleared`, with why, so that the rows and the summary's `cleared` agree. Returns whether the row is
    /// reported as `status` (not cleared): the caller counts it then.
    pub(crate) fn leave(
        &mut self,
        mut row: Row,
        status: Status,
        message: String,
        was_warned: bool,
    ) -> bool {
        row.action = None;
        if was_warned {
            notice::clear(&mut row, &message);
            self.keep.push(row);
            return false;
        }
        row.status = status;
        row.message = message;
        self.keep.push(row);
        true
    }
}
