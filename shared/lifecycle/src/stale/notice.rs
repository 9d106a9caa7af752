//! Notice before action: a stale user is first warned and recorded in a ledger; a later live run acts only on
//! users warned at least `noticeDays` ago who are still stale. Users seen since (or no longer to be acted on)
//! are cleared from the ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Plan, Row, StaleSummary, Status};
use crate::artefact::{get_json, put_json};
use crate::error::JobError;
use crate::store::ObjectStore;

/// Where the ledger lives under the report prefix.
pub(crate) fn ledger_key(prefix: &str) -> String {
    format!("{prefix}deactivations/notice/ledger.json")
}

/// Who was warned, and when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ledger {
    /// Warnings by user id.
    pub(crate) users: BTreeMap<String, Warning>,
}

/// One warning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Warning {
    pub(crate) email: String,
    pub(crate) warned_at: DateTime<Utc>,
}

impl Ledger {
    /// Reads the ledger; an absent one is empty, an unreadable one stops the run (acting without knowing who
    /// was warned would break the promise of notice).
    pub(crate) async fn load(store: &dyn ObjectStore, key: &str) -> Result<Ledger, JobError> {
        match get_json::<Ledger>(store, key).await {
            Ok(ledger) => Ok(ledger.unwrap_or_default()),
            Err(e) if e.operation == "decode state" => Err(JobError::Config(format!(
                "the notice ledger {key} is not readable ({}); fix or remove it (removing it warns everyone \
                 again); nothing was changed",
                e.message
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the ledger.
    pub(crate) async fn save(&self, store: &dyn ObjectStore, key: &str) -> Result<(), JobError> {
        Ok(put_json(store, key, self).await?)
    }

    /// Whether `id` was warned.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.users.contains_key(id)
    }
}

/// What the notice decided: the ledger to keep and the users warned by this run.
pub(crate) struct Decision {
    pub(crate) ledger: Ledger,
    pub(crate) warned: Vec<(String, DateTime<Utc>)>,
    pub(crate) act_from: DateTime<Utc>,
}

/// Sorts the plan's users by notice: those warned at least `days` ago stay to be acted on, the others wait,
/// and the unwarned are warned now. Ledger entries of users not in the plan any more are cleared (counted;
/// their rows were marked by the scan).
pub(crate) fn judge(
    plan: &mut Plan,
    previous: &Ledger,
    now: DateTime<Utc>,
    days: u32,
    dry_run: bool,
    summary: &mut StaleSummary,
) -> Decision {
    let notice = Duration::days(days.into());
    let act_from = now + notice;
    let mut ledger = Ledger::default();
    let mut warned = Vec::new();
    let mut act = Vec::with_capacity(plan.act.len());
    for mut row in std::mem::take(&mut plan.act) {
        let id = row.user.id.to_string();
        match previous.users.get(&id) {
            Some(w) if now - w.warned_at >= notice => {
                ledger.users.insert(id, w.clone());
                act.push(row);
            }
            Some(w) => {
                summary.awaiting_notice += 1;
                row.action = None;
                row.status = Status::AwaitingNotice;
                row.message = format!(
                    "warned on {}; acted on from {} if still not seen",
                    w.warned_at.format("%Y-%m-%d"),
                    (w.warned_at + notice).format("%Y-%m-%d")
                );
                ledger.users.insert(id, w.clone());
                plan.keep.push(row);
            }
            None => {
                summary.warned += 1;
                row.action = None;
                row.status = if dry_run {
                    Status::WouldWarn
                } else {
                    Status::Warned
                };
                row.message = format!(
                    "{} {days} days' notice: acted on from {} if still not seen",
                    if dry_run { "would get" } else { "given" },
                    act_from.format("%Y-%m-%d")
                );
                warned.push((row.user.email.clone(), act_from));
                ledger.users.insert(
                    id,
                    Warning {
                        email: row.user.email.clone(),
                        warned_at: now,
                    },
                );
                plan.keep.push(row);
            }
        }
    }
    summary.stale = act.len() as u64;
    clear_unlisted(plan, previous, &ledger);
    summary.cleared = previous
        .users
        .keys()
        .filter(|id| !ledger.users.contains_key(*id))
        .count() as u64;
    plan.act = act;
    Decision {
        ledger,
        warned,
        act_from,
    }
}

/// Warned users the scan did not see at all (deleted since) leave the ledger too, and get a row each, so that the
/// report's `cleared` rows and the summary's count agree.
fn clear_unlisted(plan: &mut Plan, previous: &Ledger, kept: &Ledger) {
    let reported: std::collections::HashSet<String> =
        plan.keep.iter().map(|r| r.user.id.to_string()).collect();
    for (id, warning) in &previous.users {
        if kept.users.contains_key(id) || reported.contains(id) {
            continue;
        }
        let gone = serde_json::json!({"_id": id, "email": warning.email});
        if let Ok(user) = serde_json::from_value::<sisense::User>(gone) {
            let mut row = Row::new(user, String::new(), None, 0);
            clear(&mut row, "no longer listed by Sisense");
            plan.keep.push(row);
        }
    }
}

/// Marks the row of a warned user the scan will not act on (seen since, or now protected or done).
pub(crate) fn clear(row: &mut Row, reason: &str) {
    row.action = None;
    row.status = Status::Cleared;
    row.message = format!("warned earlier; {reason}: removed from the notice ledger");
}

/// Most users named in one notification (an SNS message is at most 256 KiB).
const LISTED: usize = 500;

/// The notification of the users a run warned: subject and message.
pub(crate) fn notification(decision: &Decision, action: &str, report: &str) -> (String, String) {
    let n = decision.warned.len();
    let subject = format!(
        "Sisense: {n} inactive user(s) will be {action} on or after {} unless they log in",
        decision.act_from.format("%Y-%m-%d")
    );
    let mut message = format!(
        "{n} user(s) have not been seen in Sisense for the inactivity threshold. Unless they log in, a run on or \
         after {} will {action} them:\n\n",
        decision.act_from.format("%Y-%m-%d"),
    );
    for (email, when) in decision.warned.iter().take(LISTED) {
        message.push_str(&format!("- {email} (from {})\n", when.format("%Y-%m-%d")));
    }
    if n > LISTED {
        message.push_str(&format!("... and {} more\n", n - LISTED));
    }
    message.push_str(&format!("\nThe run's report: {report}\n"));
    // SNS subjects are at most 100 ASCII characters.
    let subject: String = subject.chars().take(100).collect();
    (subject, message)
}
