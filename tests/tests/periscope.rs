//! The three functions against Periscope / Sisense for Cloud Data Teams end to end: the real binaries under the
//! Lambda Runtime API, moto S3 + Secrets Manager, and two simulators each answering as one Periscope site
//! (`east` with RBAC roles, `west` with groups) behind one multi-site secret.

use std::collections::BTreeMap;

use e2e_tests::Family;
use e2e_tests::world::{BUCKET, World};
use lifecycle::export::{HEADER, SITE_COLUMN};
use serde_json::{Value, json};
use sisense_sim::{Faults, SimConfig, Simulator};

async fn site(name: &str, rbac: bool, users: usize, seed: u64) -> Simulator {
    Simulator::start(SimConfig {
        users,
        seed,
        periscope_site: name.into(),
        periscope_rbac: rbac,
        periscope_page_size: 100,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn storm() -> Faults {
    Faults {
        rate_429: 0.1,
        rate_5xx: 0.1,
        rate_drop: 0.03,
        lose_write_response_rate: 0.25,
        ..Faults::default()
    }
}

fn records(csv: &[u8]) -> Vec<BTreeMap<String, String>> {
    csv::Reader::from_reader(csv)
        .deserialize()
        .map(|r| r.unwrap())
        .collect()
}

fn no_secret_in(logs: &str, sims: &[&Simulator]) {
    for sim in sims {
        for secret in e2e_tests::sim_secrets(sim) {
            assert!(!logs.contains(&secret), "{secret} in the function's logs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_site_into_one_csv_with_a_site_column_and_again_under_faults() {
    let world = World::new().await;
    // An RBAC site of 1,234 users, listed in pages of 100 (`next_page_start`), and a groups site; both answer
    // with wrapped lists.
    let east = site("east", true, 1_234, 7).await;
    let west = site("west", false, 2_000, 8).await;
    let secret = world
        .secret(
            "periscope/export",
            e2e_tests::periscope_secret_json(&[&east, &west]),
        )
        .await;
    let mut function = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", &secret),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
            ],
        )
        .await;
    let out = function
        .invoke(&json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(out["users"], 3_234);
    let csv = world.get(out["key"].as_str().unwrap()).await;
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header: Vec<&str> = HEADER.iter().copied().chain([SITE_COLUMN]).collect();
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), header);
    let rows = records(&csv);
    assert_eq!(rows.len(), 3_234);
    let ids: std::collections::BTreeSet<&String> = rows.iter().map(|r| &r["user_id"]).collect();
    assert_eq!(ids.len(), 3_234, "every user once");
    let pages: Vec<String> = east
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2/users")
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 13, "1,234 users in pages of 100: {pages:?}");
    assert!(pages[1..].iter().all(|q| q.starts_with("next_page_start=")));

    let west_groups = west.group_names();
    for (sim, name) in [(&east, "east"), (&west, "west")] {
        let site_rows: Vec<&BTreeMap<String, String>> =
            rows.iter().filter(|r| r["site"] == name).collect();
        let stored = sim.users();
        assert_eq!(site_rows.len(), stored.len(), "every user of {name}");
        for (row, user) in site_rows.iter().zip(&stored) {
            assert_eq!(row["email"], user["email"].as_str().unwrap());
            assert_eq!(row["last_login"], "", "Periscope reports no last login");
            if name == "east" {
                let raw = user["_id"].as_str().unwrap();
                assert_eq!(row["user_id"], format!("east:{raw}"));
                let (role, role_name) = east.periscope_role(user);
                assert_eq!(row["role_id"], format!("east:{role}"));
                assert_eq!(row["role_name"], role_name);
                assert_eq!(row["group_names"], "");
            } else {
                assert_eq!(row["user_id"], format!("west:{}", row["email"]));
                assert_eq!(row["role_name"], "");
                let groups: Vec<&str> = (user["groups"].as_array().into_iter().flatten())
                    .map(|g| west_groups[g.as_str().unwrap()].as_str())
                    .collect();
                assert_eq!(row["group_names"], groups.join(";"));
            }
        }
    }
    let summary: Value =
        serde_json::from_slice(&world.get(out["summaryKey"].as_str().unwrap()).await).unwrap();
    assert_eq!(summary["perSite"], json!({"east": 1_234, "west": 2_000}));
    assert_eq!(summary["lastLoginAvailable"], false);
    assert_eq!(summary["neverLoggedIn"], 0, "no guess from a missing field");
    e2e_tests::assert_spoke(&east, Family::Periscope);
    e2e_tests::assert_spoke(&west, Family::Periscope);

    // Few requests per export (one listing per site, roles, groups): a heavier storm so that faults do land,
    // still well inside the function's 8 attempts per request (0.43^8 is about 0.1% per request).
    let heavy = Faults {
        rate_429: 0.2,
        rate_5xx: 0.2,
        ..storm()
    };
    east.set_faults(heavy.clone());
    west.set_faults(heavy);
    let again = function
        .invoke(&json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    let faulted = world.get(again["key"].as_str().unwrap()).await;
    assert_eq!(records(&faulted), rows, "the same CSV through the storm");
    assert!(
        east.requests()
            .iter()
            .chain(&west.requests())
            .any(|r| r.fault.is_some())
    );
    no_secret_in(&function.logs(), &[&east, &west]);
}

const HIRES: &str = "email,first_name,last_name,role,groups,site\n\
    all.sites@newco.example,All,Sites,,,\n\
    east.only@newco.example,East,Only,editor,,east\n\
    by.id@newco.example,By,Id,0000-viewer-3333-id,,east\n\
    west.only@newco.example,West,Only,,Sales,West\n\
    both.named@newco.example,Both,Named,,,east;west\n\
    bad.site@newco.example,Bad,Site,,,north\n\
    role.on.groups@newco.example,Role,Groups,viewer,,west\n\
    groups.on.rbac@newco.example,Groups,Rbac,,Sales,east\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_targets_every_site_or_the_named_ones_with_a_test_mode_dry_run_first() {
    let world = World::new().await;
    let east = site("east", true, 50, 7).await;
    let west = site("west", false, 40, 8).await;
    let secret = world
        .secret(
            "periscope/import",
            e2e_tests::periscope_secret_json(&[&east, &west]),
        )
        .await;
    world
        .put("imports/dry-run/hires.csv", HIRES.as_bytes().to_vec())
        .await;
    world
        .put("imports/hires.csv", HIRES.as_bytes().to_vec())
        .await;
    let mut f = world
        .function(
            "bulk-create-users",
            &[("SISENSE_SECRET_ID", &secret), ("SISENSE_RATE_LIMIT", "0")],
        )
        .await;
    let (east_before, west_before) = (east.users(), west.users());

    let dry = f
        .invoke(&json!({"bucket": BUCKET, "key": "imports/dry-run/hires.csv"}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", f.logs()));
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (dry["wouldCreate"].clone(), dry["invalid"].clone()),
        (json!(7), json!(3)),
        "{dry}"
    );
    assert_eq!(
        (east.users(), west.users()),
        (east_before, west_before),
        "dry run changed nothing"
    );
    for sim in [&east, &west] {
        let writes = sim.writes();
        let planned = if sim.periscope_site() == "east" { 4 } else { 3 };
        assert_eq!(
            writes.len(),
            planned,
            "one test-mode create per planned user: {writes:?}"
        );
        assert!(
            writes
                .iter()
                .all(|w| w.query.as_deref() == Some("test_mode=true"))
        );
    }

    east.clear_requests();
    west.clear_requests();
    east.set_faults(storm());
    west.set_faults(storm());
    let event = json!({"bucket": BUCKET, "key": "imports/hires.csv"});
    let live = f
        .invoke(&event)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", f.logs()));
    assert_eq!(live["done"], true, "{live}");
    assert_eq!(
        (
            live["created"].clone(),
            live["invalid"].clone(),
            live["failed"].clone()
        ),
        (json!(7), json!(3), json!(0)),
        "{live}"
    );
    let report = records(&world.get(live["reportKey"].as_str().unwrap()).await);
    let line = |email: &str| -> Vec<(String, String)> {
        report
            .iter()
            .filter(|r| r["email"] == email)
            .map(|r| (r["status"].clone(), r["message"].clone()))
            .collect()
    };
    let every_site = line("all.sites@newco.example");
    assert_eq!(every_site.len(), 2, "{report:?}");
    assert!(
        every_site.iter().all(|(status, _)| status == "created"),
        "the every-site row is created on both sites: {every_site:?}"
    );
    assert!(
        line("bad.site@newco.example")[0]
            .1
            .contains("unknown site \"north\"; the secret's sites are east, west")
    );
    assert!(
        line("role.on.groups@newco.example")[0]
            .1
            .contains("site west uses groups, not roles")
    );
    assert!(
        line("groups.on.rbac@newco.example")[0]
            .1
            .contains("site east uses roles (RBAC), not groups")
    );

    let role_of = |email: &str| {
        let user = east
            .user_by_email(email)
            .unwrap_or_else(|| panic!("{email} on east"));
        east.periscope_role(&user).1
    };
    assert_eq!(
        role_of("all.sites@newco.example"),
        "Everyone",
        "DEFAULT_ROLE (consumer) is no role of a Periscope site: no role, the site's Everyone"
    );
    assert_eq!(
        role_of("east.only@newco.example"),
        "Editor",
        "by name, any case"
    );
    assert_eq!(
        role_of("by.id@newco.example"),
        "Viewer",
        "by the site's own role id"
    );
    assert_eq!(role_of("both.named@newco.example"), "Everyone");
    for email in ["all.sites@newco.example", "both.named@newco.example"] {
        let east_row: Vec<_> = line(email)
            .into_iter()
            .filter(|(_, m)| m.starts_with("site east"))
            .collect();
        assert_eq!(east_row.len(), 1, "{email}: {report:?}");
        assert_eq!(east_row[0].0, "created");
        assert!(
            east_row[0]
                .1
                .contains("created with no role (the site's Everyone)"),
            "{east_row:?}"
        );
    }
    for email in ["east.only@newco.example", "by.id@newco.example"] {
        assert_eq!(line(email)[0].0, "created", "{email}");
    }
    assert!(east.user_by_email("west.only@newco.example").is_none());
    for email in [
        "all.sites@newco.example",
        "west.only@newco.example",
        "both.named@newco.example",
    ] {
        assert!(west.user_by_email(email).is_some(), "{email} on west");
    }
    assert!(west.user_by_email("east.only@newco.example").is_none());
    let sales = west.groups().iter().find(|g| g["name"] == "Sales").unwrap()["_id"].clone();
    assert_eq!(
        west.user_by_email("west.only@newco.example").unwrap()["groups"],
        json!([sales])
    );
    assert_eq!(
        east.users().len(),
        54,
        "each east user exactly once through the storm"
    );
    assert_eq!(
        west.users().len(),
        43,
        "each west user exactly once through the storm"
    );
    assert!(
        east.requests()
            .iter()
            .chain(&west.requests())
            .any(|r| r.fault.is_some())
    );
    e2e_tests::assert_spoke(&east, Family::Periscope);
    e2e_tests::assert_spoke(&west, Family::Periscope);

    // S3 delivers at least once: the same notification finds the finished import.
    let again = f.invoke(&event).await.unwrap();
    assert_eq!(again["status"], "duplicate", "{again}");
    no_secret_in(&f.logs(), &[&east, &west]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_refuses_to_judge_staleness_without_last_logins_and_touches_nothing() {
    let world = World::new().await;
    let sim = site("acme", true, 30, 7).await;
    let secret = world
        .sim_secret("periscope/stale", &sim, Family::Periscope)
        .await;
    let mut f = world
        .function(
            "deactivate-stale-users",
            &[
                ("SISENSE_SECRET_ID", &secret),
                ("REPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
            ],
        )
        .await;
    for event in [json!({}), json!({"dryRun": false, "force": true})] {
        let err = f.invoke(&event).await.expect_err("refused");
        assert_eq!(err["errorType"], "StalenessUnknown", "{err}");
        let message = err["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("reports no last login")
                && message.contains("no user was listed or changed"),
            "{message}"
        );
    }
    assert!(sim.requests().is_empty(), "nothing was asked of Periscope");
    assert!(
        world.keys("reports/").await.is_empty(),
        "no report pretends a judgement"
    );
}
