//! How the stale job runs: its options, their defaults and their rules.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::apply::Action;
use super::health::HealthLimits;
use super::policy::Thresholds;
use crate::activity::Feed;
use crate::artefact::REPORT_PREFIX;
use crate::error::InvalidOption;
use crate::notify::Notifier;
use crate::progress::Progress;
use crate::settings::Settings;

/// Days without a login after which a user is stale, unless configured.
pub const DEFAULT_INACTIVE_DAYS: u32 = 90;
/// Roles never acted on, unless configured.
pub const DEFAULT_PROTECTED_ROLES: [&str; 2] = ["super", "admin"];
/// Most users acted on in one run, unless configured.
pub const DEFAULT_MAX_ACTIONS: u32 = 50;
/// Most users acted on in one run in percent of the active users, unless configured.
pub const DEFAULT_MAX_ACTION_PERCENT: u32 = 10;

/// Where the activity feed is read from, unless configured: days its newest entry may be old.
pub const DEFAULT_FEED_MAX_AGE_DAYS: u32 = 7;

/// How the job runs: its options, declared once ([`Settings`]). The function fills them from its environment
/// and payload, the CLI from its flags, both through [`crate::settings::resolve`]; each option's key is its
/// field's name in camelCase (`staleAction` for `action`) and its variable that name in SCREAMING_SNAKE_CASE
/// (`STALE_ACTIONS_PER_HOP` for `actionsPerHop`; `force` and `runId` are per invocation only). Fields marked
/// `serde(skip)` are set by the caller at run time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaleOptions {
    /// Staleness thresholds (`inactiveDays`, `neverLoggedInGraceDays`).
    pub thresholds: Thresholds,
    /// What to do to a stale user.
    #[serde(rename = "staleAction")]
    pub action: Action,
    /// Plan and report only; send no write.
    pub dry_run: bool,
    /// Role names never acted on.
    pub protected_roles: Vec<String>,
    /// Emails or user names never acted on.
    pub protected_users: Vec<String>,
    /// The account the job runs as (email or user name): always protected, whatever the lists say.
    #[serde(skip)]
    pub service_account: Option<String>,
    /// Group names whose members are never acted on.
    pub protected_groups: Vec<String>,
    /// Most users acted on in one run.
    pub max_actions: u32,
    /// Most users acted on in one run, in percent of the users currently active.
    pub max_action_percent: u32,
    /// Pass the caps for this run.
    pub force: bool,
    /// Report prefix; the report goes to `{prefix}deactivations/dt=YYYY-MM-DD/run-<timestamp>.csv`.
    pub report_prefix: String,
    /// Actions in flight at once (the client's rate limit still applies).
    #[serde(skip, default = "concurrency")]
    pub concurrency: usize,
    /// Email of an existing user who receives the dashboards of users `delete` removes. Without it, `delete`
    /// leaves every dashboard owner alone (`protected_owner`): Sisense deletes a user's dashboards with the user.
    pub transfer_dashboards_to: Option<String>,
    /// Revoke the tokens of every user acted on, so the change takes effect now rather than at the next login.
    pub revoke_sessions: bool,
    /// The run this invocation belongs to: an existing run is continued, a new one is planned under this id
    /// (default `run-<timestamp>-<nanos>`).
    pub run_id: Option<String>,
    /// A live run starts no segment that would end after this instant (the Lambda deadline minus a margin); it
    /// returns a [`Continuation`](crate::engine::Continuation) instead.
    #[serde(skip)]
    pub deadline: Option<std::time::Instant>,
    /// A live run settles at most this many actions per invocation (then returns a [`Continuation`](crate::engine::Continuation)).
    pub actions_per_hop: Option<usize>,
    /// Notice before action, in days (0: off). When on, a stale user is first warned (recorded in the notice
    /// ledger under `{prefix}deactivations/notice/`), and only a live run at least this many days later acts on
    /// it, if it is still stale.
    pub notice_days: u32,
    /// Told of the users a live run warns (one message per run).
    #[serde(skip)]
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Told of every user scanned and every action applied.
    #[serde(skip)]
    pub progress: Progress,
    /// Where the activity feed is: a key or a prefix (in the report store) of activity CSVs. The caller loads
    /// it into `feed` with [`Feed::load`].
    pub activity_feed: Option<String>,
    /// Most days since the feed's newest entry: an older feed stops the run.
    pub activity_feed_max_age_days: u32,
    /// The activity feed, loaded by the caller: one more signal.
    #[serde(skip)]
    pub feed: Option<Arc<Feed>>,
    /// Judge SSO users by `lastLogin` too: the operator knows their installation writes it for SSO logins.
    pub trust_last_login: bool,
    /// The health check a live run must pass before any write (`force` never passes it).
    pub health: HealthLimits,
    /// The tenants the run may act in (`TENANTS`): `None` the service account's own, names, or `["*"]` for all.
    /// Users of other tenants are reported `other_tenant` and never changed.
    pub tenants: Option<Vec<String>>,
}

