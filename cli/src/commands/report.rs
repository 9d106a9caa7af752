//! `report`: the HTML access review of an export CSV (a file, an object, or the latest export under a prefix).

use std::path::Path;

use chrono::{DateTime, Utc};
use lifecycle::artefact::normalise_prefix;
use lifecycle::stale::Thresholds;
use serde_json::json;

use super::Context;
use crate::access_review::history::{self, History};
use crate::access_review::{Review, html};
use crate::args::ReportArgs;
use crate::error::{CliError, Exit};
use crate::location::Location;
use crate::location::folder_and_name;
use crate::output::Outcome;
use lifecycle::LocalStore;

/// Reads the export (and the deactivation plan, if given) and writes the page.
pub async fn run(ctx: &Context<'_>, args: &ReportArgs) -> Result<Outcome, CliError> {
    let plan = match &args.plan {
        None => None,
        Some(Location::Local(path)) => {
            Some(std::fs::read(path).map_err(|e| CliError::io("reading", path, e))?)
        }
        Some(location) => {
            let (store, key) = location.store_and_key(&ctx.aws).await?;
            Some(store.get(&key).await?.ok_or_else(|| {
                CliError::BadExport(format!("no deactivation report at {location}"))
            })?)
        }
    };
    let (bytes, source, history) = match &args.input {
        Location::Local(path) => {
            let (folder, name) = folder_and_name(path)?;
            let history = history::load(&LocalStore::new(folder), &history::prefix_of(&name)).await;
            (
                std::fs::read(path).map_err(|e| CliError::io("reading", path, e))?,
                path.display().to_string(),
                history,
            )
        }
        Location::S3 { bucket, key } => {
            let key = if key.is_empty() || key.ends_with('/') {
                format!("{}latest.csv", normalise_prefix(key))
            } else {
                key.clone()
            };
            let (store, _) = args.input.store_and_prefix(&ctx.aws).await?;
            let source = format!("s3://{bucket}/{key}");
            let bytes = store
                .get(&key)
                .await?
                .ok_or_else(|| CliError::BadExport(format!("no export at {source}")))?;
            let history = history::load(store.as_ref(), &history::prefix_of(&key)).await;
            (bytes, source, history)
        }
    };
    // The history is an addition to the review: a prefix without readable summaries still gets its page.
    let history = history
        .inspect_err(
            |e| tracing::warn!(error = %e, "no history: the stored summaries could not be read"),
        )
        .ok();
    write(
        &bytes,
        &source,
        &args.out,
        args.now.unwrap_or_else(Utc::now),
        Thresholds::new(args.inactive_days, args.grace_days),
        plan.as_deref(),
        history,
    )
}

/// Writes the access review of `bytes` (an export CSV read from `source`) to `out`, with the dashboards each
/// candidate owns when a deactivation report (`plan`) is given.
pub fn write(
    bytes: &[u8],
    source: &str,
    out: &Path,
    now: DateTime<Utc>,
    thresholds: Thresholds,
    plan: Option<&[u8]>,
    history: Option<History>,
) -> Result<Outcome, CliError> {
    let mut review = Review::from_csv(bytes, now, thresholds)
        .map_err(|e| CliError::BadExport(format!("{source}: {e}")))?;
    review.history = history;
    if let Some(plan) = plan {
        review
            .with_dashboards(plan)
            .map_err(|e| CliError::BadExport(format!("--plan: {e}")))?;
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
    }
    std::fs::write(out, html::render(&review, source))
        .map_err(|e| CliError::io("writing", out, e))?;
    let s = &review.summary;
    Ok(Outcome {
        exit: Exit::Success,
        json: json!({
            "html": out.display().to_string(),
            "source": source,
            "users": s.users,
            "active": s.active,
            "pendingInvitations": s.pending_invitations,
            "neverLoggedIn": s.never_logged_in,
            "staleCandidates": review.candidates.len(),
            "seats": s.seats,
            "reclaimable": s.seats.reclaimable(),
            "historyPoints": review.history.as_ref().map_or(0, |h| h.points.len()),
        }),
        text: format!(
            "access review of {} users ({} activated, {} pending invitations, {} stale candidates)\n  page: {}\n",
            s.users,
            s.active,
            s.pending_invitations,
            review.candidates.len(),
            out.display()
        ),
    })
}
