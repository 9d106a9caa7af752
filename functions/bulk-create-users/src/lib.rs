//! bulk-create-users: turns an S3 notification, an EventBridge "Object Created" event or a direct invocation
//! into import requests and runs one hop of [`lifecycle::import::import_users`] for each.

use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use lambda_runtime::LambdaEvent;
use lifecycle::SystemClock;
pub use lifecycle::import::is_own_output;
use lifecycle::import::{
    ImportOptions, ImportRequest, OnExisting, import_users, report_prefix_problem,
};
use lifecycle::settings;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use serde_json::{Value, json};
use sl_aws::env::{optional, parsed};
use sl_aws::{Clients, ConfigError, RunMetrics, S3Store, hop_deadline};

/// A direct invocation (and what a continuation carries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectRequest {
    /// The input's bucket.
    pub bucket: String,
    /// The input's key (not URL-encoded).
    pub key: String,
    /// Dry run (also implied by a `dry-run/` path segment or `DRY_RUN=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Overrides `ON_EXISTING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_existing: Option<OnExisting>,
    /// The run to continue (a Step Functions execution name, or the id a previous hop returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// Why an invocation failed (see [`sl_aws::FunctionError`] for the stable error types).
pub type FunctionError = sl_aws::FunctionError;

/// Decodes an S3 notification key: `+` is a space, then percent-decoding (UTF-8).
pub fn decode_s3_key(raw: &str) -> Result<String, FunctionError> {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| {
            FunctionError::BadRequest(format!(
                "S3 key {raw:?} is not valid UTF-8 once decoded: {e}"
            ))
        })
}

/// The import requests in an event: one per S3 record, one for an EventBridge event or a direct invocation.
pub fn parse_event(event: Value) -> Result<Vec<DirectRequest>, FunctionError> {
    let bad = |what: &str, e: serde_json::Error| FunctionError::BadRequest(format!("{what}: {e}"));
    let Value::Object(map) = &event else {
        return Err(FunctionError::BadRequest(format!(
            "expected a JSON object, got {event}"
        )));
    };
    if map.contains_key("Records") {
        let s3: S3Event = serde_json::from_value(event).map_err(|e| bad("S3 notification", e))?;
        if s3.records.is_empty() {
            return Err(FunctionError::BadRequest(
                "S3 notification without records".into(),
            ));
        }
        return s3
            .records
            .into_iter()
            .map(|r| {
                let bucket = r.s3.bucket.name.unwrap_or_default();
                let key = decode_s3_key(&r.s3.object.key.unwrap_or_default())?;
                Ok(DirectRequest {
                    bucket,
                    key,
                    dry_run: None,
                    on_existing: None,
                    run_id: None,
                })
            })
            .collect();
    }
    if map.contains_key("detail-type") {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let detail = &map["detail"];
        return match (
            text(&detail["bucket"]["name"]),
            text(&detail["object"]["key"]),
        ) {
            (Some(bucket), Some(key)) => Ok(vec![DirectRequest {
                bucket,
                key,
                dry_run: None,
                on_existing: None,
                run_id: None,
            }]),
            _ => Err(FunctionError::BadRequest(
                "EventBridge event without detail.bucket.name and detail.object.key".into(),
            )),
        };
    }
    Ok(vec![
        serde_json::from_value(event).map_err(|e| bad("direct invocation", e))?,
    ])
}

/// Whether a key has a `dry-run` path segment.
pub fn key_says_dry_run(key: &str) -> bool {
    key.split('/')
        .rev()
        .skip(1)
        .any(|segment| segment == "dry-run")
}

/// The environment's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `REPORT_BUCKET`, when reports do not go to the input's bucket.
    pub report_bucket: Option<String>,
    /// The job's options (`DRY_RUN`, `ON_EXISTING`, `REPORT_PREFIX`, `DEFAULT_ROLE`, `MAX_ROWS`, `MAX_HOPS`,
    /// `IMPORT_ROWS_PER_HOP`, `TENANTS`).
    pub options: ImportOptions,
    /// `HOP_MARGIN_SECS`: no segment starts later than this before the Lambda deadline.
    pub margin: Duration,
}

