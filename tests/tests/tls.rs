//! Sisense behind a private certificate authority and an outbound proxy, over real TLS: the simulator serves
//! HTTPS with a certificate from a CA made here; the client trusts it only when told (`caCertificate`,
//! `--ca-cert`), refuses it in words otherwise without retrying, and reaches it through a CONNECT proxy on
//! loopback (`HTTPS_PROXY`) or around it (`NO_PROXY`).

use std::time::{Duration, Instant};

use e2e_tests::proxy::ConnectProxy;
use e2e_tests::world::{BUCKET, World};
use futures::TryStreamExt;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;
use sisense::{
    ClientConfig, Credentials, Directory, Error, SecretString, SisenseClient, UserQuery,
};
use sisense_sim::{SimConfig, Simulator, TlsIdentity};

/// A certificate authority and a server certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: String,
    server: TlsIdentity,
}

fn authority(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn pki() -> Pki {
    let (ca_params, ca_key, ca_pem) = authority("sisense-lifecycle test CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem,
        server: TlsIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    }
}

async fn https_sim(pki: &Pki, users: usize) -> Simulator {
    Simulator::start(SimConfig {
        users,
        tls: Some(pki.server.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn client(sim: &Simulator, ca: Option<&str>) -> Result<SisenseClient, Error> {
    let credentials = Credentials::Password {
        username: sim.username().into(),
        password: SecretString::from(sim.password().to_string()),
    };
    let mut config = ClientConfig::new(sim.base_url(), credentials)?;
    config.rate_limit = None;
    config.ca_certificates = ca.map(str::to_string);
    SisenseClient::new(config)
}

/// The handshakes the simulator saw fail since `before`, once the count has settled: the server learns of a
/// refused handshake only after the client has given up, so its count can lag the client's error a little.
async fn failed_handshakes(sim: &Simulator, before: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = sim.tls_failures();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = sim.tls_failures();
        if (now == seen && now > before) || Instant::now() > deadline {
            return now - before;
        }
        seen = now;
    }
}

async fn list(client: &SisenseClient) -> Result<usize, Error> {
    let users: Vec<_> = client.users(UserQuery::default()).try_collect().await?;
    Ok(users.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_when_given_and_refused_in_words_and_at_once_otherwise() {
    let pki = pki();
    let sim = https_sim(&pki, 120).await;
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));

    let trusted = client(&sim, Some(&pki.ca_pem)).unwrap();
    assert_eq!(list(&trusted).await.unwrap(), 120);

    // Without the CA: one handshake, refused, a message that says what to do, and no retry.
    let before = sim.tls_failures();
    let started = Instant::now();
    let err = list(&client(&sim, None).unwrap()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("certificate is not trusted") && message.contains("caCertificate"),
        "{message}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        failed_handshakes(&sim, before).await,
        1,
        "a certificate failure is final: one handshake"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Another CA is no better; a caCertificate that is no certificate is a configuration error.
    let (_, _, other_pem) = authority("someone else's CA");
    let err = list(&client(&sim, Some(&other_pem)).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let Err(err) = client(&sim, Some("not a certificate")) else {
        panic!("a caCertificate that is no certificate is refused");
    };
    assert!(err.to_string().contains("caCertificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_through_a_connect_proxy_reaches_the_simulator_over_tls_with_the_secrets_ca() {
    let world = World::new().await;
    let pki = pki();
    let sim = https_sim(&pki, 300).await;
    let mut secret = e2e_tests::sim_secret_json(&sim, e2e_tests::Family::Fusion);
    secret["caCertificate"] = json!(pki.ca_pem);
    let secret = world.secret("sisense/tls", secret).await;
    let proxy = ConnectProxy::start().await;
    let sim_host = sim.base_url().trim_start_matches("https://").to_string();

    let mut function = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", secret.as_str()),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
                ("HTTPS_PROXY", proxy.url()),
            ],
        )
        .await;
    let out = function
        .invoke(&json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.logs()));
    assert_eq!(out["users"], 300);
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "the function went through the proxy");
    assert!(tunnels.iter().all(|t| *t == sim_host), "{tunnels:?}");

    // NO_PROXY sends it around the proxy.
    drop(function);
    let mut direct = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", secret.as_str()),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
                ("HTTPS_PROXY", proxy.url()),
                ("NO_PROXY", "127.0.0.1"),
            ],
        )
        .await;
    let before = proxy.tunnels().len();
    let out = direct
        .invoke(&json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", direct.logs()));
    assert_eq!(out["users"], 300);
    assert_eq!(proxy.tunnels().len(), before, "NO_PROXY bypasses the proxy");

    // The same secret without its CA fails at once, in words, without a retry storm.
    let mut bare = e2e_tests::sim_secret_json(&sim, e2e_tests::Family::Fusion);
    bare["baseUrl"] = json!(sim.base_url());
    let bare = world.secret("sisense/tls-bare", bare).await;
    let mut refused = world
        .function(
            "export-users",
            &[
                ("SISENSE_SECRET_ID", bare.as_str()),
                ("EXPORT_BUCKET", BUCKET),
                ("SISENSE_RATE_LIMIT", "0"),
            ],
        )
        .await;
    let before = sim.tls_failures();
    let started = Instant::now();
    let err = refused.invoke(&json!({})).await.expect_err("untrusted");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err["errorType"], "SisenseError", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("add that CA as caCertificate in the secret"),
        "{err}"
    );
    // The export starts with its reads at once (roles, groups, the count): each may open one connection, and
    // none is retried (before, a refused certificate was retried as if transient: 24 handshakes).
    let handshakes = failed_handshakes(&sim, before).await;
    assert!((1..=3).contains(&handshakes), "{handshakes} handshakes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_trusts_a_private_ca_given_with_ca_cert() {
    let pki = pki();
    let sim = https_sim(&pki, 40).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let run = |ca: Option<&std::path::Path>| {
        let mut command =
            std::process::Command::new(e2e_tests::function_binary("sisense-lifecycle"));
        command
            .current_dir(&dir)
            .args(["roles", "--json"])
            .env("SISENSE_URL", sim.base_url())
            .env("SISENSE_USERNAME", sim.username())
            .env("SISENSE_PASSWORD", sim.password())
            .env_remove("SISENSE_SECRET_ID")
            .env_remove("SISENSE_CA_CERT")
            .env_remove("HTTPS_PROXY");
        if let Some(ca) = ca {
            command.arg("--ca-cert").arg(ca);
        }
        command.output().unwrap()
    };
    let trusted = run(Some(&ca));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let refused = run(None);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--ca-cert"), "{stderr}");
}
