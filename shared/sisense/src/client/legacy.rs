//! Legacy Sisense for Windows (REST v0.9) requests: `GET /api/users` paged with skip/limit where the server
//! supports it, and the array create with `notify`.
//!
//! v0.9 servers differ in what they honour, so listing relies on nothing but the pages themselves: users are
//! de-duplicated by `_id`, a page longer than `limit` is taken as the whole list (limit ignored), and a full page
//! with no new user is an [`Error::Paging`] (skip ignored) instead of a loop or a silently short list.

use std::collections::HashSet;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use reqwest::Method;

use super::SisenseClient;
use super::transport::{Call, Safety};
use crate::directory::UserQuery;
use crate::error::Error;
use crate::models::{NewUser, User};

/// Where a legacy listing is.
struct Cursor {
    skip: u64,
    seen: HashSet<String>,
    done: bool,
}

impl SisenseClient {
    /// `POST /api/users?notify=…` with `users` as a JSON array (a create, so resent only when it had no effect).
    pub(super) fn legacy_create<'a>(&self, users: &[NewUser]) -> Result<Call<'a>, Error> {
        Ok(Call::get(&["api", "users"])
            .query("notify", self.inner.config.notify_new_users.to_string())
            .with_json(Method::POST, &users)?
            .safety(Safety::NoEffectOnly))
    }

    async fn legacy_users_page(&self, skip: u64, limit: u32) -> Result<Vec<User>, Error> {
        let call = Call::get(self.users_path())
            .query("skip", skip.to_string())
            .query("limit", limit.to_string());
        self.json(&call).await
    }

    /// Every user once, in the server's order.
    pub(super) fn legacy_users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        let limit = query
            .page_size
            .unwrap_or(self.inner.config.page_size)
            .max(1);
        let active = query.active;
        let start = Cursor {
            skip: 0,
            seen: HashSet::new(),
            done: false,
        };
        stream::unfold(start, move |mut cursor| async move {
            if cursor.done {
                return None;
            }
            let page = match self.legacy_users_page(cursor.skip, limit).await {
                Ok(page) => page,
                Err(e) => {
                    cursor.done = true;
                    return Some((vec![Err(e)], cursor));
                }
            };
            let full = page.len() == limit as usize;
            cursor.skip += page.len() as u64;
            let fresh: Vec<User> = page
                .into_iter()
                .filter(|u| cursor.seen.insert(u.id.clone()))
                .collect();
            if full && fresh.is_empty() {
                cursor.done = true;
                let err = Error::Paging(format!(
                    "GET /api/users at skip={} repeated users already listed; the server seems to ignore skip, \
                     so the list cannot be completed",
                    cursor.skip - u64::from(limit)
                ));
                return Some((vec![Err(err)], cursor));
            }
            cursor.done = !full;
            let items = fresh
                .into_iter()
                .filter(|u| active.is_none_or(|want| u.active.unwrap_or(true) == want))
                .map(Ok)
                .collect();
            Some((items, cursor))
        })
        .flat_map(stream::iter)
        .boxed()
    }
}
