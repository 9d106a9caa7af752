//! `import`: users from a CSV file (local or S3) through [`lifecycle::import::import_users`], with the same
//! claim, checkpoints and report the Lambda function keeps.

use lifecycle::SystemClock;
use lifecycle::import::{
    ImportOptions, ImportOutcome, ImportRequest, ImportSummary, OnExisting, import_users,
    report_prefix_problem,
};
use lifecycle::settings;
use sisense::Directory;

use super::Context;
use crate::args::ImportArgs;
use crate::error::{CliError, Exit};
use crate::location::Location;
use crate::output::Outcome;

/// Runs the import.
pub async fn run(ctx: &Context<'_>, args: &ImportArgs) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let reports = args.reports.clone().unwrap_or_else(|| match &args.file {
        Location::S3 { bucket, .. } => Location::S3 {
            bucket: bucket.clone(),
            key: lifecycle::artefact::REPORT_PREFIX.into(),
        },
        Location::Local(_) => Location::Local("reports".into()),
    });
    let plan = Import {
        file: &args.file,
        reports: &reports,
        dry_run: args.dry_run,
        on_existing: args.on_existing,
        default_role: &args.default_role,
        resume: args.resume.as_deref(),
        tenants: args.tenants.given(),
        service_account: client.config().credentials.username().map(str::to_string),
    };
    import(&client, ctx, &plan).await
}

/// One import from the command line or the demo.
pub struct Import<'a> {
    /// The CSV.
    pub file: &'a Location,
    /// Where reports and import state go.
    pub reports: &'a Location,
    /// Plan only.
    pub dry_run: bool,
    /// Policy for existing users (`None`: the job's default).
    pub on_existing: Option<OnExisting>,
    /// Role for new users without one.
    pub default_role: &'a str,
    /// The run to continue.
    pub resume: Option<&'a str>,
    /// `--tenant`: the tenants the import may act in (default: the service account's own).
    pub tenants: Option<Vec<String>>,
    /// The account the import runs as.
    pub service_account: Option<String>,
}

/// Imports `plan.file` into `directory`.
pub async fn import(
    directory: &dyn Directory,
    ctx: &Context<'_>,
    plan: &Import<'_>,
) -> Result<Outcome, CliError> {
    let (input, key) = plan.file.store_and_key(&ctx.aws).await?;
    let (reports, report_prefix) = plan.reports.store_and_prefix(&ctx.aws).await?;
    if let (Location::S3 { .. }, Some(problem)) =
        (plan.reports, report_prefix_problem(&report_prefix))
    {
        return Err(CliError::Usage(format!(
            "--reports {}: {problem}",
            plan.reports
        )));
    }
    let run_id = plan.resume.map_or_else(
        || {
            format!(
                "cli-{}-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                std::process::id()
            )
        },
        str::to_string,
    );
    if !plan.dry_run && !ctx.quiet {
        eprintln!("import run {run_id}: if it is interrupted, continue it with --resume {run_id}");
    }
    // The job's options through the mechanism the function uses: its defaults, then the flags.
    let mut flags = serde_json::Map::new();
    flags.insert("dryRun".into(), plan.dry_run.into());
    flags.insert("defaultRole".into(), plan.default_role.into());
    flags.insert("tenants".into(), serde_json::json!(plan.tenants));
    if let Some(on_existing) = plan.on_existing {
        flags.insert("onExisting".into(), serde_json::json!(on_existing));
    }
    let settled: ImportOptions =
        settings::resolve(|_| None, flags).map_err(|e| CliError::Usage(e.to_string()))?;
    let request = ImportRequest {
        bucket: input.container(),
        key,
        dry_run: settled.dry_run,
        on_existing: settled.on_existing,
        run_id: run_id.clone(),
    };
    let options = ImportOptions {
        report_prefix,
        progress: ctx.bars.progress(),
        service_account: plan.service_account.clone(),
        ..settled
    };
    // Without a deadline one hop does the whole file; a `Continue` can only come from a resumed run.
    let (json, end) = loop {
        let outcome = import_users(
            directory,
            input.as_ref(),
            reports.as_ref(),
            &SystemClock,
            &request,
            &options,
        )
        .await
        .map_err(CliError::job("import"))?;
        let json = outcome.response();
        match outcome {
            ImportOutcome::Done { summary, duplicate } => break (json, Ok((summary, duplicate))),
            ImportOutcome::InProgress { owner } => break (json, Err(owner)),
            ImportOutcome::Continue { .. } => continue,
        }
    };
    Ok(match end {
        Ok((summary, duplicate)) => Outcome {
            exit: exit(&summary),
            text: text(&summary, duplicate, plan.reports),
            json,
        },
        Err(owner) => Outcome {
            exit: Exit::Refused,
            text: format!(
                "refused: run {owner} holds the import of {} and has not finished; if it was interrupted, \
                 continue it with --resume {owner}\n",
                plan.file
            ),
            json,
        },
    })
}

fn exit(summary: &ImportSummary) -> Exit {
    if summary.error.is_some() {
        Exit::Refused
    } else if summary.invalid > 0 || summary.failed > 0 {
        Exit::Partial
    } else {
        Exit::Success
    }
}

fn text(summary: &ImportSummary, duplicate: bool, reports: &Location) -> String {
    let mut out = String::new();
    if duplicate {
        out.push_str(
            "already imported (same file content); nothing done, the first run's summary follows\n",
        );
    }
    if let Some(error) = &summary.error {
        out.push_str(&format!("the file cannot be imported: {error}\n"));
    }
    let counts = if summary.dry_run {
        format!(
            "dry run of {} rows: {} would be created, {} updated, {} skipped, {} invalid",
            summary.rows,
            summary.would_create,
            summary.would_update,
            summary.skipped,
            summary.invalid
        )
    } else {
        format!(
            "imported {} rows: {} created, {} updated, {} skipped, {} invalid, {} failed",
            summary.rows,
            summary.created,
            summary.updated,
            summary.skipped,
            summary.invalid,
            summary.failed
        )
    };
    out.push_str(&counts);
    out.push('\n');
    if !summary.ignored_headers.is_empty() {
        out.push_str(&format!(
            "  ignored columns: {}\n",
            summary.ignored_headers.join(", ")
        ));
    }
    out.push_str(&format!(
        "  report:  {}\n  summary: {}\n",
        reports.object(&summary.report_key),
        reports.object(&summary.summary_key)
    ));
    out
}
