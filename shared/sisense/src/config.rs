//! Client configuration: where Sisense is, how to authenticate, and the transport's limits.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use secrecy::SecretString;
use url::{Host, Url};

use crate::error::Error;
use crate::retry::RetryConfig;

/// How the client authenticates. `Debug` never shows the secret parts.
#[derive(Clone)]
pub enum Credentials {
    /// Form-encoded login at `/api/v1/authentication/login`; the client logs in again once on a 401.
    Password {
        /// The Sisense user name (usually an email).
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A pre-issued API token; a 401 is final because there is nothing to refresh it with.
    Token(SecretString),
    /// Legacy Sisense for Windows (REST v0.9): every request carries `x-api-key`, a fresh HS256 JWT
    /// `{iat, email, password}` signed with the instance's REST API token; a 401 is retried once, re-signed.
    LegacyJwt {
        /// The service account's email.
        email: String,
        /// Its password (a claim of every JWT).
        password: SecretString,
        /// The instance's REST API token, the JWT signing key.
        api_token: SecretString,
    },
    /// Legacy Sisense for Windows 6.5 and later (REST v0.9 paths): the v1 form login and `Authorization: Bearer`,
    /// logging in again once on a 401, as [`Credentials::Password`] does.
    LegacyLogin {
        /// The service account's email.
        email: String,
        /// Its password.
        password: SecretString,
    },
    /// Periscope Data / Sisense for Cloud Data Teams: every request carries `HTTP-X-PARTNER-AUTH: site:api-key`
    /// for the site it addresses. A 401 is final (an API key cannot be refreshed).
    Periscope {
        /// The sites, at least one, with distinct names.
        sites: Vec<PeriscopeSite>,
    },
}

/// One Periscope site and how to manage its users.
#[derive(Clone)]
pub struct PeriscopeSite {
    /// The site name (the part before `:` in `HTTP-X-PARTNER-AUTH`).
    pub name: String,
    /// The site's API key.
    pub api_key: SecretString,
    /// Whether the site uses role-based access control (`/api/v2/users` with role ids) rather than groups
    /// (`/api/v1/users` with group names).
    pub rbac: bool,
    /// The existing user every created user is "invited by" (`invited_by_email`, required by the API).
    pub invited_by_email: String,
    /// Where this site's API is when it differs from [`ClientConfig::base_url`].
    pub base_url: Option<Url>,
}

impl PeriscopeSite {
    /// Checks what the API relies on: a non-blank name without `:`, a key and an inviter email.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.contains(':') || self.name != self.name.trim() {
            return Err(format!(
                "site name {:?} must be non-blank, without ':' or surrounding spaces",
                self.name
            ));
        }
        if secrecy::ExposeSecret::expose_secret(&self.api_key)
            .trim()
            .is_empty()
        {
            return Err(format!("site {:?} has an empty apiKey", self.name));
        }
        if !self.invited_by_email.contains('@') {
            return Err(format!(
                "site {:?} needs invitedByEmail, the email of an existing user of the site",
                self.name
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for PeriscopeSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriscopeSite")
            .field("name", &self.name)
            .field("api_key", &"[REDACTED]")
            .field("rbac", &self.rbac)
            .field("invited_by_email", &self.invited_by_email)
            .field("base_url", &self.base_url.as_ref().map(Url::as_str))
            .finish()
    }
}

/// The Sisense API family a client speaks; the credentials decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Sisense Linux/Fusion, REST v1 under `/api/v1`.
    Fusion,
    /// Legacy Sisense for Windows, REST v0.9 under `/api`.
    Legacy,
    /// Periscope Data / Sisense for Cloud Data Teams, one or more sites.
    Periscope,
}

impl Family {
    /// The secret's `kind` for this family (`fusion`, `legacy`, `periscope`), also the metrics' dimension.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Fusion => "fusion",
            Family::Legacy => "legacy",
            Family::Periscope => "periscope",
        }
    }
}

/// Why the parts given do not make [`Credentials`] (the caller words the message for its own inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsProblem {
    /// A token together with a username or password.
    Both,
    /// A username without a password.
    NoPassword,
    /// Nothing usable (no token, no username, or a blank username).
    Missing,
}

