//! AWS clients, built only when a command needs one (an `s3://` location or `--secret-id`).

use tokio::sync::OnceCell;

/// The SDK's standard configuration (region, credentials, `AWS_ENDPOINT_URL*`), loaded on first use.
#[derive(Default)]
pub struct Aws {
    config: OnceCell<sl_aws::aws_config::SdkConfig>,
}

impl Aws {
    async fn config(&self) -> &sl_aws::aws_config::SdkConfig {
        self.config.get_or_init(sl_aws::sdk_config).await
    }

    /// An S3 client (path-style when an endpoint override is set).
    pub async fn s3(&self) -> sl_aws::aws_sdk_s3::Client {
        sl_aws::s3_client(self.config().await)
    }

    /// A Secrets Manager client.
    pub async fn secrets(&self) -> sl_aws::aws_sdk_secretsmanager::Client {
        sl_aws::aws_sdk_secretsmanager::Client::new(self.config().await)
    }
}
