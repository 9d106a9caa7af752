//! The Sisense secret in Secrets Manager and the client configuration it yields.

use secrecy::SecretString;
use serde::Deserialize;
use sisense::{ClientConfig, Credentials, CredentialsProblem};

/// Why the secret could not be turned into credentials. Never carries secret values.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager refused or failed.
    #[error("cannot read secret {id}: {message}")]
    Fetch {
        /// Secret name or ARN.
        id: String,
        /// The service's message.
        message: String,
    },
    /// The secret has no SecretString (binary secrets are not supported).
    #[error("secret {id} has no SecretString")]
    NotString {
        /// Secret name or ARN.
        id: String,
    },
    /// The SecretString is not the expected JSON (position only, so no value is echoed).
    #[error(
        "secret {id} is not valid JSON of the expected shape ({category} error at line {line}, column {column})"
    )]
    NotJson {
        /// Secret name or ARN.
        id: String,
        /// serde_json's error category.
        category: String,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// The JSON is well-formed but not usable.
    #[error("secret {id} is invalid: {reason}")]
    Invalid {
        /// Secret name or ARN.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// `{"kind":"fusion","baseUrl":"...","username":"...","password":"..."}` or `{..., "token":"..."}`, or
/// `{"kind":"legacy","baseUrl":"...","email":"...","password":"...","apiToken":"..."}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretJson {
    #[serde(default = "fusion")]
    kind: String,
    base_url: Option<String>,
    username: Option<String>,
    password: Option<SecretString>,
    token: Option<SecretString>,
    email: Option<String>,
    api_token: Option<SecretString>,
}

fn fusion() -> String {
    "fusion".into()
}

/// Parses the secret JSON into a client configuration (defaults for everything else).
pub fn parse_secret(id: &str, json: &str) -> Result<ClientConfig, SecretError> {
    let secret: SecretJson = serde_json::from_str(json).map_err(|e| SecretError::NotJson {
        id: id.into(),
        category: format!("{:?}", e.classify()).to_lowercase(),
        line: e.line(),
        column: e.column(),
    })?;
    let invalid = |reason: &str| SecretError::Invalid {
        id: id.into(),
        reason: reason.into(),
    };
    let base_url = secret
        .base_url
        .as_deref()
        .ok_or_else(|| invalid("baseUrl is missing"))?;
    let credentials = match secret.kind.to_ascii_lowercase().as_str() {
        "fusion" => fusion_credentials(&secret).map_err(&invalid)?,
        "legacy" => legacy_credentials(&secret).map_err(&invalid)?,
        _ => {
            return Err(invalid(&format!(
                "kind {:?} is not supported yet (supported: fusion, legacy)",
                secret.kind
            )));
        }
    };
    ClientConfig::new(base_url, credentials).map_err(|e| invalid(&e.to_string()))
}

fn fusion_credentials(secret: &SecretJson) -> Result<Credentials, &'static str> {
    if secret.email.is_some() || secret.api_token.is_some() {
        return Err(
            "email and apiToken belong to kind \"legacy\"; a fusion secret takes username and password (or token)",
        );
    }
    Credentials::from_parts(
        secret.username.as_deref(),
        secret.password.as_ref(),
        secret.token.as_ref(),
    )
    .map_err(|problem| match problem {
        CredentialsProblem::Both => "give either token or username and password, not both",
        CredentialsProblem::NoPassword | CredentialsProblem::Missing => {
            "username and password (or token) are required"
        }
    })
}

fn legacy_credentials(secret: &SecretJson) -> Result<Credentials, &'static str> {
    if secret.username.is_some() || secret.token.is_some() {
        return Err("a legacy secret takes email, password and apiToken (not username or token)");
    }
    Credentials::legacy_from_parts(
        secret.email.as_deref(),
        secret.password.as_ref(),
        secret.api_token.as_ref(),
    )
    .map_err(|_| "a legacy secret needs email, password and apiToken (the REST API token)")
}

/// Reads the secret from Secrets Manager and parses it.
pub async fn load_client_config(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<ClientConfig, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::Fetch {
            id: id.into(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    let json = output
        .secret_string()
        .ok_or_else(|| SecretError::NotString { id: id.into() })?;
    parse_secret(id, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_password_and_token_secrets() {
        let pw = parse_secret(
            "s",
            r#"{"baseUrl":"https://bi.example.com","username":"svc@x.io","password":"p4ss"}"#,
        )
        .unwrap();
        assert_eq!(pw.credentials.username(), Some("svc@x.io"));
        assert_eq!(pw.base_url.as_str(), "https://bi.example.com/");
        let tok = parse_secret(
            "s",
            r#"{"kind":"fusion","baseUrl":"https://bi.example.com","token":"t0k"}"#,
        )
        .unwrap();
        assert!(matches!(tok.credentials, Credentials::Token(_)));
        let legacy = parse_secret(
            "s",
            r#"{"kind":"Legacy","baseUrl":"https://bi.example.com","email":" svc@x.io ","password":"p","apiToken":"k"}"#,
        )
        .unwrap();
        assert_eq!(legacy.credentials.family(), sisense::Family::Legacy);
        assert_eq!(legacy.credentials.username(), Some("svc@x.io"));
    }

    #[test]
    fn rejections_are_specific_and_never_echo_values() {
        let cases = [
            (
                r#"{"baseUrl":"https://b","username":"u","password":12345678}"#,
                "line 1",
            ),
            (r#"not json sup3rsecret"#, "line 1"),
            (
                r#"{"baseUrl":"https://b","username":"u"}"#,
                "username and password",
            ),
            (
                r#"{"baseUrl":"https://b","username":"u","password":"sup3rsecret","token":"sup3rsecret"}"#,
                "either token",
            ),
            (
                r#"{"username":"u","password":"sup3rsecret"}"#,
                "baseUrl is missing",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","token":"sup3rsecret"}"#,
                "not supported yet",
            ),
            (
                r#"{"kind":"legacy","baseUrl":"https://b","token":"sup3rsecret"}"#,
                "not username or token",
            ),
            (
                r#"{"kind":"legacy","baseUrl":"https://b","email":"e@x.io","password":"sup3rsecret"}"#,
                "needs email, password and apiToken",
            ),
            (
                r#"{"baseUrl":"https://b","username":"u","password":"p","apiToken":"sup3rsecret"}"#,
                "belong to kind",
            ),
            (
                r#"{"baseUrl":"http://bi.example.com","token":"sup3rsecret"}"#,
                "plain http",
            ),
        ];
        for (json, expected) in cases {
            let err = parse_secret("arn:secret", json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
            assert!(
                !err.contains("sup3rsecret") && !err.contains("12345678"),
                "{err}"
            );
        }
    }
}
