//! Fusion (REST v1) listing: `GET /api/v1/users` sorted by `_id`, paged with skip/limit and prefetch.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;

use super::SisenseClient;
use super::transport::Call;
use crate::directory::UserQuery;
use crate::error::Error;
use crate::models::User;
use crate::paging::paged_users;

impl SisenseClient {
    async fn fusion_users_page(
        &self,
        query: &UserQuery,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<User>, Error> {
        let mut call = Call::get(self.users_path())
            .query("sort", "_id")
            .query("skip", skip.to_string())
            .query("limit", limit.to_string());
        let expand: Vec<&str> = [(query.expand_role, "role"), (query.expand_groups, "groups")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if !expand.is_empty() {
            call = call.query("expand", expand.join(","));
        }
        if let Some(active) = query.active {
            call = call.query("active", active.to_string());
        }
        self.json(&call).await
    }

    /// Every user once, in `_id` order.
    pub(super) fn fusion_users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        let limit = query.page_size.unwrap_or(self.inner.config.page_size);
        let prefetch = query.prefetch.unwrap_or(self.inner.config.prefetch);
        let query = Arc::new(query);
        paged_users(limit, prefetch, move |skip, limit| {
            let query = query.clone();
            async move { self.fusion_users_page(&query, skip, limit).await }
        })
        .boxed()
    }
}
