//! The command line: connection options shared by every command, and one subcommand per job.

use clap::{ArgAction, Args, Parser, Subcommand};
use lifecycle::import::DEFAULT_ROLE;
use lifecycle::import::OnExisting;
use lifecycle::stale::{
    Action, DEFAULT_INACTIVE_DAYS, DEFAULT_MAX_ACTION_PERCENT, DEFAULT_MAX_ACTIONS,
    DEFAULT_PROTECTED_ROLES,
};
use secrecy::SecretString;

use crate::location::Location;

/// Exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "Exit codes: 0 success (dry runs and already-imported files included), \
1 failure (Sisense, storage or credentials), 2 usage error, 3 partial failure (some rows or users failed; \
see the report), 4 refused (over the safety caps, a file that cannot be imported, an import another run holds, a live deactivate or restore while another live run is in progress), \
5 a live deactivate refused because the activity evidence failed its health check (SignalUnhealthy).";

/// sisense-lifecycle: export, import and deactivate Sisense users from a laptop, with the same jobs the Lambda
/// functions run.
#[derive(Debug, Parser)]
#[command(name = "sisense-lifecycle", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// How to reach Sisense.
    #[command(flatten, next_help_heading = "Connection")]
    pub connection: Connection,
    /// Print the job's JSON summary on stdout (what the Lambda function returns) instead of text.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    /// No progress bars (they are also off when stderr is not a terminal).
    #[arg(long, short, global = true, help_heading = "Output")]
    pub quiet: bool,
    /// More log lines on stderr (-v info, -vv debug); RUST_LOG wins when set.
    #[arg(long, short, global = true, action = ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sisense credentials: a URL with a username and password or an API token, or a Secrets Manager secret.
#[derive(Debug, Args)]
pub struct Connection {
    /// Sisense base URL (https, or http on loopback only).
    #[arg(long, env = "SISENSE_URL", global = true)]
    pub url: Option<String>,
    /// Login name of the service account.
    #[arg(long, env = "SISENSE_USERNAME", global = true)]
    pub username: Option<String>,
    /// Its password; prefer the environment variable (flags show in the process list).
    #[arg(long, env = "SISENSE_PASSWORD", hide_env_values = true, global = true, value_parser = secret)]
    pub password: Option<SecretString>,
    /// An API token instead of username and password.
    #[arg(long, env = "SISENSE_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub token: Option<SecretString>,
    /// Legacy Sisense for Windows (REST v0.9): the REST API token that signs every request's `x-api-key`; with
    /// the username (an email) and password it selects the legacy API.
    #[arg(long, env = "SISENSE_REST_API_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub rest_api_token: Option<SecretString>,
    /// Secrets Manager name or ARN of the secret the Lambda functions use (instead of the options above).
    #[arg(long, env = "SISENSE_SECRET_ID", global = true)]
    pub secret_id: Option<String>,
    /// Writes per second to Sisense (0 disables the limit).
    #[arg(long, env = "SISENSE_RATE_LIMIT", global = true, default_value_t = sisense::DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// Reads (GETs) per second to Sisense, a budget of their own (0 disables the limit).
    #[arg(long, env = "SISENSE_READ_RATE_LIMIT", global = true, default_value_t = sisense::DEFAULT_READ_RATE_LIMIT)]
    pub read_rate_limit: u32,
    /// Timeout of one HTTP attempt, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// A PEM file of the private certificate authority Sisense's certificate comes from, trusted besides the
    /// public roots (TLS verification is never turned off).
    #[arg(long, env = "SISENSE_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export every user (with role and group names) to CSV, plus a summary.
    Export(ExportArgs),
    /// Create (or update) users from a CSV file, with a per-row report.
    Import(ImportArgs),
    /// Deactivate, demote or delete users not seen for N days, under safety caps, with an audit report.
    Deactivate(DeactivateArgs),
    /// Undo a live deactivate run from its report: role and groups, active flag, deleted users re-created with
    /// their dashboards handed back.
    Restore(RestoreArgs),
    /// List the installation's roles.
    Roles,
    /// List the installation's groups.
    Groups,
    /// Run export, a bulk import and a dry-run deactivation on the embedded Sisense simulator.
    Demo(DemoArgs),
    /// Write a self-contained HTML access review from an export CSV.
    Report(ReportArgs),
    /// Serve the demo's simulated Sisense on 127.0.0.1 until Ctrl-C, to try every other command against it.
    Simulator(SimulatorArgs),
    /// Read-only checks of what this Sisense can tell (paging, count, activity signals, dashboards, sessions),
    /// with a verdict per job. Run it first.
    Doctor(DoctorArgs),
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A CSV file (the summary goes beside it as NAME.summary.json), a folder, or s3://bucket/prefix/ (dated
    /// CSV, latest.csv and summary, as the Lambda writes them).
    #[arg(long, default_value = "users.csv")]
    pub out: Location,
    /// Users per page (the job's default, as the function's EXPORT_PAGE_SIZE).
    #[arg(long, default_value_t = lifecycle::export::DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file, or s3://bucket/key.csv.
    pub file: Location,
    /// Plan and report only; write nothing to Sisense.
    #[arg(long)]
    pub dry_run: bool,
    /// What to do with users that exist already: skip (the job's default), update or error.
    #[arg(long)]
    pub on_existing: Option<OnExisting>,
    /// Role of new users whose role cell is empty.
    #[arg(long, default_value = DEFAULT_ROLE)]
    pub default_role: String,
    /// Where reports go: a folder, or s3://bucket/prefix/ (default: ./reports, or s3://INPUT-BUCKET/reports/).
    #[arg(long)]
    pub reports: Option<Location>,
    /// Continue an interrupted import: the run id it printed (or that `import` names when refusing).
    #[arg(long)]
    pub resume: Option<String>,
    /// The tenants the run may act in.
    #[command(flatten)]
    pub tenants: TenantArgs,
}

