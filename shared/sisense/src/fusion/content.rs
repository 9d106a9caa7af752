//! Dashboards and sessions on Sisense Linux/Fusion: the admin dashboards listing (paged like users, owner
//! instances only), `change_owner`, and the admin logout that revokes a user's tokens.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::Method;
use serde::Serialize;

use super::FusionDirectory;
use crate::directory::Content;
use crate::error::Error;
use crate::ids::{DashboardId, UserId};
use crate::models::{Dashboard, ShareRule};
use crate::paging::paged;
use crate::transport::Call;

const DASHBOARDS: [&str; 4] = ["api", "v1", "dashboards", "admin"];

/// User ids per admin-logout request (each id is 24 characters plus a comma: about 2.5 kB of query).
pub(crate) const LOGOUT_BATCH: usize = 100;

/// `POST /api/v1/dashboards/{id}/admin/change_owner`'s body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeOwner<'a> {
    owner_id: &'a UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_owner_rule: Option<ShareRule>,
}

impl FusionDirectory {
    /// One page of owner instances, sorted by `oid`.
    async fn dashboards_page(&self, skip: u64, limit: u32) -> Result<Vec<Dashboard>, Error> {
        let call = Call::get(&DASHBOARDS)
            .query("dashboardType", "owner")
            .query("sort", "oid")
            .query("skip", skip.to_string())
            .query("limit", limit.to_string());
        let page: Vec<Dashboard> = self.json(&call).await?;
        // A server that ignores the filter lists every user's copy too: only owner instances count.
        Ok(page
            .into_iter()
            .filter(Dashboard::is_owner_instance)
            .collect())
    }
}

#[async_trait]
impl Content for FusionDirectory {
    fn dashboards(&self) -> BoxStream<'_, Result<Dashboard, Error>> {
        paged(
            self.config.page_size,
            self.config.prefetch,
            move |skip, limit| self.dashboards_page(skip, limit),
        )
        .boxed()
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", dashboard = %id))]
    async fn dashboard(&self, id: &DashboardId) -> Result<Option<Dashboard>, Error> {
        let call = Call::get(&DASHBOARDS)
            .query("dashboardType", "owner")
            .query("id", id.as_str());
        let found: Vec<Dashboard> = self.json(&call).await?;
        Ok(found
            .into_iter()
            .find(|d| d.id == *id && d.is_owner_instance()))
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", dashboard = %id, owner = %owner))]
    async fn change_owner(
        &self,
        id: &DashboardId,
        owner: &UserId,
        keep: Option<ShareRule>,
    ) -> Result<(), Error> {
        let segments = [
            "api",
            "v1",
            "dashboards",
            id.as_str(),
            "admin",
            "change_owner",
        ];
        let body = ChangeOwner {
            owner_id: owner,
            original_owner_rule: keep,
        };
        let call = Call::get(&segments).with_json(Method::POST, &body)?;
        self.transport.send(&call, &self.auth).await.map(drop)
    }

    #[tracing::instrument(skip_all, fields(family = "fusion", users = users.len()))]
    async fn revoke_sessions(&self, users: &[UserId]) -> Result<(), Error> {
        for batch in users.chunks(LOGOUT_BATCH) {
            let ids: Vec<&str> = batch.iter().map(UserId::as_str).collect();
            let call = Call::get(&["api", "v1", "authentication", "admin", "logout"])
                .query("users", ids.join(","));
            self.transport.send(&call, &self.auth).await?;
        }
        Ok(())
    }
}
