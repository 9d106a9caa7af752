//! AWS adapters shared by the functions: environment configuration, the Sisense secret from Secrets Manager,
//! and S3 as the jobs' [`lifecycle::ObjectStore`].

pub mod env;
pub mod event;
pub mod function_error;
pub mod s3;
pub mod secret;
pub mod sisense_source;

pub use env::ConfigError;
pub use event::parse_invocation;
pub use function_error::{FunctionError, JobFailure};
pub use s3::{S3Store, s3_client};
pub use secret::{SecretError, load_client_config, parse_secret};
pub use sisense_source::{SetupError, SisenseSource};

/// Loads the SDK's standard configuration (region, credentials, `AWS_ENDPOINT_URL*`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

pub use aws_sdk_s3;
pub use aws_sdk_secretsmanager;
