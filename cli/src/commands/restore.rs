//! `restore`: undoes a live deactivate run ([`lifecycle::restore::restore_users`]) from its report.

use std::path::{Component, Path, PathBuf};

use lifecycle::restore::{RestoreOptions, RestoreSummary, restore_users};
use lifecycle::{LocalStore, ObjectStore, SystemClock};

use super::Context;
use crate::args::RestoreArgs;
use crate::error::{CliError, Exit};
use crate::location::Location;
use crate::output::Outcome;

/// Runs the restore.
pub async fn run(ctx: &Context<'_>, args: &RestoreArgs) -> Result<Outcome, CliError> {
    let (store, key, shown) = open(&args.report, ctx).await?;
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let mut options = RestoreOptions {
        report_key: key,
        dry_run: !args.apply,
        max_actions: args.max_actions,
        max_action_percent: args.max_action_percent,
        force: args.force,
        progress: ctx.bars.progress(),
    };
    let mut summary = restore_users(&client, store.as_ref(), &SystemClock, &options)
        .await
        .map_err(CliError::job("restore"))?;
    // At a terminal without --apply: the plan, then the question.
    let ask = !args.dry_run && options.dry_run && crate::confirm::can_ask(ctx.json);
    if ask && summary.to_restore > 0 && !summary.aborted {
        let question = format!("restore these {} users now?", summary.to_restore);
        if !crate::confirm::ask(&headline(&summary), &question) {
            return Ok(outcome(&summary, crate::confirm::DECLINED.into()));
        }
        options.dry_run = false;
        summary = restore_users(&client, store.as_ref(), &SystemClock, &options)
            .await
            .map_err(CliError::job("restore"))?;
    }
    let text = format!(
        "{}\n  report:  {}\n  summary: {}\n",
        headline(&summary),
        shown.object(&summary.report_key),
        shown.object(&summary.summary_key)
    );
    Ok(outcome(&summary, text))
}

/// The restore's outcome, with `text` to print.
fn outcome(summary: &RestoreSummary, text: String) -> Outcome {
    Outcome {
        exit: if summary.aborted {
            Exit::Refused
        } else if summary.failed > 0 || summary.not_applied > 0 {
            Exit::Partial
        } else {
            Exit::Success
        },
        json: serde_json::to_value(summary).unwrap_or_default(),
        text,
    }
}

/// The store the report's snapshots resolve in, the report's key there, and that store's location (for
/// messages). A local report's store is the folder holding its `deactivations/` folder, as `deactivate` wrote it.
async fn open(
    report: &Location,
    ctx: &Context<'_>,
) -> Result<(Box<dyn ObjectStore>, String, Location), CliError> {
    match report {
        Location::Local(path) => {
            let (root, key) = split_at_deactivations(path)?;
            Ok((Box::new(LocalStore::new(&root)), key, Location::Local(root)))
        }
        Location::S3 { .. } => {
            let (store, key) = report.store_and_key(&ctx.aws).await?;
            Ok((store, key, report.clone()))
        }
    }
}

/// `reports/deactivations/dt=…/run-….csv` -> (`reports`, `deactivations/dt=…/run-….csv`).
fn split_at_deactivations(path: &Path) -> Result<(PathBuf, String), CliError> {
    let parts: Vec<Component<'_>> = path.components().collect();
    let at = parts
        .iter()
        .rposition(|c| c.as_os_str() == "deactivations")
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not a deactivate report (expected …/deactivations/dt=YYYY-MM-DD/run-….csv)",
                path.display()
            ))
        })?;
    let root: PathBuf = parts[..at].iter().collect();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    let key = parts[at..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    Ok((root, key))
}

fn headline(s: &RestoreSummary) -> String {
    let counts = format!(
        "{} users in the report were acted on: {} to restore, {} already restored",
        s.candidates, s.to_restore, s.already_restored
    );
    if s.aborted {
        format!(
            "{counts}\nrefused: {} users exceed the cap of {}; nothing changed (raise --max-actions / \
             --max-action-percent, or pass --force)",
            s.to_restore, s.cap
        )
    } else if s.dry_run {
        format!(
            "{counts}\ndry run: would restore {} users; nothing changed (--apply restores)",
            s.to_restore
        )
    } else {
        format!(
            "{counts}\nrestored {}, {} not applied, {} failed; {} dashboards handed back",
            s.restored, s.not_applied, s.failed, s.dashboards_returned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_report_is_read_from_the_folder_holding_deactivations() {
        let (root, key) = split_at_deactivations(Path::new(
            "out/reports/deactivations/dt=2026-11-22/run-x.csv",
        ))
        .unwrap();
        assert_eq!(root, PathBuf::from("out/reports"));
        assert_eq!(key, "deactivations/dt=2026-11-22/run-x.csv");
        let (root, _) =
            split_at_deactivations(Path::new("deactivations/dt=2026-11-22/run-x.csv")).unwrap();
        assert_eq!(root, PathBuf::from("."));
        assert!(split_at_deactivations(Path::new("users.csv")).is_err());
    }
}
