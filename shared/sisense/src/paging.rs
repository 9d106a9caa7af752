//! Skip/limit paging as a `Stream`, with optional concurrent prefetch and de-duplication by `_id`.

use std::collections::HashSet;
use std::future::Future;

use futures::stream::{self, Stream, StreamExt};

use crate::error::Error;
use crate::models::User;

/// Ids already emitted. 24-hex ids are kept as `u128` (16 bytes each), anything else as a string.
#[derive(Debug, Default)]
pub struct SeenIds {
    object_ids: HashSet<u128>,
    other: HashSet<String>,
}

impl SeenIds {
    /// Records `id`; returns `false` when it was seen before.
    pub fn insert(&mut self, id: &str) -> bool {
        if id.len() == 24
            && let Ok(n) = u128::from_str_radix(id, 16)
        {
            return self.object_ids.insert(n);
        }
        self.other.insert(id.to_string())
    }
}

/// Pages `fetch(skip, limit)` until a short page, keeping `prefetch` requests in flight, and yields each user
/// once. A page error ends the stream after yielding the error.
pub fn paged_users<'a, F, Fut>(
    limit: u32,
    prefetch: usize,
    fetch: F,
) -> impl Stream<Item = Result<User, Error>> + Send + 'a
where
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Vec<User>, Error>> + Send + 'a,
{
    let limit = limit.max(1);
    let pages = stream::iter(0u64..)
        .map(move |page| fetch(page * u64::from(limit), limit))
        .buffered(prefetch.max(1));
    // `unfold` stops without polling `pages` again, so no request is sent past the short page (beyond prefetch).
    stream::unfold(
        (Box::pin(pages), false),
        move |(mut pages, done)| async move {
            if done {
                return None;
            }
            let page = pages.next().await?;
            let done = !matches!(&page, Ok(users) if users.len() >= limit as usize);
            Some((page, (pages, done)))
        },
    )
    .flat_map(|page| match page {
        Ok(users) => stream::iter(users.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(e) => stream::iter(vec![Err(e)]),
    })
    .scan(SeenIds::default(), |seen, item| {
        let keep = match &item {
            Ok(user) => seen.insert(&user.id),
            Err(_) => true,
        };
        futures::future::ready(Some(keep.then_some(item)))
    })
    .filter_map(futures::future::ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn user(n: u64) -> User {
        serde_json::from_value(
            serde_json::json!({"_id": format!("{n:024x}"), "email": format!("u{n}@x.io")}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn pages_until_short_page_and_deduplicates_overlap() {
        // 25 users, page size 10; page 2 overlaps page 1 by two users (a shift caused by a concurrent delete).
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let fetch = move |skip: u64, limit: u32| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                let start = if skip == 10 { 8 } else { skip };
                Ok((start..(skip + u64::from(limit)).min(25))
                    .map(user)
                    .collect())
            }
        };
        let users: Vec<_> = paged_users(10, 3, fetch).collect().await;
        let ids: Vec<_> = users.into_iter().map(|u| u.unwrap().id).collect();
        assert_eq!(ids.len(), 25);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 25);
        assert!(calls.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test]
    async fn error_ends_the_stream() {
        let fetch = |skip: u64, _limit: u32| async move {
            if skip == 0 {
                Ok((0..5).map(user).collect())
            } else {
                Err(Error::Config("boom".into()))
            }
        };
        let items: Vec<_> = paged_users(5, 1, fetch).collect().await;
        assert_eq!(items.len(), 6);
        assert!(items[5].is_err());
    }

    #[test]
    fn seen_ids_handles_hex_and_other_ids() {
        let mut seen = SeenIds::default();
        assert!(seen.insert("64a000000000000000000001"));
        assert!(!seen.insert("64a000000000000000000001"));
        assert!(seen.insert("not-an-object-id"));
        assert!(!seen.insert("not-an-object-id"));
    }
}
