//! The question a person at a terminal is asked before a plan is applied: `deactivate` and `restore` without
//! `--apply` plan first, show the counts, and act only on "yes". Scripts (no terminal) and `--json` get the
//! plan alone and pass `--apply` to act.

use std::io::{BufRead, IsTerminal, Write};

/// Whether to ask: text output, with stdin and stderr on a terminal.
pub fn can_ask(json: bool) -> bool {
    !json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Shows `plan` on stderr and asks `question`; true only for `y` or `yes`.
pub fn ask(plan: &str, question: &str) -> bool {
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{plan}\n{question} [y/N] ");
        let _ = err.flush();
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// What a declined plan prints: the plan was shown already.
pub const DECLINED: &str = "not applied: nothing changed\n";
