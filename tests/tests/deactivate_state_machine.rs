//! The deactivation state machine (`infra/statemachine/deactivate.asl.json`) drives the loop the end-to-end tests
//! play (`until_done` in deactivate_stale_users.rs): first hop with the execution's input and the execution name
//! as `runId`, then the `continuation` while `done` is false. This checks the wiring against the function's
//! contract, and that the schedule and IAM point at it.

use e2e_tests::template::Template;
use e2e_tests::workspace_root;
use serde_json::{Value, json};

fn machine() -> Value {
    let text =
        std::fs::read_to_string(workspace_root().join("infra/statemachine/deactivate.asl.json"))
            .expect("state machine definition");
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn the_loop_feeds_the_continuation_back_while_not_done() {
    let m = machine();
    assert_eq!(m["QueryLanguage"], "JSONata");
    let states = &m["States"];
    let first = &states[m["StartAt"].as_str().unwrap()];
    assert_eq!(
        first["Arguments"]["Payload"],
        "{% $merge([$states.input, {'runId': $states.context.Execution.Name}]) %}",
        "the input's options with the execution name as runId: a retried first hop resumes its run"
    );
    let choice = &states[first["Next"].as_str().unwrap()];
    assert_eq!(choice["Type"], "Choice");
    assert_eq!(
        choice["Choices"][0]["Condition"],
        "{% $states.input.done = false %}"
    );
    assert_eq!(
        states[choice["Default"].as_str().unwrap()]["Type"],
        "Succeed",
        "done, or a response without done (a restore), ends the execution"
    );
    let next = &states[choice["Choices"][0]["Next"].as_str().unwrap()];
    assert_eq!(
        next["Arguments"]["Payload"],
        "{% $states.input.continuation %}"
    );
    assert_eq!(next["Next"], first["Next"], "back to the same check");
    for task in [first, next] {
        assert_eq!(task["Resource"], "arn:aws:states:::lambda:invoke");
        assert_eq!(
            task["Arguments"]["FunctionName"],
            "${DeactivateFunctionArn}"
        );
        assert_eq!(task["Output"], "{% $states.result.Payload %}");
        let retried: Vec<&str> = task["Retry"]
            .as_array()
            .expect("Retry")
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().expect("ErrorEquals"))
            .filter_map(Value::as_str)
            .collect();
        // Transient failures are retried (the run resumes at its checkpoint); refusals are not.
        assert!(retried.contains(&"SisenseUnavailable") && retried.contains(&"StorageError"));
        for refusal in [
            "BadRequest",
            "ConfigError",
            "DeactivationUnsupported",
            "RunInProgress",
            "States.ALL",
        ] {
            assert!(!retried.contains(&refusal), "{refusal} is not retried");
        }
    }
    // What a hop answers is what the next hop accepts.
    let continuation = json!({"runId": "exec-1"});
    let request = deactivate_stale_users::parse_event(continuation).expect("a continuation parses");
    let options = deactivate_stale_users::options(&request).expect("its options settle");
    assert_eq!(options.run_id.as_deref(), Some("exec-1"));
}

#[test]
fn the_schedule_starts_the_machine_which_alone_invokes_the_function() {
    let t = Template::load(&[("BucketName", "b")]);
    let machine = t.resource("DeactivateStateMachine");
    assert_eq!(
        machine["Properties"]["DefinitionUri"],
        "statemachine/deactivate.asl.json"
    );
    assert_eq!(
        machine["Properties"]["DefinitionSubstitutions"]["DeactivateFunctionArn"],
        json!({"Ref": "DeactivateStaleUsersFunction.Alias"})
    );
    let invokes: Vec<Value> = t
        .statements("DeactivateStateMachine")
        .into_iter()
        .filter(|s| s["Action"] == "lambda:InvokeFunction")
        .map(|s| s["Resource"].clone())
        .collect();
    assert_eq!(
        invokes,
        [json!({"Ref": "DeactivateStaleUsersFunction.Alias"})],
        "the machine invokes the deactivation function only"
    );
    let schedule = t.resource("DeactivateStaleUsersSchedule");
    assert_eq!(
        schedule["Properties"]["Target"]["Arn"],
        json!({"Ref": "DeactivateStateMachine"})
    );
    // The function's state is readable (a continuation reads its plan), so is the activity feed (read only),
    // and a missing key is a 404.
    let readable = t.allowed("DeactivateStaleUsersFunction", "s3:GetObject");
    assert_eq!(
        readable,
        [
            "arn:aws:s3:::b/reports/deactivations/*",
            "arn:aws:s3:::b/activity/*"
        ]
    );
    assert!(
        !t.allowed("DeactivateStaleUsersFunction", "s3:ListBucket")
            .is_empty(),
        "ListBucket (prefix-limited) makes a missing state object a 404"
    );
}

/// The longest a state machine can wait between two attempts of one hop, over all its retriers: each retrier
/// waits `IntervalSeconds * BackoffRate^k`, at most `MaxDelaySeconds`, before attempt `k + 1`.
fn longest_wait(task: &Value) -> f64 {
    task["Retry"]
        .as_array()
        .expect("Retry")
        .iter()
        .map(|r| {
            let (interval, rate) = (
                r["IntervalSeconds"].as_f64().unwrap(),
                r["BackoffRate"].as_f64().unwrap(),
            );
            let cap = r["MaxDelaySeconds"].as_f64().unwrap_or(f64::INFINITY);
            (0..r["MaxAttempts"].as_i64().unwrap())
                .map(|k| (interval * rate.powi(k as i32)).min(cap))
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn a_live_runs_lock_outlasts_the_longest_gap_between_two_of_its_invocations() {
    let t = Template::load(&[("BucketName", "b")]);
    let timeout = t.resource("DeactivateStaleUsersFunction")["Properties"]["Timeout"]
        .as_f64()
        .expect("the function's timeout");
    let m = machine();
    let gap = ["FirstHop", "NextHop"]
        .iter()
        .map(|task| longest_wait(&m["States"][task]))
        .fold(0.0, f64::max);
    let lease = lifecycle::engine::RUN_LEASE.as_secs_f64();
    assert!(
        gap + timeout < lease,
        "a run can go {gap} s + one invocation of {timeout} s without renewing its lock, which holds {lease} s"
    );
}
