//! CloudWatch metrics in the Embedded Metric Format: one JSON line per run on stdout, which Lambda ships to
//! CloudWatch Logs and CloudWatch turns into metrics (no API call, no extra permission).
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::time::Instant;

use serde_json::{Map, Value, json};

/// The namespace every function's metrics go to.
pub const NAMESPACE: &str = "SisenseLifecycle";

/// The metrics of one run, dimensioned by function, and by function and API family.
#[derive(Debug)]
pub struct RunMetrics {
    function: String,
    family: String,
    started: Instant,
    values: Vec<(String, f64, &'static str)>,
}

impl RunMetrics {
    /// Starts timing a run of `function`: the deployed function's name (`AWS_LAMBDA_FUNCTION_NAME`, so stacks
    /// sharing an account keep their metrics apart), or `function` outside Lambda.
    pub fn start(function: &'static str) -> Self {
        let deployed = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
        Self::named(
            deployed
                .filter(|n| !n.is_empty())
                .as_deref()
                .unwrap_or(function),
        )
    }

    /// Starts timing a run of the function named `function`.
    pub fn named(function: &str) -> Self {
        RunMetrics {
            function: function.to_string(),
            family: "unknown".into(),
            started: Instant::now(),
            values: Vec::new(),
        }
    }

    /// The API family the run spoke to (`unknown` until known).
    pub fn family(&mut self, family: &str) {
        self.family = family.to_string();
    }

    /// A count.
    pub fn count(&mut self, name: &str, value: u64) -> &mut Self {
        self.values.push((name.to_string(), value as f64, "Count"));
        self
    }

    /// The EMF line, with `duration` (milliseconds since `start`) added, at `timestamp_ms`.
    pub fn line(&self, timestamp_ms: i64) -> String {
        let mut values = self.values.clone();
        values.push((
            "duration".into(),
            self.started.elapsed().as_secs_f64() * 1000.0,
            "Milliseconds",
        ));
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["function", "family"], ["function"]],
                    "Metrics": definitions,
                }],
            }),
        );
        line.insert("function".into(), self.function.clone().into());
        line.insert("family".into(), self.family.clone().into());
        for (name, value, _) in values {
            line.insert(name, json!(value));
        }
        Value::Object(line).to_string()
    }

    /// Ends the run: `record` its numbers and `runFailed` 0 when it succeeded, `failed` and `runFailed` of 1
    /// when it did not; then prints the line.
    pub fn settle<T, E>(mut self, result: &Result<T, E>, record: impl FnOnce(&mut Self, &T)) {
        match result {
            Ok(value) => {
                record(&mut self, value);
                self.count("runFailed", 0);
            }
            Err(_) => {
                self.count("runFailed", 1).count("failed", 1);
            }
        }
        self.emit();
    }

    /// Prints the EMF line on stdout (its own line, apart from the tracing log lines).
    pub fn emit(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        println!("{}", self.line(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_declares_every_metric_under_the_namespace_with_both_dimensions() {
        let mut m = RunMetrics::named("export-users");
        m.family("fusion");
        m.count("users", 12).count("failed", 0);
        let line: Value = serde_json::from_str(&m.line(1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["function", "family"], ["function"]])
        );
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["users", "failed", "duration"]);
        assert_eq!(line["users"], 12.0);
        assert_eq!(line["function"], "export-users");
        assert_eq!(line["family"], "fusion");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert!(line["duration"].as_f64().unwrap() >= 0.0);
    }
}
