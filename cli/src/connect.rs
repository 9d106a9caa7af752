//! The Sisense client from the command line's credentials or from the Lambda functions' secret.

use std::num::NonZeroU32;
use std::time::Duration;

use sisense::{ClientConfig, Credentials, FusionClient};

use crate::args::Connection;
use crate::aws::Aws;
use crate::error::CliError;

/// Builds the client: `--secret-id`, or `--url` with `--token` or `--username` and `--password`.
pub async fn client(connection: &Connection, aws: &Aws) -> Result<FusionClient, CliError> {
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
    config.request_timeout = Duration::from_secs(connection.request_timeout_secs.max(1));
    Ok(FusionClient::new(config)?)
}

fn credentials(connection: &Connection) -> Result<Credentials, CliError> {
    match (
        &connection.username,
        &connection.password,
        &connection.token,
    ) {
        (None, None, Some(token)) => Ok(Credentials::Token(token.clone())),
        (Some(username), Some(password), None) if !username.trim().is_empty() => {
            Ok(Credentials::Password {
                username: username.trim().to_string(),
                password: password.clone(),
            })
        }
        (_, _, Some(_)) => Err(CliError::Usage(
            "give either a token or a username and password, not both".into(),
        )),
        (Some(_), None, None) => Err(CliError::Usage(
            "--username needs a password: set SISENSE_PASSWORD (flags show in the process list)"
                .into(),
        )),
        _ => Err(CliError::Usage(
            "--url needs SISENSE_TOKEN, or SISENSE_USERNAME and SISENSE_PASSWORD".into(),
        )),
    }
}
