//! One error type for the three functions, with the stable `errorType`s alarms and callers rely on.

use lambda_runtime::Diagnostic;
use lifecycle::export::ExportError;
use lifecycle::import::ImportError;
use lifecycle::stale::StaleError;

use crate::env::ConfigError;
use crate::sisense_source::SetupError;

/// A job's failure as the function reports it.
pub trait JobFailure: std::error::Error {
    /// The Sisense error inside, if any (mapped to `SisenseUnauthorized`, `SisenseUnavailable`, `SisenseError`).
    fn sisense(&self) -> Option<&sisense::Error>;
    /// The stable type of the other failures.
    fn error_type(&self) -> &'static str;
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError<J: JobFailure> {
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
    Job(J),
}

impl<J: JobFailure> FunctionError<J> {
    /// The stable error type reported to Lambda.
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::BadRequest(_) => "BadRequest",
            FunctionError::Config(_) => "ConfigError",
            FunctionError::Setup(e) => e.error_type(),
            FunctionError::Job(job) => match job.sisense() {
                Some(sisense::Error::Unauthorized { .. }) => "SisenseUnauthorized",
                Some(e) if e.is_retryable() => "SisenseUnavailable",
                Some(_) => "SisenseError",
                None => job.error_type(),
            },
        }
    }

    /// The Sisense error inside, if any.
    pub fn sisense(&self) -> Option<&sisense::Error> {
        match self {
            FunctionError::Job(job) => job.sisense(),
            _ => None,
        }
    }
}

impl<J: JobFailure> From<FunctionError<J>> for Diagnostic {
    fn from(e: FunctionError<J>) -> Self {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

impl JobFailure for ExportError {
    fn sisense(&self) -> Option<&sisense::Error> {
        match self {
            ExportError::Sisense(e) => Some(e),
            _ => None,
        }
    }

    fn error_type(&self) -> &'static str {
        "StorageError"
    }
}

impl JobFailure for StaleError {
    fn sisense(&self) -> Option<&sisense::Error> {
        match self {
            StaleError::Sisense(e) => Some(e),
            _ => None,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            StaleError::Config(_) => "ConfigError",
            StaleError::CannotJudgeStaleness { .. } => "StalenessUnknown",
            _ => "StorageError",
        }
    }
}

impl JobFailure for ImportError {
    fn sisense(&self) -> Option<&sisense::Error> {
        match self {
            ImportError::Sisense(e) => Some(e),
            _ => None,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ImportError::Missing(_) => "InputMissing",
            _ => "StorageError",
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
        let cases: [(&str, &str); 6] = [
            (
                FunctionError::<ExportError>::Job(ExportError::Sisense(unauthorized()))
                    .error_type(),
                "SisenseUnauthorized",
            ),
            (
                FunctionError::<ExportError>::Config(ConfigError::Missing("EXPORT_BUCKET"))
                    .error_type(),
                "ConfigError",
            ),
            (
                FunctionError::<StaleError>::Job(StaleError::Config(
                    sisense::ResolveError::Unknown {
                        kind: "role",
                        name: "x".into(),
                        known: String::new(),
                    },
                ))
                .error_type(),
                "ConfigError",
            ),
            (
                FunctionError::<ImportError>::Job(ImportError::Missing("b/k".into())).error_type(),
                "InputMissing",
            ),
            (
                FunctionError::<ImportError>::Job(ImportError::Sisense(sisense::Error::Timeout {
                    method: "GET".into(),
                    path: "/".into(),
                }))
                .error_type(),
                "SisenseUnavailable",
            ),
            (
                FunctionError::<ImportError>::BadRequest("x".into()).error_type(),
                "BadRequest",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        let diagnostic: Diagnostic =
            FunctionError::<ExportError>::Job(ExportError::Sisense(unauthorized())).into();
        assert_eq!(diagnostic.error_type, "SisenseUnauthorized");
    }
}