impl Default for StaleOptions {
    fn default() -> Self {
        StaleOptions {
            thresholds: Thresholds::new(DEFAULT_INACTIVE_DAYS, None),
            action: Action::Demote,
            dry_run: true,
            protected_roles: DEFAULT_PROTECTED_ROLES.map(String::from).to_vec(),
            protected_users: Vec::new(),
            service_account: None,
            protected_groups: Vec::new(),
            max_actions: DEFAULT_MAX_ACTIONS,
            max_action_percent: DEFAULT_MAX_ACTION_PERCENT,
            force: false,
            report_prefix: REPORT_PREFIX.into(),
            concurrency: concurrency(),
            transfer_dashboards_to: None,
            revoke_sessions: true,
            run_id: None,
            deadline: None,
            actions_per_hop: None,
            notice_days: 0,
            activity_feed: None,
            activity_feed_max_age_days: DEFAULT_FEED_MAX_AGE_DAYS,
            notifier: None,
            progress: Progress::default(),
            feed: None,
            trust_last_login: false,
            health: HealthLimits::default(),
            tenants: None,
        }
    }
}

impl StaleOptions {
    /// Checks the ranges the job relies on: at least one inactive day (0 would target everyone), a
    /// percentage cap of at most 100.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.thresholds.inactive_days == 0 {
            return Err(InvalidOption::new(
                "inactiveDays",
                0,
                "must be at least 1 (0 would target everyone)",
            ));
        }
        for (name, value) in [
            ("minRecentPercent", self.health.min_recent_percent),
            ("maxUnknownPercent", self.health.max_unknown_percent),
        ] {
            if value > 100 {
                return Err(InvalidOption::new(name, value, "must be between 0 and 100"));
            }
        }
        if self.max_action_percent > 100 {
            return Err(InvalidOption::new(
                "maxActionPercent",
                self.max_action_percent,
                "must be between 0 and 100",
            ));
        }
        if let Some(email) = &self.transfer_dashboards_to
            && !email.contains('@')
        {
            return Err(InvalidOption::new(
                "transferDashboardsTo",
                email,
                "must be the email of an existing user",
            ));
        }
        Ok(())
    }

    /// Every protected user: the list's, the service account and the dashboards' transfer target.
    pub fn all_protected_users(&self) -> Vec<String> {
        let mut users = self.protected_users.clone();
        users.extend(self.service_account.clone());
        users.extend(self.transfer_dashboards_to.clone());
        users
    }
}

/// Actions in flight at once.
fn concurrency() -> usize {
    4
}

impl Settings for StaleOptions {
    const ENV_NAMES: &'static [(&'static str, &'static str)] =
        &[("actionsPerHop", "STALE_ACTIONS_PER_HOP")];
    const NOT_FROM_ENV: &'static [&'static str] = &["force", "runId"];

    fn check(&self) -> Result<(), InvalidOption> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{env_name, fields, resolve};
    use serde_json::{Map, Value, json};

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn payload(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_option_has_one_key_and_one_variable() {
        let keys = fields::<StaleOptions>();
        for key in [
            "inactiveDays",
            "neverLoggedInGraceDays",
            "staleAction",
            "noticeDays",
            "minRecentPercent",
            "maxUnknownPercent",
            "activityFeed",
            "tenants",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        for runtime in [
            "deadline",
            "notifier",
            "progress",
            "feed",
            "serviceAccount",
            "concurrency",
        ] {
            assert!(
                !keys.iter().any(|k| k == runtime),
                "{runtime} is set at run time"
            );
        }
        assert_eq!(
            env_name::<StaleOptions>("noticeDays").as_deref(),
            Some("NOTICE_DAYS")
        );
        assert_eq!(
            env_name::<StaleOptions>("actionsPerHop").as_deref(),
            Some("STALE_ACTIONS_PER_HOP")
        );
        assert_eq!(env_name::<StaleOptions>("force"), None);
    }

    #[test]
    fn the_environment_then_the_payload_with_the_grace_following_the_inactive_days() {
        let o: StaleOptions = resolve(
            env(&[
                ("INACTIVE_DAYS", "30"),
                ("DRY_RUN", "false"),
                ("STALE_ACTION", "delete"),
                ("PROTECTED_ROLES", "super"),
                ("TENANTS", "*"),
                ("MIN_RECENT_PERCENT", "7"),
            ]),
            Map::new(),
        )
        .unwrap();
        assert_eq!(o.thresholds, Thresholds::new(30, None));
        assert_eq!((o.dry_run, o.action), (false, Action::Delete));
        assert_eq!(o.protected_roles, ["super"]);
        assert_eq!(o.tenants.as_deref(), Some(&["*".to_string()][..]));
        assert_eq!(o.health.min_recent_percent, 7);
        assert_eq!(o.concurrency, 4, "run-time fields keep their defaults");
        let o: StaleOptions = resolve(
            env(&[("INACTIVE_DAYS", "30")]),
            payload(json!({"neverLoggedInGraceDays": 10, "noticeDays": 14, "runId": "exec-1"})),
        )
        .unwrap();
        assert_eq!(o.thresholds, Thresholds::new(30, Some(10)));
        assert_eq!((o.notice_days, o.run_id.as_deref()), (14, Some("exec-1")));
        let o: StaleOptions = resolve(env(&[]), payload(json!({"inactiveDays": 45}))).unwrap();
        assert_eq!(o.thresholds, Thresholds::new(45, None), "grace follows");
        assert!(o.dry_run, "a fresh deployment only reports");
    }
}
