//! One error type for the three functions, with the stable `errorType`s alarms and callers rely on.

use lambda_runtime::Diagnostic;
use lifecycle::JobError;

use crate::env::ConfigError;
use crate::sisense_source::SetupError;

/// Why an invocation failed.
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
    /// The job failed as a whole (per-row and per-user problems are in its report instead).
    #[error("{0}")]
    Job(#[from] JobError),
}

impl FunctionError {
    /// The stable error type reported to Lambda.
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::BadRequest(_) => "BadRequest",
            FunctionError::Config(_) => "ConfigError",
            FunctionError::Setup(e) => e.error_type(),
            FunctionError::Job(job) => match job {
                JobError::Sisense(sisense::Error::Unauthorized { .. }) => "SisenseUnauthorized",
                JobError::Sisense(e) if e.is_retryable() => "SisenseUnavailable",
                JobError::Sisense(_) => "SisenseError",
                JobError::Config(_) => "ConfigError",
                JobError::CannotJudgeStaleness { .. } => "StalenessUnknown",
                JobError::DeactivationUnsupported { .. } => "DeactivationUnsupported",
                JobError::SignalUnhealthy { .. } => "SignalUnhealthy",
                JobError::RunInProgress { .. } => "RunInProgress",
                JobError::Incomplete { .. } => "ListingIncomplete",
                JobError::InputMissing(_) => "InputMissing",
                JobError::Notify(_) => "NotifyError",
                JobError::Store(_) | JobError::Csv(_) => "StorageError",
            },
        }
    }

    /// The Sisense error inside, if any.
    pub fn sisense(&self) -> Option<&sisense::Error> {
        match self {
            FunctionError::Job(job) => job.sisense(),
            FunctionError::BadRequest(_) | FunctionError::Config(_) | FunctionError::Setup(_) => {
                None
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn unauthorized() -> sisense::Error {
        sisense::Error::Unauthorized {
            code: None,
            message: "m".into(),
            body: String::new(),
        }
    }

    #[test]
    fn error_types_are_stable() {
        let cases: [(&str, &str); 8] = [
            (
                FunctionError::Job(JobError::DeactivationUnsupported {
                    family: "f",
                    user: "u".into(),
                    not_attempted: 3,
                    report: "b/k".into(),
                })
                .error_type(),
                "DeactivationUnsupported",
            ),
            (
                FunctionError::Job(JobError::Incomplete {
                    listed: 1,
                    counted: 2,
                })
                .error_type(),
                "ListingIncomplete",
            ),
            (
                FunctionError::Job(JobError::Sisense(unauthorized())).error_type(),
                "SisenseUnauthorized",
            ),
            (
                FunctionError::Config(ConfigError::Missing("EXPORT_BUCKET")).error_type(),
                "ConfigError",
            ),
            (
                FunctionError::Job(JobError::from(sisense::ResolveError::Unknown {
                    kind: "role",
                    name: "x".into(),
                    known: String::new(),
                }))
                .error_type(),
                "ConfigError",
            ),
            (
                FunctionError::Job(JobError::InputMissing("b/k".into())).error_type(),
                "InputMissing",
            ),
            (
                FunctionError::Job(JobError::Sisense(sisense::Error::Timeout {
                    method: "GET".into(),
                    path: "/".into(),
                }))
                .error_type(),
                "SisenseUnavailable",
            ),
            (
                FunctionError::BadRequest("x".into()).error_type(),
                "BadRequest",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        let diagnostic: Diagnostic = FunctionError::Job(JobError::Sisense(unauthorized())).into();
        assert_eq!(diagnostic.error_type, "SisenseUnauthorized");
    }
}
