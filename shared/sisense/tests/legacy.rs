//! The legacy Windows v0.9 family against the simulator: `x-api-key` JWTs, `/api/users` paging, array creates
//! with `notify`, PUT updates, deletes by ids in the body, and the same fault handling as Fusion.

mod common;

use futures::TryStreamExt;
use serde_json::Value;
use sisense::{
    Credentials, Directory, Error, Family, NewUser, RoleResolver, SecretString, SisenseClient,
    UserPatch, UserQuery,
};
use sisense_sim::{Faults, SimConfig, Simulator};

fn ids(users: &[sisense::User]) -> Vec<String> {
    users.iter().map(|u| u.id.to_string()).collect()
}

fn sim_ids(sim: &Simulator) -> Vec<String> {
    sim.users()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect()
}

fn new_user(email: &str, role_id: &sisense::RoleId) -> NewUser {
    NewUser {
        email: email.into(),
        user_name: None,
        first_name: Some("Legacy".into()),
        last_name: Some("Hire".into()),
        role_id: Some(role_id.clone()),
        scope: None,
        groups: vec![],
        password: None,
    }
}

async fn list(client: &SisenseClient, page_size: u32) -> Result<Vec<sisense::User>, Error> {
    client
        .users(UserQuery {
            page_size: Some(page_size),
            ..UserQuery::default()
        })
        .try_collect()
        .await
}

#[tokio::test]
async fn lists_every_user_once_with_signed_api_keys_and_never_logs_in() {
    let sim = common::sim(257, Faults::default()).await;
    let client = common::legacy_client(&sim);
    assert_eq!(client.family(), Family::Legacy);
    let users = list(&client, 50).await.unwrap();
    assert_eq!(ids(&users), sim_ids(&sim));
    assert_eq!(client.roles(None).await.unwrap().len(), 6);
    assert_eq!(client.groups(None).await.unwrap().len(), sim.groups().len());
    assert_eq!(sim.logins(), 0, "legacy never calls the Fusion login");
    let requests = sim.requests();
    assert_eq!(sim.api_key_requests(), requests.len() as u64);
    assert!(
        requests
            .iter()
            .all(|r| r.path.starts_with("/api/") && !r.path.starts_with("/api/v1/")),
        "{requests:?}"
    );
    let pages: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/api/users")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        pages.len(),
        7,
        "257 users in pages of 50, and the empty page that proves the end: {pages:?}"
    );
    assert!(pages[5].contains("skip=250") && pages[5].contains("limit=50"));
    assert!(pages[6].contains("skip=257"));
}

