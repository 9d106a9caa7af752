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
