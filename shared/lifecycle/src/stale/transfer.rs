//! Dashboards before a delete: who owns what (one listing per run), the transfer target, and handing a user's
//! dashboards over with each move verified by reading the dashboard back.

use std::collections::HashMap;

use futures::TryStreamExt;
use sisense::{Content, DashboardId, Directory, ShareRule, User, UserId};

use super::StaleOptions;
use crate::error::JobError;
use crate::progress::Progress;

/// The user `transferDashboardsTo` names, which must exist: an unknown email is a configuration error before
/// anything is written.
pub(crate) async fn custodian(
    directory: &dyn Directory,
    options: &StaleOptions,
) -> Result<Option<User>, JobError> {
    let Some(email) = options.transfer_dashboards_to.as_deref() else {
        return Ok(None);
    };
    if directory.content().is_none() {
        return Err(JobError::Config(format!(
            "transferDashboardsTo is set but {} cannot list or transfer dashboards",
            directory.capabilities().family
        )));
    }
    match directory.find_user_by_email(email.trim()).await? {
        Some(user) => Ok(Some(user)),
        None => Err(JobError::Config(format!(
            "transferDashboardsTo: no user has the email {email:?}; dashboards can only be handed to an existing \
             user (nothing was changed)"
        ))),
    }
}

/// The dashboards each user owns, from one paged listing.
pub(crate) async fn owners(
    content: &dyn Content,
    progress: &Progress,
) -> Result<HashMap<UserId, Vec<DashboardId>>, JobError> {
    progress.start("listing dashboards", None);
    let mut owned: HashMap<UserId, Vec<DashboardId>> = HashMap::new();
    let mut dashboards = content.dashboards();
    while let Some(dashboard) = dashboards.try_next().await? {
        progress.advance(1);
        if let Some(owner) = dashboard.owner {
            owned.entry(owner).or_default().push(dashboard.id);
        }
    }
    Ok(owned)
}

/// Why a hand-over stopped.
#[derive(Debug)]
pub(crate) enum Problem {
    /// A request failed.
    Failed(sisense::Error),
    /// Sisense accepted a transfer that reads back unchanged.
    NotApplied(String),
}

/// What a hand-over did: the dashboards verified with the new owner, and why it stopped early, if it did.
#[derive(Debug, Default)]
pub(crate) struct Transferred {
    pub(crate) moved: Vec<DashboardId>,
    pub(crate) problem: Option<Problem>,
}

/// Makes `to` the owner of each of `dashboards`, one at a time, reading each back; stops at the first that
/// fails or is not applied. The previous owner keeps a share by `keep`.
pub(crate) async fn hand_over(
    content: &dyn Content,
    dashboards: &[DashboardId],
    to: &UserId,
    keep: Option<ShareRule>,
) -> Transferred {
    let mut done = Transferred::default();
    for id in dashboards {
        if let Err(e) = content.change_owner(id, to, keep).await {
            done.problem = Some(Problem::Failed(e));
            break;
        }
        match content.dashboard(id).await {
            Ok(Some(d)) if d.owner.as_ref() == Some(to) => done.moved.push(id.clone()),
            Ok(Some(d)) => {
                let owner = d.owner.map_or_else(|| "nobody".into(), |o| o.to_string());
                done.problem = Some(Problem::NotApplied(format!(
                    "Sisense accepted the transfer of dashboard {id} but it still belongs to {owner}"
                )));
                break;
            }
            Ok(None) => {
                done.problem = Some(Problem::NotApplied(format!(
                    "dashboard {id} disappeared during its transfer"
                )));
                break;
            }
            Err(e) => {
                done.problem = Some(Problem::Failed(e));
                break;
            }
        }
    }
    done
}
