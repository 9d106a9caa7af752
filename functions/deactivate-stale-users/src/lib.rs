//! deactivate-stale-users: builds the options from the environment and the event, then runs
//! [`lifecycle::stale::deactivate_stale_users`] against Sisense and S3, or, when the event names a report in
//! `restoreFrom`, [`lifecycle::restore::restore_users`] to undo that run.

use lambda_runtime::LambdaEvent;
use lifecycle::activity::Feed;
use lifecycle::doctor::{DoctorOptions, diagnose};
use lifecycle::restore::{RestoreOptions, restore_users};
use lifecycle::settings::{self, SettingsError};
use lifecycle::stale::{StaleOptions, deactivate_stale_users};
use serde_json::{Map, Value};
use sl_aws::env::{clock, optional, parsed, required};
use sl_aws::{Clients, ConfigError, RunMetrics, S3Store, SnsNotifier, hop_deadline};
use std::sync::Arc;
use std::time::Duration;

/// `HOP_MARGIN_SECS` unless set: no segment of a live run starts later than this before the Lambda deadline.
pub const DEFAULT_HOP_MARGIN_SECS: u64 = 120;

/// A direct invocation or a schedule's `Input`: the job's options (every key optional, each overriding its
/// environment variable; the keys are [`lifecycle::settings::fields`] of [`StaleOptions`]), plus `restoreFrom`
/// and `doctor`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StaleRequest {
    /// Undo the run whose report is at this key (in the report bucket) instead of looking for stale users; a
    /// dry run unless `dryRun` is `false` in the same payload.
    pub restore_from: Option<String>,
    /// Run `doctor` instead: read-only checks of what the installation can tell, with a verdict per job.
    pub doctor: bool,
    /// The options the payload sets, by key. `runId` is the run this invocation belongs to: a live run that
    /// exists is continued with the settings it was planned with (what a `continuation` carries; the state
    /// machine's first hop sends its execution name), otherwise a run of this id is planned. Unset, it is the
    /// Lambda request id, which an asynchronous retry keeps.
    pub options: Map<String, Value>,
}

impl StaleRequest {
    /// Whether the payload sets `dryRun`, and to what.
    pub fn dry_run(&self) -> Option<bool> {
        self.options.get("dryRun").and_then(Value::as_bool)
    }
}

/// Why an invocation failed (see [`sl_aws::FunctionError`] for the stable error types).
pub type FunctionError = sl_aws::FunctionError;

/// Reads the request out of a scheduled event or a direct invocation. An unknown key or a value of the wrong
/// type is a `BadRequest` that names it; a value out of range is the job's `ConfigError` (see [`options`]).
pub fn parse_event(event: Value) -> Result<StaleRequest, FunctionError> {
    let mut options: Map<String, Value> =
        sl_aws::parse_invocation(event).map_err(FunctionError::BadRequest)?;
    let restore_from = match options.remove("restoreFrom") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) => Some(key),
        Some(other) => {
            return Err(FunctionError::BadRequest(format!(
                "restoreFrom must be the key of a deactivation report, got {other}"
            )));
        }
    };
    let doctor = match options.remove("doctor") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(doctor)) => doctor,
        Some(other) => {
            return Err(FunctionError::BadRequest(format!(
                "doctor must be true or false, got {other}"
            )));
        }
    };
    match settings::with_overrides(&StaleOptions::default(), options.clone()) {
        Err(SettingsError::Override(problem)) => Err(FunctionError::BadRequest(problem)),
        Ok(_) | Err(SettingsError::Invalid(_) | SettingsError::Env { .. }) => Ok(StaleRequest {
            restore_from,
            doctor,
            options,
        }),
    }
}

/// The job's options: its defaults, then the environment, then the request, checked by the job's rules before
/// the secret is read (one mechanism, [`settings::resolve`], which the CLI uses too).
pub fn options(request: &StaleRequest) -> Result<StaleOptions, ConfigError> {
    Ok(settings::resolve(
        settings::process_env,
        request.options.clone(),
    )?)
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
        let (restore_from, restore_dry_run) = (request.restore_from.clone(), request.dry_run());
        let doctor = request.doctor;
        let mut options = options(&request)?;
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
        if let Some(location) = &options.activity_feed {
            let loaded = Feed::load(
                &store,
                location,
                clock.now(),
                options.activity_feed_max_age_days,
            )
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
    use lifecycle::stale::Action;
    use serde_json::json;

    fn payload(value: Value) -> StaleRequest {
        parse_event(value).unwrap()
    }

    #[test]
    fn parses_direct_and_scheduled_events() {
        assert_eq!(parse_event(Value::Null).unwrap(), StaleRequest::default());
        let scheduled: Value =
            serde_json::from_str(include_str!("../fixtures/scheduled-event.json")).unwrap();
        assert_eq!(parse_event(scheduled).unwrap(), StaleRequest::default());
        let request = payload(json!({
            "inactiveDays": 30, "staleAction": "demote", "dryRun": false, "force": true,
            "protectedGroups": ["Executives"], "maxActionPercent": 5
        }));
        let o = options(&request).unwrap();
        assert_eq!(o.action, Action::Demote);
        assert_eq!((o.dry_run, o.force), (false, true));
        assert_eq!(o.protected_groups, ["Executives"]);
        assert_eq!(request.dry_run(), Some(false));
        let restore = payload(
            json!({"restoreFrom": "reports/deactivations/dt=2026-11-22/run-x.csv", "dryRun": false, "transferDashboardsTo": "keeper@example.com", "revokeSessions": false}),
        );
        assert_eq!(
            restore.restore_from.as_deref(),
            Some("reports/deactivations/dt=2026-11-22/run-x.csv")
        );
        let o = options(&restore).unwrap();
        assert_eq!(
            o.transfer_dashboards_to.as_deref(),
            Some("keeper@example.com")
        );
        assert!(!o.revoke_sessions);
        assert!(payload(json!({"doctor": true})).doctor);
    }

    #[test]
    fn rejects_typos_and_unknown_actions_specifically() {
        let err = parse_event(json!({"dryrun": false})).unwrap_err();
        assert_eq!(err.error_type(), "BadRequest");
        assert!(err.to_string().contains("unknown field `dryrun`"), "{err}");
        let err = parse_event(json!({"staleAction": "purge"})).unwrap_err();
        assert_eq!(err.error_type(), "BadRequest");
        assert!(err.to_string().contains("unknown variant `purge`"), "{err}");
        let err = parse_event(json!({"doctor": "yes"})).unwrap_err();
        assert!(
            err.to_string().contains("doctor must be true or false"),
            "{err}"
        );
    }

    #[test]
    fn request_overrides_and_the_service_account_is_always_protected() {
        // No STALE_* variables are set in the unit-test environment, so the defaults apply.
        let defaults = options(&StaleRequest::default()).unwrap();
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
        let mut custom = options(&payload(json!({
            "inactiveDays": 30,
            "protectedUsers": ["boss@example.com"],
        })))
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
        let zero = options(&payload(json!({"inactiveDays": 0}))).unwrap_err();
        assert!(zero.to_string().contains("at least 1"), "{zero}");
        let percent = options(&payload(json!({"maxActionPercent": 150}))).unwrap_err();
        assert!(
            percent.to_string().contains("between 0 and 100"),
            "{percent}"
        );
    }
}