#[tokio::test]
async fn a_server_that_ignores_paging_is_read_once_and_one_that_repeats_pages_is_an_error() {
    let sim = Simulator::start(SimConfig {
        users: 35,
        legacy_ignores_paging: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = common::legacy_client(&sim);
    let users = list(&client, 10).await.unwrap();
    assert_eq!(ids(&users), sim_ids(&sim));
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/users")
        .count();
    assert_eq!(
        pages, 1,
        "a page longer than limit is the whole list: no second request"
    );
    // With exactly `limit` users, the whole list is also a full page: the repeat shows skip is ignored.
    let err = list(&client, 35).await.unwrap_err();
    assert!(
        matches!(&err, Error::Paging(m) if m.contains("ignore skip")),
        "{err}"
    );
}

#[tokio::test]
async fn creates_updates_and_deletes_through_the_v09_routes_without_mailing_anyone() {
    let sim = common::sim(10, Faults::default()).await;
    let client = common::legacy_client(&sim);
    let viewer = RoleResolver::new(client.roles(None).await.unwrap())
        .resolve("viewer")
        .unwrap()
        .id
        .clone();
    let batch: Vec<NewUser> = (0..7)
        .map(|i| new_user(&format!("legacy{i}@example.com"), &viewer))
        .collect();
    let outcomes = client.create_users(&batch).await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    for user in &batch {
        assert!(sim.user_by_email(&user.email).is_some(), "{}", user.email);
    }
    let posts: Vec<_> = sim
        .writes()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/users")
        .collect();
    assert!(!posts.is_empty());
    assert!(
        posts
            .iter()
            .all(|r| r.query.as_deref() == Some("notify=false")),
        "{posts:?}"
    );
    // An existing email is refused; one more create works through the array route.
    assert!(
        client
            .create_user(&new_user("LEGACY0@example.com", &viewer))
            .await
            .is_err()
    );
    let one = client
        .create_user(&new_user("solo@example.com", &viewer))
        .await
        .unwrap();
    let found = client
        .find_user_by_email("SOLO@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, one.id);
    assert!(
        client
            .find_user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    let updated = client.update_user(&one.id, &patch).await.unwrap();
    assert_eq!(updated.active, Some(false));
    assert_eq!(
        sim.user_by_email("solo@example.com").unwrap()["active"],
        false
    );
    assert!(
        sim.writes()
            .iter()
            .any(|r| r.method == "PUT" && r.path == format!("/api/users/{}", one.id))
    );

    client.delete_user(&one.id).await.unwrap();
    assert!(sim.user_by_email("solo@example.com").is_none());
    client
        .delete_user(&one.id)
        .await
        .expect("deleting a user already gone succeeds");
    assert!(
        client.get_user(&one.id).await.unwrap().is_none(),
        "a missing user is None"
    );
    let deletes = sim
        .writes()
        .into_iter()
        .filter(|r| r.path == "/api/users/delete")
        .count();
    assert_eq!(deletes, 2);
}

#[tokio::test]
async fn asking_for_invitations_sends_notify_true() {
    let sim = common::sim(3, Faults::default()).await;
    let mut config = common::config(&sim);
    config.credentials = common::legacy_client(&sim).config().credentials.clone();
    config.notify_new_users = true;
    let client = SisenseClient::new(config).unwrap();
    let viewer = RoleResolver::new(client.roles(None).await.unwrap())
        .resolve("viewer")
        .unwrap()
        .id
        .clone();
    client
        .create_user(&new_user("invited@example.com", &viewer))
        .await
        .unwrap();
    let post = sim
        .writes()
        .into_iter()
        .find(|r| r.path == "/api/users")
        .unwrap();
    assert_eq!(post.query.as_deref(), Some("notify=true"));
}

#[tokio::test]
async fn a_401_is_re_signed_once_and_a_second_401_or_a_wrong_key_is_final() {
    let sim = common::sim(
        120,
        Faults {
            token_expiry_after: Some(2),
            ..Faults::default()
        },
    )
    .await;
    let client = common::legacy_client(&sim);
    let users = list(&client, 10).await.unwrap();
    assert_eq!(ids(&users), sim_ids(&sim));
    let refused = sim.requests().iter().filter(|r| r.status == 401).count();
    assert!(refused >= 4, "expiry was injected: {refused} 401s");

    sim.set_faults(Faults {
        reject_all_tokens: true,
        ..Faults::default()
    });
    sim.clear_requests();
    let err = client.roles(None).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert_eq!(sim.requests().len(), 2, "one request, one re-signed retry");

    sim.set_faults(Faults::default());
    let mut config = common::config(&sim);
    config.credentials = Credentials::LegacyJwt {
        email: sim.username().into(),
        password: SecretString::from(sim.password().to_string()),
        api_token: SecretString::from("not-the-rest-api-token"),
    };
    let wrong = SisenseClient::new(config).unwrap();
    let err = wrong.groups(None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message, .. } if message.contains("x-api-key")),
        "{err}"
    );
}

#[tokio::test]
async fn storms_and_lost_write_responses_lose_no_user_and_create_nobody_twice() {
    let sim = common::sim(
        300,
        Faults {
            rate_429: 0.1,
            rate_5xx: 0.1,
            rate_drop: 0.05,
            lose_write_response_rate: 0.3,
            ..Faults::default()
        },
    )
    .await;
    let mut config = common::config(&sim);
    config.credentials = common::legacy_client(&sim).config().credentials.clone();
    config.bulk_chunk = 4;
    let client = SisenseClient::new(config).unwrap();
    let users = list(&client, 40).await.unwrap();
    assert_eq!(ids(&users), sim_ids(&sim));
    let viewer = RoleResolver::new(client.roles(None).await.unwrap())
        .resolve("viewer")
        .unwrap()
        .id
        .clone();
    let batch: Vec<NewUser> = (0..40)
        .map(|i| new_user(&format!("storm{i}@example.com"), &viewer))
        .collect();
    let outcomes = client.create_users(&batch).await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let stored: Vec<Value> = sim
        .users()
        .into_iter()
        .filter(|u| u["email"].as_str().unwrap().starts_with("storm"))
        .collect();
    assert_eq!(stored.len(), 40, "each user exactly once");
    let faults: Vec<_> = sim.requests().iter().filter_map(|r| r.fault).collect();
    assert!(
        faults.contains(&"lost-response") && faults.contains(&"429"),
        "{faults:?}"
    );
}

/// Windows 6.5 and later: no REST API token in the secret, so the v1 login and Bearer tokens on the v0.9 paths;
/// the v0.9 create answers one object (the contract's schema), so the others of a batch are found by listing.
#[tokio::test]
async fn windows_6_5_logs_in_with_bearer_tokens_and_confirms_every_created_user() {
    let sim = common::sim(40, Faults::default()).await;
    let mut config = common::config(&sim);
    config.credentials = Credentials::legacy_from_parts(
        Some(sim.username()),
        Some(&SecretString::from(sim.password().to_string())),
        None,
    )
    .unwrap();
    let client = SisenseClient::new(config).unwrap();
    assert_eq!(client.family(), Family::Legacy);
    let users = list(&client, 15).await.unwrap();
    assert_eq!(ids(&users), sim_ids(&sim));
    assert_eq!(sim.logins(), 1, "one v1 login");
    assert_eq!(sim.api_key_requests(), 0, "no x-api-key without a token");
    assert!(
        sim.requests()
            .iter()
            .filter(|r| !r.path.ends_with("/authentication/login"))
            .all(|r| r.path.starts_with("/api/users") || r.path == "/api/roles"),
        "v0.9 paths only"
    );
    let roles = RoleResolver::new(client.roles(None).await.unwrap());
    let viewer = roles.resolve("Viewer").unwrap().id.clone();
    let batch: Vec<_> = (0..4)
        .map(|i| new_user(&format!("w65-{i}@example.com"), &viewer))
        .collect();
    let outcomes = client.create_users(&batch).await;
    for outcome in &outcomes {
        let stored = sim.user_by_email(&outcome.email).unwrap();
        assert_eq!(
            outcome.result.as_ref().unwrap().id,
            stored["_id"].as_str().unwrap()
        );
    }
    let posts = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/users")
        .count();
    assert_eq!(posts, 1, "one array create, no single re-creates");
    assert_eq!(client.count_users().await.unwrap(), Some(44));
}
