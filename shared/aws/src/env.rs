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
    match optional(name) {
        None => Ok(default),
        Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            value,
            reason: e.to_string(),
        }),
    }
}

/// Whether an AWS endpoint override is configured (then S3 must use path-style addressing).
pub fn endpoint_override() -> bool {
    optional("AWS_ENDPOINT_URL").is_some() || optional("AWS_ENDPOINT_URL_S3").is_some()
}
