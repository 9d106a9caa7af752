//! `deactivate`: the stale-user job ([`lifecycle::stale::deactivate_stale_users`]) with caps and a report.

use lifecycle::stale::{StaleOptions, StaleSummary, Thresholds, deactivate_stale_users};
use lifecycle::{Clock, FixedClock, SystemClock};
use sisense::Directory;

use super::Context;
use crate::args::DeactivateArgs;
use crate::error::{CliError, Exit};
use crate::location::Location;
use crate::output::Outcome;

/// Runs the stale-user job.
pub async fn run(ctx: &Context<'_>, args: &DeactivateArgs) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let mut options = options(args);
    // The account the job logs in with: the job never acts on it, whatever the lists say.
    options.service_account = client.config().credentials.username().map(str::to_string);
    let clock: Box<dyn Clock> = match args.now {
        Some(at) => Box::new(FixedClock(at)),
        None => Box::new(SystemClock),
    };
    options.feed = super::doctor::load_feed(ctx, &args.evidence, clock.now()).await?;
    if args.apply || args.dry_run || !crate::confirm::can_ask(ctx.json) {
        return deactivate(&client, ctx, &args.reports, clock.as_ref(), options).await;
    }
    // At a terminal without --apply: the plan, then the question.
    let planned = deactivate(&client, ctx, &args.reports, clock.as_ref(), options.clone()).await?;
    let s = &planned.json;
    let stale = s["stale"].as_u64().unwrap_or(0);
    let healthy = s["signalHealth"]["reasons"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if stale == 0 || s["aborted"] != false || !healthy || planned.exit != Exit::Success {
        return Ok(planned);
    }
    let question = format!(
        "{} these {stale} users now? (the live run lists everyone again and checks the caps and the evidence \
         once more)",
        options.action.as_str()
    );
    if !crate::confirm::ask(&planned.text, &question) {
        return Ok(Outcome {
            text: crate::confirm::DECLINED.into(),
            ..planned
        });
    }
    options.dry_run = false;
    deactivate(&client, ctx, &args.reports, clock.as_ref(), options).await
}

/// The job's options from the flags.
pub fn options(args: &DeactivateArgs) -> StaleOptions {
    StaleOptions {
        thresholds: Thresholds::new(args.inactive_days, args.grace_days),
        action: args.action,
        dry_run: !args.apply,
        protected_roles: args.protected_roles.clone(),
        protected_users: args.protected_users.clone(),
        protected_groups: args.protected_groups.clone(),
        max_actions: args.max_actions,
        max_action_percent: args.max_action_percent,
        force: args.force,
        transfer_dashboards_to: args.transfer_dashboards_to.clone(),
        revoke_sessions: !args.no_revoke_sessions,
        notice_days: args.notice_days,
        trust_last_login: args.evidence.trust_last_login,
        tenants: args.tenants.given(),
        health: super::doctor::limits(&args.evidence),
        ..StaleOptions::default()
    }
}

/// Runs the job against `directory`, with the report under `reports`.
pub async fn deactivate(
    directory: &dyn Directory,
    ctx: &Context<'_>,
    reports: &Location,
    clock: &dyn Clock,
    mut options: StaleOptions,
) -> Result<Outcome, CliError> {
    let (store, prefix) = reports.store_and_prefix(&ctx.aws).await?;
    options.report_prefix = prefix;
    options.progress = ctx.bars.progress();
    let summary = deactivate_stale_users(directory, store.as_ref(), clock, &options)
        .await
        .map_err(CliError::job("deactivate"))?;
    let text = format!(
        "{}\n  report:  {}\n  summary: {}\n",
        headline(&summary),
        reports.object(&summary.report_key),
        reports.object(&summary.summary_key)
    );
    Ok(Outcome {
        exit: exit(&summary),
        json: serde_json::to_value(&summary).unwrap_or_default(),
        text,
    })
}

fn exit(summary: &StaleSummary) -> Exit {
    if summary.aborted {
        Exit::Refused
    } else if summary.failed > 0 || summary.not_applied > 0 {
        Exit::Partial
    } else {
        Exit::Success
    }
}

/// The health check in one line: verdict, shares, and the reasons when unhealthy.
fn evidence(s: &StaleSummary) -> String {
    let h = &s.signal_health;
    let mut line = format!(
        "{} ({}% of {} activated users seen recently, {}% unknown)",
        h.verdict, h.recent_percent, h.activated, h.unknown_percent
    );
    if !h.reasons.is_empty() {
        line.push_str(&format!(
            "; a live run would refuse: {}",
            h.reasons.join("; ")
        ));
    }
    line
}

fn headline(s: &StaleSummary) -> String {
    let mut scanned = format!(
        "scanned {} users: {} active; stale: {} to act on, {} protected, {} already done; {} with unknown \
         activity (SSO, no SSO evidence) left alone\nevidence: {}",
        s.scanned,
        s.active,
        s.stale,
        s.protected,
        s.already_done,
        s.activity_unknown,
        evidence(s)
    );
    if s.notice_days > 0 {
        scanned.push_str(&format!(
            "\nnotice of {} days: {} warned{}, {} awaiting their notice, {} cleared (seen since)",
            s.notice_days,
            s.warned,
            if s.dry_run {
                " (dry run: not recorded)"
            } else {
                ""
            },
            s.awaiting_notice,
            s.cleared
        ));
    }
    let action = s.action.as_str();
    if s.aborted {
        format!(
            "{scanned}\nrefused: {} stale users exceed the cap of {}; nothing changed (raise --max-actions / \
             --max-action-percent, or pass --force for this run)",
            s.stale, s.cap
        )
    } else if s.dry_run {
        let over = if s.stale > s.cap {
            "; over the cap: a live run needs --force"
        } else {
            ""
        };
        format!(
            "{scanned}\ndry run: would {action} {} users (cap {}{over}); nothing changed (--apply acts)",
            s.stale, s.cap
        )
    } else {
        format!(
            "{scanned}\n{action}: {} done, {} not applied, {} failed; {} dashboard owners left alone, {} \
             dashboards transferred, sessions revoked for {} ({} failed)",
            s.acted,
            s.not_applied,
            s.failed,
            s.protected_owners,
            s.dashboards_transferred,
            s.sessions_revoked,
            s.revocations_failed
        )
    }
}
