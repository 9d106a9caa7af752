//! Each job's options declared once: one struct (serde, camelCase) with its defaults (`Default`) and its rules
//! ([`Settings::check`]), filled by one mechanism from three layers, each over the one before: the defaults,
//! the environment (each field's variable, by default its name in SCREAMING_SNAKE_CASE), and the invocation's
//! overrides (a function's payload, the CLI's flags), both a JSON object of camelCase keys. Unknown keys are
//! refused by name. The template, docs and CLI tests walk [`fields`] and [`env_name`], so a new option cannot be
//! forgotten in one of them.
//!
//! A small adapter rather than a crate: envy (the usual serde-from-environment crate) matches variables to
//! lower-cased field names and cannot merge layers; figment merges layers but types environment values by
//! guessing from their text, so an email or a role named `true` would change type. Here each value is typed by
//! the field it fills (serde asks for a `u32`, a `bool`, a list...), see [`env`].

mod env;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::error::InvalidOption;

/// A job's options as one declaration.
pub trait Settings: Serialize + DeserializeOwned + Default {
    /// Fields whose environment variable is not their name in SCREAMING_SNAKE_CASE: `(field, variable)`.
    const ENV_NAMES: &'static [(&'static str, &'static str)] = &[];
    /// Fields never read from the environment: set per invocation (payload, flags) or by the caller.
    const NOT_FROM_ENV: &'static [&'static str] = &[];

    /// The rules the job relies on (ranges, forms).
    fn check(&self) -> Result<(), InvalidOption>;
}

