//! The import state machine (`infra/statemachine/import.asl.json`) drives the loop the end-to-end tests play:
//! first hop from the EventBridge event with the execution name as `runId`, then `continuation` while `done` is
//! false. It is the deactivation machine's loop (one shape for every job on the run engine), with another first
//! payload; this checks both against the function's contract, so they cannot drift apart.

use e2e_tests::workspace_root;
use serde_json::{Value, json};

fn machine(name: &str) -> Value {
    let path = workspace_root().join(format!("infra/statemachine/{name}.asl.json"));
    let text = std::fs::read_to_string(path).expect("state machine definition");
    serde_json::from_str(&text).expect("valid JSON")
}

/// A machine with what may differ between jobs blanked: the comment, the function and the first payload.
fn shape(mut m: Value) -> Value {
    m["Comment"] = Value::Null;
    for state in ["FirstHop", "NextHop"] {
        m["States"][state]["Arguments"]["FunctionName"] = Value::Null;
    }
    m["States"]["FirstHop"]["Arguments"]["Payload"] = Value::Null;
    m
}

#[test]
fn both_jobs_on_the_run_engine_share_one_state_machine_shape() {
    assert_eq!(shape(machine("import")), shape(machine("deactivate")));
    assert_eq!(machine("import")["QueryLanguage"], "JSONata");
}

#[test]
fn the_import_loop_starts_from_the_event_and_feeds_the_continuation_back_while_not_done() {
    let m = machine("import");
    let states = &m["States"];
    let first = &states[m["StartAt"].as_str().unwrap()];
    assert_eq!(
        first["Arguments"]["Payload"],
        "{% {'bucket': $states.input.detail.bucket.name, 'key': $states.input.detail.object.key, 'runId': \
         $states.context.Execution.Name} %}",
        "EventBridge keys are not URL-encoded; a retried first hop resumes the same run"
    );
    for task in ["FirstHop", "NextHop"] {
        assert_eq!(
            states[task]["Arguments"]["FunctionName"],
            "${ImportFunctionArn}"
        );
    }
    // What the first payload becomes for an EventBridge event is what the function accepts.
    let event: Value = serde_json::from_str(include_str!(
        "../../functions/bulk-create-users/fixtures/eventbridge-object-created.json"
    ))
    .unwrap();
    let payload = json!({
        "bucket": event["detail"]["bucket"]["name"],
        "key": event["detail"]["object"]["key"],
        "runId": "exec-1",
    });
    let parsed = bulk_create_users::parse_event(payload).expect("the first payload parses");
    assert_eq!(parsed[0].run_id.as_deref(), Some("exec-1"));
    // And what a hop answers as its continuation is what the next hop accepts.
    let continuation = json!({"runId": "exec-1", "bucket": "b", "key": "imports/a.csv", "dryRun": false,
        "onExisting": "skip"});
    let parsed = bulk_create_users::parse_event(continuation).expect("a continuation parses");
    assert_eq!(parsed[0].key, "imports/a.csv");
}
