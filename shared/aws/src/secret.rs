//! The Sisense secret in Secrets Manager and the client configuration it yields.

use secrecy::SecretString;
use serde::Deserialize;
use sisense::{ClientConfig, Credentials, CredentialsProblem, PeriscopeSite, validate_base_url};

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

/// `{"kind":"fusion","baseUrl":"...","username":"...","password":"..."}` or `{..., "token":"..."}`,
/// `{"kind":"legacy","baseUrl":"...","email":"...","password":"...","apiToken":"..."}` (without `apiToken`: the
/// v1 login and Bearer tokens of Windows 6.5 and later), or
/// `{"kind":"periscope","baseUrl":"...","site":"...","apiKey":"...","rbac":true,"invitedByEmail":"..."}` with the
/// site's fields either at the top or as a `"sites": [...]` list.
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
    #[serde(flatten)]
    site: SiteJson,
    sites: Option<Vec<SiteJson>>,
    /// PEM certificate(s) of a private certificate authority, trusted besides the public roots.
    ca_certificate: Option<String>,
}

/// One Periscope site's fields; `baseUrl` in a `sites` entry overrides the secret's.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SiteJson {
    site: Option<String>,
    api_key: Option<SecretString>,
    rbac: Option<bool>,
    invited_by_email: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
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
        "periscope" => periscope_credentials(&secret).map_err(|m| invalid(&m))?,
        _ => {
            return Err(invalid(&format!(
                "kind {:?} is not supported (supported: fusion, legacy, periscope)",
                secret.kind
            )));
        }
    };
    let mut config =
        ClientConfig::new(base_url, credentials).map_err(|e| invalid(&e.to_string()))?;
    config.ca_certificates = secret.ca_certificate.filter(|pem| !pem.trim().is_empty());
    Ok(config)
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
        return Err(
            "a legacy secret takes email, password and, before Windows 6.5, apiToken (not username or token)",
        );
    }
    Credentials::legacy_from_parts(
        secret.email.as_deref(),
        secret.password.as_ref(),
        secret.api_token.as_ref(),
    )
    .map_err(|_| {
        "a legacy secret needs email and password, plus apiToken (the REST API token) before Windows 6.5"
    })
}

fn periscope_credentials(secret: &SecretJson) -> Result<Credentials, String> {
    if secret.username.is_some()
        || secret.token.is_some()
        || secret.email.is_some()
        || secret.password.is_some()
        || secret.api_token.is_some()
    {
        return Err(
            "a periscope secret takes site, apiKey, rbac and invitedByEmail (or a sites list), not username, \
             password, token, email or apiToken"
                .into(),
        );
    }
    let top = &secret.site;
    let has_top = top.site.is_some()
        || top.api_key.is_some()
        || top.rbac.is_some()
        || top.invited_by_email.is_some();
    let entries: Vec<&SiteJson> = match (&secret.sites, has_top) {
        (Some(_), true) => {
            return Err("give either one site at the top or a sites list, not both".into());
        }
        (Some(sites), false) => sites.iter().collect(),
        (None, _) => vec![top],
    };
    let sites = entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| periscope_site(i, entry))
        .collect::<Result<Vec<_>, _>>()?;
    Credentials::periscope(sites)
}

