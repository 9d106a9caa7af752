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
fn the_demo_command_names_an_existing_example() {
    let demo = &readme_commands(&readme())[0];
    let after = |flag: &str| {
        demo.split_whitespace()
            .skip_while(|w| *w != flag)
            .nth(1)
            .map(str::to_string)
    };
    let package = after("-p").expect("-p PACKAGE");
    let example = after("--example").expect("--example NAME");
    let path = workspace_root().join(format!("shared/{package}/examples/{example}.rs"));
    assert!(path.is_file(), "{demo}: {} is missing", path.display());
}
