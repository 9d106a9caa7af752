//! export-users: parses the event, runs [`lifecycle::export::export_users`] against Sisense and S3.

use std::num::NonZeroU32;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use lifecycle::SystemClock;
use lifecycle::export::{DEFAULT_PREFIX, ExportError, ExportOptions, export_users};
use serde::Deserialize;
use serde_json::{Value, json};
use sisense::FusionClient;
use sl_aws::env::{optional, parsed, required};
use sl_aws::{ConfigError, S3Store, SecretError};
use tokio::sync::Mutex;

/// A direct invocation (`aws lambda invoke`, EventBridge Scheduler `Input`): every key optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    /// Overrides `EXPORT_PREFIX`.
    pub prefix: Option<String>,
    /// Users per page.
    pub page_size: Option<u32>,
}

/// Why a run failed; `error_type` is stable for alarms and callers.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// The event could not be understood.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// An environment variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Sisense secret could not be read or used.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The export failed (Sisense or S3); nothing half-written was left behind.
    #[error("export failed: {0}")]
    Export(#[from] ExportError),
}

impl FunctionError {
    /// The stable error type reported to Lambda.
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::BadRequest(_) => "BadRequest",
            FunctionError::Config(_) => "ConfigError",
            FunctionError::Secret(_) => "SecretError",
            FunctionError::Export(ExportError::Sisense(sisense::Error::Unauthorized {
                ..
            })) => "SisenseUnauthorized",
            FunctionError::Export(ExportError::Sisense(e)) if e.is_retryable() => {
                "SisenseUnavailable"
            }
            FunctionError::Export(ExportError::Sisense(_)) => "SisenseError",
            FunctionError::Export(ExportError::Store(_) | ExportError::Csv(_)) => "StorageError",
        }
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// Reads the options out of a scheduled event (classic or Scheduler) or a direct invocation.
pub fn parse_event(event: Value) -> Result<ExportRequest, FunctionError> {
    let bad = |e: serde_json::Error| FunctionError::BadRequest(e.to_string());
    match event {
        Value::Null => Ok(ExportRequest::default()),
        Value::Object(ref map) if map.contains_key("detail-type") => {
            let scheduled: EventBridgeEvent<Value> = serde_json::from_value(event).map_err(bad)?;
            match scheduled.detail {
                Value::Object(detail) if !detail.is_empty() => {
                    serde_json::from_value(Value::Object(detail)).map_err(bad)
                }
                _ => Ok(ExportRequest::default()),
            }
        }
        Value::Object(_) => serde_json::from_value(event).map_err(bad),
        other => Err(FunctionError::BadRequest(format!(
            "expected a JSON object, got {other}"
        ))),
    }
}

/// Clients built once per sandbox and reused across invocations.
pub struct App {
    s3: sl_aws::aws_sdk_s3::Client,
    secrets: sl_aws::aws_sdk_secretsmanager::Client,
    sisense: Mutex<Option<FusionClient>>,
}

impl App {
    /// Builds the AWS clients from the SDK's standard configuration.
    pub async fn from_env() -> Self {
        let config = sl_aws::sdk_config().await;
        App {
            s3: sl_aws::s3_client(&config),
            secrets: sl_aws::aws_sdk_secretsmanager::Client::new(&config),
            sisense: Mutex::new(None),
        }
    }

    /// The Sisense client, reading the secret on first use (and again after credentials were refused).
    async fn sisense(&self) -> Result<FusionClient, FunctionError> {
        let mut cached = self.sisense.lock().await;
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let secret_id = required("SISENSE_SECRET_ID")?;
        let mut config = sl_aws::load_client_config(&self.secrets, &secret_id).await?;
        config.rate_limit =
            NonZeroU32::new(parsed("SISENSE_RATE_LIMIT", sisense::DEFAULT_RATE_LIMIT)?);
        config.request_timeout = Duration::from_secs(parsed("SISENSE_REQUEST_TIMEOUT_SECS", 30)?);
        let client = FusionClient::new(config).map_err(|e| SecretError::Invalid {
            id: secret_id,
            reason: e.to_string(),
        })?;
        *cached = Some(client.clone());
        Ok(client)
    }

    /// Handles one invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
        let request = parse_event(event.payload)?;
        let bucket = required("EXPORT_BUCKET")?;
        let prefix = request
            .prefix
            .or_else(|| optional("EXPORT_PREFIX"))
            .unwrap_or_else(|| DEFAULT_PREFIX.into());
        let options = ExportOptions {
            prefix,
            page_size: Some(
                request
                    .page_size
                    .map_or_else(|| parsed("EXPORT_PAGE_SIZE", 1000), Ok)?,
            ),
            prefetch: Some(parsed("EXPORT_PREFETCH", 2)?),
            ..ExportOptions::default()
        };
        let part_mib: usize = parsed("EXPORT_PART_SIZE_MIB", 8)?;
        let store = S3Store::new(self.s3.clone(), bucket)
            .with_part_size(part_mib.saturating_mul(1024 * 1024));
        let client = self.sisense().await?;
        let result = export_users(&client, &store, &SystemClock, &options).await;
        if let Err(ExportError::Sisense(sisense::Error::Unauthorized { .. })) = &result {
            // Forget the client so the next run re-reads a possibly rotated secret.
            *self.sisense.lock().await = None;
        }
        let outcome = result?;
        Ok(
            json!({"users": outcome.users, "bucket": outcome.bucket, "key": outcome.key, "summaryKey": outcome.summary_key}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_direct_scheduled_and_scheduler_events() {
        assert_eq!(parse_event(json!({})).unwrap(), ExportRequest::default());
        assert_eq!(parse_event(Value::Null).unwrap(), ExportRequest::default());
        assert_eq!(
            parse_event(json!({"prefix": "x/", "pageSize": 500})).unwrap(),
            ExportRequest {
                prefix: Some("x/".into()),
                page_size: Some(500)
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

    #[test]
    fn error_types_are_stable() {
        let unauthorized =
            FunctionError::Export(ExportError::Sisense(sisense::Error::Unauthorized {
                code: None,
                message: "m".into(),
                body: String::new(),
            }));
        let diagnostic: Diagnostic = unauthorized.into();
        assert_eq!(diagnostic.error_type, "SisenseUnauthorized");
        assert_eq!(
            Diagnostic::from(FunctionError::Config(ConfigError::Missing("EXPORT_BUCKET")))
                .error_type,
            "ConfigError"
        );
    }
}
