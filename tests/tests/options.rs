//! Each job's options are declared once (`lifecycle::settings`): this walks every option of every job. Its
//! variable, set alone, moves it off its default (read from the environment), the same value as a payload key
//! sets it through the function's own parsing (the export and the deactivation take options in their payload;
//! the import's payload is its event; `force` and `runId` are payload-only), its variable is set by the SAM
//! template on the function (or is a tuning knob left to the job's default, with the reason), and the function's
//! docs page names both. The CLI's flags are walked by the CLI's own tests
//! (`cli/src/commands/deactivate.rs`), which also hold its defaults to the job's.

use e2e_tests::template::Template;
use e2e_tests::workspace_root;
use lifecycle::settings::{Settings, env_name, fields, resolve};
use serde_json::{Map, Value};

/// Variables the template leaves to the job's default, with why.
const TUNING: [(&str, &str); 7] = [
    (
        "DRY_RUN",
        "on the import, files are imported unless they ask a dry run (a dry-run/ folder, dryRun)",
    ),
    (
        "STALE_ACTIONS_PER_HOP",
        "the deadline bounds each invocation; a row budget is for tests",
    ),
    (
        "EXPORT_PAGE_SIZE",
        "the job's page size suits every family; a payload may ask another",
    ),
    (
        "EXPORT_PREFETCH",
        "pages in flight are bounded by the function's memory, not a deployment choice",
    ),
    (
        "MAX_ROWS",
        "the job's file limit is sized to MAX_HOPS; set it only with MAX_HOPS",
    ),
    (
        "MAX_HOPS",
        "sized to MAX_ROWS at Sisense's write rate; see docs/bulk-create-users.md",
    ),
    (
        "IMPORT_ROWS_PER_HOP",
        "the deadline bounds each invocation; a row budget is for tests",
    ),
];

/// Per-invocation options: set by a payload (or a continuation), never by the environment.
const PER_INVOCATION: [&str; 2] = ["force", "runId"];

/// What an option reads as from the environment and the payload, given its variable's text.
type Read = fn(&str, &str) -> Result<Value, String>;

struct Job {
    function: &'static str,
    logical_id: &'static str,
    docs: &'static str,
    /// The options the function settles from a payload (without environment), as JSON, when it takes options in
    /// its payload.
    payload: Option<fn(Value) -> Result<Value, String>>,
    options: Vec<(String, Option<String>)>,
    /// `(variable, text)` -> the options resolved from that one variable, as JSON.
    read: Read,
}

/// The options of `T` resolved from one variable set to `text`, as JSON.
fn read_env<T: Settings>(variable: &str, text: &str) -> Result<Value, String> {
    let options: T = resolve(
        |name| (name == variable).then(|| text.to_string()),
        Map::new(),
    )
    .map_err(|e| e.to_string())?;
    serde_json::to_value(options).map_err(|e| e.to_string())
}

fn options_of<T: Settings>() -> Vec<(String, Option<String>)> {
    fields::<T>()
        .into_iter()
        .map(|f| {
            let variable = env_name::<T>(&f);
            (f, variable)
        })
        .collect()
}

fn jobs() -> Vec<Job> {
    vec![
        Job {
            function: "deactivate-stale-users",
            logical_id: "DeactivateStaleUsersFunction",
            docs: "docs/deactivate-stale-users.md",
            payload: Some(|v| {
                let request = deactivate_stale_users::parse_event(v).map_err(|e| e.to_string())?;
                let options =
                    deactivate_stale_users::options(&request).map_err(|e| e.to_string())?;
                serde_json::to_value(options).map_err(|e| e.to_string())
            }),
            options: options_of::<lifecycle::stale::StaleOptions>(),
            read: read_env::<lifecycle::stale::StaleOptions>,
        },
        Job {
            function: "export-users",
            logical_id: "ExportUsersFunction",
            docs: "docs/export-users.md",
            payload: Some(|v| {
                let request = export_users::parse_event(v).map_err(|e| e.to_string())?;
                let options = export_users::options(request).map_err(|e| e.to_string())?;
                serde_json::to_value(options).map_err(|e| e.to_string())
            }),
            options: options_of::<lifecycle::export::ExportOptions>(),
            read: read_env::<lifecycle::export::ExportOptions>,
        },
        Job {
            function: "bulk-create-users",
            logical_id: "BulkCreateUsersFunction",
            docs: "docs/bulk-create-users.md",
            payload: None,
            options: options_of::<lifecycle::import::ImportOptions>(),
            read: read_env::<lifecycle::import::ImportOptions>,
        },
    ]
}

/// `field`'s value in options' JSON form (nested options included).
fn find(v: &Value, field: &str) -> Option<Value> {
    let map = v.as_object()?;
    map.get(field)
        .cloned()
        .or_else(|| map.values().find_map(|inner| find(inner, field)))
}

/// Texts for `field`'s variable that differ from its default (`default`), the first the option accepts wins.
fn other_texts(default: &Value) -> Vec<String> {
    match default {
        Value::Bool(b) => vec![(!b).to_string()],
        Value::Number(n) => vec![(n.as_u64().unwrap_or(0) + 1).to_string()],
        Value::String(_) | Value::Array(_) => vec!["other@example.com".into()],
        Value::Null | Value::Object(_) => vec!["7".into(), "other@example.com".into()],
    }
}

