//! Creates, bulk creates, patches and deletes against the simulator, including lost responses.

mod common;

use sisense::{Directory, Error, GroupResolver, NewUser, RoleResolver, SecretString, UserPatch};
use sisense_sim::{Faults, Release, SimConfig, Simulator};

fn new_user(email: &str, role_id: &str) -> NewUser {
    NewUser {
        email: email.into(),
        user_name: None,
        first_name: Some("New".into()),
        last_name: Some("Hire".into()),
        role_id: Some(role_id.into()),
        scope: None,
        groups: vec![],
        password: None,
    }
}

async fn consumer_role(client: &sisense::SisenseClient) -> String {
    RoleResolver::new(client.roles(None).await.unwrap())
        .resolve("viewer")
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn roles_and_groups_resolve_against_the_server() {
    let sim = common::sim(5, Faults::default()).await;
    let client = common::client(&sim);
    let roles = RoleResolver::new(client.roles(None).await.unwrap());
    assert_eq!(roles.resolve("Designer").unwrap().name, "contributor");
    assert_eq!(roles.resolve("sysadmin").unwrap().name, "super");
    let groups = GroupResolver::new(client.groups(None).await.unwrap());
    assert_eq!(groups.resolve("sales").unwrap().unwrap().name, "Sales");
    assert!(matches!(
        groups.resolve("Analysts"),
        Err(sisense::ResolveError::Ambiguous { .. })
    ));
}

#[tokio::test]
async fn roles_come_from_api_roles_without_display_names_and_ui_names_resolve() {
    let sim = common::sim(5, Faults::default()).await;
    let roles = common::client(&sim).roles(None).await.unwrap();
    assert_eq!(roles.len(), 6);
    assert!(roles.iter().all(|r| r.display_name.is_none()));
    let paths: Vec<_> = sim.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/api/v1/authentication/login", "/api/roles"]);
    let roles = RoleResolver::new(roles);
    for (api, ui) in sisense_sim::ROLES {
        assert_eq!(roles.resolve(ui).unwrap().name, api, "{ui}");
    }
}

#[tokio::test]
async fn create_find_patch_delete_round_trip() {
    let sim = common::sim(5, Faults::default()).await;
    let client = common::client(&sim);
    let role = consumer_role(&client).await;
    let mut user = new_user("Round.Trip@example.com", &role);
    user.password = Some(SecretString::from("Initial-Pass-1"));
    let created = client.create_user(&user).await.unwrap();
    assert_eq!(created.role_id().map(|r| r.as_str()), Some(role.as_str()));
    let found = client
        .find_user_by_email("round.trip@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.id);

    let patched = client
        .update_user(
            &created.id,
            &UserPatch {
                active: Some(false),
                first_name: Some("Renamed".into()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.first_name.as_deref(), Some("Renamed"));
    assert!(
        patched.is_active(),
        "the contract's PATCH has no `active`: the server ignores it"
    );
    assert_eq!(
        client.get_user(&created.id).await.unwrap().unwrap().active,
        Some(true)
    );

    client.delete_user(&created.id).await.unwrap();
    assert!(client.get_user(&created.id).await.unwrap().is_none());
    client
        .delete_user(&created.id)
        .await
        .expect("deleting a user that is gone succeeds");
    assert!(sim.user_by_email("round.trip@example.com").is_none());
}

#[tokio::test]
async fn a_newer_release_honours_active_in_a_patch() {
    let sim = Simulator::start(SimConfig {
        users: 5,
        release: Release::Newer,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = common::client(&sim);
    let id = sisense::UserId::from(sim.users()[3]["_id"].as_str().unwrap());
    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    assert!(!client.update_user(&id, &patch).await.unwrap().is_active());
    assert_eq!(sim.users()[3]["active"], false);
}

fn count_email(sim: &Simulator, email: &str) -> usize {
    sim.users()
        .iter()
        .filter(|u| {
            u["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
        .count()
}

#[tokio::test]
async fn lost_create_responses_are_reconciled_by_email_never_created_twice() {
    let faults = Faults {
        lose_write_response_rate: 0.4,
        rate_5xx: 0.1,
        rate_429: 0.1,
        ..Faults::default()
    };
    let sim = common::sim(5, faults).await;
    let client = common::client(&sim);
    let role = consumer_role(&client).await;
    for i in 0..40 {
        let email = format!("single{i}@example.com");
        let created = client.create_user(&new_user(&email, &role)).await.unwrap();
        assert_eq!(created.email, email);
        assert_eq!(count_email(&sim, &email), 1, "{email} exists exactly once");
    }
    let posts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/users")
        .collect();
    let lost = posts
        .iter()
        .filter(|r| r.fault == Some("lost-response"))
        .count();
    let applied = posts.iter().filter(|r| r.status == 201).count() + lost;
    assert!(lost > 3, "responses were lost: {lost}");
    assert_eq!(applied, 40, "each create applied once");
    assert!(
        posts.iter().all(|r| r.status != 400),
        "no duplicate create was ever attempted"
    );
}

/// The contract's bulk 201 carries no `_id`: each chunk's users are found by one listing of the newest users,
/// never one look-up per user.
#[tokio::test]
async fn bulk_create_in_chunks() {
    let sim = common::sim(5, Faults::default()).await;
    let mut config = common::config(&sim);
    config.bulk_chunk = 50;
    let client = sisense::SisenseClient::new(config).unwrap();
    let role = consumer_role(&client).await;
    let users: Vec<_> = (0..120)
        .map(|i| new_user(&format!("bulk{i}@example.com"), &role))
        .collect();
    let outcomes = client.create_users(&users).await;
    assert_eq!(outcomes.len(), 120);
    for (outcome, user) in outcomes.iter().zip(&users) {
        assert_eq!(outcome.email, user.email);
        assert_eq!(outcome.result.as_ref().unwrap().email, user.email);
        assert!(!outcome.reconciled);
    }
    let bulk: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/users/bulk")
        .collect();
    assert_eq!(
        bulk.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![201, 201, 201]
    );
    assert_eq!(sim.users().len(), 125);
    for (outcome, user) in outcomes.iter().zip(&users) {
        let stored = sim.user_by_email(&user.email).unwrap();
        assert_eq!(
            outcome.result.as_ref().unwrap().id,
            stored["_id"].as_str().unwrap(),
            "the outcome carries the id Sisense gave"
        );
    }
    let lookups: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/api/v1/users"))
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(lookups.len(), 3, "one listing per chunk: {lookups:?}");
    assert!(
        lookups.iter().all(|q| q.contains("sort=-_id")),
        "{lookups:?}"
    );
}

/// Bulk creates are all-or-nothing (Sisense's server code): one bad item rejects the batch and creates nobody,
/// and the fallback creates the others one by one, each once.
#[tokio::test]
async fn refused_bulk_creates_nobody_and_the_fallback_creates_each_valid_user_once() {
    let sim = common::sim(5, Faults::default()).await;
    let client = common::client(&sim);
    let role = consumer_role(&client).await;
    let mut users: Vec<_> = (0..5)
        .map(|i| new_user(&format!("mixed{i}@example.com"), &role))
        .collect();
    users[2].role_id = Some("ffffffffffffffffffffffff".into());
    let outcomes = client.create_users(&users).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i == 2 {
            let err = outcome.result.as_ref().unwrap_err();
            assert!(
                matches!(err, Error::Api { status, message, .. } if status.as_u16() == 404 && message.contains("Role")),
                "{err}"
            );
        } else {
            assert!(outcome.result.is_ok(), "{i}: {:?}", outcome.result);
            assert!(
                !outcome.reconciled,
                "the refused bulk created nobody: the fallback created it"
            );
            assert_eq!(count_email(&sim, &outcome.email), 1);
        }
    }
    let singles = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/users")
        .count();
    assert_eq!(
        singles, 5,
        "every user of the refused batch is sent alone, the bad one included"
    );
}

#[tokio::test]
async fn bulk_whose_response_is_lost_is_reconciled_without_duplicates() {
    let sim = common::sim(5, Faults::default()).await;
    let client = common::client(&sim);
    let role = consumer_role(&client).await;
    sim.set_faults(Faults {
        lose_write_response_rate: 1.0,
        ..Faults::default()
    });
    let users: Vec<_> = (0..10)
        .map(|i| new_user(&format!("lost{i}@example.com"), &role))
        .collect();
    let outcomes = client.create_users(&users).await;
    assert!(outcomes.iter().all(|o| o.result.is_ok() && o.reconciled));
    assert!(users.iter().all(|u| count_email(&sim, &u.email) == 1));
    assert_eq!(
        sim.writes().len(),
        1,
        "one bulk POST, no retries of it, no single creates"
    );
}

#[tokio::test]
async fn creating_an_existing_user_is_a_clear_error() {
    let sim = common::sim(5, Faults::default()).await;
    let client = common::client(&sim);
    let role = consumer_role(&client).await;
    let existing = sim.users()[1]["email"].as_str().unwrap().to_uppercase();
    let err = client
        .create_user(&new_user(&existing, &role))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}
