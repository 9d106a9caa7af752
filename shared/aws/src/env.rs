//! Function configuration from environment variables, with errors that name the variable.

/// A missing or unusable environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// An option (from the environment or the payload) is outside what the job accepts.
    #[error(transparent)]
    Option(#[from] lifecycle::InvalidOption),
    /// A job's options could not be settled from the environment and the payload.
    #[error(transparent)]
    Settings(#[from] lifecycle::settings::SettingsError),
}

impl ConfigError {
    /// `name` has `value`, which cannot be used because of `reason`.
    pub fn invalid(name: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// The value of `name`, if set and not blank.
pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The value of `name`, or `ConfigError::Missing`.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// Parses `name` with `FromStr`, or returns `default` when unset.
pub fn parsed<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Ok(parsed_if_set(name)?.unwrap_or(default))
}

/// Parses `name` with `FromStr`; `None` when unset.
pub fn parsed_if_set<T>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    optional(name)
        .map(|value| {
            value
                .parse()
                .map_err(|e: T::Err| ConfigError::invalid(name, &value, e.to_string()))
        })
        .transpose()
}

/// Whether an AWS endpoint override is configured (then S3 must use path-style addressing).
pub fn endpoint_override() -> bool {
    optional("AWS_ENDPOINT_URL").is_some() || optional("AWS_ENDPOINT_URL_S3").is_some()
}

/// Parses a boolean flag (`true/false`, `1/0`, `yes/no`, `on/off`, any case), or returns `default` when unset.
pub fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(value) => parse_flag(&value)
            .ok_or_else(|| ConfigError::invalid(name, &value, "expected true or false")),
    }
}

/// Parses a boolean word; `None` when it is not one.
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A comma-separated list (blank items dropped); empty when unset.
pub fn list(name: &'static str) -> Vec<String> {
    optional(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The clock: the system's, or `CLOCK_FIXED_AT` (RFC 3339) for tests and replays.
pub fn clock() -> Result<Box<dyn lifecycle::Clock>, ConfigError> {
    match optional("CLOCK_FIXED_AT") {
        None => Ok(Box::new(lifecycle::SystemClock)),
        Some(at) => {
            let at: chrono::DateTime<chrono::Utc> =
                at.parse().map_err(|e: chrono::ParseError| {
                    ConfigError::invalid("CLOCK_FIXED_AT", &at, e.to_string())
                })?;
            Ok(Box::new(lifecycle::FixedClock(at)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_common_spellings_only() {
        for yes in ["true", "TRUE", " 1 ", "yes", "On"] {
            assert_eq!(parse_flag(yes), Some(true), "{yes}");
        }
        for no in ["false", "0", "No", "off"] {
            assert_eq!(parse_flag(no), Some(false), "{no}");
        }
        assert_eq!(parse_flag("maybe"), None);
        assert_eq!(parse_flag(""), None);
    }
}
