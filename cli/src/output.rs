//! What a command prints: its summary as text, or as the JSON the Lambda function returns.

use serde_json::Value;

use crate::error::Exit;

/// A finished command.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code.
    pub exit: Exit,
    /// The summary the Lambda function returns (printed with `--json`).
    pub json: Value,
    /// The summary for people.
    pub text: String,
}

impl Outcome {
    /// Prints the outcome on stdout in the requested form.
    pub fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| self.json.to_string())
            );
        } else {
            print!("{}", self.text);
        }
    }
}
