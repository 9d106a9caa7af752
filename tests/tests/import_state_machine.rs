//! The import state machine (`infra/statemachine/import.asl.json`) drives the same loop the end-to-end tests
//! play: first hop from the EventBridge event with the execution name as `runId`, then `continuation` until
//! `done`. This checks the wiring against the function's contract, so the two cannot drift apart.

use e2e_tests::workspace_root;
use serde_json::Value;

fn machine() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("infra/statemachine/import.asl.json"))
        .expect("state machine definition");
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn the_loop_feeds_the_continuation_back_until_done() {
    let m = machine();
    let states = &m["States"];
    let first = &states[m["StartAt"].as_str().unwrap()];
    let payload = &first["Parameters"]["Payload"];
    assert_eq!(payload["bucket.$"], "$.detail.bucket.name");
    assert_eq!(
        payload["key.$"], "$.detail.object.key",
        "EventBridge keys are not URL-encoded"
    );
    assert_eq!(
        payload["runId.$"], "$$.Execution.Name",
        "task retries resume the same run"
    );
    let choice = &states[first["Next"].as_str().unwrap()];
    assert_eq!(choice["Type"], "Choice");
    assert_eq!(choice["Choices"][0]["Variable"], "$.result.done");
    assert_eq!(
        states[choice["Choices"][0]["Next"].as_str().unwrap()]["Type"],
        "Succeed"
    );
    let next = &states[choice["Default"].as_str().unwrap()];
    assert_eq!(next["Parameters"]["Payload.$"], "$.result.continuation");
    assert_eq!(next["Next"], first["Next"], "back to the same check");
    for task in [first, next] {
        assert_eq!(task["ResultSelector"]["result.$"], "$.Payload");
        let retriers = task["Retry"].as_array().expect("Retry");
        let retried: Vec<&str> = retriers
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().expect("ErrorEquals"))
            .filter_map(Value::as_str)
            .collect();
        // The function's transient error types are retried; BadRequest / ConfigError / InputMissing are not.
        assert!(retried.contains(&"SisenseUnavailable") && retried.contains(&"StorageError"));
        assert!(!retried.contains(&"BadRequest") && !retried.contains(&"InputMissing"));
        assert!(
            !retried.contains(&"States.ALL"),
            "a catch-all would retry bad input"
        );
    }
}
