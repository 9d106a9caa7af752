//! AWS adapters shared by the functions: environment configuration, the Sisense secret from Secrets Manager,
//! and S3 as the jobs' [`lifecycle::ObjectStore`].

pub mod deadline;
pub mod env;
pub mod event;
pub mod function_error;
pub mod metrics;
pub mod s3;
pub mod secret;
pub mod sisense_source;
pub mod sns;

pub use deadline::hop_deadline;
pub use env::ConfigError;
pub use event::parse_invocation;
pub use function_error::FunctionError;
pub use metrics::RunMetrics;
pub use s3::{S3Store, s3_client};
pub use secret::{SecretError, load_client_config, parse_secret};
pub use sisense_source::{SetupError, SisenseSource};
pub use sns::SnsNotifier;

/// Loads the SDK's standard configuration (region, credentials, `AWS_ENDPOINT_URL*`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The clients a function builds once per sandbox: S3, and Sisense from its secret on first use.
pub struct Clients {
    /// The SDK configuration the clients were built from (for the clients only one function needs).
    pub sdk: aws_config::SdkConfig,
    /// S3 (path-style when an endpoint override is set).
    pub s3: aws_sdk_s3::Client,
    /// The Sisense client source.
    pub sisense: SisenseSource,
}

impl Clients {
    /// Builds the AWS clients from the SDK's standard configuration.
    pub async fn from_env() -> Self {
        let config = sdk_config().await;
        Clients {
            s3: s3_client(&config),
            sisense: SisenseSource::new(aws_sdk_secretsmanager::Client::new(&config)),
            sdk: config,
        }
    }
}

pub use aws_config;
pub use aws_sdk_s3;
pub use aws_sdk_secretsmanager;
pub use aws_sdk_sns;
