//! `deactivate`: the stale-user job ([`lifecycle::stale::deactivate_stale_users`]) with caps and a report.

use lifecycle::settings;
use lifecycle::stale::{StaleOptions, StaleSummary, deactivate_stale_users};
use lifecycle::{Clock, FixedClock, SystemClock};
use serde_json::{Value, json};
use sisense::Directory;

use super::Context;
use crate::args::DeactivateArgs;
use crate::error::{CliError, Exit};
use crate::location::Location;
use crate::output::Outcome;

/// Runs the stale-user job.
pub async fn run(ctx: &Context<'_>, args: &DeactivateArgs) -> Result<Outcome, CliError> {
    let client = crate::connect::client(ctx.connection, &ctx.aws).await?;
    let mut options = options(args)?;
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

/// The job's options from the flags, through the one mechanism the function uses ([`settings::resolve`]): the
/// job's defaults, then the flags given. The CLI reads no job option from the environment (its flags say it
/// all); the activity feed is loaded from `--activity-feed` by the caller.
pub fn options(args: &DeactivateArgs) -> Result<StaleOptions, CliError> {
    let evidence = &args.evidence;
    let mut flags = json!({
        "inactiveDays": args.inactive_days,
        "neverLoggedInGraceDays": args.grace_days,
        "dryRun": !args.apply,
        "protectedRoles": args.protected_roles,
        "protectedUsers": args.protected_users,
        "protectedGroups": args.protected_groups,
        "maxActions": args.max_actions,
        "maxActionPercent": args.max_action_percent,
        "force": args.force,
        "transferDashboardsTo": args.transfer_dashboards_to,
        "revokeSessions": !args.no_revoke_sessions,
        "trustLastLogin": evidence.trust_last_login,
        "activityFeedMaxAgeDays": evidence.activity_feed_max_age_days,
        "minRecentPercent": evidence.min_recent_percent,
        "maxUnknownPercent": evidence.max_unknown_percent,
        "tenants": args.tenants.given(),
    });
    // Flags without a default of their own leave the job's.
    if let Some(action) = args.action {
        flags["staleAction"] = json!(action);
    }
    if let Some(days) = args.notice_days {
        flags["noticeDays"] = json!(days);
    }
    let Value::Object(flags) = flags else {
        return Err(CliError::Usage("the flags are not an object".into()));
    };
    settings::resolve(|_| None, flags).map_err(|e| CliError::Usage(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn parsed(flags: &[&str]) -> StaleOptions {
        let argv = ["sisense-lifecycle", "deactivate"].iter().chain(flags);
        let cli = Cli::try_parse_from(argv).expect("flags parse");
        let Command::Deactivate(args) = cli.command else {
            panic!("not deactivate");
        };
        options(&args).expect("options settle")
    }

    fn value(o: &StaleOptions) -> Value {
        serde_json::to_value(o).expect("options serialize")
    }

    /// Options the CLI sets otherwise, with why.
    const NOT_FLAGS: [(&str, &str); 4] = [
        ("runId", "a CLI run is one invocation"),
        ("actionsPerHop", "a CLI run has no invocation budget"),
        ("reportPrefix", "--reports names the folder or s3:// prefix"),
        (
            "activityFeed",
            "--activity-feed names a file, folder or s3:// location, loaded by the CLI",
        ),
    ];

    #[test]
    fn without_flags_the_cli_has_the_jobs_defaults() {
        assert_eq!(value(&parsed(&[])), value(&StaleOptions::default()));
    }

    #[test]
    fn every_option_of_the_job_has_a_flag_that_sets_it() {
        let flags: [(&str, &[&str]); 18] = [
            ("inactiveDays", &["--inactive-days", "30"]),
            ("neverLoggedInGraceDays", &["--grace-days", "10"]),
            ("staleAction", &["--action", "delete"]),
            ("dryRun", &["--apply"]),
            ("protectedRoles", &["--protect-role", "dataAdmin"]),
            ("protectedUsers", &["--protect-user", "boss@example.com"]),
            ("protectedGroups", &["--protect-group", "Executives"]),
            ("maxActions", &["--max-actions", "5"]),
            ("maxActionPercent", &["--max-action-percent", "5"]),
            ("force", &["--force"]),
            (
                "transferDashboardsTo",
                &["--transfer-dashboards-to", "keeper@example.com"],
            ),
            ("revokeSessions", &["--no-revoke-sessions"]),
            ("noticeDays", &["--notice-days", "14"]),
            ("trustLastLogin", &["--trust-last-login"]),
            (
                "activityFeedMaxAgeDays",
                &["--activity-feed-max-age-days", "3"],
            ),
            ("minRecentPercent", &["--min-recent-percent", "20"]),
            ("maxUnknownPercent", &["--max-unknown-percent", "20"]),
            ("tenants", &["--tenant", "sales"]),
        ];
        let defaults = value(&StaleOptions::default());
        for field in settings::fields::<StaleOptions>() {
            if NOT_FLAGS.iter().any(|(f, _)| *f == field) {
                continue;
            }
            let (_, args) = flags.iter().find(|(f, _)| *f == field).unwrap_or_else(|| {
                panic!("option {field} has no CLI flag (or a reason in NOT_FLAGS)")
            });
            let set = value(&parsed(args));
            let key = |v: &Value| -> Value {
                v.get(&field)
                    .or_else(|| v["thresholds"].get(&field))
                    .or_else(|| v["health"].get(&field))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            assert_ne!(key(&set), key(&defaults), "{args:?} does not set {field}");
        }
    }
}