/// The options read with `variable` set to a text other than its default's; for an enum, another of the variants
/// its refusal of a plain text names.
fn read_other(read: Read, variable: &str, default: &Value) -> Option<Value> {
    let mut texts = other_texts(default);
    let mut i = 0;
    while let Some(text) = texts.get(i).cloned() {
        match read(variable, &text) {
            Ok(options) => return Some(options),
            Err(e) if e.contains("expected one of") => {
                let variants = e.split('`').skip(3).step_by(2).map(str::to_string);
                texts.extend(variants.filter(|v| Some(v.as_str()) != default.as_str()));
            }
            Err(_) => {}
        }
        i += 1;
        if i > 20 {
            break;
        }
    }
    None
}

/// The default's value of `field` in `T`'s JSON form (nested options included).
fn default_value(job: &Job, field: &str) -> Value {
    let defaults = match job.function {
        "deactivate-stale-users" => serde_json::to_value(lifecycle::stale::StaleOptions::default()),
        "export-users" => serde_json::to_value(lifecycle::export::ExportOptions::default()),
        _ => serde_json::to_value(lifecycle::import::ImportOptions::default()),
    }
    .expect("defaults serialize");
    find(&defaults, field).unwrap_or(Value::Null)
}

#[test]
fn every_option_is_taken_by_the_payload_set_by_the_template_and_named_in_the_docs() {
    let template = Template::load(&[("BucketName", "b")]);
    let mut problems = Vec::new();
    for job in jobs() {
        assert!(
            job.options.len() >= 6,
            "{}: {} options",
            job.function,
            job.options.len()
        );
        let env = template.env(job.logical_id);
        let docs = std::fs::read_to_string(workspace_root().join(job.docs)).expect("docs page");
        for (field, variable) in &job.options {
            if let Some(accepts) = job.payload {
                let mut payload = Map::new();
                payload.insert(field.clone(), default_value(&job, field));
                if let Err(e) = accepts(Value::Object(payload)) {
                    problems.push(format!(
                        "{}: payload key {field} refused: {e}",
                        job.function
                    ));
                }
                if !docs.contains(&format!("`{field}`")) && !docs.contains(&format!("\"{field}\""))
                {
                    problems.push(format!(
                        "{}: payload key `{field}` not named in {}",
                        job.function, job.docs
                    ));
                }
            }
            match variable {
                None => {
                    if !PER_INVOCATION.contains(&field.as_str()) {
                        problems.push(format!(
                            "{}: {field} has no variable and no reason",
                            job.function
                        ));
                    }
                    // Per invocation: the payload sets it.
                    let value = match default_value(&job, field) {
                        Value::Bool(b) => Value::Bool(!b),
                        _ => Value::String("exec-1".into()),
                    };
                    let mut payload = Map::new();
                    payload.insert(field.clone(), value.clone());
                    let set = job
                        .payload
                        .and_then(|settle| settle(Value::Object(payload)).ok())
                        .and_then(|options| find(&options, field));
                    if job.payload.is_some() && set != Some(value) {
                        problems.push(format!("{}: payload {field} does not set it", job.function));
                    }
                }
                Some(variable) => {
                    // Read from the environment: the variable set alone moves the option off its default.
                    let default = default_value(&job, field);
                    let read = read_other(job.read, variable, &default);
                    match read.and_then(|options| find(&options, field)) {
                        Some(value) if value != default => {
                            // And from the payload: the same value as a payload key.
                            if let Some(settle) = job.payload {
                                let mut payload = Map::new();
                                payload.insert(field.clone(), value.clone());
                                match settle(Value::Object(payload)) {
                                    Ok(options) if find(&options, field) == Some(value.clone()) => {}
                                    Ok(_) => problems.push(format!(
                                        "{}: payload {field}={value} does not set it",
                                        job.function
                                    )),
                                    Err(e) => problems
                                        .push(format!("{}: payload {field}={value} refused: {e}", job.function)),
                                }
                            }
                        }
                        other => problems.push(format!(
                            "{}: {variable} does not set {field} (read {other:?}, default {default})",
                            job.function
                        )),
                    }
                    if !env.contains_key(variable) && !TUNING.iter().any(|(v, _)| v == variable) {
                        problems.push(format!(
                            "{}: {variable} ({field}) is not set by the template (nor a tuning knob)",
                            job.function
                        ));
                    }
                    if !docs.contains(&format!("`{variable}`")) {
                        problems.push(format!(
                            "{}: {variable} not named in {}",
                            job.function, job.docs
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_exceptions_name_real_options() {
    let all: Vec<(String, Option<String>)> = jobs().into_iter().flat_map(|j| j.options).collect();
    for (variable, _) in TUNING {
        assert!(
            all.iter().any(|(_, v)| v.as_deref() == Some(variable)),
            "{variable} is no option's variable"
        );
    }
    for field in PER_INVOCATION {
        assert!(all.iter().any(|(f, _)| f == field), "{field} is no option");
    }
}
