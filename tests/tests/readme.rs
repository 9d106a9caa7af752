//! The README's set-up commands exist and CI runs the test command.

use e2e_tests::{readme_commands, workspace_root};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md is readable")
}

#[test]
fn readme_has_the_two_setup_commands_first() {
    let commands = readme_commands(&readme());
    assert!(commands.len() >= 2, "{commands:?}");
    assert!(
        commands[0].starts_with("cargo run"),
        "first: run the main job: {}",
        commands[0]
    );
    assert_eq!(commands[1], "bash tests/run.sh", "second: run all tests");
}

#[test]
fn ci_runs_the_readme_test_command() {
    let ci = std::fs::read_to_string(workspace_root().join(".ci/run")).unwrap();
    let test_command = &readme_commands(&readme())[1];
    assert!(
        ci.lines()
            .any(|l| l.trim().ends_with(test_command.as_str())),
        ".ci/run must call {test_command}"
    );
    let script = test_command.trim_start_matches("bash ");
    assert!(workspace_root().join(script).is_file());
}

#[test]
fn the_demo_command_runs_the_cli_demo() {
    let demo = &readme_commands(&readme())[0];
    let words: Vec<&str> = demo.split_whitespace().collect();
    let package = words
        .iter()
        .skip_while(|w| **w != "-p")
        .nth(1)
        .expect("-p PACKAGE");
    let manifest = std::fs::read_to_string(workspace_root().join("cli/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("name = \"{package}\"")),
        "{demo}: cli/ is not package {package}"
    );
    assert_eq!(words.last(), Some(&"demo"), "{demo}");
}

/// The Markdown pages a newcomer reads: the README and every page under `docs/`.
fn pages() -> Vec<std::path::PathBuf> {
    let root = workspace_root();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The targets of inline Markdown links `[text](target)` in `text`, outside fenced code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("folder").join(file)
            };
            assert!(
                target.exists(),
                "{}: link {link} points at {}, which does not exist",
                page.display(),
                target.display()
            );
            if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let heads = anchors(&std::fs::read_to_string(&target).expect("target"));
                assert!(
                    heads.iter().any(|h| h == fragment),
                    "{}: link {link}: no heading #{fragment} in {} ({heads:?})",
                    page.display(),
                    target.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} links: is the README linking docs/?"
    );
}

#[test]
fn the_readme_is_a_front_page_linking_every_docs_page() {
    let readme = readme();
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; reference belongs in docs/"
    );
    for page in pages().iter().skip(1) {
        let name = page.file_name().unwrap().to_string_lossy();
        assert!(
            readme.contains(&format!("](docs/{name})")),
            "README.md does not link docs/{name}"
        );
    }
}

/// The variables in the table under a page's `## Environment` heading (first column, in backticks).
fn documented_variables(page: &str) -> std::collections::BTreeSet<String> {
    let section = page
        .split("\n## Environment")
        .nth(1)
        .expect("the page has an `## Environment` section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_variable_a_function_reads_is_documented_on_its_page_and_no_other() {
    use e2e_tests::source::{env_read_by, env_surely_read_by};
    for binary in [
        "export-users",
        "bulk-create-users",
        "deactivate-stale-users",
    ] {
        let path = workspace_root().join("docs").join(format!("{binary}.md"));
        let page = std::fs::read_to_string(&path).expect("one page per function");
        let documented = documented_variables(&page);
        let read = env_surely_read_by(binary);
        assert!(read.len() >= 5, "{binary}: the scan found only {read:?}");
        for name in read.keys() {
            assert!(
                documented.contains(name),
                "{binary} reads {name}, which docs/{binary}.md does not document"
            );
        }
        let exists = env_read_by(binary);
        for name in &documented {
            assert!(
                exists.contains_key(name),
                "docs/{binary}.md documents {name}, which {binary} never reads"
            );
        }
    }
}

#[test]
fn nothing_in_the_repository_points_outside_it() {
    // Built from parts so this file does not match itself.
    let outside = ["..", "/shared"].concat();
    let root = workspace_root();
    let mut offenders = Vec::new();
    let mut stack = vec![root.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("folder") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | ".git" | "demo-out" | "node_modules"
                ) {
                    stack.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // not text
            };
            files += 1;
            // A Markdown link from a folder inside (`docs/`) up to `shared/` is this repository's `shared/`.
            let inside_link = |at: usize| {
                path.extension().is_some_and(|e| e == "md")
                    && text[..at].ends_with("](")
                    && path.parent() != Some(root.as_path())
            };
            if text.match_indices(&outside).any(|(at, _)| !inside_link(at)) {
                offenders.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(files > 100, "only {files} files read");
    assert!(
        offenders.is_empty(),
        "these files point at {outside}, which a clone does not have: {offenders:?}"
    );
}
