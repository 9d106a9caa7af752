//! Listing users through the stream against the simulator.

mod common;

use std::collections::HashSet;

use futures::TryStreamExt;
use sisense::{Directory, Ref, UserQuery};
use sisense_sim::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_10001_users_with_prefetch_each_exactly_once() {
    let sim = common::sim(10_001, Faults::default()).await;
    let client = common::client(&sim);
    let query = UserQuery {
        page_size: Some(500),
        prefetch: Some(4),
        ..UserQuery::default()
    };
    let users: Vec<_> = client.users(query).try_collect().await.unwrap();
    let expected: Vec<String> = sim
        .users()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    let got: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    assert_eq!(got.len(), 10_001);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 10_001);
    assert_eq!(got, expected, "every user once, in _id order");
    let list_requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/users")
        .collect();
    assert!(
        list_requests.len() >= 21,
        "21 pages at least: {}",
        list_requests.len()
    );
    assert!(
        list_requests
            .iter()
            .all(|r| r.query.as_deref().unwrap_or("").contains("sort=_id"))
    );
}

#[tokio::test]
async fn exact_multiple_of_page_size_ends_on_empty_page() {
    let sim = common::sim(1_000, Faults::default()).await;
    let client = common::client(&sim);
    let query = UserQuery {
        page_size: Some(100),
        prefetch: Some(1),
        ..UserQuery::default()
    };
    let users: Vec<_> = client.users(query).try_collect().await.unwrap();
    assert_eq!(users.len(), 1_000);
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/users")
        .count();
    assert_eq!(pages, 11, "ten full pages and one empty page, no more");
}

#[tokio::test]
async fn expanded_role_and_groups_and_models_match_the_server() {
    let sim = common::sim(300, Faults::default()).await;
    let client = common::client(&sim);
    let query = UserQuery {
        expand_role: true,
        expand_groups: true,
        page_size: Some(64),
        ..UserQuery::default()
    };
    let users: Vec<_> = client.users(query).try_collect().await.unwrap();
    let stored = sim.users();
    assert_eq!(users.len(), stored.len());
    for (user, raw) in users.iter().zip(&stored) {
        assert_eq!(user.email, raw["email"]);
        assert_eq!(user.role_id().map(|r| r.as_str()), raw["roleId"].as_str());
        assert!(matches!(user.role, Some(Ref::Expanded(_))));
        let ids: Vec<_> = user.group_ids().collect();
        let raw_ids: Vec<_> = raw["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert_eq!(ids, raw_ids);
        assert_eq!(
            user.last_login.map(sisense_sim::timestamp),
            raw["lastLogin"].as_str().map(str::to_string)
        );
        assert_eq!(
            user.created.map(sisense_sim::timestamp),
            raw["created"].as_str().map(str::to_string)
        );
        assert_eq!(
            user.extra["preferences"], raw["preferences"],
            "unknown fields are kept"
        );
    }
    assert!(
        users.iter().any(|u| u.last_login.is_none()),
        "population has never-logged-in users"
    );
}

#[tokio::test]
async fn active_filter_is_sent_and_applied() {
    let sim = common::sim(500, Faults::default()).await;
    let client = common::client(&sim);
    let inactive: Vec<_> = client
        .users(UserQuery {
            active: Some(false),
            ..UserQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    let expected = sim.users().iter().filter(|u| u["active"] == false).count();
    assert!(expected > 0);
    assert_eq!(inactive.len(), expected);
    assert!(inactive.iter().all(|u| !u.is_active()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_by_ids_reads_a_batch_back_in_one_listing_and_survives_a_page_cap() {
    let sim = common::sim(400, Faults::default()).await;
    let client = common::client(&sim);
    let mut ids: Vec<sisense::UserId> = sim
        .users()
        .iter()
        .step_by(2)
        .take(150)
        .map(|u| u["_id"].as_str().unwrap().into())
        .collect();
    ids.push("000000000000000000000bad".into());
    let found = client.users_by_ids(&ids).await.unwrap();
    assert_eq!(
        found.len(),
        150,
        "every existing id, the missing one absent"
    );
    let listings = |sim: &sisense_sim::Simulator| {
        sim.requests()
            .iter()
            .filter(|r| r.query.as_deref().is_some_and(|q| q.contains("ids=")))
            .count()
    };
    // Two chunks (100 + 51 ids); the second has a missing id, so its end is proven by an empty page.
    assert_eq!(listings(&sim), 3, "{:?}", sim.requests());
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.path.starts_with("/api/v1/users/"))
    );

    sim.clear_requests();
    sim.set_faults(Faults {
        page_cap: Some(30),
        ..Faults::default()
    });
    let capped = client.users_by_ids(&ids).await.unwrap();
    assert_eq!(
        capped.iter().map(|u| &u.id).collect::<HashSet<_>>().len(),
        150,
        "a capped page is not the end"
    );
    assert!(listings(&sim) >= 6);
}
