//! export-users: parses the event, runs [`lifecycle::export::export_users`] against Sisense and S3.

use lambda_runtime::LambdaEvent;
use lifecycle::export::{ExportOptions, ExportOutcome, export_users};
use lifecycle::seats::Tier;
use lifecycle::settings::{self, SettingsError};
use serde_json::{Map, Value};
use sl_aws::env::{clock, parsed, required};
use sl_aws::{Clients, RunMetrics, S3Store};

/// A direct invocation (`aws lambda invoke`, EventBridge Scheduler `Input`): the job's options, every key
/// optional, each overriding its environment variable (the keys are [`lifecycle::settings::fields`] of
/// [`ExportOptions`]).
pub type ExportRequest = Map<String, Value>;

/// Why an invocation failed (see [`sl_aws::FunctionError`] for the stable error types).
pub type FunctionError = sl_aws::FunctionError;

/// Reads the options out of a scheduled event (classic or Scheduler) or a direct invocation; an unknown key or a
/// value of the wrong type is a `BadRequest` that names it.
pub fn parse_event(event: Value) -> Result<ExportRequest, FunctionError> {
    let request: ExportRequest =
        sl_aws::parse_invocation(event).map_err(FunctionError::BadRequest)?;
    match settings::with_overrides(&ExportOptions::default(), request.clone()) {
        Err(SettingsError::Override(problem)) => Err(FunctionError::BadRequest(problem)),
        Ok(_) | Err(SettingsError::Invalid(_) | SettingsError::Env { .. }) => Ok(request),
    }
}

/// The job's options: its defaults (the CLI's too), then the environment, then the request, checked.
pub fn options(request: ExportRequest) -> Result<ExportOptions, sl_aws::ConfigError> {
    Ok(settings::resolve(settings::process_env, request)?)
}

/// The function: clients built once per sandbox and reused across invocations.
pub struct App {
    clients: Clients,
}

impl App {
    /// Builds the AWS clients from the SDK's standard configuration.
    pub async fn from_env() -> Self {
        App {
            clients: Clients::from_env().await,
        }
    }

    /// Handles one invocation and emits its metrics (one EMF line).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
        let mut metrics = RunMetrics::start("export-users");
        let result = self.export(event, &mut metrics).await;
        metrics.settle(&result, record);
        Ok(result?.response())
    }

    async fn export(
        &self,
        event: LambdaEvent<Value>,
        metrics: &mut RunMetrics,
    ) -> Result<ExportOutcome, FunctionError> {
        let request = parse_event(event.payload)?;
        let bucket = required("EXPORT_BUCKET")?;
        let options = options(request)?;
        let part_mib: usize = parsed("EXPORT_PART_SIZE_MIB", 5)?;
        let store = S3Store::new(self.clients.s3.clone(), bucket)
            .with_part_size(part_mib.saturating_mul(1024 * 1024));
        let client = self.clients.sisense.client().await?;
        metrics.family(client.family().as_str());
        let clock = clock()?;
        let result = export_users(&client, &store, clock.as_ref(), &options)
            .await
            .map_err(FunctionError::Job);
        self.clients.sisense.forget_if_unauthorized(&result).await;
        result
    }
}

/// The run's numbers as metrics: users, active, stale, seats and reclaimable seats per tier, changes.
fn record(metrics: &mut RunMetrics, outcome: &ExportOutcome) {
    let s = &outcome.summary;
    metrics
        .count("users", s.users)
        .count("active", s.active)
        .count("stale", s.seats.stale())
        .count("pendingInvitations", s.pending_invitations)
        .count("failed", 0)
        .count("joined", outcome.changes.joined)
        .count("left", outcome.changes.left);
    for tier in Tier::ALL {
        let seats = s.seats.tier(tier);
        metrics
            .count(&format!("seats.{}", tier.as_str()), seats.total)
            .count(&format!("reclaimable.{}", tier.as_str()), seats.stale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn without_settings_the_function_lists_as_the_job_and_the_cli_do() {
        // No EXPORT_* variables are set in the unit-test environment.
        let plain = options(ExportRequest::default()).unwrap();
        let job = ExportOptions::default();
        assert_eq!(
            (plain.prefix, plain.page_size, plain.prefetch),
            (job.prefix, job.page_size, job.prefetch)
        );
        assert_eq!(
            plain.prefetch,
            Some(8),
            "pages in flight: the function's and the CLI's"
        );
        let asked =
            options(parse_event(json!({"pageSize": 200, "inactiveDays": 30})).unwrap()).unwrap();
        assert_eq!(asked.page_size, Some(200));
        assert_eq!(
            asked.thresholds,
            lifecycle::stale::Thresholds::new(30, None),
            "the export judges seats as the deactivation job judges users"
        );
    }

    #[test]
    fn parses_direct_scheduled_and_scheduler_events() {
        assert_eq!(parse_event(json!({})).unwrap(), ExportRequest::default());
        assert_eq!(parse_event(Value::Null).unwrap(), ExportRequest::default());
        let direct =
            options(parse_event(json!({"prefix": "x/", "pageSize": 500})).unwrap()).unwrap();
        assert_eq!(
            (direct.prefix.as_str(), direct.page_size),
            ("x/", Some(500))
        );
        let scheduled: Value =
            serde_json::from_str(include_str!("../fixtures/scheduled-event.json")).unwrap();
        assert_eq!(parse_event(scheduled).unwrap(), ExportRequest::default());
        let scheduler_input: Value =
            serde_json::from_str(include_str!("../fixtures/scheduler-input.json")).unwrap();
        let scheduled = options(parse_event(scheduler_input).unwrap()).unwrap();
        assert_eq!(scheduled.page_size, Some(2000));
    }

    #[test]
    fn rejects_typos_and_non_objects_specifically() {
        let err = parse_event(json!({"pagesize": 5})).unwrap_err();
        assert_eq!(err.error_type(), "BadRequest");
        assert!(
            err.to_string().contains("unknown field `pagesize`"),
            "{err}"
        );
        assert!(
            parse_event(json!([1]))
                .unwrap_err()
                .to_string()
                .contains("expected a JSON object")
        );
        let err = parse_event(json!({"pageSize": "many"})).unwrap_err();
        assert_eq!(err.error_type(), "BadRequest", "{err}");
    }
}