impl Credentials {
    /// A token alone, or a non-blank username (trimmed) with a password.
    pub fn from_parts(
        username: Option<&str>,
        password: Option<&SecretString>,
        token: Option<&SecretString>,
    ) -> Result<Self, CredentialsProblem> {
        match (username, password, token) {
            (None, None, Some(token)) => Ok(Credentials::Token(token.clone())),
            (Some(username), Some(password), None) if !username.trim().is_empty() => {
                Ok(Credentials::Password {
                    username: username.trim().to_string(),
                    password: password.clone(),
                })
            }
            (_, _, Some(_)) => Err(CredentialsProblem::Both),
            (Some(_), None, None) => Err(CredentialsProblem::NoPassword),
            _ => Err(CredentialsProblem::Missing),
        }
    }

    /// Legacy credentials from a non-blank email (trimmed) and a password: with the REST API token, signed
    /// `x-api-key` JWTs (Windows before 6.5); without it, the v1 login and Bearer tokens (6.5 and later).
    /// `Missing` when the email or password is absent (the caller words the message and refuses parts of the
    /// other family).
    pub fn legacy_from_parts(
        email: Option<&str>,
        password: Option<&SecretString>,
        api_token: Option<&SecretString>,
    ) -> Result<Self, CredentialsProblem> {
        match (email, password, api_token) {
            (Some(email), Some(password), Some(api_token)) if !email.trim().is_empty() => {
                Ok(Credentials::LegacyJwt {
                    email: email.trim().to_string(),
                    password: password.clone(),
                    api_token: api_token.clone(),
                })
            }
            (Some(email), Some(password), None) if !email.trim().is_empty() => {
                Ok(Credentials::LegacyLogin {
                    email: email.trim().to_string(),
                    password: password.clone(),
                })
            }
            _ => Err(CredentialsProblem::Missing),
        }
    }

    /// Periscope credentials for one or more sites; each site must [validate](PeriscopeSite::validate) and the
    /// names must be distinct.
    pub fn periscope(sites: Vec<PeriscopeSite>) -> Result<Self, String> {
        if sites.is_empty() {
            return Err("no site given".into());
        }
        for (i, site) in sites.iter().enumerate() {
            site.validate()?;
            if sites[..i].iter().any(|s| s.name == site.name) {
                return Err(format!("site {:?} is listed twice", site.name));
            }
        }
        Ok(Credentials::Periscope { sites })
    }

    /// The login name of the service account, when known (it is always protected from lifecycle actions).
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Password { username, .. } => Some(username),
            Credentials::LegacyJwt { email, .. } | Credentials::LegacyLogin { email, .. } => {
                Some(email)
            }
            Credentials::Token(_) | Credentials::Periscope { .. } => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
            Credentials::Token(_) => f.debug_tuple("Token").field(&"[REDACTED]").finish(),
            Credentials::LegacyJwt { email, .. } => f
                .debug_struct("LegacyJwt")
                .field("email", email)
                .field("password", &"[REDACTED]")
                .field("api_token", &"[REDACTED]")
                .finish(),
            Credentials::LegacyLogin { email, .. } => f
                .debug_struct("LegacyLogin")
                .field("email", email)
                .field("password", &"[REDACTED]")
                .finish(),
            Credentials::Periscope { sites } => {
                f.debug_struct("Periscope").field("sites", sites).finish()
            }
        }
    }
}

