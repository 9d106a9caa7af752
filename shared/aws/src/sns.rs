//! SNS as the jobs' [`lifecycle::Notifier`]: one `Publish` per notification.

use async_trait::async_trait;
use aws_sdk_sns::error::DisplayErrorContext;
use lifecycle::{Notifier, NotifyError};

/// Publishes to one topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// A notifier publishing to `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| NotifyError {
                target: self.topic_arn.clone(),
                message: DisplayErrorContext(&e).to_string(),
            })
    }
}
