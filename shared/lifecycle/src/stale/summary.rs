//! What a run did: the summary returned and written beside the report.

use serde::{Deserialize, Serialize};

use super::apply::Action;
use super::health::SignalHealth;
use crate::engine::Continuation;

/// What a run did; also written as the `.summary.json` beside the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StaleSummary {
    /// Users listed.
    pub scanned: u64,
    /// Users currently active (activated accounts; pending invitations are not).
    pub active: u64,
    /// Pending invitations (`active: false`) listed; the stale ones are report rows, acted on only by `delete`.
    pub pending_invitations: u64,
    /// Stale, unprotected users that need the action (the plan).
    pub stale: u64,
    /// Stale users left alone because they are protected.
    pub protected: u64,
    /// Stale users already in the action's end state (e.g. already demoted).
    pub already_done: u64,
    /// Users the action was applied to and verified.
    pub acted: u64,
    /// Writes Sisense accepted but did not apply (verified by reading back).
    pub not_applied: u64,
    /// Writes that failed.
    pub failed: u64,
    /// Planned users not attempted because a probe showed the action is not applied here.
    pub not_attempted: u64,
    /// Dashboards listed (owner instances); `None` where the API cannot list them.
    pub dashboards: Option<u64>,
    /// Stale users `delete` left alone because they own dashboards and no transfer target was set.
    pub protected_owners: u64,
    /// Dashboards handed to the transfer target (and verified) before their owners were deleted.
    pub dashboards_transferred: u64,
    /// The transfer target's email, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_dashboards_to: Option<String>,
    /// Users acted on whose tokens were revoked.
    pub sessions_revoked: u64,
    /// Users acted on whose tokens could not be revoked (reported per row; not fatal).
    pub revocations_failed: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether the plan exceeded a cap, so nothing was changed.
    pub aborted: bool,
    /// The cap applied: `min(maxActions, maxActionPercent of active)`.
    pub cap: u64,
    /// Whether `force` passed the caps.
    pub forced: bool,
    /// The action.
    pub action: Action,
    /// The store the report is in.
    pub bucket: String,
    /// Key of the report CSV.
    pub report_key: String,
    /// Key of the summary JSON.
    pub summary_key: String,
    /// When the run started (also "now" for every age).
    pub started_at: String,
    /// The run's id (its state is under `deactivations/.state/<runId>/` when it is live).
    pub run_id: String,
    /// Invocations the run took so far.
    pub hops: u32,
    /// Present while a live run is not finished: invoke again with it (the report is written by the last hop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<Continuation>,
    /// Notice before action, in days (0: off).
    #[serde(default)]
    pub notice_days: u32,
    /// Stale users warned by this run (not acted on; `would_warn` in a dry run).
    #[serde(default)]
    pub warned: u64,
    /// Users warned earlier whose notice has not elapsed (not acted on).
    #[serde(default)]
    pub awaiting_notice: u64,
    /// Users removed from the notice ledger: seen since their warning, or no longer to be acted on.
    #[serde(default)]
    pub cleared: u64,
    /// Whether the warned users were notified (`NOTIFY_TOPIC_ARN`).
    #[serde(default)]
    pub notified: bool,
    /// Activated SSO users whose activity cannot be told (`activity_unknown`): left alone.
    #[serde(default)]
    pub activity_unknown: u64,
    /// Accounts activated once and deactivated since (`active: false`, seen before).
    #[serde(default)]
    pub deactivated: u64,
    /// The evidence as a whole, and whether a live run may act on it.
    #[serde(default)]
    pub signal_health: SignalHealth,
    /// Whether SSO users were judged by `lastLogin` too (`TRUST_LAST_LOGIN`).
    #[serde(default)]
    pub trust_last_login: bool,
    /// People the activity feed names, when a feed was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_users: Option<u64>,
    /// Rows of the activity feed without an email or a readable instant (counted, never fatal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_rows_invalid: Option<u64>,
    /// The tenants the run acted in (`*` for all), where the installation reports tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<String>,
    /// Stale users of other tenants, reported `other_tenant` and never changed.
    #[serde(default)]
    pub other_tenant: u64,
}
