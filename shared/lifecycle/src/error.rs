//! Why a job could not run, shared by the three jobs. Per-row and per-user problems are not errors: they are
//! rows of the job's report.

use sisense::ResolveError;

use crate::store::StoreError;

/// A job's failure as a whole. Nothing is left half-written: an export's upload is aborted and `latest.csv`
/// untouched; an import's checkpoint and a stale run's report say how far they got.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The options, or a name they give (a protected role or group, demote's Viewer role), are not usable.
    #[error("configuration: {0}")]
    Config(String),
    /// Sisense failed (auth, network, malformed answers).
    #[error("Sisense: {0}")]
    Sisense(#[from] sisense::Error),
    /// The object store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Writing a CSV failed.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The input object does not exist.
    #[error("input {0} does not exist")]
    InputMissing(String),
    /// The API reports no last login or activity (Periscope), so no user can be judged stale.
    #[error(
        "{family} reports no last login or activity for its users, so staleness cannot be judged; \
         no user was listed or changed (review inactive users with the site's own usage data instead)"
    )]
    CannotJudgeStaleness {
        /// The API family, as people name it.
        family: &'static str,
    },
}

impl From<ResolveError> for JobError {
    fn from(e: ResolveError) -> Self {
        JobError::Config(e.to_string())
    }
}

impl JobError {
    /// The Sisense error inside, if any.
    pub fn sisense(&self) -> Option<&sisense::Error> {
        match self {
            JobError::Sisense(e) => Some(e),
            JobError::Config(_)
            | JobError::Store(_)
            | JobError::Csv(_)
            | JobError::InputMissing(_)
            | JobError::CannotJudgeStaleness { .. } => None,
        }
    }

    /// Whether the job refused before doing anything (bad options, or a question the directory cannot answer).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            JobError::Config(_) | JobError::CannotJudgeStaleness { .. }
        )
    }
}

/// An option outside its range, named as the option struct names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("option {option}={value} is invalid: {reason}")]
pub struct InvalidOption {
    /// The option (the payload's camelCase name).
    pub option: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl InvalidOption {
    /// `option` has `value`, which cannot be used because of `reason`.
    pub fn new(option: &'static str, value: impl ToString, reason: &'static str) -> Self {
        InvalidOption {
            option,
            value: value.to_string(),
            reason,
        }
    }
}
