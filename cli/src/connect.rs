//! The Sisense client from the command line's credentials or from the Lambda functions' secret.

use std::num::NonZeroU32;
use std::time::Duration;

use sisense::{ClientConfig, Credentials, CredentialsProblem, SisenseClient};

use crate::args::Connection;
use crate::aws::Aws;
use crate::error::CliError;

/// Builds the client: `--secret-id`, or `--url` with `--token`, or `--username` and `--password` (plus
/// `--rest-api-token` for legacy Sisense for Windows).
pub async fn client(connection: &Connection, aws: &Aws) -> Result<SisenseClient, CliError> {
    let mut config = match (&connection.secret_id, &connection.url) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "give either --secret-id or --url with credentials, not both".into(),
            ));
        }
        (Some(id), None) => sl_aws::load_client_config(&aws.secrets().await, id).await?,
        (None, Some(url)) => ClientConfig::new(url, credentials(connection)?)?,
        (None, None) => {
            return Err(CliError::Usage(
                "no Sisense to talk to: set SISENSE_URL with SISENSE_TOKEN (or SISENSE_USERNAME and \
                 SISENSE_PASSWORD), or --secret-id; `sisense-lifecycle demo` needs none"
                    .into(),
            ));
        }
    };
    config.rate_limit = NonZeroU32::new(connection.rate_limit);
    config.read_rate_limit = NonZeroU32::new(connection.read_rate_limit);
    config.request_timeout = Duration::from_secs(connection.request_timeout_secs.max(1));
    if let Some(path) = &connection.ca_cert {
        // Added to the secret's own, if it has one: both are trusted besides the public roots.
        let pem = std::fs::read_to_string(path)
            .map_err(|e| CliError::io("reading the --ca-cert file", path, e))?;
        config.ca_certificates = Some(match config.ca_certificates.take() {
            Some(own) => format!("{own}\n{pem}"),
            None => pem,
        });
    }
    Ok(SisenseClient::new(config)?)
}

fn credentials(connection: &Connection) -> Result<Credentials, CliError> {
    if connection.rest_api_token.is_some() {
        let legacy = match connection.token {
            Some(_) => Err(CredentialsProblem::Both),
            None => Credentials::legacy_from_parts(
                connection.username.as_deref(),
                connection.password.as_ref(),
                connection.rest_api_token.as_ref(),
            ),
        };
        return legacy.map_err(|_| {
            CliError::Usage(
                "a REST API token (legacy Sisense for Windows) goes with SISENSE_USERNAME (the email) and \
                 SISENSE_PASSWORD, and without SISENSE_TOKEN"
                    .into(),
            )
        });
    }
    Credentials::from_parts(
        connection.username.as_deref(),
        connection.password.as_ref(),
        connection.token.as_ref(),
    )
    .map_err(|problem| {
        CliError::Usage(
            match problem {
                CredentialsProblem::Both => {
                    "give either a token or a username and password, not both"
                }
                CredentialsProblem::NoPassword => {
                    "--username needs a password: set SISENSE_PASSWORD (flags show in the process list)"
                }
                CredentialsProblem::Missing => {
                    "--url needs SISENSE_TOKEN, or SISENSE_USERNAME and SISENSE_PASSWORD"
                }
            }
            .into(),
        )
    })
}
