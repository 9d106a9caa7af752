//! bulk-create-users end to end: the real binary under the Lambda Runtime API, moto S3 + Secrets Manager, the
//! Sisense simulator over HTTP. The test plays the Step Functions loop: invoke again with `continuation` until
//! `done`.

use std::collections::BTreeMap;

use e2e_tests::Family;
use e2e_tests::runtime_api::Function;
use e2e_tests::world::{BUCKET, World};
use serde_json::{Value, json};
use sisense_sim::{Faults, SimConfig, Simulator};

async fn sim(users: usize) -> Simulator {
    Simulator::start(SimConfig {
        users,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn function(
    world: &World,
    sim: &Simulator,
    family: Family,
    name: &str,
    extra: &[(&str, &str)],
) -> Function {
    let secret = world.sim_secret(name, sim, family).await;
    let mut env = vec![
        ("SISENSE_SECRET_ID", secret.as_str()),
        ("SISENSE_RATE_LIMIT", "0"),
    ];
    env.extend_from_slice(extra);
    world.function("bulk-create-users", &env).await
}

/// An S3 ObjectCreated notification as S3 sends it (the key URL-encoded).
fn s3_event(encoded_key: &str, etag: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-22T09:15:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:TEST"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R1", "x-amz-id-2": "X"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "imports",
               "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "O"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": encoded_key, "size": 1, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}}
    }]})
}

/// Invokes until `done`, feeding `continuation` back like the state machine; returns the last output and hops.
async fn run(function: &mut Function, event: Value) -> (Value, usize) {
    let mut event = event;
    for invocations in 1..=200 {
        let out = function
            .invoke(&event)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
        if out["done"] == true {
            return (out, invocations);
        }
        assert_eq!(out["status"], "continue", "{out}");
        event = out["continuation"].clone();
    }
    panic!("never finished")
}

fn generated(n: usize) -> String {
    let roles = ["viewer", "Designer", "dataDesigner", "consumer"];
    let groups = ["Sales", "Finance|Support", "", "Engineering; Marketing"];
    let mut csv = String::from("Email,First Name,Last Name,Role,Groups\n");
    for i in 0..n {
        csv.push_str(&format!(
            "hire{i}@newco.example,Hire,Number{i},{},\"{}\"\n",
            roles[i % 4],
            groups[i % 4]
        ));
    }
    csv
}

async fn report(world: &World, summary: &Value) -> Vec<BTreeMap<String, String>> {
    let bytes = world.get(summary["reportKey"].as_str().unwrap()).await;
    csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(|r| r.unwrap())
        .collect()
}

e2e_tests::per_family!(
    two_thousand_rows_in_hops_then_a_duplicate_event_changes_nothing,
    a_messy_file_in_dry_run_writes_nothing_then_for_real_writes_only_valid_rows,
    faults_lose_no_row_and_create_nobody_twice_and_update_mode_patches,
);

