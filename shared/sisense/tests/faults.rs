//! Authentication, retries and error reporting against a misbehaving simulator.

mod common;

use std::time::Duration;

use futures::TryStreamExt;
use sisense::{Credentials, Directory, Error, SecretString, SisenseClient, UserQuery};
use sisense_sim::{Faults, SimConfig, Simulator};

async fn list_all(
    client: &SisenseClient,
    page: u32,
    prefetch: usize,
) -> Result<Vec<sisense::User>, Error> {
    client
        .users(UserQuery {
            page_size: Some(page),
            prefetch: Some(prefetch),
            ..UserQuery::default()
        })
        .try_collect()
        .await
}

#[tokio::test]
async fn logs_in_again_once_when_the_token_expires() {
    let sim = common::sim(
        2_000,
        Faults {
            token_expiry_after: Some(5),
            ..Faults::default()
        },
    )
    .await;
    let client = common::client(&sim);
    let users = list_all(&client, 100, 1).await.unwrap();
    assert_eq!(users.len(), 2_000);
    // 21 list requests, a token lasts 5: four re-logins after the first login.
    assert_eq!(sim.logins(), 5);
    let unauthorized = sim.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(unauthorized, 4, "each expiry costs exactly one 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_expiry_triggers_a_single_login() {
    let sim = common::sim(
        3_000,
        Faults {
            token_expiry_after: Some(10),
            ..Faults::default()
        },
    )
    .await;
    let client = common::client(&sim);
    let users = list_all(&client, 100, 6).await.unwrap();
    assert_eq!(users.len(), 3_000);
    let list_requests = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/users" && r.status == 200)
        .count();
    assert!(
        sim.logins() as usize <= list_requests / 10 + 2,
        "logins {} for {list_requests} pages",
        sim.logins()
    );
}

#[tokio::test]
async fn a_second_401_fails_cleanly_with_unauthorized() {
    let sim = common::sim(
        10,
        Faults {
            reject_all_tokens: true,
            ..Faults::default()
        },
    )
    .await;
    let client = common::client(&sim);
    let err = client.roles(None).await.unwrap_err();
    match &err {
        Error::Unauthorized { code, message, .. } => {
            assert_eq!(*code, Some(5001));
            assert_eq!(message, "Invalid token.");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(sim.logins(), 2, "one login, one re-login, then give up");
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/api/roles")
            .count(),
        2
    );
}

#[tokio::test]
async fn bad_password_is_unauthorized_without_retries() {
    let sim = common::sim(10, Faults::default()).await;
    let mut config = common::config(&sim);
    config.credentials = Credentials::Password {
        username: sim.username().into(),
        password: SecretString::from("wrong"),
    };
    let client = SisenseClient::new(config).unwrap();
    let err = client.groups(None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message, .. } if message == "Invalid username or password"),
        "{err}"
    );
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn api_token_is_used_as_is_and_a_401_is_final() {
    let sim = Simulator::start(SimConfig {
        users: 50,
        api_token: Some("tok-static-1".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut config = common::config(&sim);
    config.credentials = Credentials::Token(SecretString::from("tok-static-1"));
    let users = list_all(&SisenseClient::new(config.clone()).unwrap(), 20, 1)
        .await
        .unwrap();
    assert_eq!(users.len(), 50);
    assert_eq!(sim.logins(), 0);
    config.credentials = Credentials::Token(SecretString::from("tok-revoked"));
    let err = SisenseClient::new(config)
        .unwrap()
        .roles(None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }));
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/api/roles")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_503_storm_with_drops_and_expiry_still_returns_every_user_once() {
    let faults = Faults {
        rate_429: 0.25,
        rate_5xx: 0.20,
        rate_drop: 0.05,
        token_expiry_after: Some(7),
        ..Faults::default()
    };
    let sim = common::sim(3_000, faults).await;
    // Half the requests fail, so 12 attempts leave a 0.5^12 chance per page of giving up: ~1% per run over
    // 31 pages. The storm is about surviving faults, not the attempt cap, so the cap goes out of reach.
    let mut config = common::config(&sim);
    config.retry.max_attempts = 40;
    let client = SisenseClient::new(config).expect("client builds");
    let users = list_all(&client, 100, 4).await.unwrap();
    let expected: Vec<_> = sim
        .users()
        .iter()
        .map(|u| u["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        users.into_iter().map(|u| u.id).collect::<Vec<_>>(),
        expected
    );
    let faulted = sim.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted > 5, "the storm happened: {faulted} faults");
}

#[tokio::test]
async fn retries_stop_at_the_budget_with_the_last_error() {
    let sim = common::sim(
        10,
        Faults {
            rate_5xx: 1.0,
            ..Faults::default()
        },
    )
    .await;
    let mut config = common::config(&sim);
    config.retry.max_attempts = 4;
    let err = SisenseClient::new(config)
        .unwrap()
        .groups(None)
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "the last transient error is returned: {err}"
    );
    // Login itself is retried 4 times against a 100% 5xx server; nothing else is sent.
    assert_eq!(sim.requests().len(), 4);
}

#[tokio::test]
async fn honours_retry_after_from_the_server() {
    let sim = common::sim(
        10,
        Faults {
            rate_429: 1.0,
            retry_after: Some(1),
            ..Faults::default()
        },
    )
    .await;
    let mut config = common::config(&sim);
    config.retry.budget = Duration::from_millis(1_500);
    let err = SisenseClient::new(config)
        .unwrap()
        .roles(None)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    // A 1 s floor per wait inside a 1.5 s budget allows exactly one retry: two requests in all.
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let faults = Faults {
        slow_rate: 0.3,
        slow_latency: Duration::from_millis(800),
        ..Faults::default()
    };
    let sim = common::sim(1_000, faults).await;
    let mut config = common::config(&sim);
    config.request_timeout = Duration::from_millis(300);
    let users = list_all(&SisenseClient::new(config).unwrap(), 100, 2)
        .await
        .unwrap();
    assert_eq!(users.len(), 1_000);
}

#[tokio::test]
async fn unreachable_server_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let credentials = Credentials::Token(SecretString::from("t"));
    let mut config = sisense::ClientConfig::new(&url, credentials).unwrap();
    config.retry = common::fast_retry();
    config.retry.max_attempts = 3;
    let err = SisenseClient::new(config)
        .unwrap()
        .groups(None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_shared_by_all_clones_and_tasks() {
    let sim = common::sim(10, Faults::default()).await;
    let mut config = common::config(&sim);
    // GETs spend the read budget (writes have their own): limit reads to 10/s.
    config.read_rate_limit = std::num::NonZeroU32::new(10);
    let client = SisenseClient::new(config).unwrap();
    client.roles(None).await.unwrap();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..6 {
                    client.groups(None).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // 24 requests from 4 tasks on clones at 10/s, with at most 10 in a burst (2 already spent): at least 1.4 s.
    // A lower bound only, so a slow machine cannot make it fail.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1_300),
        "the limit was not shared: {elapsed:?}"
    );
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/api/v1/groups")
            .count(),
        24
    );
}