/// Everything a [`crate::SisenseClient`] needs; the credentials choose the API family.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the Sisense instance, e.g. `https://bi.example.com` (a path prefix is kept).
    pub base_url: Url,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Writes (every request but a GET) per second across all clones of the client; `None` disables the
    /// limit. Sisense's guidance (5-10 writes/s) is about these.
    pub rate_limit: Option<NonZeroU32>,
    /// Reads (GETs) per second across all clones, a budget of their own so reads do not queue behind the write
    /// guidance; `None` disables the limit. Listings are further bounded by `prefetch` (pages in flight).
    pub read_rate_limit: Option<NonZeroU32>,
    /// Retry behaviour for transient failures.
    pub retry: RetryConfig,
    /// Users per page when listing.
    pub page_size: u32,
    /// Pages fetched concurrently while listing (1 = one request at a time).
    pub prefetch: usize,
    /// Users per bulk create request (`/api/v1/users/bulk`, or the legacy `POST /api/users` array).
    pub bulk_chunk: usize,
    /// Legacy family: let Sisense mail an invitation to created users (`notify=true`); off by default so a
    /// bulk import mails nobody unless asked.
    pub notify_new_users: bool,
    /// PEM certificate(s) of a private certificate authority (the secret's `caCertificate`, the CLI's
    /// `--ca-cert`), trusted besides the public roots. Verification is never turned off.
    pub ca_certificates: Option<String>,
}

/// Default writes per second (Sisense's guidance is about 5-10 writes per second).
pub const DEFAULT_RATE_LIMIT: u32 = 8;
/// Default reads per second, with a burst of as many (governor's `Quota::per_second`): high enough that a listing
/// is bound by the server's latency and its own parsing, not by the client. The export's 8 pages in flight could
/// ask 400 a second at 20 ms each; it reads about 220 pages a second (`bench_export`, 100,000 users, 2026-12
/// machine), inside the burst for exports of up to 200,000 users and just above the rate past that, where the
/// limit binds a little. The pages in flight are what keeps a listing gentle.
pub const DEFAULT_READ_RATE_LIMIT: u32 = 200;

impl ClientConfig {
    /// A configuration with defaults for everything but the endpoint and credentials.
    ///
    /// Fails unless the URL is `https://`, or `http://` to a loopback host (127.0.0.0/8, ::1, localhost).
    pub fn new(base_url: &str, credentials: Credentials) -> Result<Self, Error> {
        Ok(ClientConfig {
            base_url: validate_base_url(base_url)?,
            credentials,
            request_timeout: Duration::from_secs(30),
            rate_limit: NonZeroU32::new(DEFAULT_RATE_LIMIT),
            read_rate_limit: NonZeroU32::new(DEFAULT_READ_RATE_LIMIT),
            retry: RetryConfig::default(),
            page_size: 1000,
            prefetch: 1,
            bulk_chunk: 50,
            notify_new_users: false,
            ca_certificates: None,
        })
    }
}

