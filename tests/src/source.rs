//! What the workspace's own source says: the environment variables each function reads, found by scanning the
//! calls to `sl_aws::env` helpers (the template and docs tests hold the SAM template and `docs/` to them).

use std::collections::BTreeMap;
use std::path::Path;

use crate::workspace_root;

/// The environment helpers of `sl_aws::env`; their first argument is the variable's name.
const READERS: [&str; 6] = [
    "optional",
    "required",
    "parsed",
    "parsed_if_set",
    "flag",
    "list",
];

/// Environment variable names passed to `sl_aws::env` helpers in `code`, with whether any read is `required`.
fn names_in(code: &str, found: &mut BTreeMap<String, bool>) {
    for reader in READERS {
        let call = format!("{reader}(\"");
        for (at, _) in code.match_indices(&call) {
            let before = code[..at].chars().next_back().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' {
                continue; // e.g. `is_optional("`
            }
            let rest = &code[at + call.len()..];
            let name = &rest[..rest.find('"').expect("closing quote")];
            if name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                *found.entry(name.to_string()).or_default() |= reader == "required";
            }
        }
    }
}

/// Variables the functions read through their libraries rather than `sl_aws::env`: the HTTP client's proxy
/// settings (reqwest reads them when a client is built).
pub const LIBRARY_VARIABLES: [&str; 2] = ["HTTPS_PROXY", "NO_PROXY"];

/// The variables of the options a function settles through `lifecycle::settings` (one mechanism: each option's
/// variable comes from the job's declaration, not from a literal in the function's source).
pub fn settings_variables(binary: &str) -> Vec<String> {
    use lifecycle::settings::{Settings, env_name, fields};
    fn of<T: Settings>() -> Vec<String> {
        fields::<T>()
            .iter()
            .filter_map(|f| env_name::<T>(f))
            .collect()
    }
    match binary {
        "deactivate-stale-users" => of::<lifecycle::stale::StaleOptions>(),
        "export-users" => of::<lifecycle::export::ExportOptions>(),
        "bulk-create-users" => of::<lifecycle::import::ImportOptions>(),
        _ => Vec::new(),
    }
}

/// The non-test code of every `.rs` file under `dir` (a file's text up to its `#[cfg(test)]`).
fn code_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(code_under(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            out.push(
                text.split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    out
}

/// What a function's binary may read: its own package and every shared AWS adapter (`AWS_*` are the SDK's),
/// with whether any read is `required`. A superset: a helper another function calls counts too.
pub fn env_read_by(binary: &str) -> BTreeMap<String, bool> {
    let root = workspace_root();
    let mut found = BTreeMap::new();
    for code in code_under(&root.join("functions").join(binary).join("src"))
        .into_iter()
        .chain(code_under(&root.join("shared/aws/src")))
    {
        names_in(&code, &mut found);
    }
    found.retain(|name, _| !name.starts_with("AWS_"));
    found.extend(LIBRARY_VARIABLES.map(|name| (name.to_string(), false)));
    found.extend(
        settings_variables(binary)
            .into_iter()
            .map(|name| (name, false)),
    );
    found
}

/// What a function's binary certainly reads: its own package, the Sisense source every function builds its
/// client with, and the `sl_aws::env` helpers (`thresholds`, `clock`, ...) its package calls.
pub fn env_surely_read_by(binary: &str) -> BTreeMap<String, bool> {
    let root = workspace_root();
    let own = code_under(&root.join("functions").join(binary).join("src")).join("\n");
    let mut found = BTreeMap::new();
    names_in(&own, &mut found);
    let source = std::fs::read_to_string(root.join("shared/aws/src/sisense_source.rs"))
        .expect("sisense_source.rs");
    names_in(
        source.split("#[cfg(test)]").next().unwrap_or_default(),
        &mut found,
    );
    let helpers = std::fs::read_to_string(root.join("shared/aws/src/env.rs")).expect("env.rs");
    let helpers = helpers.split("#[cfg(test)]").next().unwrap_or_default();
    for chunk in helpers.split("\npub fn ").skip(1) {
        let name = &chunk[..chunk.find('(').expect("a function")];
        if own.contains(&format!("{name}(")) {
            names_in(chunk, &mut found);
        }
    }
    found.retain(|name, _| !name.starts_with("AWS_"));
    found.extend(LIBRARY_VARIABLES.map(|name| (name.to_string(), false)));
    found.extend(
        settings_variables(binary)
            .into_iter()
            .map(|name| (name, false)),
    );
    found
}
