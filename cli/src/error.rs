//! Why a command could not run, and the exit code each failure maps to.

use std::process::ExitCode;

use lifecycle::{JobError, StoreError};

/// How a command ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything done (dry runs and already-imported files included).
    Success = 0,
    /// The job could not run: Sisense, storage or credentials failed.
    Failure = 1,
    /// Bad flags.
    Usage = 2,
    /// The job ran but some rows or users failed; the report says which.
    Partial = 3,
    /// The job refused: over the safety caps, a file that cannot be imported, an import another run holds, a live run while another is in progress (`RunInProgress`).
    Refused = 4,
    /// A live run refused to act on people: the activity evidence failed its health check (`SignalUnhealthy`).
    SignalUnhealthy = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Why a command failed. Never carries a password or token.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Flags that do not fit together, or a missing credential.
    #[error("{0}")]
    Usage(String),
    /// A refusal before anything was written.
    #[error("refused: {0}")]
    Refused(String),
    /// The Sisense secret could not be read or used.
    #[error(transparent)]
    Secret(#[from] sl_aws::SecretError),
    /// Sisense failed.
    #[error("Sisense: {0}")]
    Sisense(#[from] sisense::Error),
    /// Local files or S3 failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A job (`export`, `import`, `deactivate`) could not run.
    #[error("{job} failed: {source}")]
    Job {
        /// The command.
        job: &'static str,
        /// Why (boxed: the job's error is large and rare).
        source: Box<JobError>,
    },
    /// A local file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The export CSV given to `report` is not one.
    #[error("{0}")]
    BadExport(String),
}

impl CliError {
    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Job { source, .. }
                if matches!(**source, JobError::SignalUnhealthy { .. }) =>
            {
                Exit::SignalUnhealthy
            }
            CliError::Refused(_) | CliError::BadExport(_) => Exit::Refused,
            CliError::Job { source, .. } if source.is_refusal() => Exit::Refused,
            _ => Exit::Failure,
        }
    }

    /// The failure of the job a command ran.
    pub fn job(job: &'static str) -> impl Fn(JobError) -> CliError {
        move |source| CliError::Job {
            job,
            source: Box::new(source),
        }
    }

    /// An I/O failure on `path`.
    pub fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        CliError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }
}
