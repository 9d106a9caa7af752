//! export-users: parses the event, runs [`lifecycle::export::export_users`] against Sisense and S3.

use lambda_runtime::LambdaEvent;
use lifecycle::export::{
    DEFAULT_PAGE_SIZE, DEFAULT_PREFETCH, ExportOptions, ExportOutcome, export_users,
};
use lifecycle::seats::Tier;
use serde::Deserialize;
use serde_json::Value;
use sl_aws::env::{clock, flag, optional, parsed, required, thresholds};
use sl_aws::{Clients, RunMetrics, S3Store};

/// A direct invocation (`aws lambda invoke`, EventBridge Scheduler `Input`): every key optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    /// Overrides `EXPORT_PREFIX`.
    pub prefix: Option<String>,
    /// Users per page.
    pub page_size: Option<u32>,
    /// Overrides `INACTIVE_DAYS`: days without a login after which a seat counts as stale (reclaimable).
    pub inactive_days: Option<u32>,
}

/// Why an invocation failed (see [`sl_aws::FunctionError`] for the stable error types).
pub type FunctionError = sl_aws::FunctionError;

/// Reads the options out of a scheduled event (classic or Scheduler) or a direct invocation.
pub fn parse_event(event: Value) -> Result<ExportRequest, FunctionError> {
    sl_aws::parse_invocation(event).map_err(FunctionError::BadRequest)
}

/// The job's options: the request's, else the environment's, else the job's defaults (the CLI's too).
pub fn options(request: ExportRequest) -> Result<ExportOptions, sl_aws::ConfigError> {
    let defaults = ExportOptions::default();
    Ok(ExportOptions {
        prefix: request
            .prefix
            .or_else(|| optional("EXPORT_PREFIX"))
            .unwrap_or_else(|| defaults.prefix.clone()),
        page_size: Some(request.page_size.map_or_else(
            || {
                parsed(
                    "EXPORT_PAGE_SIZE",
                    defaults.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
                )
            },
            Ok,
        )?),
        prefetch: Some(parsed(
            "EXPORT_PREFETCH",
            defaults.prefetch.unwrap_or(DEFAULT_PREFETCH),
        )?),
        thresholds: thresholds(request.inactive_days, None)?,
        trust_last_login: flag("TRUST_LAST_LOGIN", defaults.trust_last_login)?,
        ..defaults
    })
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
        let asked = options(ExportRequest {
            page_size: Some(200),
            ..ExportRequest::default()
        })
        .unwrap();
        assert_eq!(asked.page_size, Some(200));
    }

    #[test]
    fn parses_direct_scheduled_and_scheduler_events() {
        assert_eq!(parse_event(json!({})).unwrap(), ExportRequest::default());
        assert_eq!(parse_event(Value::Null).unwrap(), ExportRequest::default());
        assert_eq!(
            parse_event(json!({"prefix": "x/", "pageSize": 500})).unwrap(),
            ExportRequest {
                prefix: Some("x/".into()),
                page_size: Some(500),
                inactive_days: None,
            }
        );
        let scheduled: Value =
            serde_json::from_str(include_str!("../fixtures/scheduled-event.json")).unwrap();
        assert_eq!(parse_event(scheduled).unwrap(), ExportRequest::default());
        let scheduler_input: Value =
            serde_json::from_str(include_str!("../fixtures/scheduler-input.json")).unwrap();
        assert_eq!(parse_event(scheduler_input).unwrap().page_size, Some(2000));
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
        assert!(parse_event(json!({"pageSize": "many"})).is_err());
    }
}