async fn two_thousand_rows_in_hops_then_a_duplicate_event_changes_nothing(family: Family) {
    let world = World::new().await;
    let sim = sim(100).await;
    let key = "imports/new hires (nov).csv";
    let etag = world.put(key, generated(2_000).into_bytes()).await;
    let mut f = function(
        &world,
        &sim,
        family,
        "sisense/import",
        &[("IMPORT_ROWS_PER_HOP", "600")],
    )
    .await;
    let event = s3_event("imports/new+hires+%28nov%29.csv", &etag);
    let (summary, hops) = run(&mut f, event.clone()).await;
    assert_eq!(hops, 4, "600 rows per hop");
    assert_eq!(summary["status"], "done");
    assert_eq!(summary["rows"], 2_000);
    assert_eq!(summary["created"], 2_000, "{summary}");
    assert_eq!(
        (summary["failed"].clone(), summary["invalid"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(summary["hops"], 4);
    assert_eq!(summary["dryRun"], false);
    assert_eq!(summary["inputEtag"], etag.as_str());
    let report_key = summary["reportKey"].as_str().unwrap().to_string();
    assert!(
        report_key.starts_with("reports/imports/new hires (nov).")
            && report_key.ends_with("Z.result.csv"),
        "{report_key}"
    );

    let rows = report(&world, &summary).await;
    assert_eq!(rows.len(), 2_000);
    let role_names = sim.role_names();
    let group_names = sim.group_names();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["status"], "created", "{row:?}");
        assert_eq!(row["row"], (i + 2).to_string());
        let user = sim
            .user_by_email(&format!("hire{i}@newco.example"))
            .expect("created");
        assert_eq!(row["user_id"], user["_id"].as_str().unwrap());
        let role = &role_names[user["roleId"].as_str().unwrap()];
        assert_eq!(
            role,
            ["consumer", "contributor", "dataDesigner", "consumer"][i % 4]
        );
        let groups: Vec<&str> = user["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| group_names[g.as_str().unwrap()].as_str())
            .collect();
        let want: &[&str] = [
            &["Sales"][..],
            &["Finance", "Support"],
            &[],
            &["Engineering", "Marketing"],
        ][i % 4];
        assert_eq!(groups, want);
    }
    let bulk_path = match family {
        Family::Fusion => "/api/v1/users/bulk",
        Family::Legacy => "/api/users",
        Family::Periscope => unreachable!("Periscope has its own scenarios (periscope.rs)"),
    };
    let bulk = sim
        .writes()
        .iter()
        .filter(|w| w.method == "POST" && w.path == bulk_path)
        .count();
    assert_eq!(bulk, 40, "2,000 rows in bulk requests of 50");
    // The contract's bulk 201 (and v0.9's one-object answer) carries no ids for the batch: the report's ids
    // above come from one listing of the newest users per bulk request, never one look-up per user.
    assert_eq!(sim.users().len(), 2_100, "each row created exactly once");
    let per_user: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET"
                && (r.query.as_deref().is_some_and(|q| q.contains("email="))
                    || r.path.starts_with("/api/v1/users/")
                    || (r.path.starts_with("/api/users/") && r.path != "/api/users/count"))
        })
        .collect();
    assert!(per_user.is_empty(), "per-user look-ups: {}", per_user.len());
    e2e_tests::assert_spoke(&sim, family);
    let summary_file: Value =
        serde_json::from_slice(&world.get(summary["summaryKey"].as_str().unwrap()).await).unwrap();
    assert_eq!(summary_file["created"], 2_000);

    // The same notification again (S3 delivers at least once): nothing is done, the first summary comes back.
    let report_before = world.get(&report_key).await;
    sim.clear_requests();
    let again = f.invoke(&event).await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["reportKey"], report_key.as_str());
    assert_eq!(again["created"], 2_000);
    assert!(
        sim.requests().is_empty(),
        "the duplicate never reached Sisense"
    );
    assert_eq!(
        world.get(&report_key).await,
        report_before,
        "report untouched"
    );
    assert_eq!(
        world.keys("reports/imports/new hires").await.len(),
        2,
        "one report, one summary"
    );
    let logs = f.logs();
    for secret in e2e_tests::sim_secrets(&sim) {
        assert!(!logs.contains(&secret), "{secret} in the function's logs");
    }
}

async fn a_messy_file_in_dry_run_writes_nothing_then_for_real_writes_only_valid_rows(
    family: Family,
) {
    let world = World::new().await;
    let sim = sim(60).await;
    let existing = sim.users()[7]["email"].as_str().unwrap().to_string();
    let messy = format!(
        "\u{feff}E-Mail;Name;Role Name;Group Names;Password\r\n\
         ann.new@example.com;Ann Marie New;viewer;Sales|Finance;\r\n\
         \"comma@example.com\";\"Smith, Jr Bob\";sysadmin;;\"p;w,d\"\r\n\
         wizard@example.com;W Z;wizard;;\r\n\
         nogroup@example.com;N G;viewer;Nonexistent;\r\n\
         twin@example.com;T W;viewer;Analysts;\r\n\
         dup@example.com;D One;viewer;;\r\n\
         Dup@Example.com;D Two;viewer;;\r\n\
         {existing};E X;viewer;;\r\n\
         bad-email;B E;viewer;;\r\n\
         nopw@example.com;No Password;;;\r\n"
    );
    world
        .put("imports/dry-run/messy.csv", messy.clone().into_bytes())
        .await;
    world.put("imports/messy.csv", messy.into_bytes()).await;
    let mut f = function(&world, &sim, family, "sisense/messy", &[]).await;

    let (dry, _) = run(
        &mut f,
        json!({"bucket": BUCKET, "key": "imports/dry-run/messy.csv"}),
    )
    .await;
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (
            dry["wouldCreate"].clone(),
            dry["skipped"].clone(),
            dry["invalid"].clone()
        ),
        (json!(3), json!(1), json!(6)),
        "{dry}"
    );
    assert!(
        sim.writes().is_empty(),
        "dry run sent no write: {:?}",
        sim.writes()
    );

    let (real, _) = run(
        &mut f,
        json!({"bucket": BUCKET, "key": "imports/messy.csv"}),
    )
    .await;
    assert_eq!(
        (
            real["created"].clone(),
            real["skipped"].clone(),
            real["invalid"].clone(),
            real["failed"].clone()
        ),
        (json!(3), json!(1), json!(6), json!(0)),
        "{real}"
    );
    let by_email: BTreeMap<String, BTreeMap<String, String>> = report(&world, &real)
        .await
        .into_iter()
        .map(|r| (r["email"].clone(), r))
        .collect();
    assert!(by_email["wizard@example.com"]["message"].contains("unknown role \"wizard\""));
    assert!(by_email["nogroup@example.com"]["message"].contains("unknown group \"Nonexistent\""));
    assert!(by_email["twin@example.com"]["message"].contains("ambiguous group \"Analysts\""));
    assert!(by_email["Dup@Example.com"]["message"].contains("more than once"));
    assert!(by_email["bad-email"]["message"].contains("invalid email"));
    assert_eq!(by_email[&existing]["status"], "skipped");
    let ann = sim.user_by_email("ann.new@example.com").unwrap();
    assert_eq!(
        (ann["firstName"].clone(), ann["lastName"].clone()),
        (json!("Ann Marie"), json!("New"))
    );
    let comma = sim.user_by_email("comma@example.com").unwrap();
    assert_eq!(
        sim.role_names()[comma["roleId"].as_str().unwrap()],
        "super",
        "the sysadmin alias"
    );
    assert!(
        sim.user_by_email("nopw@example.com").is_some(),
        "an empty password is omitted, not sent empty"
    );
    assert_eq!(sim.users().len(), 63);
    e2e_tests::assert_spoke(&sim, family);
}

