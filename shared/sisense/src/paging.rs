//! Skip/limit paging as a `Stream`, with optional concurrent prefetch and de-duplication by `_id`.
//!
//! Pages are requested with `sort=_id`, so de-duplication needs only the last id emitted (constant memory,
//! whatever the number of users): an id at or below it was already emitted by an earlier page, which happens
//! when users are deleted while paging and later pages shift. Each page is checked to really be in `_id`
//! order; a server that ignores the sort ends the stream with [`Error::Paging`] instead of losing users.

use std::future::Future;

use futures::stream::{self, Stream, StreamExt};

use crate::error::Error;
use crate::ids::UserId;
use crate::models::User;

/// Checks that a page is strictly ascending by `_id`.
fn check_sorted(users: &[User], skip: u64) -> Result<(), Error> {
    match users.windows(2).find(|w| w[0].id >= w[1].id) {
        None => Ok(()),
        Some(w) => Err(Error::Paging(format!(
            "the page at skip={skip} is not in _id order ({} before {}) although sort=_id was requested; \
             paging could miss or repeat users",
            w[0].id, w[1].id
        ))),
    }
}

/// Pages `fetch(skip, limit)` until a short page, keeping `prefetch` requests in flight, and yields each user
/// once, in `_id` order. A page error ends the stream after yielding the error.
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
        .map(move |page| {
            let skip = page * u64::from(limit);
            let fut = fetch(skip, limit);
            async move {
                fut.await
                    .and_then(|users| check_sorted(&users, skip).map(|()| users))
            }
        })
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
    .scan(None::<UserId>, |last, item| {
        let keep = match &item {
            Ok(user) if last.as_ref().is_some_and(|l| user.id <= *l) => false,
            Ok(user) => {
                *last = Some(user.id.clone());
                true
            }
            Err(_) => true,
        };
        futures::future::ready(Some(keep.then_some(item)))
    })
    .filter_map(futures::future::ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
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
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(calls.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test]
    async fn an_unsorted_page_is_an_error_not_a_silent_loss() {
        let fetch = |skip: u64, _limit: u32| async move {
            if skip == 0 {
                Ok((0..5).map(user).collect())
            } else {
                Ok(vec![user(9), user(7), user(8)])
            }
        };
        let items: Vec<_> = paged_users(5, 1, fetch).collect().await;
        assert_eq!(items.len(), 6);
        let err = items[5].as_ref().unwrap_err();
        assert!(
            matches!(err, Error::Paging(m) if m.contains("skip=5")),
            "{err}"
        );
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
}
