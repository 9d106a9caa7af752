//! `demo`: the embedded Sisense simulator with a realistic population, then export, a bulk import of the
//! bundled sample CSV (a few rows are bad on purpose), a dry-run deactivation and the access review, all
//! written under one folder.

use std::path::Path;

use lifecycle::SystemClock;
use lifecycle::import::OnExisting;
use lifecycle::stale::StaleOptions;
use serde_json::json;
use sisense::{ClientConfig, Credentials, SecretString, SisenseClient};
use sisense_sim::{SignInMix, SimConfig, Simulator};

use super::Context;
use super::import::Import;
use crate::args::DemoArgs;
use crate::error::{CliError, Exit};
use crate::location::Location;
use crate::output::Outcome;

/// The bundled sample: new hires in several role spellings, plus an invalid email, an unknown role, a
/// duplicated email, an ambiguous group and an existing user.
pub const SAMPLE_CSV: &str = include_str!("../../data/new-hires.csv");

/// Marks a folder as the demo's own, so a later demo may replace it.
const MARKER: &str = ".sisense-lifecycle-demo";

/// Empties `out` when an earlier demo wrote it; refuses a folder that holds anything else.
fn prepare(out: &Path) -> Result<(), CliError> {
    if out.join(MARKER).is_file() {
        std::fs::remove_dir_all(out)
            .map_err(|e| CliError::io("clearing the earlier demo in", out, e))?;
    } else if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(CliError::Refused(format!(
            "{} exists and was not written by the demo; choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| CliError::io("creating", out, e))?;
    std::fs::write(
        out.join(MARKER),
        "written by sisense-lifecycle demo; the next demo replaces this folder\n",
    )
    .map_err(|e| CliError::io("writing", &out.join(MARKER), e))
}

/// The simulated installation of the demo and of `simulator`: `users` users, "now" being now.
pub fn demo_config(users: usize) -> SimConfig {
    SimConfig {
        users,
        sign_ins: SignInMix::enterprise(),
        ..SimConfig::default()
    }
}

/// Runs the demo.
pub async fn run(ctx: &Context<'_>, args: &DemoArgs) -> Result<Outcome, CliError> {
    let out = &args.out;
    prepare(out)?;
    let sim = Simulator::start(demo_config(args.users))
        .await
        .map_err(|e| CliError::io("starting the simulator on", Path::new("127.0.0.1"), e))?;
    let credentials = Credentials::Password {
        username: sim.username().to_string(),
        password: SecretString::from(sim.password().to_string()),
    };
    let client = SisenseClient::new(ClientConfig::new(sim.base_url(), credentials)?)?;
    say(
        ctx.json,
        &format!(
            "Sisense simulator with {} users at {} (40% sign in through JWT SSO, 10% through SAML)\n\n\
             1. doctor: what this Sisense can tell about activity\n",
            args.users,
            sim.base_url()
        ),
    );
    let doctor = lifecycle::doctor::diagnose(
        &client,
        chrono::Utc::now(),
        &lifecycle::doctor::DoctorOptions {
            thresholds: StaleOptions::default().thresholds,
            feed: None,
            trust_last_login: false,
            health: lifecycle::stale::HealthLimits::default(),
        },
    )
    .await
    .map_err(CliError::job("doctor"))?;
    for (job, readiness) in &doctor.jobs {
        say(
            ctx.json,
            &format!("  {job:<11} {:<18} {}\n", readiness.verdict, readiness.why),
        );
    }
    say(ctx.json, "\n2. export\n");

    let exports = Location::Local(out.join("exports/users"));
    let export = super::export::export_to(&client, ctx, &exports, 1000).await?;
    say(ctx.json, &export.text);

    let sample = out.join("imports/new-hires.csv");
    if let Some(dir) = sample.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
    }
    std::fs::write(&sample, SAMPLE_CSV).map_err(|e| CliError::io("writing", &sample, e))?;
    let reports = Location::Local(out.join("reports"));
    say(
        ctx.json,
        &format!(
            "\n3. import of {} (some rows are bad on purpose)\n",
            sample.display()
        ),
    );
    let import = super::import::import(
        &client,
        ctx,
        &Import {
            file: &Location::Local(sample.clone()),
            reports: &reports,
            dry_run: false,
            on_existing: Some(OnExisting::Skip),
            default_role: lifecycle::import::DEFAULT_ROLE,
            resume: None,
            tenants: None,
            service_account: Some(sim.username().to_string()),
        },
    )
    .await?;
    say(ctx.json, &import.text);

    say(
        ctx.json,
        "\n4. demotion of users not seen for 90 days (dry run; the caps are passed so the whole plan shows)\n",
    );
    let mut options = StaleOptions {
        dry_run: true,
        force: true,
        ..StaleOptions::default()
    };
    options.service_account = Some(sim.username().to_string());
    let deactivate =
        super::deactivate::deactivate(&client, ctx, &reports, &SystemClock, options).await?;
    say(ctx.json, &deactivate.text);

    say(ctx.json, "\n5. access review\n");
    let latest = out.join("exports/users/latest.csv");
    let bytes = std::fs::read(&latest).map_err(|e| CliError::io("reading", &latest, e))?;
    let html = out.join("access-review.html");
    // The dry run's report says who owns dashboards; the review shows it beside each candidate.
    let plan = deactivate.json["reportKey"]
        .as_str()
        .and_then(|key| std::fs::read(reports.object(key)).ok());
    let report = super::report::write(
        &bytes,
        &latest.display().to_string(),
        &html,
        chrono::Utc::now(),
        StaleOptions::default().thresholds,
        plan.as_deref(),
        crate::access_review::history::load(&lifecycle::LocalStore::new(out), "exports/users/")
            .await
            .ok(),
    )?;
    say(ctx.json, &report.text);
    say(
        ctx.json,
        &format!("\nEverything is under {}/\n", out.display()),
    );

    Ok(Outcome {
        exit: Exit::Success,
        json: json!({
            "out": out.display().to_string(),
            "doctor": serde_json::to_value(&doctor).unwrap_or_default(),
            "export": export.json,
            "import": import.json,
            "deactivate": deactivate.json,
            "report": report.json,
        }),
        text: String::new(),
    })
}

/// Prints a step's lines now (stdout is line-buffered), so they come out in the order things happen, interleaved
/// rightly with hints on stderr; nothing when the output is JSON.
fn say(json: bool, text: &str) {
    if !json {
        print!("{text}");
    }
}