async fn faults_lose_no_row_and_create_nobody_twice_and_update_mode_patches(family: Family) {
    let world = World::new().await;
    let sim = sim(40).await;
    sim.set_faults(Faults {
        rate_429: 0.10,
        rate_5xx: 0.05,
        lose_write_response_rate: 0.10,
        token_expiry_after: Some(30),
        ..Faults::default()
    });
    world
        .put("imports/storm.csv", generated(800).into_bytes())
        .await;
    let mut f = function(
        &world,
        &sim,
        family,
        "sisense/storm",
        &[("IMPORT_ROWS_PER_HOP", "300")],
    )
    .await;
    let (summary, _) = run(
        &mut f,
        json!({"bucket": BUCKET, "key": "imports/storm.csv"}),
    )
    .await;
    assert_eq!(summary["created"], 800, "{summary}");
    let users = sim.users();
    assert_eq!(users.len(), 840);
    let mut emails: Vec<String> = users
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_lowercase())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 840, "nobody twice");
    let requests = sim.requests();
    assert!(requests.iter().filter(|r| r.fault.is_some()).count() > 10);
    assert!(requests.iter().any(|r| r.status == 401), "a token expired");

    sim.set_faults(Faults::default());
    world
        .put(
            "imports/promote.csv",
            b"email,role\nhire0@newco.example,dataDesigner\nhire1@newco.example,\n".to_vec(),
        )
        .await;
    let (updated, _) = run(
        &mut f,
        json!({"bucket": BUCKET, "key": "imports/promote.csv", "onExisting": "update"}),
    )
    .await;
    assert_eq!(
        (updated["updated"].clone(), updated["skipped"].clone()),
        (json!(1), json!(1)),
        "{updated}"
    );
    let hire0 = sim.user_by_email("hire0@newco.example").unwrap();
    assert_eq!(
        sim.role_names()[hire0["roleId"].as_str().unwrap()],
        "dataDesigner"
    );
    e2e_tests::assert_spoke(&sim, family);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_file_rejections_report_and_return_without_failing_the_invocation() {
    let world = World::new().await;
    let sim = sim(10).await;
    let mut f = function(
        &world,
        &sim,
        Family::Fusion,
        "sisense/reject",
        &[("MAX_ROWS", "3"), ("REPORT_PREFIX", "audit/")],
    )
    .await;
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "imports/latin1.csv",
            b"email,name\nb\xe9a@x.io,B\xe9a\n",
            "not UTF-8",
        ),
        (
            "imports/noemail.csv",
            b"name;role\nAnn;viewer\n",
            "no email column",
        ),
        (
            "imports/huge.csv",
            b"email\na@x.io\nb@x.io\nc@x.io\nd@x.io\n",
            "more than 3 data rows",
        ),
        ("imports/empty.csv", b"email\n\n", "no data rows"),
    ];
    for (key, body, phrase) in cases {
        world.put(key, body.to_vec()).await;
        let out = f
            .invoke(&json!({"bucket": BUCKET, "key": key}))
            .await
            .expect("no failed invocation, so no Lambda retry");
        assert_eq!(out["done"], true);
        assert!(
            out["error"].as_str().unwrap_or_default().contains(phrase),
            "{out}"
        );
        assert!(
            out["reportKey"]
                .as_str()
                .unwrap()
                .starts_with("audit/imports/")
        );
        let rows = report(&world, &out).await;
        assert!(rows[0]["message"].contains(phrase));
    }
    let own = f
        .invoke(&s3_event(
            "audit/imports/latin1.20261122T091500Z.result.csv",
            "e",
        ))
        .await
        .unwrap();
    assert_eq!(
        own["status"], "ignored",
        "a report never feeds back into the import"
    );
    let missing = f
        .invoke(&json!({"bucket": BUCKET, "key": "imports/nope.csv"}))
        .await
        .unwrap_err();
    assert_eq!(missing["errorType"], "InputMissing");
    let typo = f
        .invoke(&json!({"bucket": BUCKET, "key": "k", "dryrun": true}))
        .await
        .unwrap_err();
    assert_eq!(typo["errorType"], "BadRequest");
    assert!(sim.writes().is_empty());
}
