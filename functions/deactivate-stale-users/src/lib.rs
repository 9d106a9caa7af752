//! deactivate-stale-users: builds the options from the environment and the event, then runs
//! [`lifecycle::stale::deactivate_stale_users`] against Sisense and S3, or, when the event names a report in
//! `restoreFrom`, [`lifecycle::restore::restore_users`] to undo that run.

use lambda_runtime::LambdaEvent;
use lifecycle::activity::Feed;
use lifecycle::doctor::{DoctorOptions, diagnose};
use lifecycle::restore::{RestoreOptions, restore_users};
use lifecycle::stale::{Action, HealthLimits, StaleOptions, deactivate_stale_users};
use serde::Deserialize;
use serde_json::Value;
use sl_aws::env::{clock, flag, list, optional, parsed, required, thresholds};
use sl_aws::{Clients, ConfigError, RunMetrics, S3Store, SnsNotifier, hop_deadline};
use std::sync::Arc;
use std::time::Duration;

/// `HOP_MARGIN_SECS` unless set: no segment of a live run starts later than this before the Lambda deadline.
pub const DEFAULT_HOP_MARGIN_SECS: u64 = 120;

/// A direct invocation or a schedule's `Input`: every key optional, each overriding its environment variable.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaleRequest {
    /// `INACTIVE_DAYS`.
    pub inactive_days: Option<u32>,
    /// `NEVER_LOGGED_IN_GRACE_DAYS`.
    pub never_logged_in_grace_days: Option<u32>,
    /// `STALE_ACTION`.
    pub stale_action: Option<Action>,
    /// `DRY_RUN`.
    pub dry_run: Option<bool>,
    /// `PROTECTED_ROLES` (replaces the list).
    pub protected_roles: Option<Vec<String>>,
    /// `PROTECTED_USERS` (replaces the list; the service account stays protected).
    pub protected_users: Option<Vec<String>>,
    /// `PROTECTED_GROUPS` (replaces the list).
    pub protected_groups: Option<Vec<String>>,
    /// `MAX_ACTIONS`.
    pub max_actions: Option<u32>,
    /// `MAX_ACTION_PERCENT`.
    pub max_action_percent: Option<u32>,
    /// Pass the caps for this run only.
    #[serde(default)]
    pub force: bool,
    /// `TRANSFER_DASHBOARDS_TO`: email of the user who receives the dashboards of deleted users.
    pub transfer_dashboards_to: Option<String>,
    /// `REVOKE_SESSIONS`.
    pub revoke_sessions: Option<bool>,
    /// Undo the run whose report is at this key (in the report bucket) instead of looking for stale users; a
    /// dry run unless `dryRun` is `false` in the same payload.
    pub restore_from: Option<String>,
    /// `NOTICE_DAYS`: warn stale users first and act only on those warned at least this many days ago (0: off).
    pub notice_days: Option<u32>,
    /// The run this invocation belongs to: a live run that exists is continued with the settings it was planned
    /// with (what a `continuation` carries; the state machine's first hop sends its execution name), otherwise a
    /// run of this id is planned. Defaults to the Lambda request id, which an asynchronous retry keeps.
    pub run_id: Option<String>,
    /// `ACTIVITY_FEED`: a key or prefix in the report bucket holding activity CSVs (one more signal).
    pub activity_feed: Option<String>,
    /// `ACTIVITY_FEED_MAX_AGE_DAYS`: a feed whose newest entry is older stops the run.
    pub activity_feed_max_age_days: Option<u32>,
    /// `TRUST_LAST_LOGIN`: judge SSO users by `lastLogin` too.
    pub trust_last_login: Option<bool>,
    /// `MIN_RECENT_PERCENT`: the health check's least share of activated users seen recently.
    pub min_recent_percent: Option<u32>,
    /// `MAX_UNKNOWN_PERCENT`: the health check's largest share of activated users with unknown activity.
    pub max_unknown_percent: Option<u32>,
    /// Run `doctor` instead: read-only checks of what the installation can tell, with a verdict per job.
    #[serde(default)]
    pub doctor: bool,
    /// `TENANTS`: the tenants the run may act in (names, or `["*"]`; default the service account's own).
    pub tenants: Option<Vec<String>>,
}

