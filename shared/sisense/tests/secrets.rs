//! Secrets never reach Debug output or logs. Alone in its binary: tracing caches per-callsite interest
//! process-wide, so a capturing subscriber must not race tests that run without one.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use sisense::{Directory, SecretString, UserQuery};
use sisense_sim::Faults;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn all_users(client: &sisense::SisenseClient) -> usize {
    let users: Vec<_> = client
        .users(UserQuery {
            page_size: Some(50),
            ..UserQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    users.len()
}

#[tokio::test]
async fn secrets_never_reach_debug_output_or_trace_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = common::sim(
        300,
        Faults {
            token_expiry_after: Some(2),
            rate_429: 0.2,
            ..Faults::default()
        },
    )
    .await;
    let client = common::client(&sim);
    assert_eq!(all_users(&client).await, 300);
    assert!(sim.logins() > 1, "re-logins happened while logging");
    let bad_user = sisense::NewUser {
        email: "x@example.com".into(),
        user_name: None,
        first_name: None,
        last_name: None,
        role_id: Some("nope".into()),
        scope: None,
        groups: vec![],
        password: Some(SecretString::from("new-user-pass-999")),
    };
    assert!(client.create_user(&bad_user).await.is_err());

    // The legacy family through a 401 and a storm: neither the REST API token nor a signed JWT may show.
    let legacy = common::legacy_client(&sim);
    let before = sim.api_key_requests();
    assert_eq!(all_users(&legacy).await, 300);
    assert!(sim.api_key_requests() > before);
    assert!(legacy.create_user(&bad_user).await.is_err());

    // Periscope through the same storm and a refused key: the site's API key may not show.
    let periscope = common::periscope_client(&[&sim]);
    assert_eq!(all_users(&periscope).await, 300);
    let mut config = periscope.config().clone();
    let mut site = common::periscope_site(&sim);
    site.api_key = SecretString::from(format!("{}-but-wrong", sim.periscope_api_key()));
    config.credentials = sisense::Credentials::periscope(vec![site]).unwrap();
    let refused = sisense::SisenseClient::new(config).unwrap();
    assert!(refused.roles(None).await.is_err());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("sisense request") && logs.contains("signing a fresh x-api-key"),
        "the client logged:\n{logs}"
    );
    let debug = format!(
        "{client:?} {:?} {legacy:?} {:?} {periscope:?} {:?}",
        client.config(),
        legacy.config(),
        periscope.config()
    );
    // "eyJ" starts every JWT (base64 of `{"`).
    for secret in [
        sim.password(),
        "simtok.",
        "new-user-pass-999",
        sim.rest_api_token(),
        "eyJ",
        sim.periscope_api_key(),
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs");
        assert!(
            !debug.contains(secret),
            "{secret} leaked into Debug: {debug}"
        );
    }
    assert!(!logs.to_ascii_lowercase().contains("bearer"));
}