/// Parses and checks a base URL: https anywhere, plain http only for loopback hosts.
pub fn validate_base_url(raw: &str) -> Result<Url, Error> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| Error::Config(format!("base URL {raw:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "base URL must not carry credentials; put them in the secret".into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::Config(format!(
                "base URL {raw:?} uses plain http to a non-loopback host; use https (http is only allowed for 127.0.0.0/8, ::1 and localhost)"
            )));
        }
        other => {
            return Err(Error::Config(format!(
                "base URL scheme {other:?} is not supported; use https"
            )));
        }
    }
    if url.host().is_none() {
        return Err(Error::Config(format!("base URL {raw:?} has no host")));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn credentials_from_parts_take_a_token_or_a_username_with_a_password() {
        let secret = SecretString::from("s3cret");
        assert!(matches!(
            Credentials::from_parts(None, None, Some(&secret)),
            Ok(Credentials::Token(_))
        ));
        let password = Credentials::from_parts(Some(" svc@x.io "), Some(&secret), None).unwrap();
        assert_eq!(password.username(), Some("svc@x.io"));
        for (username, password, token, problem) in [
            (
                Some("u"),
                Some(&secret),
                Some(&secret),
                CredentialsProblem::Both,
            ),
            (None, Some(&secret), Some(&secret), CredentialsProblem::Both),
            (Some("u"), None, None, CredentialsProblem::NoPassword),
            (Some("  "), Some(&secret), None, CredentialsProblem::Missing),
            (None, None, None, CredentialsProblem::Missing),
        ] {
            assert_eq!(
                Credentials::from_parts(username, password, token).unwrap_err(),
                problem
            );
        }
    }

    #[test]
    fn legacy_credentials_need_an_email_and_a_password_and_the_token_picks_the_auth() {
        let secret = SecretString::from("s3cret");
        let legacy =
            Credentials::legacy_from_parts(Some(" svc@x.io "), Some(&secret), Some(&secret))
                .unwrap();
        assert_eq!(legacy.family(), Family::Legacy);
        assert_eq!(legacy.username(), Some("svc@x.io"));
        assert!(matches!(legacy, Credentials::LegacyJwt { .. }));
        let bearer = Credentials::legacy_from_parts(Some("svc@x.io"), Some(&secret), None).unwrap();
        assert!(
            matches!(bearer, Credentials::LegacyLogin { .. }),
            "no REST API token: Windows 6.5+ login"
        );
        assert_eq!(bearer.family(), Family::Legacy);
        assert!(!format!("{bearer:?}").contains("s3cret"));
        for (email, password, api_token) in [
            (None, Some(&secret), Some(&secret)),
            (Some(" "), Some(&secret), Some(&secret)),
            (Some("svc@x.io"), None, Some(&secret)),
            (Some("svc@x.io"), None, None),
        ] {
            assert_eq!(
                Credentials::legacy_from_parts(email, password, api_token).unwrap_err(),
                CredentialsProblem::Missing
            );
        }
    }

    #[test]
    fn periscope_sites_need_distinct_plain_names_a_key_and_an_inviter() {
        let site = |name: &str, key: &str, inviter: &str| PeriscopeSite {
            name: name.into(),
            api_key: SecretString::from(key.to_string()),
            rbac: true,
            invited_by_email: inviter.into(),
            base_url: None,
        };
        let ok = Credentials::periscope(vec![
            site("east", "k-secret-1", "a@x.io"),
            site("west", "k-secret-2", "a@x.io"),
        ])
        .unwrap();
        assert_eq!(ok.family(), Family::Periscope);
        assert_eq!(ok.username(), None);
        assert!(!format!("{ok:?}").contains("k-secret"), "{ok:?}");
        for (sites, expected) in [
            (vec![], "no site"),
            (vec![site("a:b", "k", "a@x.io")], "without ':'"),
            (vec![site(" a", "k", "a@x.io")], "surrounding spaces"),
            (vec![site("a", " ", "a@x.io")], "empty apiKey"),
            (vec![site("a", "k", "")], "invitedByEmail"),
            (
                vec![site("a", "k", "a@x.io"), site("a", "k", "a@x.io")],
                "twice",
            ),
        ] {
            let err = Credentials::periscope(sites).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://bi.example.com",
            "https://bi.example.com/sisense",
            "http://127.0.0.1:8081",
            "http://127.4.5.6",
            "http://[::1]:9000",
            "http://localhost:3000",
            "http://LOCALHOST",
        ] {
            let url = validate_base_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(url.path().ends_with('/'), "{url}");
        }
    }

    #[test]
    fn rejects_plain_http_to_remote_hosts_and_other_schemes() {
        for bad in [
            "http://bi.example.com",
            "http://10.0.0.5",
            "http://localhost.evil.com",
            "http://128.0.0.1",
            "ftp://bi.example.com",
            "bi.example.com",
            "https://user:pw@bi.example.com",
        ] {
            assert!(
                matches!(validate_base_url(bad), Err(Error::Config(_))),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let password = Credentials::Password {
            username: "svc@example.com".into(),
            password: SecretString::from("hunter2-secret"),
        };
        let token = Credentials::Token(SecretString::from("tok-abc-123"));
        let legacy = Credentials::LegacyJwt {
            email: "svc@example.com".into(),
            password: SecretString::from("hunter2-secret"),
            api_token: SecretString::from("rest-api-key-xyz"),
        };
        let shown = format!("{password:?} {token:?} {legacy:?}");
        assert!(shown.contains("svc@example.com") && shown.contains("LegacyJwt"));
        assert!(
            !shown.contains("hunter2-secret")
                && !shown.contains("tok-abc-123")
                && !shown.contains("rest-api-key-xyz"),
            "{shown}"
        );
        let config = ClientConfig::new("https://bi.example.com", password).unwrap();
        assert!(!format!("{config:?}").contains("hunter2-secret"));
    }
}