impl Settings {
    /// Reads the environment: the job's options through the one mechanism ([`settings::resolve`], every
    /// default the job's), refused when reports would trigger the import again; then the function's own.
    pub fn from_env() -> Result<Self, ConfigError> {
        let options: ImportOptions = settings::resolve(settings::process_env, Map::new())?;
        check_report_prefix(&options.report_prefix)?;
        Ok(Settings {
            report_bucket: optional("REPORT_BUCKET"),
            options,
            margin: Duration::from_secs(parsed("HOP_MARGIN_SECS", 120)?),
        })
    }
}

/// Reports go to `{prefix}imports/...`: an empty prefix (or one inside `imports/`) would re-trigger imports.
pub fn check_report_prefix(prefix: &str) -> Result<(), ConfigError> {
    match report_prefix_problem(prefix) {
        Some(problem) => Err(ConfigError::invalid("REPORT_PREFIX", prefix, problem)),
        None => Ok(()),
    }
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
        let mut metrics = RunMetrics::start("bulk-create-users");
        let result = self.hops(event, &mut metrics).await;
        metrics.settle(&result, record);
        result
    }

    /// One hop per request in the event.
    async fn hops(
        &self,
        event: LambdaEvent<Value>,
        metrics: &mut RunMetrics,
    ) -> Result<Value, FunctionError> {
        let requests = parse_event(event.payload)?;
        let mut settings = Settings::from_env()?;
        settings.options.deadline = Some(hop_deadline(event.context.deadline, settings.margin));
        let client = self.clients.sisense.client().await?;
        metrics.family(client.family().as_str());
        // The account the import runs as: its tenant is the default TENANTS.
        settings.options.service_account =
            client.config().credentials.username().map(str::to_string);
        let mut results = Vec::with_capacity(requests.len());
        for direct in requests {
            let result = self
                .hop(&client, &settings, direct, &event.context.request_id)
                .await;
            self.clients.sisense.forget_if_unauthorized(&result).await;
            results.push(result?);
        }
        Ok(match <[Value; 1]>::try_from(results) {
            Ok([one]) => one,
            Err(many) => json!({
                "done": many.iter().all(|r| r["done"] == true),
                "results": many,
            }),
        })
    }

    async fn hop(
        &self,
        client: &sisense::SisenseClient,
        settings: &Settings,
        direct: DirectRequest,
        request_id: &str,
    ) -> Result<Value, FunctionError> {
        if direct.bucket.is_empty() || direct.key.is_empty() {
            return Err(FunctionError::BadRequest(
                "bucket and key are required".into(),
            ));
        }
        if is_own_output(&direct.key) {
            tracing::warn!(key = %direct.key, "ignoring an event for our own report or state object");
            return Ok(json!({"done": true, "status": "ignored", "key": direct.key,
                "message": "this object is an import report or state, not an input"}));
        }
        let request = ImportRequest {
            dry_run: settings.options.dry_run
                || direct.dry_run.unwrap_or(false)
                || key_says_dry_run(&direct.key),
            on_existing: direct.on_existing.unwrap_or(settings.options.on_existing),
            run_id: direct
                .run_id
                .clone()
                .unwrap_or_else(|| request_id.to_string()),
            bucket: direct.bucket.clone(),
            key: direct.key.clone(),
        };
        let input = S3Store::new(self.clients.s3.clone(), direct.bucket.clone());
        let reports = S3Store::new(
            self.clients.s3.clone(),
            settings
                .report_bucket
                .clone()
                .unwrap_or_else(|| direct.bucket.clone()),
        );
        let outcome = import_users(
            client,
            &input,
            &reports,
            &SystemClock,
            &request,
            &settings.options,
        )
        .await?;
        // The job's answer carries the continuation (this payload's object, mode and run) while not done.
        Ok(outcome.response())
    }
}

