//! How the simulated people sign in, and what each way writes on the user, as Sisense's own server code does
//! (a 2018 build whose v1 users code matches the L8.2.4 contract): a password or Active Directory login sets
//! `lastLogin`; a JWT SSO login sets `ssoTokenIat` (the JWT `iat`, epoch seconds) and `ssoToken` and leaves
//! `lastLogin` alone; a SAML login writes nothing visible (SAML just-in-time users get `lastLogin = created`);
//! a v0.9 create sets `lastLogin = created`; calls with a long-lived API token write nothing.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::seed::timestamp;

/// Shares of the population (in percent, of the users after the service account) by how they sign in; the rest
/// sign in with a password. All zero by default: every user a password user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInMix {
    /// JWT SSO: `ssoTokenIat` moves, `lastLogin` does not.
    pub jwt_percent: u8,
    /// SAML SSO: nothing visible moves.
    pub saml_percent: u8,
    /// Created through v0.9 `POST /api/users` (`lastLogin = created`), then password logins.
    pub v09_percent: u8,
    /// Service accounts calling with a long-lived API token: nothing moves.
    pub token_percent: u8,
}

impl SignInMix {
    /// The demo's mix: 40% JWT SSO, 10% SAML, 10% created through v0.9, 1% token service accounts.
    pub fn enterprise() -> Self {
        SignInMix {
            jwt_percent: 40,
            saml_percent: 10,
            v09_percent: 10,
            token_percent: 1,
        }
    }

    fn pick(&self, roll: u32) -> SignInKind {
        let mut edge = 0;
        for (share, kind) in [
            (self.jwt_percent, SignInKind::Jwt),
            (self.saml_percent, SignInKind::Saml),
            (self.v09_percent, SignInKind::V09),
            (self.token_percent, SignInKind::Token),
        ] {
            edge += u32::from(share);
            if roll < edge {
                return kind;
            }
        }
        SignInKind::Password
    }
}

/// How one simulated person signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    /// Password (or Active Directory): `lastLogin` moves.
    Password,
    /// JWT SSO: `ssoTokenIat` moves.
    Jwt,
    /// SAML SSO: nothing moves.
    Saml,
    /// Created through v0.9, then password logins.
    V09,
    /// A service account on an API token: nothing moves.
    Token,
}

/// The truth about one simulated person, which the API may not show: the test oracle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The user's id.
    pub id: String,
    /// The user's email.
    pub email: String,
    /// How they sign in.
    pub kind: SignInKind,
    /// When they really last signed in (`None`: never).
    pub last: Option<DateTime<Utc>>,
}

/// Picks how the user at `index` signs in (the service account, index 0, always with a password) and rewrites
/// its activity fields as that way of signing in leaves them. `last` is the person's last sign-in, `created`
/// when the account was made, `now` the simulator's clock. Draws from its own generator, so a zero mix leaves the
/// population exactly as before.
pub(crate) fn apply(
    mix: &SignInMix,
    rng: &mut StdRng,
    index: usize,
    user: &mut Value,
    mut last: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> SignIn {
    let kind = match index {
        0 => SignInKind::Password,
        _ => mix.pick(rng.random_range(0..100)),
    };
    let map = user.as_object_mut().expect("a user is an object");
    match kind {
        SignInKind::Password => {}
        SignInKind::Jwt => {
            // A JWT user is created just in time by their first sign-in; the recent ones sign in daily.
            last = match last {
                None => Some(created),
                Some(t) if now - t <= chrono::Duration::days(30) => {
                    Some(now - chrono::Duration::minutes(rng.random_range(1..24 * 60)))
                }
                Some(t) => Some(t),
            };
            map.remove("lastLogin");
            map.insert("createdSso".into(), json!("jwt"));
            // Some JWT users had a password login before SSO was set up: an old lastLogin that never moves.
            let early = created + chrono::Duration::days(rng.random_range(1..5));
            if rng.random_range(0..2) == 0 && last.is_some_and(|t| t > early) {
                map.insert("lastLogin".into(), json!(timestamp(early)));
            }
            if let Some(t) = last {
                map.insert("ssoTokenIat".into(), json!(t.timestamp()));
                map.insert("ssoToken".into(), json!(format!("sim-sso-token-{index}")));
                map.insert("active".into(), json!(true));
            }
        }
        SignInKind::Saml => {
            // A SAML user is created just in time by their first sign-in.
            last = last.or(Some(created));
            map.insert("createdSso".into(), json!("saml"));
            map.insert("lastLogin".into(), json!(timestamp(created)));
            map.insert("active".into(), json!(true));
            map.remove("pendingExpiration");
        }
        SignInKind::V09 => {
            let login = last.unwrap_or(created);
            map.insert("lastLogin".into(), json!(timestamp(login)));
            map.insert("active".into(), json!(true));
            map.remove("pendingExpiration");
        }
        SignInKind::Token => {
            map.remove("lastLogin");
            map.insert("active".into(), json!(true));
            map.remove("pendingExpiration");
            map.insert("email".into(), json!(format!("svc-bot{index}@example.com")));
            map.insert(
                "userName".into(),
                json!(format!("svc-bot{index}@example.com")),
            );
        }
    }
    let email = map
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let id = map
        .get("_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    SignIn {
        id,
        email,
        kind,
        last,
    }
}