/// `deactivate`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Policy")]
pub struct DeactivateArgs {
    /// A user last seen more than this many days ago is stale.
    #[arg(long, default_value_t = DEFAULT_INACTIVE_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub inactive_days: u32,
    /// A user never seen is stale once created more than this many days ago (default: --inactive-days).
    #[arg(long)]
    pub grace_days: Option<u32>,
    /// What to do to a stale user: demote (to Viewer, out of every group; undone by restore; the job's
    /// default), deactivate (where the installation honours it: probed) or delete.
    #[arg(long)]
    pub action: Option<Action>,
    /// Act for real: without it the run only plans and reports (as the function's DRY_RUN=true), so a bare
    /// `deactivate` never changes anyone.
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// Plan and report only (the default; kept for scripts that say so).
    #[arg(long)]
    pub dry_run: bool,
    /// Most users acted on in one run.
    #[arg(long, default_value_t = DEFAULT_MAX_ACTIONS)]
    pub max_actions: u32,
    /// Most users acted on in one run, in percent of the active users.
    #[arg(long, default_value_t = DEFAULT_MAX_ACTION_PERCENT, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_action_percent: u32,
    /// A role never acted on (repeatable; default super and admin).
    #[arg(long = "protect-role", default_values = DEFAULT_PROTECTED_ROLES)]
    pub protected_roles: Vec<String>,
    /// An email or user name never acted on (repeatable; the service account always is).
    #[arg(long = "protect-user")]
    pub protected_users: Vec<String>,
    /// A group whose members are never acted on (repeatable).
    #[arg(long = "protect-group")]
    pub protected_groups: Vec<String>,
    /// Pass the caps for this run.
    #[arg(long)]
    pub force: bool,
    /// Email of an existing user who receives the dashboards of users `delete` removes (without it, `delete`
    /// leaves every dashboard owner alone: Sisense deletes a user's dashboards with the user).
    #[arg(long)]
    pub transfer_dashboards_to: Option<String>,
    /// Do not revoke the tokens of users acted on (by default they are, so the change takes effect now).
    #[arg(long)]
    pub no_revoke_sessions: bool,
    /// Notice before action: warn stale users first (recorded in the notice ledger beside the reports) and act
    /// only on those warned at least this many days ago who are still stale; 0 (the job's default) turns notice
    /// off. Dry runs write no ledger.
    #[arg(long)]
    pub notice_days: Option<u32>,
    /// Where the report goes: a folder, or s3://bucket/prefix/.
    #[arg(long, default_value = "reports")]
    pub reports: Location,
    /// Judge staleness as of this instant (RFC 3339) instead of now: replays and tests.
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The activity evidence.
    #[command(flatten, next_help_heading = "Activity evidence")]
    pub evidence: EvidenceArgs,
    /// The tenants the run may act in.
    #[command(flatten)]
    pub tenants: TenantArgs,
}

