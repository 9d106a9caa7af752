//! Malformed and non-JSON responses give clear, specific errors.

mod common;

use sisense::{ClientConfig, Credentials, Directory, Error, SecretString, SisenseClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves the same canned HTTP response to every connection on 127.0.0.1.
async fn canned(status: &'static str, content_type: &'static str, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16_384];
            let _ = socket.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    url
}

fn token_client(url: &str) -> SisenseClient {
    let mut config = ClientConfig::new(url, Credentials::Token(SecretString::from("t0k"))).unwrap();
    config.retry = common::fast_retry();
    config.retry.max_attempts = 2;
    SisenseClient::new(config).unwrap()
}

#[tokio::test]
async fn html_login_page_on_200_is_a_decode_error_that_says_html() {
    let url = canned(
        "200 OK",
        "text/html",
        "<!DOCTYPE html><html><head><title>Sign in</title></head></html>",
    )
    .await;
    let err = token_client(&url).groups(None).await.unwrap_err();
    match &err {
        Error::Decode {
            detail,
            snippet,
            path,
            ..
        } => {
            assert!(detail.contains("HTML page"), "{detail}");
            assert!(snippet.contains("Sign in"));
            assert_eq!(path, "/api/v1/groups");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(err.to_string().contains("HTML page"));
}

#[tokio::test]
async fn truncated_json_is_a_decode_error() {
    let url = canned(
        "200 OK",
        "application/json",
        r#"[{"_id": "a1", "name": "Sal"#,
    )
    .await;
    let err = token_client(&url).groups(None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Decode { detail, .. } if detail.contains("EOF")),
        "{err:?}"
    );
}

#[tokio::test]
async fn html_error_page_keeps_status_title_and_body() {
    let url = canned(
        "500 Internal Server Error",
        "text/html",
        "<html><head><title>Oops</title></head><body>trace</body></html>",
    )
    .await;
    let err = token_client(&url).groups(None).await.unwrap_err();
    match &err {
        Error::Api {
            status,
            message,
            body,
            code,
            ..
        } => {
            assert_eq!(status.as_u16(), 500);
            assert_eq!(message, "an HTML page instead of JSON: Oops");
            assert!(body.contains("trace"));
            assert_eq!(*code, None);
        }
        other => panic!("expected Api, got {other:?}"),
    }
}

#[tokio::test]
async fn sisense_error_json_keeps_code_and_message() {
    let body = r#"{"error":{"code":2000,"message":"User was not found","status":404,"httpMessage":"Not Found"}}"#;
    let url = canned("404 Not Found", "application/json", body).await;
    let err = token_client(&url)
        .update_user(&"64a000000000000000000001".into(), &Default::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(
        matches!(&err, Error::Api { code: Some(2000), message, .. } if message == "User was not found")
    );
    assert!(
        err.to_string()
            .contains("PATCH /api/v1/users/64a000000000000000000001"),
        "{err}"
    );
}

#[test]
fn refuses_plain_http_to_remote_hosts() {
    let err = ClientConfig::new(
        "http://bi.example.com",
        Credentials::Token(SecretString::from("t")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("plain http"), "{err}");
}