fn periscope_site(index: usize, entry: &SiteJson) -> Result<PeriscopeSite, String> {
    let which = entry
        .site
        .as_deref()
        .map_or_else(|| format!("site {}", index + 1), |s| format!("site {s:?}"));
    let missing = |field: &str| format!("{which}: {field} is missing");
    Ok(PeriscopeSite {
        name: entry.site.clone().ok_or_else(|| missing("site"))?,
        api_key: entry.api_key.clone().ok_or_else(|| missing("apiKey"))?,
        rbac: entry.rbac.ok_or_else(|| {
            format!(
                "{which}: rbac (true or false) is required: it decides between /api/v2/users with roles and \
                 /api/v1/users with groups"
            )
        })?,
        invited_by_email: entry
            .invited_by_email
            .clone()
            .ok_or_else(|| missing("invitedByEmail"))?,
        base_url: match &entry.base_url {
            Some(url) => Some(validate_base_url(url).map_err(|e| format!("{which}: {e}"))?),
            None => None,
        },
    })
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
    fn a_private_ca_in_the_secret_reaches_the_client_config_for_every_kind() {
        let pem = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----";
        for secret in [
            format!(r#"{{"baseUrl":"https://bi.corp","token":"t","caCertificate":"{pem}"}}"#),
            format!(
                r#"{{"kind":"legacy","baseUrl":"https://bi.corp","email":"a@b.c","password":"p","caCertificate":"{pem}"}}"#
            ),
            format!(
                r#"{{"kind":"periscope","baseUrl":"https://p.corp","site":"s","apiKey":"k","rbac":true,"invitedByEmail":"a@b.c","caCertificate":"{pem}"}}"#
            ),
        ] {
            let config = parse_secret("s", &secret).unwrap();
            assert!(
                config
                    .ca_certificates
                    .as_deref()
                    .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----\n")),
                "{secret}"
            );
        }
        let none = parse_secret(
            "s",
            r#"{"baseUrl":"https://b","token":"t","caCertificate":" "}"#,
        )
        .unwrap();
        assert_eq!(none.ca_certificates, None, "a blank one is none");
    }

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
        assert!(matches!(legacy.credentials, Credentials::LegacyJwt { .. }));
        let bearer = parse_secret(
            "s",
            r#"{"kind":"legacy","baseUrl":"https://bi.example.com","email":"svc@x.io","password":"p"}"#,
        )
        .unwrap();
        assert!(
            matches!(bearer.credentials, Credentials::LegacyLogin { .. }),
            "no apiToken: the Windows 6.5+ login"
        );
        let one = parse_secret(
            "s",
            r#"{"kind":"periscope","baseUrl":"https://app.periscopedata.com","site":"acme","apiKey":"k",
                "rbac":true,"invitedByEmail":"admin@acme.io"}"#,
        )
        .unwrap();
        let Credentials::Periscope { sites } = &one.credentials else {
            panic!("{:?}", one.credentials)
        };
        assert_eq!((sites[0].name.as_str(), sites[0].rbac), ("acme", true));
        assert_eq!(sites[0].invited_by_email, "admin@acme.io");
        let many = parse_secret(
            "s",
            r#"{"kind":"periscope","baseUrl":"https://app.periscopedata.com","sites":[
                {"site":"east","apiKey":"k1","rbac":true,"invitedByEmail":"a@x.io"},
                {"site":"west","apiKey":"k2","rbac":false,"invitedByEmail":"b@x.io","baseUrl":"https://eu.example.com"}]}"#,
        )
        .unwrap();
        let Credentials::Periscope { sites } = &many.credentials else {
            panic!("{:?}", many.credentials)
        };
        let names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["east", "west"]);
        assert_eq!(
            sites[1].base_url.as_ref().map(|u| u.as_str()),
            Some("https://eu.example.com/")
        );
        assert!(!format!("{:?}", many.credentials).contains("k2"));
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
                r#"{"kind":"cloud","baseUrl":"https://b","token":"sup3rsecret"}"#,
                "not supported (supported: fusion, legacy, periscope)",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","token":"sup3rsecret"}"#,
                "takes site, apiKey",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","site":"a","apiKey":"sup3rsecret","invitedByEmail":"a@b.c"}"#,
                "rbac (true or false) is required",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","site":"a","apiKey":"sup3rsecret","rbac":true}"#,
                "invitedByEmail is missing",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","site":"a","sites":[]}"#,
                "not both",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","sites":[
                    {"site":"a","apiKey":"sup3rsecret","rbac":true,"invitedByEmail":"a@b.c"},
                    {"site":"a","apiKey":"sup3rsecret","rbac":false,"invitedByEmail":"a@b.c"}]}"#,
                "listed twice",
            ),
            (
                r#"{"kind":"periscope","baseUrl":"https://b","sites":[
                    {"site":"a:b","apiKey":"sup3rsecret","rbac":true,"invitedByEmail":"a@b.c"}]}"#,
                "without ':'",
            ),
            (
                r#"{"kind":"legacy","baseUrl":"https://b","token":"sup3rsecret"}"#,
                "not username or token",
            ),
            (
                r#"{"kind":"legacy","baseUrl":"https://b","email":"e@x.io","apiToken":"sup3rsecret"}"#,
                "needs email and password",
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