/// Why options could not be settled. Never carries a secret: options hold none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// An environment variable's value does not fit its option.
    #[error("environment variable {variable}={value:?} is invalid: {reason}")]
    Env {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// An override (payload key or flag) is unknown or does not fit its option.
    #[error("{0}")]
    Override(String),
    /// The settled options break a rule of the job.
    #[error(transparent)]
    Invalid(#[from] InvalidOption),
}

/// Every option of `T`, as its camelCase key (options grouped in a nested struct, such as the staleness
/// thresholds, are listed by their own keys).
pub fn fields<T: Settings>() -> Vec<String> {
    paths::<T>().into_iter().map(|(key, _)| key).collect()
}

/// Every option's key with the keys down to it in `T`'s JSON form.
fn paths<T: Settings>() -> Vec<(String, Vec<String>)> {
    fn walk(map: &Map<String, Value>, above: &[String], out: &mut Vec<(String, Vec<String>)>) {
        for (key, value) in map {
            let mut path = above.to_vec();
            path.push(key.clone());
            match value {
                Value::Object(inner) => walk(inner, &path, out),
                Value::Null
                | Value::Bool(_)
                | Value::Number(_)
                | Value::String(_)
                | Value::Array(_) => out.push((key.clone(), path)),
            }
        }
    }
    let mut out = Vec::new();
    walk(&as_map(&T::default()), &[], &mut out);
    out
}

/// The environment variable of option `field`, unless it is never read from the environment.
pub fn env_name<T: Settings>(field: &str) -> Option<String> {
    if T::NOT_FROM_ENV.contains(&field) {
        return None;
    }
    Some(
        T::ENV_NAMES
            .iter()
            .find(|(f, _)| *f == field)
            .map_or_else(|| screaming_snake(field), |(_, v)| (*v).to_string()),
    )
}

/// `camelCase` as `CAMEL_CASE`.
pub fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The defaults with every option whose variable `lookup` finds (blank values count as unset).
pub fn from_env<T: Settings>(lookup: impl Fn(&str) -> Option<String>) -> Result<T, SettingsError> {
    let found: Vec<env::Found> = paths::<T>()
        .into_iter()
        .filter_map(|(field, path)| {
            let variable = env_name::<T>(&field)?;
            let value = lookup(&variable)?.trim().to_string();
            (!value.is_empty()).then_some(env::Found {
                path,
                variable,
                value,
            })
        })
        .collect();
    env::deserialize(&as_map(&T::default()), &found)
}

/// `base` with `overrides` (camelCase keys) put over it, then checked. An unknown key is refused by name; a `null`
/// value is no override (the key is left to the layers below, as if absent).
pub fn with_overrides<T: Settings>(
    base: &T,
    overrides: Map<String, Value>,
) -> Result<T, SettingsError> {
    let known = paths::<T>();
    let mut merged = Value::Object(as_map(base));
    for (key, value) in overrides {
        let Some((_, path)) = known.iter().find(|(k, _)| *k == key) else {
            return Err(SettingsError::Override(format!(
                "unknown field `{key}`, expected one of {}",
                known
                    .iter()
                    .map(|(k, _)| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if value.is_null() {
            continue;
        }
        let mut at = &mut merged;
        for step in path {
            at = &mut at[step.as_str()];
        }
        *at = value;
    }
    let settled: T =
        serde_json::from_value(merged).map_err(|e| SettingsError::Override(e.to_string()))?;
    settled.check()?;
    Ok(settled)
}

/// The options from the environment (`lookup`), then `overrides`, checked: the one way every caller fills them.
pub fn resolve<T: Settings>(
    lookup: impl Fn(&str) -> Option<String>,
    overrides: Map<String, Value>,
) -> Result<T, SettingsError> {
    with_overrides(&from_env::<T>(lookup)?, overrides)
}

/// The process environment, as [`resolve`] looks variables up.
pub fn process_env(variable: &str) -> Option<String> {
    std::env::var(variable).ok()
}

fn as_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Demo {
        inactive_days: u32,
        dry_run: bool,
        protected_roles: Vec<String>,
        transfer_to: Option<String>,
        grace_days: Option<u32>,
        per_hop: Option<usize>,
        run_id: Option<String>,
    }

    impl Default for Demo {
        fn default() -> Self {
            Demo {
                inactive_days: 90,
                dry_run: true,
                protected_roles: vec!["super".into(), "admin".into()],
                transfer_to: None,
                grace_days: None,
                per_hop: None,
                run_id: None,
            }
        }
    }

    impl Settings for Demo {
        const ENV_NAMES: &'static [(&'static str, &'static str)] = &[("perHop", "STALE_PER_HOP")];
        const NOT_FROM_ENV: &'static [&'static str] = &["runId"];

        fn check(&self) -> Result<(), InvalidOption> {
            if self.inactive_days == 0 {
                return Err(InvalidOption::new("inactiveDays", 0, "must be at least 1"));
            }
            Ok(())
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn json(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn each_layer_goes_over_the_one_before_and_each_value_is_typed_by_its_field() {
        let from_env: Demo = resolve(
            env(&[
                ("INACTIVE_DAYS", "30"),
                ("DRY_RUN", "false"),
                ("PROTECTED_ROLES", " super , , dataAdmin "),
                ("TRANSFER_TO", "true"),
                ("STALE_PER_HOP", "500"),
                ("RUN_ID", "ignored: never from the environment"),
            ]),
            Map::new(),
        )
        .unwrap();
        assert_eq!(
            from_env,
            Demo {
                inactive_days: 30,
                dry_run: false,
                protected_roles: vec!["super".into(), "dataAdmin".into()],
                transfer_to: Some("true".into()),
                grace_days: None,
                per_hop: Some(500),
                run_id: None,
            },
            "a string option stays a string whatever it reads like"
        );
        let both: Demo = resolve(
            env(&[("INACTIVE_DAYS", "30"), ("GRACE_DAYS", "")]),
            json(serde_json::json!({"inactiveDays": 7, "runId": "exec-1"})),
        )
        .unwrap();
        assert_eq!(
            (both.inactive_days, both.grace_days),
            (7, None),
            "the payload wins; blank is unset"
        );
        assert_eq!(both.run_id.as_deref(), Some("exec-1"));
        let null: Demo = resolve(
            env(&[("INACTIVE_DAYS", "30"), ("TRANSFER_TO", "a@x.io")]),
            json(serde_json::json!({"inactiveDays": null, "transferTo": null})),
        )
        .unwrap();
        assert_eq!(
            (null.inactive_days, null.transfer_to.as_deref()),
            (30, Some("a@x.io")),
            "null is no override"
        );
    }

    #[test]
    fn bad_values_and_unknown_keys_are_refused_by_name() {
        let err = resolve::<Demo>(env(&[("INACTIVE_DAYS", "ninety")]), Map::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable INACTIVE_DAYS=\"ninety\" is invalid: expected a whole number"
        );
        let err = resolve::<Demo>(env(&[("DRY_RUN", "maybe")]), Map::new()).unwrap_err();
        assert!(err.to_string().contains("DRY_RUN=\"maybe\""), "{err}");
        let err =
            resolve::<Demo>(env(&[]), json(serde_json::json!({"dryrun": false}))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown field `dryrun`, expected one of"),
            "{err}"
        );
        let err = resolve::<Demo>(env(&[]), json(serde_json::json!({"dryRun": "no"}))).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = resolve::<Demo>(env(&[("INACTIVE_DAYS", "0")]), Map::new()).unwrap_err();
        assert!(matches!(err, SettingsError::Invalid(_)), "{err}");
    }

    #[test]
    fn names_follow_the_fields() {
        assert_eq!(
            screaming_snake("neverLoggedInGraceDays"),
            "NEVER_LOGGED_IN_GRACE_DAYS"
        );
        assert_eq!(env_name::<Demo>("perHop").as_deref(), Some("STALE_PER_HOP"));
        assert_eq!(env_name::<Demo>("runId"), None);
        assert_eq!(fields::<Demo>().len(), 7);
    }
}
