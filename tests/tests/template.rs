//! No drift between `infra/template.yaml` and the code: the functions are the workspace's binaries, every
//! environment variable the template sets is one the binary reads (and every one it requires is set), the
//! import trigger matches inputs and never our own outputs, the schedules send inputs the functions accept,
//! and the three binaries, started with exactly the template's environment at its defaults, run and write only
//! under the S3 prefixes their IAM statements allow.

use e2e_tests::source::env_read_by;
use e2e_tests::template::{Template, wildcard_match};
use e2e_tests::workspace_root;
use e2e_tests::world::{BUCKET, World};
use serde_json::{Value, json};
use sisense_sim::{SimConfig, Simulator};
use std::collections::BTreeSet;

/// Logical id and binary of each function.
const FUNCTIONS: [(&str, &str); 3] = [
    ("ExportUsersFunction", "export-users"),
    ("BulkCreateUsersFunction", "bulk-create-users"),
    ("DeactivateStaleUsersFunction", "deactivate-stale-users"),
];

#[test]
fn the_functions_are_the_workspace_binaries_built_by_cargo_lambda() {
    let t = Template::load(&[("BucketName", BUCKET)]);
    let functions = t.resources_of("AWS::Serverless::Function");
    assert_eq!(functions.len(), FUNCTIONS.len(), "one function per binary");
    let globals = &t.doc["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(globals["Architectures"], json!([{"Ref": "Architecture"}]));
    let arch = &t.doc["Parameters"]["Architecture"];
    assert_eq!(arch["Default"], "arm64");
    assert_eq!(arch["AllowedValues"], json!(["arm64", "x86_64"]));
    for (id, binary) in FUNCTIONS {
        let f = t.resource(id);
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], binary, "{id}");
        let props = &f["Properties"];
        let code = workspace_root()
            .join("infra")
            .join(props["CodeUri"].as_str().expect("CodeUri"));
        let manifest =
            std::fs::read_to_string(code.join("Cargo.toml")).expect("CodeUri holds a Cargo.toml");
        assert!(
            manifest.contains("[workspace]"),
            "{id}: CodeUri is the workspace root"
        );
        assert!(
            manifest.contains(&format!("\"functions/{binary}\"")),
            "{id}: {binary} is a workspace member"
        );
        assert!(
            workspace_root()
                .join("functions")
                .join(binary)
                .join("src/main.rs")
                .is_file(),
            "{binary} has a main"
        );
        assert_eq!(
            t.eval(&props["FunctionName"]).as_deref(),
            Some(format!("sisense-lifecycle-{binary}").as_str())
        );
        // Deliberate, not defaults: a bounded footprint on Sisense and an explicit async retry count.
        assert!(
            props["ReservedConcurrentExecutions"].as_u64().is_some(),
            "{id}"
        );
        assert!(
            props["EventInvokeConfig"]["MaximumRetryAttempts"]
                .as_u64()
                .is_some(),
            "{id}"
        );
        assert_eq!(
            props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"],
            json!({"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}),
            "{id}"
        );
        assert!(props["Timeout"].as_u64().is_some_and(|s| s <= 900), "{id}");
    }
}

#[test]
fn every_variable_the_template_sets_is_read_and_every_required_one_is_set() {
    let t = Template::load(&[("BucketName", BUCKET)]);
    for (id, binary) in FUNCTIONS {
        let read = env_read_by(binary);
        assert!(
            read.contains_key("SISENSE_SECRET_ID"),
            "the scan found the shared reads: {read:?}"
        );
        let set = t.env(id);
        for name in set.keys() {
            assert!(
                read.contains_key(name),
                "{id} sets {name}, which {binary} never reads (read: {:?})",
                read.keys().collect::<Vec<_>>()
            );
        }
        for (name, required) in &read {
            assert!(
                !*required || set.contains_key(name),
                "{binary} requires {name}; {id} does not set it"
            );
        }
    }
    // The secret a function reads is the one its role may read, and nothing else.
    for secret in [
        "",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sisense/prod-AbCdEf",
    ] {
        let t = Template::load(&[("BucketName", BUCKET), ("SisenseSecretArn", secret)]);
        for (id, _) in FUNCTIONS {
            assert_eq!(
                t.allowed(id, "secretsmanager:GetSecretValue"),
                vec![t.env(id)["SISENSE_SECRET_ID"].clone()],
                "{id} with SisenseSecretArn={secret:?}"
            );
        }
    }
    // The variables an operator must be able to reach are parameters, not literals.
    let deactivate =
        &t.resource("DeactivateStaleUsersFunction")["Properties"]["Environment"]["Variables"];
    for (name, parameter) in [
        ("DRY_RUN", "DryRun"),
        ("INACTIVE_DAYS", "InactiveDays"),
        ("STALE_ACTION", "StaleAction"),
        ("MAX_ACTIONS", "MaxActions"),
        ("MAX_ACTION_PERCENT", "MaxActionPercent"),
        ("PROTECTED_ROLES", "ProtectedRoles"),
        ("PROTECTED_USERS", "ProtectedUsers"),
        ("PROTECTED_GROUPS", "ProtectedGroups"),
        ("TRANSFER_DASHBOARDS_TO", "TransferDashboardsTo"),
        ("REVOKE_SESSIONS", "RevokeSessions"),
    ] {
        assert_eq!(deactivate[name], json!({"Ref": parameter}), "{name}");
    }
    assert_eq!(
        t.doc["Parameters"]["DryRun"]["Default"], "true",
        "dry run unless told otherwise"
    );
    assert_eq!(t.doc["Parameters"]["RevokeSessions"]["Default"], "true");
    assert_eq!(
        t.doc["Parameters"]["TransferDashboardsTo"]["Default"], "",
        "no transfer target: delete leaves owners alone"
    );
    // A restore reads the run's report and snapshots, and nothing else; it writes only reports.
    let id = "DeactivateStaleUsersFunction";
    let readable = t.allowed(id, "s3:GetObject");
    let object = |key: &str| format!("arn:aws:s3:::{BUCKET}/{key}");
    for key in [
        "reports/deactivations/dt=2026-11-22/run-x.csv",
        "reports/deactivations/snapshots/run-x/u1.json",
    ] {
        assert!(
            readable.iter().any(|r| wildcard_match(r, &object(key))),
            "{key}"
        );
    }
    for key in [
        "exports/users/latest.csv",
        "imports/a.csv",
        "reports/imports/x.csv",
    ] {
        assert!(
            !readable.iter().any(|r| wildcard_match(r, &object(key))),
            "{key}"
        );
    }
    assert!(t.allowed(id, "s3:DeleteObject").is_empty());
}

#[test]
fn the_import_trigger_matches_inputs_and_never_our_own_outputs() {
    let t = Template::load(&[("BucketName", BUCKET)]);
    let machine = t.resource("ImportStateMachine");
    let events = machine["Properties"]["Events"].as_object().expect("Events");
    assert_eq!(events.len(), 1, "one trigger");
    let event = events.values().next().expect("event");
    assert_eq!(event["Type"], "EventBridgeRule");
    let pattern = &event["Properties"]["Pattern"];
    assert_eq!(pattern["source"], json!(["aws.s3"]));
    assert_eq!(pattern["detail-type"], json!(["Object Created"]));
    assert_eq!(
        pattern["detail"]["bucket"]["name"],
        json!([{"Ref": "BucketName"}])
    );
    let wildcards: Vec<&str> = pattern["detail"]["object"]["key"]
        .as_array()
        .expect("key filters")
        .iter()
        .map(|f| f["wildcard"].as_str().expect("wildcard filters only"))
        .collect();
    let triggers = |key: &str| wildcards.iter().any(|w| wildcard_match(w, key));
    for input in ["imports/new-hires.csv", "imports/emea/2026 q4 hires.CSV"] {
        assert!(triggers(input), "{input}");
        assert!(!bulk_create_users::is_own_output(input), "{input}");
    }
    for not_input in [
        "imports/notes.txt",
        "exports/users/latest.csv",
        "new-hires.csv",
    ] {
        assert!(!triggers(not_input), "{not_input}");
    }
    // The prefix the template gives the import's reports is one the function accepts (it refuses any that
    // could re-trigger), and none of the prefixes the functions write under can trigger.
    let bulk_env = t.env("BulkCreateUsersFunction");
    let prefix = &bulk_env["REPORT_PREFIX"];
    bulk_create_users::check_report_prefix(prefix)
        .expect("the template's REPORT_PREFIX is accepted");
    for (id, _) in FUNCTIONS {
        for resource in t.allowed(id, "s3:PutObject") {
            let key_pattern = resource
                .strip_prefix(&format!("arn:aws:s3:::{BUCKET}/"))
                .expect("an object ARN in the data bucket");
            let written = key_pattern.replace('*', "x/y.csv");
            assert!(
                !triggers(&written),
                "{id} writes {key_pattern}, which would trigger an import"
            );
        }
    }
    // The state machine's definition gets every substitution it uses, and the import function's ARN.
    let asl = std::fs::read_to_string(
        workspace_root().join("infra").join(
            machine["Properties"]["DefinitionUri"]
                .as_str()
                .expect("DefinitionUri"),
        ),
    )
    .expect("definition");
    let substitutions = machine["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .expect("substitutions");
    let used: BTreeSet<&str> = asl
        .match_indices("${")
        .map(|(at, _)| {
            let rest = &asl[at + 2..];
            &rest[..rest.find('}').expect("brace")]
        })
        .collect();
    assert_eq!(used, substitutions.keys().map(String::as_str).collect());
    assert_eq!(
        substitutions["ImportFunctionArn"],
        json!({"Ref": "BulkCreateUsersFunction.Alias"})
    );
}

#[test]
fn kms_actions_come_only_with_a_customer_key() {
    let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let plain = Template::load(&[("BucketName", BUCKET)]);
    let with_keys = Template::load(&[
        ("BucketName", BUCKET),
        ("BucketKmsKeyArn", key),
        ("SecretKmsKeyArn", key),
    ]);
    for (id, _) in FUNCTIONS {
        for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
            assert!(
                plain.allowed(id, action).is_empty(),
                "{id}: {action} without a key"
            );
        }
        // Multipart uploads and copies under SSE-KMS need both; the secret's key only decrypts.
        assert_eq!(
            with_keys.allowed(id, "kms:GenerateDataKey"),
            vec![key.to_string()],
            "{id}"
        );
        assert_eq!(
            with_keys.allowed(id, "kms:Decrypt"),
            vec![key.to_string(), key.to_string()],
            "{id}"
        );
    }
    let encryption = &with_keys.resource("DataBucket")["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        [0]["ServerSideEncryptionByDefault"];
    assert_eq!(
        with_keys.eval(&encryption["SSEAlgorithm"]).as_deref(),
        Some("aws:kms")
    );
    assert_eq!(
        with_keys.eval(&encryption["KMSMasterKeyID"]).as_deref(),
        Some(key)
    );
    let plain_encryption = &plain.resource("DataBucket")["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        [0]["ServerSideEncryptionByDefault"];
    assert_eq!(
        plain.eval(&plain_encryption["SSEAlgorithm"]).as_deref(),
        Some("AES256")
    );
}

#[test]
fn schedules_send_inputs_the_functions_accept_and_retry_into_the_queue() {
    let t = Template::load(&[("BucketName", BUCKET)]);
    let schedules = t.resources_of("AWS::Scheduler::Schedule");
    let mut targets = BTreeSet::new();
    for (id, schedule) in schedules {
        let p = &schedule["Properties"];
        assert!(
            p["ScheduleExpressionTimezone"].is_object(),
            "{id}: the timezone is a parameter"
        );
        let target = &p["Target"];
        assert!(
            target["RetryPolicy"]["MaximumRetryAttempts"]
                .as_u64()
                .is_some(),
            "{id}"
        );
        assert_eq!(
            target["DeadLetterConfig"]["Arn"],
            json!({"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}),
            "{id}"
        );
        let input: Value =
            serde_json::from_str(target["Input"].as_str().expect("Input")).expect("JSON input");
        let function = target["Arn"]["Ref"]
            .as_str()
            .expect("a function alias or state machine");
        match function {
            "ExportUsersFunction.Alias" => {
                export_users::parse_event(input)
                    .expect("export-users accepts its schedule's input");
            }
            "DeactivateStateMachine" => {
                // The machine's first hop passes the input with the execution name as runId.
                let mut input = input;
                input["runId"] = json!("execution-name");
                let request = deactivate_stale_users::parse_event(input).expect(
                    "deactivate accepts its schedule's input and the runId its state machine adds",
                );
                assert_eq!(request.options["runId"], "execution-name");
                assert_eq!(
                    request.dry_run(),
                    None,
                    "the schedule leaves DRY_RUN to the DryRun parameter"
                );
                assert!(
                    !request.options.contains_key("force"),
                    "a schedule never forces past the caps"
                );
            }
            other => panic!("{id} targets {other}"),
        }
        targets.insert(function.to_string());
    }
    assert_eq!(
        targets.len(),
        2,
        "one schedule each for export and deactivation"
    );
}

#[test]
fn the_throttling_retry_outwaits_two_import_hops() {
    let t = Template::load(&[("BucketName", BUCKET)]);
    let timeout = t.resource("BulkCreateUsersFunction")["Properties"]["Timeout"]
        .as_f64()
        .expect("Timeout");
    assert_eq!(
        t.resource("BulkCreateUsersFunction")["Properties"]["ReservedConcurrentExecutions"],
        1
    );
    let asl: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("infra/statemachine/import.asl.json"))
            .expect("asl"),
    )
    .expect("asl JSON");
    for (name, state) in asl["States"].as_object().expect("States") {
        if state["Type"] != "Task" {
            continue;
        }
        let throttled = state["Retry"]
            .as_array()
            .expect("Retry")
            .iter()
            .find(|r| r["ErrorEquals"] == json!(["Lambda.TooManyRequestsException"]))
            .unwrap_or_else(|| panic!("{name}: a retrier of its own for throttling"));
        assert_eq!(
            throttled["JitterStrategy"], "NONE",
            "{name}: FULL jitter halves the expected wait"
        );
        let interval = throttled["IntervalSeconds"]
            .as_f64()
            .expect("IntervalSeconds");
        let rate = throttled["BackoffRate"].as_f64().unwrap_or(2.0);
        let cap = throttled["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX);
        let attempts = throttled["MaxAttempts"].as_i64().unwrap_or(3) as i32;
        let waited: f64 = (0..attempts)
            .map(|i| (interval * rate.powi(i)).min(cap))
            .sum();
        assert!(
            waited >= 2.0 * timeout,
            "{name}: waits {waited} s in all, hops last up to {timeout} s"
        );
    }
}

/// Where each function may write, as key patterns inside [`BUCKET`].
fn writable(t: &Template, id: &str) -> Vec<String> {
    t.allowed(id, "s3:PutObject")
        .iter()
        .map(|arn| {
            arn.strip_prefix(&format!("arn:aws:s3:::{BUCKET}/"))
                .unwrap_or_else(|| panic!("{id} may write outside the data bucket: {arn}"))
                .to_string()
        })
        .collect()
}

fn bucket_keys_not_in(before: &BTreeSet<String>, now: Vec<String>) -> Vec<String> {
    now.into_iter().filter(|k| !before.contains(k)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binaries_run_with_the_templates_defaults_and_write_only_where_iam_allows() {
    let world = World::new().await;
    let sim = Simulator::start(SimConfig {
        users: 300,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let secret = world
        .sim_secret("sisense/template", &sim, e2e_tests::Family::Fusion)
        .await;
    let t = Template::load(&[("BucketName", BUCKET), ("SisenseSecretArn", &secret)]);
    let expiring: Vec<String> =
        t.resource("DataBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| !r["ExpirationInDays"].is_null())
            .map(|r| r["Prefix"].as_str().expect("prefix").to_string())
            .collect();
    let mut written_by: Vec<(&str, Vec<String>)> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();

    // A CSV lands under imports/, and the state machine's first hop carries the EventBridge event's fields.
    let input_key = "imports/new hires.csv";
    world
        .put(
            input_key,
            b"email,firstName,lastName,role,groups\nnew.hire@example.com,New,Hire,viewer,\n"
                .to_vec(),
        )
        .await;
    assert!(
        t.allowed("BulkCreateUsersFunction", "s3:GetObject")
            .iter()
            .any(|r| wildcard_match(r, &format!("arn:aws:s3:::{BUCKET}/{input_key}")))
    );
    seen.extend(world.keys("").await);

    for (id, binary) in FUNCTIONS {
        let env: Vec<(String, String)> = t.env(id).into_iter().collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut function = world.function(binary, &env).await;
        let event = match binary {
            "bulk-create-users" => {
                json!({"bucket": BUCKET, "key": input_key, "runId": "template-defaults"})
            }
            _ => json!({}),
        };
        let out = function.invoke(&event).await.unwrap_or_else(|e| {
            panic!(
                "{binary} with the template's environment: {e}\n{}",
                function.logs()
            )
        });
        if binary == "bulk-create-users" {
            assert_eq!(out["done"], true, "{out}");
            assert_eq!(out["created"], 1, "{out}");
        }
        let new = bucket_keys_not_in(&seen, world.keys("").await);
        assert!(!new.is_empty(), "{binary} wrote nothing: {out}");
        seen.extend(new.iter().cloned());
        written_by.push((id, new));
    }
    assert!(
        sim.writes()
            .iter()
            .all(|w| w.method == "POST" && w.path.contains("users")),
        "only the import wrote to Sisense; deactivation ran as the dry run the template defaults to"
    );

    for (id, keys) in &written_by {
        let allowed = writable(&t, id);
        for key in keys {
            assert!(
                allowed.iter().any(|p| wildcard_match(p, key)),
                "{id} wrote {key}, outside its IAM prefixes {allowed:?}"
            );
            let expires = expiring
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()));
            assert!(
                expires || key.ends_with("/latest.csv"),
                "{key} is kept forever: no lifecycle rule expires it"
            );
        }
    }
}

#[test]
fn notices_publish_only_to_the_given_topic_and_the_failed_metric_is_alarmed_and_dashboarded() {
    let topic = "arn:aws:sns:eu-west-1:123456789012:stale-notice";
    let plain = Template::load(&[("BucketName", BUCKET)]);
    let notifying = Template::load(&[("BucketName", BUCKET), ("NotifyTopicArn", topic)]);
    for (id, _) in FUNCTIONS {
        assert!(plain.allowed(id, "sns:Publish").is_empty(), "{id}");
    }
    assert_eq!(
        notifying.allowed("DeactivateStaleUsersFunction", "sns:Publish"),
        vec![topic.to_string()]
    );
    assert!(
        notifying
            .allowed("ExportUsersFunction", "sns:Publish")
            .is_empty()
    );
    let env = notifying.env("DeactivateStaleUsersFunction");
    assert_eq!(env["NOTIFY_TOPIC_ARN"], topic);
    assert_eq!(env["NOTICE_DAYS"], "0", "notice is off unless asked for");
    let export_env = plain.env("ExportUsersFunction");
    assert_eq!(
        export_env["INACTIVE_DAYS"],
        plain.env("DeactivateStaleUsersFunction")["INACTIVE_DAYS"],
        "seats use the job's threshold"
    );

    // An alarm on the EMF `failed` metric per function, by the name the function reports itself under.
    for (function, kind) in [
        ("ExportUsersFunction", "export-users"),
        ("BulkCreateUsersFunction", "bulk-create-users"),
        ("DeactivateStaleUsersFunction", "deactivate-stale-users"),
    ] {
        let name = plain
            .eval(&plain.resource(function)["Properties"]["FunctionName"])
            .unwrap();
        assert!(name.ends_with(kind), "{name}");
        let alarm = plain
            .resources_of("AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(_, a)| a["Properties"].clone())
            .find(|p| {
                p["Namespace"] == "SisenseLifecycle"
                    && plain.eval(&p["Dimensions"][0]["Value"]).as_deref() == Some(name.as_str())
            })
            .unwrap_or_else(|| panic!("no failed alarm for {name}"));
        assert_eq!(alarm["MetricName"], "failed");
        assert_eq!(alarm["Dimensions"][0]["Name"], "function");
    }
    let dashboard = plain.resource("LifecycleDashboard");
    let body = plain
        .eval(&dashboard["Properties"]["DashboardBody"])
        .expect("the body evaluates");
    let body: serde_json::Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let metrics: Vec<String> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().clone())
        .map(|m| m[1].as_str().unwrap().to_string())
        .collect();
    for name in [
        "users",
        "active",
        "stale",
        "warned",
        "acted",
        "failed",
        "seats.viewers",
        "reclaimable.designers",
    ] {
        assert!(
            metrics.iter().any(|m| m == name),
            "{name} is on the dashboard"
        );
    }
}

#[test]
fn a_private_network_and_a_proxy_are_parameters_applied_to_all_three_functions_or_to_none() {
    let vpc_policy = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";
    let managed = |t: &Template, id: &str| -> Vec<String> {
        t.resource(id)["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("Fn::If").is_some())
            .filter_map(|p| t.select(p))
            .filter_map(|p| t.eval(&p))
            .collect()
    };
    let plain = Template::load(&[("BucketName", BUCKET)]);
    for (id, _) in FUNCTIONS {
        assert_eq!(
            plain.select(&plain.resource(id)["Properties"]["VpcConfig"]),
            None,
            "{id}: no VPC unless asked"
        );
        assert!(!managed(&plain, id).iter().any(|p| p == vpc_policy), "{id}");
        let env = plain.env(id);
        assert!(
            !env.contains_key("HTTPS_PROXY") && !env.contains_key("NO_PROXY"),
            "{id}"
        );
    }
    let private = Template::load(&[
        ("BucketName", BUCKET),
        ("SubnetIds", "subnet-0a1b2c3d,subnet-4e5f6a7b"),
        ("SecurityGroupIds", "sg-0123abcd"),
        ("HttpsProxy", "http://proxy.corp.example:3128"),
        ("NoProxy", "169.254.169.254,.amazonaws.com"),
    ]);
    assert!(private.condition("HasVpc") && private.condition("HasProxy"));
    for (id, binary) in FUNCTIONS {
        let vpc = private
            .select(&private.resource(id)["Properties"]["VpcConfig"])
            .unwrap_or_else(|| panic!("{id} joins the VPC"));
        assert_eq!(
            vpc["SubnetIds"],
            json!({"Fn::Split": [",", {"Ref": "SubnetIds"}]}),
            "{id}"
        );
        assert_eq!(
            vpc["SecurityGroupIds"],
            json!({"Fn::Split": [",", {"Ref": "SecurityGroupIds"}]}),
            "{id}"
        );
        assert!(
            managed(&private, id).iter().any(|p| p == vpc_policy),
            "{id} may create its network interfaces"
        );
        let env = private.env(id);
        assert_eq!(env["HTTPS_PROXY"], "http://proxy.corp.example:3128", "{id}");
        assert_eq!(env["NO_PROXY"], "169.254.169.254,.amazonaws.com", "{id}");
        let read = env_read_by(binary);
        assert!(read.contains_key("HTTPS_PROXY") && read.contains_key("NO_PROXY"));
    }
    // Subnets without security groups are refused by the template's own rule.
    let rule = &plain.doc["Rules"]["NetworkNeedsSecurityGroups"];
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "SecurityGroupIds"}, ""]}]})
    );
}