/// The tenants a run may act in (`deactivate`, `import`).
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// A tenant the run may act in (repeatable or comma-separated; `*` for every tenant; default: the service
    /// account's own). Only on installations with tenants.
    #[arg(
        long = "tenant",
        value_name = "TENANT",
        env = "TENANTS",
        value_delimiter = ',',
        help_heading = "Policy"
    )]
    pub names: Vec<String>,
}

impl TenantArgs {
    /// The names given, or `None` (the service account's own tenant).
    pub fn given(&self) -> Option<Vec<String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
}

/// The activity evidence and its health check (`deactivate`, `doctor`).
#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// An activity feed: a CSV file or folder, or s3://bucket/key.csv or s3://bucket/prefix/, with an email and a
    /// last-seen column (an IdP sign-in export, say): one more signal.
    #[arg(long, env = "ACTIVITY_FEED")]
    pub activity_feed: Option<Location>,
    /// A feed whose newest entry is older than this many days is refused (stale evidence is no evidence).
    #[arg(long, default_value_t = lifecycle::stale::DEFAULT_FEED_MAX_AGE_DAYS)]
    pub activity_feed_max_age_days: u32,
    /// Judge SSO users by lastLogin too: only if this installation writes it for SSO logins.
    #[arg(long)]
    pub trust_last_login: bool,
    /// Health check: least percentage of activated users seen within --inactive-days for a live run to act.
    #[arg(long, default_value_t = lifecycle::stale::DEFAULT_MIN_RECENT_PERCENT, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub min_recent_percent: u32,
    /// Health check: largest percentage of activated users whose activity is unknown for a live run to act.
    #[arg(long, default_value_t = lifecycle::stale::DEFAULT_MAX_UNKNOWN_PERCENT, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_unknown_percent: u32,
}

/// `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A user last seen more than this many days ago is stale.
    #[arg(long, default_value_t = DEFAULT_INACTIVE_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub inactive_days: u32,
    /// Judge as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The activity evidence.
    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

/// `restore`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Policy")]
pub struct RestoreArgs {
    /// The deactivate report to undo: a local path (…/deactivations/dt=…/run-….csv) or s3://bucket/key.
    pub report: Location,
    /// Restore for real: without it the restore only plans and reports (as the function's restore does).
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// Plan and report only (the default; kept for scripts that say so).
    #[arg(long)]
    pub dry_run: bool,
    /// Most users restored in one run.
    #[arg(long, default_value_t = DEFAULT_MAX_ACTIONS)]
    pub max_actions: u32,
    /// Most users restored in one run, in percent of the active users.
    #[arg(long, default_value_t = DEFAULT_MAX_ACTION_PERCENT, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_action_percent: u32,
    /// Pass the caps for this run.
    #[arg(long)]
    pub force: bool,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder everything is written to (replaced when it holds an earlier demo; refused when it holds anything
    /// else).
    #[arg(long, default_value = "demo-out")]
    pub out: std::path::PathBuf,
    /// Users in the simulated installation.
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
}

/// `simulator`.
#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Users in the simulated installation.
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// An export CSV file, s3://bucket/key.csv, or s3://bucket/prefix/ (its latest.csv).
    pub input: Location,
    /// The HTML file to write.
    #[arg(long, default_value = "access-review.html")]
    pub out: std::path::PathBuf,
    /// A user last seen more than this many days ago is a stale candidate.
    #[arg(long, default_value_t = DEFAULT_INACTIVE_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub inactive_days: u32,
    /// A user never seen is a stale candidate once created more than this many days ago (default:
    /// --inactive-days).
    #[arg(long)]
    pub grace_days: Option<u32>,
    /// Judge ages as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// A deactivate report (a dry run's, say): adds the dashboards each stale candidate owns.
    #[arg(long)]
    pub plan: Option<Location>,
}