/// `ACTIVITY_FEED_MAX_AGE_DAYS` unless set: stale evidence is no evidence.
pub const DEFAULT_FEED_MAX_AGE_DAYS: u32 = 7;

/// Where the activity feed is, and how old it may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSettings {
    /// Key or prefix in the report bucket; `None`: no feed.
    pub location: Option<String>,
    /// Most days since its newest entry.
    pub max_age_days: u32,
}

/// The feed settings from the request, else the environment.
pub fn feed_settings(request: &StaleRequest) -> Result<FeedSettings, ConfigError> {
    Ok(FeedSettings {
        location: request
            .activity_feed
            .clone()
            .or_else(|| optional("ACTIVITY_FEED")),
        max_age_days: request.activity_feed_max_age_days.map_or_else(
            || parsed("ACTIVITY_FEED_MAX_AGE_DAYS", DEFAULT_FEED_MAX_AGE_DAYS),
            Ok,
        )?,
    })
}

/// Why an invocation failed (see [`sl_aws::FunctionError`] for the stable error types).
pub type FunctionError = sl_aws::FunctionError;

/// Reads the request out of a scheduled event or a direct invocation.
pub fn parse_event(event: Value) -> Result<StaleRequest, FunctionError> {
    sl_aws::parse_invocation(event).map_err(FunctionError::BadRequest)
}

/// The environment's options with the request's overrides, validated by the job's rules before the secret is
/// read; every default is the job's.
pub fn options(request: StaleRequest) -> Result<StaleOptions, ConfigError> {
    let defaults = StaleOptions::default();
    let options = StaleOptions {
        thresholds: thresholds(request.inactive_days, request.never_logged_in_grace_days)?,
        action: request
            .stale_action
            .map_or_else(|| parsed("STALE_ACTION", defaults.action), Ok)?,
        dry_run: request
            .dry_run
            .map_or_else(|| flag("DRY_RUN", defaults.dry_run), Ok)?,
        protected_roles: match request.protected_roles {
            Some(roles) => roles,
            None if optional("PROTECTED_ROLES").is_some() => list("PROTECTED_ROLES"),
            None => defaults.protected_roles.clone(),
        },
        protected_users: request
            .protected_users
            .unwrap_or_else(|| list("PROTECTED_USERS")),
        protected_groups: request
            .protected_groups
            .unwrap_or_else(|| list("PROTECTED_GROUPS")),
        max_actions: request
            .max_actions
            .map_or_else(|| parsed("MAX_ACTIONS", defaults.max_actions), Ok)?,
        max_action_percent: request.max_action_percent.map_or_else(
            || parsed("MAX_ACTION_PERCENT", defaults.max_action_percent),
            Ok,
        )?,
        force: request.force,
        report_prefix: optional("REPORT_PREFIX").unwrap_or(defaults.report_prefix.clone()),
        transfer_dashboards_to: request
            .transfer_dashboards_to
            .or_else(|| optional("TRANSFER_DASHBOARDS_TO")),
        revoke_sessions: request
            .revoke_sessions
            .map_or_else(|| flag("REVOKE_SESSIONS", defaults.revoke_sessions), Ok)?,
        run_id: request.run_id,
        notice_days: request
            .notice_days
            .map_or_else(|| parsed("NOTICE_DAYS", defaults.notice_days), Ok)?,
        actions_per_hop: match parsed("STALE_ACTIONS_PER_HOP", 0usize)? {
            0 => None,
            n => Some(n),
        },
        tenants: request
            .tenants
            .or_else(|| optional("TENANTS").map(|_| list("TENANTS"))),
        trust_last_login: request
            .trust_last_login
            .map_or_else(|| flag("TRUST_LAST_LOGIN", defaults.trust_last_login), Ok)?,
        health: HealthLimits {
            min_recent_percent: request.min_recent_percent.map_or_else(
                || parsed("MIN_RECENT_PERCENT", defaults.health.min_recent_percent),
                Ok,
            )?,
            max_unknown_percent: request.max_unknown_percent.map_or_else(
                || parsed("MAX_UNKNOWN_PERCENT", defaults.health.max_unknown_percent),
                Ok,
            )?,
        },
        ..defaults
    };
    options.validate()?;
    Ok(options)
}

