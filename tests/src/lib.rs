//! Helpers for the end-to-end tests: where the workspace is and what its documents say.

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shell commands in the README's fenced `sh` blocks, in order.
pub fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh && !trimmed.is_empty() {
            commands.push(trimmed.to_string());
        }
    }
    commands
}