/// The finished imports' counts as metrics (a hop that continues reports nothing: its counts are partial).
fn record(metrics: &mut RunMetrics, response: &Value) {
    let finished: Vec<&Value> = match response["results"].as_array() {
        Some(many) => many.iter().collect(),
        None => vec![response],
    };
    let finished = finished.into_iter().filter(|r| r["done"] == true);
    let mut totals = [
        ("rows", 0),
        ("created", 0),
        ("updated", 0),
        ("invalid", 0),
        ("failed", 0),
    ];
    for r in finished {
        for (name, total) in &mut totals {
            *total += r[*name].as_u64().unwrap_or(0);
        }
    }
    for (name, total) in totals {
        metrics.count(name, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_notification_keys_are_url_decoded() {
        let event: Value = serde_json::from_str(include_str!("../fixtures/s3-put.json")).unwrap();
        let requests = parse_event(event).unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].bucket, "lifecycle-data");
        assert_eq!(requests[0].key, "imports/dry-run/new hires (2026).csv");
        assert!(key_says_dry_run(&requests[0].key));
        assert_eq!(decode_s3_key("a%2Bb+c%C3%A9.csv").unwrap(), "a+b cé.csv");
        assert!(
            decode_s3_key("%FF.csv")
                .unwrap_err()
                .to_string()
                .contains("not valid UTF-8")
        );
    }

    #[test]
    fn eventbridge_and_direct_requests() {
        let event: Value =
            serde_json::from_str(include_str!("../fixtures/eventbridge-object-created.json"))
                .unwrap();
        assert_eq!(
            parse_event(event).unwrap()[0].key,
            "imports/new hires.csv",
            "EventBridge keys are not encoded"
        );
        let direct = parse_event(json!({"bucket": "b", "key": "imports/x.csv", "dryRun": true, "onExisting": "update", "runId": "exec-1"})).unwrap();
        assert_eq!(direct[0].on_existing, Some(OnExisting::Update));
        assert_eq!(direct[0].run_id.as_deref(), Some("exec-1"));
    }

    #[test]
    fn bad_events_say_what_is_wrong() {
        let typo = parse_event(json!({"bucket": "b", "key": "k", "dryrun": true})).unwrap_err();
        assert_eq!(typo.error_type(), "BadRequest");
        assert!(
            typo.to_string().contains("unknown field `dryrun`"),
            "{typo}"
        );
        assert!(
            parse_event(json!({"key": "k"}))
                .unwrap_err()
                .to_string()
                .contains("missing field `bucket`")
        );
        assert!(
            parse_event(json!({"bucket": "b", "key": "k", "onExisting": "merge"}))
                .unwrap_err()
                .to_string()
                .contains("unknown variant `merge`")
        );
        assert!(
            parse_event(json!({"Records": []}))
                .unwrap_err()
                .to_string()
                .contains("without records")
        );
        assert!(parse_event(json!("x")).is_err());
    }

    #[test]
    fn only_a_folder_named_dry_run_means_dry_run() {
        assert!(key_says_dry_run("imports/dry-run/a.csv"));
        assert!(!key_says_dry_run("imports/dry-run.csv"));
        assert!(!key_says_dry_run("imports/not-dry-run/a.csv"));
    }

    #[test]
    fn reports_can_never_retrigger_the_import() {
        assert!(check_report_prefix("reports/").is_ok());
        for bad in ["", "/", "imports/reports/"] {
            let err = check_report_prefix(bad).unwrap_err();
            assert!(
                err.to_string().contains("trigger the import again"),
                "{err}"
            );
        }
        assert!(is_own_output(
            "reports/imports/a.20261122T000000Z.result.csv"
        ));
        assert!(is_own_output(
            "imports/.state/b/imports/a.csv/etag/live/parts/000001.csv"
        ));
        assert!(!is_own_output("imports/new-hires.csv"));
    }
}
