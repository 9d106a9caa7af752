//! The legacy (Windows v0.9) `x-api-key`: an HS256 JWT `{iat, email, password}` signed with the REST API token.

use async_trait::async_trait;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::error::Error;
use crate::transport::{Authenticator, Presented, Transport};

/// The legacy family's authentication header.
static API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Signs one `x-api-key` per request (a fresh `iat` each time).
pub(crate) struct ApiKeySigner {
    email: String,
    password: SecretString,
    key: EncodingKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    email: &'a str,
    password: &'a str,
}

impl ApiKeySigner {
    pub(crate) fn new(email: &str, password: &SecretString, api_token: &SecretString) -> Self {
        ApiKeySigner {
            email: email.to_string(),
            password: password.clone(),
            key: EncodingKey::from_secret(api_token.expose_secret().as_bytes()),
        }
    }

    /// The JWT for a request sent at `iat` (seconds since the Unix epoch).
    pub(super) fn sign(&self, iat: i64) -> Result<SecretString, Error> {
        let claims = Claims {
            iat,
            email: &self.email,
            password: self.password.expose_secret(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| Error::Config(format!("cannot sign the legacy x-api-key JWT: {e}")))
    }
}

#[async_trait]
impl Authenticator for ApiKeySigner {
    async fn present(&self, _transport: &Transport) -> Result<Presented, Error> {
        Ok(Presented {
            header: API_KEY.clone(),
            value: self.sign(Utc::now().timestamp())?,
            generation: 0,
        })
    }

    /// A 401 may come from a clock skewed at `iat`: one more try with a freshly signed key.
    async fn refresh(&self, _presented: &Presented, path: &str) -> bool {
        tracing::info!(path = %path, "Sisense answered 401; signing a fresh x-api-key once");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Value;

    #[test]
    fn signs_hs256_claims_that_verify_with_the_rest_api_token_only() {
        let signer = ApiKeySigner::new(
            "svc@example.com",
            &SecretString::from("pw-1"),
            &SecretString::from("rest-token"),
        );
        let jwt = signer.sign(1_700_000_000).unwrap();
        // Known answer, computed independently with Python's hmac + hashlib + base64 (urlsafe, unpadded).
        assert_eq!(
            jwt.expose_secret(),
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.\
             eyJpYXQiOjE3MDAwMDAwMDAsImVtYWlsIjoic3ZjQGV4YW1wbGUuY29tIiwicGFzc3dvcmQiOiJwdy0xIn0.\
             -mB6YzBM5oM1zWRYZ-pQ3BMA0CrZyTfMlxe7Hj2IJmM"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Value>(
            jwt.expose_secret(),
            &DecodingKey::from_secret(b"rest-token"),
            &validation,
        )
        .unwrap();
        assert_eq!(
            decoded.claims,
            serde_json::json!({"iat": 1_700_000_000, "email": "svc@example.com", "password": "pw-1"})
        );
        assert_eq!(decoded.header.alg, Algorithm::HS256);
        assert!(
            jsonwebtoken::decode::<Value>(
                jwt.expose_secret(),
                &DecodingKey::from_secret(b"other-token"),
                &validation,
            )
            .is_err(),
            "a JWT must not verify with another key"
        );
        assert_ne!(
            signer.sign(1_700_000_001).unwrap().expose_secret(),
            jwt.expose_secret(),
            "a fresh iat gives a fresh key"
        );
    }
}
