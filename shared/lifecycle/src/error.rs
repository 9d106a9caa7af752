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
    /// The notice of a run could not be sent; nobody was warned and nothing was changed.
    #[error("{0}; nobody was warned and nothing was changed")]
    Notify(#[from] crate::notify::NotifyError),
    /// The input object does not exist.
    #[error("input {0} does not exist")]
    InputMissing(String),
    /// The API reports no last login or activity (Periscope) and no activity feed was given, so no user can be
    /// judged stale.
    #[error(
        "{family} reports no last login or activity for its users, so staleness cannot be judged; \
         no user was listed or changed (give an activity feed, ACTIVITY_FEED, such as the site's usage data or \
         your identity provider's sign-in export)"
    )]
    CannotJudgeStaleness {
        /// The API family, as people name it.
        family: &'static str,
    },
    /// A live `deactivate` run's first verified write was accepted but not applied: this installation does not
    /// deactivate users through its REST API (the published contract's `PATCH /api/v1/users/{id}` has no
    /// `active`). Nothing else was written; the report lists the rest as `not_attempted`.
    #[error(
        "{family} accepted the deactivation of user {user} but did not apply it (the user reads back active): this \
         installation does not support deactivating users through its REST API. No other user was changed; \
         {not_attempted} planned user(s) are reported not_attempted in {report}. Use action `demote` (role \
         Viewer, groups cleared) or `delete` (snapshot first, owners protected) instead"
    )]
    DeactivationUnsupported {
        /// The API family, as people name it.
        family: &'static str,
        /// The id of the user the probe wrote to.
        user: String,
        /// Planned users not attempted.
        not_attempted: u64,
        /// Where the run's report is (`bucket/key`).
        report: String,
    },
    /// The activity evidence as a whole failed the health check, so a live run refused to act: nothing was
    /// written to Sisense; the report and summary say why.
    #[error(
        "the activity evidence is not healthy enough to act on people: {reasons}. Nothing was changed in \
         Sisense; the report is {report}"
    )]
    SignalUnhealthy {
        /// Why, joined.
        reasons: String,
        /// Where the run's report is (`bucket/key`).
        report: String,
    },
    /// Another live run holds the job's lock: nothing was done.
    #[error(
        "another live run, {run_id} (since {since}), is in progress: nothing was done. It holds {lock} until \
         {until} unless it ends first; a run that died is taken over after that"
    )]
    RunInProgress {
        /// The run holding the lock.
        run_id: String,
        /// When it took the lock.
        since: String,
        /// When its lease runs out.
        until: String,
        /// The lock's key.
        lock: String,
    },
    /// A listing ended with fewer users than the server counts, so the export cannot prove it is complete.
    #[error(
        "the listing returned {listed} users but Sisense counts {counted}: the export cannot prove it is \
         complete, so it was not published (latest.csv is unchanged)"
    )]
    Incomplete {
        /// Users the listing returned.
        listed: u64,
        /// Users the server counts (the lower of the counts before and after the listing).
        counted: u64,
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
            | JobError::Notify(_)
            | JobError::InputMissing(_)
            | JobError::CannotJudgeStaleness { .. }
            | JobError::DeactivationUnsupported { .. }
            | JobError::SignalUnhealthy { .. }
            | JobError::RunInProgress { .. }
            | JobError::Incomplete { .. } => None,
        }
    }

    /// Whether the job refused (bad options, a question the directory cannot answer, or an action the
    /// installation does not support, found by one probe write).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            JobError::Config(_)
                | JobError::CannotJudgeStaleness { .. }
                | JobError::DeactivationUnsupported { .. }
                | JobError::SignalUnhealthy { .. }
                | JobError::RunInProgress { .. }
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
