//! The `Notifier` port: where a run tells people what it is about to do (SNS in Lambda, nothing locally).

use async_trait::async_trait;

/// A notification that could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("notifying {target}: {message}")]
pub struct NotifyError {
    /// Where it was sent (a topic ARN).
    pub target: String,
    /// Why it failed.
    pub message: String,
}

/// Sends one message to the people concerned.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Publishes `message` under `subject`.
    async fn notify(&self, subject: &str, message: &str) -> Result<(), NotifyError>;
}

/// A notifier that keeps what it was sent (tests and demos).
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    sent: std::sync::Mutex<Vec<(String, String)>>,
}

impl MemoryNotifier {
    /// The (subject, message) pairs sent so far.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((subject.to_string(), message.to_string()));
        Ok(())
    }
}
