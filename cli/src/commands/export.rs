//! `export`: every user to a CSV file, a folder or S3, through [`lifecycle::export::export_users`].

use std::path::Path;

use lifecycle::export::{ExportOptions, ExportOutcome, export_users};
use lifecycle::settings;
use lifecycle::{LocalStore, SystemClock};
use serde_json::json;
use sisense::Directory;

use super::Context;
use crate::args::ExportArgs;
use crate::error::{CliError, Exit};
use crate::location::{Location, folder_and_name};
use crate::output::Outcome;

/// Runs the export.
pub async fn run(ctx: &Context<'_>, args: &ExportArgs) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    export_to(&client, ctx, &args.out, args.page_size).await
}

/// Exports from `directory` to `out`: a `.csv` file (written whole or not at all), a folder or S3.
pub async fn export_to(
    directory: &dyn Directory,
    ctx: &Context<'_>,
    out: &Location,
    page_size: u32,
) -> Result<Outcome, CliError> {
    // The job's options through the mechanism the function uses: its defaults, then the flags.
    let mut flags = serde_json::Map::new();
    flags.insert("pageSize".into(), page_size.into());
    let settled: ExportOptions =
        settings::resolve(|_| None, flags).map_err(|e| CliError::Usage(e.to_string()))?;
    let options = |prefix: String| ExportOptions {
        prefix,
        progress: ctx.bars.progress(),
        ..settled.clone()
    };
    match out {
        Location::Local(path) if is_csv(path) => {
            to_file(directory, path, options(String::new())).await
        }
        _ => {
            let (store, prefix) = out.store_and_prefix(&ctx.aws).await?;
            let outcome = export_users(directory, store.as_ref(), &SystemClock, &options(prefix))
                .await
                .map_err(CliError::job("export"))?;
            Ok(described(&outcome, out))
        }
    }
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn described(outcome: &ExportOutcome, out: &Location) -> Outcome {
    Outcome {
        exit: Exit::Success,
        json: outcome.response(),
        text: format!(
            "exported {} users ({} bytes)\n  CSV:     {}\n  latest:  {}\n  summary: {}\n",
            outcome.users,
            outcome.bytes,
            out.object(&outcome.key),
            out.object(&outcome.latest_key),
            out.object(&outcome.summary_key)
        ),
    }
}

/// Exports into a staging folder beside `path`, then renames the CSV and its summary into place: a failed
/// export leaves no half-written file behind, and an earlier `path` stays until the new one is complete.
async fn to_file(
    directory: &dyn Directory,
    path: &Path,
    options: ExportOptions,
) -> Result<Outcome, CliError> {
    let (dir, name) = folder_and_name(path)?;
    let stem = name
        .rsplit_once('.')
        .map_or(name.as_str(), |(stem, _)| stem)
        .to_string();
    let staging = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let store = LocalStore::new(&staging);
    let result = export_users(directory, &store, &SystemClock, &options).await;
    let moved = match result {
        Ok(outcome) => {
            let summary = dir.join(format!("{stem}.summary.json"));
            let renamed = std::fs::rename(staging.join(&outcome.key), path)
                .map_err(|e| CliError::io("moving the export to", path, e))
                .and_then(|()| {
                    std::fs::rename(staging.join(&outcome.summary_key), &summary)
                        .map_err(|e| CliError::io("moving the summary to", &summary, e))
                });
            renamed.map(|()| (outcome, summary))
        }
        Err(e) => Err(CliError::job("export")(e)),
    };
    // The staging folder only ever holds this run's files (the dated CSV, latest.csv, the summary).
    let _ = std::fs::remove_dir_all(&staging);
    let (outcome, summary) = moved?;
    let (file, summary_name) = (path.display().to_string(), summary.display().to_string());
    Ok(Outcome {
        exit: Exit::Success,
        json: json!({
            "users": outcome.users,
            "bucket": dir.display().to_string(),
            "key": name,
            "summaryKey": summary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }),
        text: format!(
            "exported {} users ({} bytes)\n  CSV:     {file}\n  summary: {summary_name}\n",
            outcome.users, outcome.bytes
        ),
    })
}