/// The function: clients built once per sandbox and reused across invocations.
pub struct App {
    clients: Clients,
    sns: sl_aws::aws_sdk_sns::Client,
}

impl App {
    /// Builds the AWS clients from the SDK's standard configuration.
    pub async fn from_env() -> Self {
        let clients = Clients::from_env().await;
        App {
            sns: sl_aws::aws_sdk_sns::Client::new(&clients.sdk),
            clients,
        }
    }

    /// Handles one invocation and emits its metrics (one EMF line).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
        let mut metrics = RunMetrics::start("deactivate-stale-users");
        let result = self.run(event, &mut metrics).await;
        // The counts were recorded by the run, which knows whether it restored or deactivated.
        metrics.settle(&result, |_, _| {});
        result
    }

    async fn run(
        &self,
        event: LambdaEvent<Value>,
        metrics: &mut RunMetrics,
    ) -> Result<Value, FunctionError> {
        let request = parse_event(event.payload)?;
        let bucket = required("REPORT_BUCKET")?;
        let clock = clock()?;
        let (restore_from, restore_dry_run) = (request.restore_from.clone(), request.dry_run);
        let (doctor, feed) = (request.doctor, feed_settings(&request)?);
        let mut options = options(request)?;
        options
            .run_id
            .get_or_insert_with(|| event.context.request_id.clone());
        let margin = Duration::from_secs(parsed("HOP_MARGIN_SECS", DEFAULT_HOP_MARGIN_SECS)?);
        options.deadline = Some(hop_deadline(event.context.deadline, margin));
        options.notifier = optional("NOTIFY_TOPIC_ARN").map(|arn| {
            Arc::new(SnsNotifier::new(self.sns.clone(), arn)) as Arc<dyn lifecycle::Notifier>
        });
        let client = self.clients.sisense.client().await?;
        metrics.family(client.family().as_str());
        let store = S3Store::new(self.clients.s3.clone(), bucket);
        if let Some(location) = &feed.location {
            let loaded = Feed::load(&store, location, clock.now(), feed.max_age_days)
                .await
                .map_err(|e| FunctionError::Job(lifecycle::JobError::Config(e.to_string())))?;
            options.feed = Some(Arc::new(loaded));
        }
        if doctor {
            let doctor = DoctorOptions {
                thresholds: options.thresholds,
                feed: options.feed.clone(),
                trust_last_login: options.trust_last_login,
                health: options.health,
            };
            let result = diagnose(&client, clock.now(), &doctor).await;
            return json(&self.settled(result).await?);
        }
        match restore_from {
            Some(report_key) => {
                let restore = RestoreOptions {
                    report_key,
                    // A restore is a dry run unless its own payload says `"dryRun": false`, whatever DRY_RUN says.
                    dry_run: restore_dry_run.unwrap_or(true),
                    max_actions: options.max_actions,
                    max_action_percent: options.max_action_percent,
                    force: options.force,
                    ..RestoreOptions::default()
                };
                let result = restore_users(&client, &store, clock.as_ref(), &restore).await;
                let s = self.settled(result).await?;
                metrics
                    .count("restored", s.restored)
                    .count("failed", s.failed + s.not_applied);
                if s.failed > 0 || s.not_applied > 0 {
                    tracing::error!(
                        failed = s.failed, not_applied = s.not_applied, report = %s.report_key,
                        "some users were not restored; see the report"
                    );
                }
                json(&s)
            }
            None => {
                options.service_account =
                    client.config().credentials.username().map(str::to_string);
                let result =
                    deactivate_stale_users(&client, &store, clock.as_ref(), &options).await;
                let s = self.settled(result).await?;
                // A run's counts are cumulative over its hops: only its last hop reports them.
                if s.continuation.is_none() {
                    metrics
                        .count("users", s.scanned)
                        .count("active", s.active)
                        .count("stale", s.stale)
                        .count("warned", s.warned)
                        .count("cleared", s.cleared)
                        .count("acted", s.acted)
                        .count("failed", s.failed + s.not_applied);
                }
                if s.failed > 0 || s.not_applied > 0 {
                    tracing::error!(
                        failed = s.failed, not_applied = s.not_applied, report = %s.report_key,
                        "some stale users were not handled; see the report"
                    );
                }
                let mut response = json(&s)?;
                response["done"] = s.continuation.is_none().into();
                Ok(response)
            }
        }
    }

    /// A job's result, after forgetting the cached secret if Sisense refused it.
    async fn settled<S>(&self, result: Result<S, lifecycle::JobError>) -> Result<S, FunctionError> {
        let result = result.map_err(FunctionError::Job);
        self.clients.sisense.forget_if_unauthorized(&result).await;
        result
    }
}

