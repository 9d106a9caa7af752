//! One module per subcommand; each turns its flags into a `lifecycle` job call and an [`crate::output::Outcome`].

pub mod deactivate;
pub mod demo;
pub mod doctor;
pub mod export;
pub mod import;
pub mod listing;
pub mod report;
pub mod restore;
pub mod simulator;

use crate::args::Connection;
use crate::aws::Aws;
use crate::progress::Bars;

/// What every command may need.
pub struct Context<'a> {
    /// Sisense credentials.
    pub connection: &'a Connection,
    /// AWS clients, built on first use.
    pub aws: Aws,
    /// Progress bars.
    pub bars: Bars,
    /// No progress bars or hints on stderr.
    pub quiet: bool,
    /// The output is JSON: nothing but the outcome goes to stdout.
    pub json: bool,
}
