//! Revoking the tokens of the users a run acted on (`GET /api/v1/authentication/admin/logout`, batched), so a
//! demote, deactivate or delete takes effect now rather than at the next login. Failures are reported per row,
//! never fatal: the action itself is done and verified.

use sisense::{Content, UserId};

use super::{Row, StaleSummary, Status};

/// User ids per revocation request.
const BATCH: usize = 100;

/// Revokes the sessions of every row done; fills each row's `sessions` cell and the summary's counts.
pub(crate) async fn revoke(
    content: Option<&dyn Content>,
    enabled: bool,
    rows: &mut [Row],
    summary: &mut StaleSummary,
) {
    let done = |row: &Row| matches!(row.status, Status::Done(_));
    let mut acted: Vec<&mut Row> = rows.iter_mut().filter(|r| done(r)).collect();
    let content = match (enabled, content) {
        (false, _) => {
            acted.iter_mut().for_each(|r| r.sessions = "off".into());
            return;
        }
        (true, None) => {
            acted
                .iter_mut()
                .for_each(|r| r.sessions = "unsupported".into());
            return;
        }
        (true, Some(content)) => content,
    };
    for batch in acted.chunks_mut(BATCH) {
        let ids: Vec<UserId> = batch.iter().map(|r| r.user.id.clone()).collect();
        let cell = match content.revoke_sessions(&ids).await {
            Ok(()) => {
                summary.sessions_revoked += ids.len() as u64;
                "revoked".to_string()
            }
            Err(e) => {
                tracing::warn!(users = ids.len(), error = %e, "revoking sessions failed; the actions stand");
                summary.revocations_failed += ids.len() as u64;
                format!("not revoked: {e}")
            }
        };
        batch.iter_mut().for_each(|r| r.sessions = cell.clone());
    }
}