fn json(summary: &impl serde::Serialize) -> Result<Value, FunctionError> {
    serde_json::to_value(summary).map_err(|e| FunctionError::BadRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_direct_and_scheduled_events() {
        assert_eq!(parse_event(Value::Null).unwrap(), StaleRequest::default());
        let scheduled: Value =
            serde_json::from_str(include_str!("../fixtures/scheduled-event.json")).unwrap();
        assert_eq!(parse_event(scheduled).unwrap(), StaleRequest::default());
        let request = parse_event(json!({
            "inactiveDays": 30, "staleAction": "demote", "dryRun": false, "force": true,
            "protectedGroups": ["Executives"], "maxActionPercent": 5
        }))
        .unwrap();
        assert_eq!(request.stale_action, Some(Action::Demote));
        let restore = parse_event(json!({"restoreFrom": "reports/deactivations/dt=2026-11-22/run-x.csv", "dryRun": false, "transferDashboardsTo": "keeper@example.com", "revokeSessions": false})).unwrap();
        assert_eq!(
            restore.restore_from.as_deref(),
            Some("reports/deactivations/dt=2026-11-22/run-x.csv")
        );
        assert_eq!(restore.revoke_sessions, Some(false));
        let o = options(restore).unwrap();
        assert_eq!(
            o.transfer_dashboards_to.as_deref(),
            Some("keeper@example.com")
        );
        assert!(!o.revoke_sessions);
        assert_eq!(request.dry_run, Some(false));
        assert!(request.force);
    }

    #[test]
    fn rejects_typos_and_unknown_actions_specifically() {
        let err = parse_event(json!({"dryrun": false})).unwrap_err();
        assert_eq!(err.error_type(), "BadRequest");
        assert!(err.to_string().contains("unknown field `dryrun`"), "{err}");
        let err = parse_event(json!({"staleAction": "purge"})).unwrap_err();
        assert!(err.to_string().contains("unknown variant `purge`"), "{err}");
    }

    #[test]
    fn request_overrides_and_the_service_account_is_always_protected() {
        // No STALE_* variables are set in the unit-test environment, so the defaults apply.
        let defaults = options(StaleRequest::default()).unwrap();
        assert!(defaults.dry_run, "a fresh deployment only reports");
        assert!(
            defaults.revoke_sessions,
            "sessions are revoked unless turned off"
        );
        assert_eq!(defaults.transfer_dashboards_to, None);
        assert_eq!(defaults.thresholds.inactive_days, 90);
        assert_eq!(defaults.thresholds.never_logged_in_grace_days, 90);
        assert_eq!(defaults.protected_roles, ["super", "admin"]);
        assert_eq!(
            (defaults.max_actions, defaults.max_action_percent),
            (50, 10)
        );
        let mut custom = options(StaleRequest {
            inactive_days: Some(30),
            protected_users: Some(vec!["boss@example.com".into()]),
            ..StaleRequest::default()
        })
        .unwrap();
        custom.service_account = Some("svc@example.com".into());
        assert_eq!(
            custom.thresholds.never_logged_in_grace_days, 30,
            "grace defaults to inactive days"
        );
        assert_eq!(
            custom.all_protected_users(),
            ["boss@example.com", "svc@example.com"]
        );
        let zero = options(StaleRequest {
            inactive_days: Some(0),
            ..StaleRequest::default()
        })
        .unwrap_err();
        assert!(zero.to_string().contains("at least 1"), "{zero}");
        let percent = options(StaleRequest {
            max_action_percent: Some(150),
            ..StaleRequest::default()
        })
        .unwrap_err();
        assert!(
            percent.to_string().contains("between 0 and 100"),
            "{percent}"
        );
    }
}
