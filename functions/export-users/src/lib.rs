//! export-users: parses the event, runs [`lifecycle::export::export_users`] against Sisense and S3.

use lambda_runtime::{Diagnostic, LambdaEvent};
use lifecycle::SystemClock;
use lifecycle::export::{DEFAULT_PREFIX, ExportError, ExportOptions, export_users};
use serde::Deserialize;
use serde_json::{Value, json};
use sl_aws::env::{optional, parsed, required};
use sl_aws::{AsSisenseError, ConfigError, S3Store, SetupError, SisenseSource};

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
    /// The Sisense client could not be set up (environment or secret).
    #[error(transparent)]
    Setup(#[from] SetupError),
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
            FunctionError::Setup(e) => e.error_type(),
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
    sl_aws::parse_invocation(event).map_err(FunctionError::BadRequest)
}

impl AsSisenseError for FunctionError {
    fn as_sisense_error(&self) -> Option<&sisense::Error> {
        match self {
            FunctionError::Export(ExportError::Sisense(e)) => Some(e),
            _ => None,
        }
    }
}

/// Clients built once per sandbox and reused across invocations.
pub struct App {
    s3: sl_aws::aws_sdk_s3::Client,
    sisense: SisenseSource,
}

impl App {
    /// Builds the AWS clients from the SDK's standard configuration.
    pub async fn from_env() -> Self {
        let config = sl_aws::sdk_config().await;
        App {
            s3: sl_aws::s3_client(&config),
            sisense: SisenseSource::new(sl_aws::aws_sdk_secretsmanager::Client::new(&config)),
        }
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
        let client = self.sisense.client().await?;
        let result = export_users(&client, &store, &SystemClock, &options)
            .await
            .map_err(FunctionError::from);
        self.sisense.forget_if_unauthorized(&result).await;
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
