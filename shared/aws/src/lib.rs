//! AWS adapters shared by the functions: environment configuration, the Sisense secret from Secrets Manager,
//! and S3 as the jobs' [`lifecycle::ObjectStore`].

pub mod allocator;
pub mod deadline;
pub mod env;
pub mod event;
pub mod function_error;
pub mod metrics;
pub mod s3;
pub mod secret;
pub mod sisense_source;
pub mod sns;
pub mod spool;

pub use deadline::hop_deadline;
pub use env::ConfigError;
pub use event::parse_invocation;
pub use function_error::FunctionError;
pub use metrics::RunMetrics;
pub use s3::{S3Store, s3_client};
pub use secret::{SecretError, load_client_config, parse_secret};
pub use sisense_source::{SetupError, SisenseSource};
pub use sns::SnsNotifier;

/// Runs a function's `serve` loop: the allocator is tuned first (see [`allocator`]) and the part files of a
/// killed earlier run are removed from the temporary directory; then a multi-thread tokio runtime is started.
pub fn start<F>(serve: impl FnOnce() -> F) -> Result<(), lambda_runtime::Error>
where
    F: std::future::Future<Output = Result<(), lambda_runtime::Error>>,
{
    // Before the runtime's threads exist.
    allocator::tune();
    let removed = spool::remove_leftover_spools(&std::env::temp_dir());
    if removed > 0 {
        eprintln!("removed {removed} part file(s) left by an earlier run");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

/// Loads the SDK's standard configuration (region, credentials, `AWS_ENDPOINT_URL*`): the default provider
/// chain, with profiles, SSO and assumed roles, for the operator CLI.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The SDK configuration inside a Lambda function: the region (`AWS_REGION`) and the execution role's
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), which Lambda sets in every
/// function's environment, and an endpoint override (`AWS_ENDPOINT_URL`, for local stacks and the tests).
///
/// Not the default chain: its profile, SSO, web-identity (an STS client), container and instance-metadata
/// providers are never reached in Lambda, yet each would be linked into every function binary.
pub fn lambda_sdk_config() -> aws_config::SdkConfig {
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            credentials,
        ));
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()) {
        config.set_region(Some(aws_config::Region::new(region)));
    }
    if let Some(url) = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        config.set_endpoint_url(Some(url));
    }
    config.build()
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
    /// Builds the AWS clients from the function's environment ([`lambda_sdk_config`]).
    pub async fn from_env() -> Self {
        let config = lambda_sdk_config();
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
