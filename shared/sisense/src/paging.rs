//! Skip/limit paging as a `Stream`, with concurrent prefetch and de-duplication by `_id`. Pages may be fetched
//! unparsed ([`paged_raw`]): each is parsed when the listing reaches it.
//!
//! The contract documents no maximum `limit`, so a server may answer fewer users than asked without being at
//! the end. A short page therefore never ends the listing: the next page starts where that page ended (so
//! nothing between is skipped), the page size adapts to what the server really sends, and only an **empty**
//! page ends it. Prefetch resumes once pages come back full again; after a short page one request at a time is
//! sent, so the end costs one request, not `prefetch`.
//!
//! Pages are requested with `sort=_id`, so de-duplication needs only the last id emitted (constant memory,
//! whatever the number of users): an id at or below it was already emitted by an earlier page, which happens
//! when pages overlap after a restart or a concurrent change. Each page is checked to really be in `_id`
//! order; a server that ignores the sort ends the stream with [`Error::Paging`] instead of losing users.

use std::future::Future;
use std::pin::Pin;

use futures::stream::{self, FuturesOrdered, Stream, StreamExt};

use crate::error::Error;
use crate::ids::{DashboardId, UserId};
use crate::models::{Dashboard, User};

/// An item of a skip/limit listing requested sorted by its id.
pub trait Listed: Send + 'static {
    /// The id the listing is sorted by.
    type Key: Ord + Clone + std::fmt::Display + Send;
    /// This item's id.
    fn key(&self) -> &Self::Key;
}

impl Listed for User {
    type Key = UserId;
    fn key(&self) -> &UserId {
        &self.id
    }
}

impl Listed for Dashboard {
    type Key = DashboardId;
    fn key(&self) -> &DashboardId {
        &self.id
    }
}

/// Checks that a page is strictly ascending by id.
fn check_sorted<T: Listed>(items: &[T], skip: u64) -> Result<(), Error> {
    match items.windows(2).find(|w| w[0].key() >= w[1].key()) {
        None => Ok(()),
        Some(w) => Err(Error::Paging(format!(
            "the page at skip={skip} is not in id order ({} before {}) although a sort by id was requested; \
             paging could miss or repeat items",
            w[0].key(),
            w[1].key()
        ))),
    }
}

type PageFuture<'a, P> = Pin<Box<dyn Future<Output = (u64, Result<P, Error>)> + Send + 'a>>;

/// Where a listing is.
struct Pager<'a, P, F, D> {
    fetch: F,
    /// Makes the items of a fetched page, once the listing reaches it.
    parse: D,
    limit: u32,
    prefetch: usize,
    /// The page size the server really answers (starts at `limit`).
    page: u64,
    /// The offset of the next request.
    next_skip: u64,
    /// Requests in flight, in offset order.
    in_flight: FuturesOrdered<PageFuture<'a, P>>,
    /// Whether the last page came back full (prefetch on) or short (one request at a time).
    steady: bool,
    done: bool,
}

impl<'a, P, F, Fut, D> Pager<'a, P, F, D>
where
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<P, Error>> + Send + 'a,
{
    fn fill(&mut self) {
        let depth = if self.steady { self.prefetch } else { 1 };
        while self.in_flight.len() < depth {
            let skip = self.next_skip;
            let fut = (self.fetch)(skip, self.limit);
            self.in_flight
                .push_back(Box::pin(async move { (skip, fut.await) }));
            self.next_skip += self.page;
        }
    }

    /// The next page; `None` at the (empty) end.
    async fn next_page<T>(&mut self) -> Option<Result<Vec<T>, Error>>
    where
        T: Listed,
        D: Fn(P) -> Result<Vec<T>, Error>,
    {
        if self.done {
            return None;
        }
        self.fill();
        let (skip, page) = self.in_flight.next().await?;
        let page = page.and_then(&self.parse);
        let users = match page.and_then(|users| check_sorted(&users, skip).map(|()| users)) {
            Ok(users) => users,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let got = users.len() as u64;
        if got == 0 {
            self.done = true;
            return None;
        }
        if got != self.page {
            // A short page (a cap or the end) or a long one (limit ignored): restart right after it, with the
            // size the server really uses, and forget requests sent at offsets that assumed the old size.
            if got < self.page {
                tracing::debug!(
                    skip,
                    asked = self.limit,
                    got,
                    "short page: continuing until an empty page"
                );
            }
            self.in_flight = FuturesOrdered::new();
            self.page = got;
            self.next_skip = skip + got;
            self.steady = false;
        } else {
            self.steady = true;
        }
        Some(Ok(users))
    }
}

/// Pages `fetch(skip, limit)` until an empty page, keeping up to `prefetch` requests in flight, and yields each
/// user once, in `_id` order. A page error ends the stream after yielding the error.
pub fn paged_users<'a, F, Fut>(
    limit: u32,
    prefetch: usize,
    fetch: F,
) -> impl Stream<Item = Result<User, Error>> + Send + 'a
where
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Vec<User>, Error>> + Send + 'a,
{
    paged(limit, prefetch, fetch)
}

/// [`paged_users`] for any [`Listed`] item: each once, in id order.
pub fn paged<'a, T, F, Fut>(
    limit: u32,
    prefetch: usize,
    fetch: F,
) -> impl Stream<Item = Result<T, Error>> + Send + 'a
where
    T: Listed,
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Vec<T>, Error>> + Send + 'a,
{
    paged_raw(limit, prefetch, fetch, Ok)
}

/// [`paged`] for pages fetched unparsed (a response body): `parse` makes a page's items only when the listing
/// reaches that page, so the pages prefetched meanwhile hold their bytes rather than their items.
pub fn paged_raw<'a, T, P, F, Fut, D>(
    limit: u32,
    prefetch: usize,
    fetch: F,
    parse: D,
) -> impl Stream<Item = Result<T, Error>> + Send + 'a
where
    T: Listed,
    P: Send + 'a,
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<P, Error>> + Send + 'a,
    D: Fn(P) -> Result<Vec<T>, Error> + Send + 'a,
{
    let limit = limit.max(1);
    let pager = Pager {
        fetch,
        parse,
        limit,
        prefetch: prefetch.max(1),
        page: u64::from(limit),
        next_skip: 0,
        in_flight: FuturesOrdered::new(),
        steady: true,
        done: false,
    };
    let pages = stream::unfold(pager, |mut pager| async move {
        let page = pager.next_page().await?;
        Some((page, pager))
    });
    Items {
        pages: Box::pin(pages),
        page: Vec::new().into_iter(),
        last: None,
    }
}

/// The items of a stream of id-ordered pages, each once. A page is checked strictly ascending before it gets
/// here, so repeats can only be its first items, those at or below the last id of the pages before; only that
/// id is kept, once a page.
struct Items<S, T: Listed> {
    pages: Pin<Box<S>>,
    page: std::vec::IntoIter<T>,
    last: Option<T::Key>,
}

// Nothing of `Items` is pinned in place: the page stream is pinned in its own box.
impl<S, T: Listed> Unpin for Items<S, T> {}

impl<S, T> Stream for Items<S, T>
where
    S: Stream<Item = Result<Vec<T>, Error>>,
    T: Listed,
{
    type Item = Result<T, Error>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if let Some(item) = this.page.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            let items = match futures::ready!(this.pages.as_mut().poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(items)) => items,
            };
            let repeated = match &this.last {
                Some(last) => items.iter().take_while(|item| item.key() <= last).count(),
                None => 0,
            };
            if let Some(newest) = items.last().filter(|_| repeated < items.len()) {
                this.last = Some(newest.key().clone());
            }
            let mut page = items.into_iter();
            page.by_ref().take(repeated).for_each(drop);
            this.page = page;
        }
    }
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
        // 25 users, page size 10; after the first page two users appear before the cursor, so every later page
        // starts two users earlier and overlaps the one before it.
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let fetch = move |skip: u64, limit: u32| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                let start = if skip >= 10 { skip - 2 } else { skip };
                Ok((start..(start + u64::from(limit)).min(25))
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
    async fn a_page_wholly_repeating_the_one_before_yields_nothing_and_the_listing_goes_on() {
        // From skip 10 on every page starts ten users early: the page at 10 repeats the first page exactly.
        let fetch = move |skip: u64, limit: u32| async move {
            let start = skip.saturating_sub(10);
            Ok((start..(start + u64::from(limit)).min(25))
                .map(user)
                .collect())
        };
        let users: Vec<_> = paged_users(10, 1, fetch).collect().await;
        let ids: Vec<_> = users.into_iter().map(|u| u.unwrap().id).collect();
        let expected: Vec<_> = (0..25).map(|n| user(n).id).collect();
        assert_eq!(ids, expected);
    }

    #[tokio::test]
    async fn a_server_cap_below_the_limit_loses_nobody_and_ends_on_an_empty_page() {
        // 1,234 users; the server answers at most 100 per page although 500 are asked.
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = asked.clone();
        let fetch = move |skip: u64, limit: u32| {
            log.lock().unwrap().push(skip);
            async move {
                let end = (skip + u64::from(limit.min(100))).min(1_234);
                Ok((skip..end).map(user).collect())
            }
        };
        let users: Vec<_> = paged_users(500, 4, fetch).collect().await;
        let ids: Vec<_> = users.into_iter().map(|u| u.unwrap().id).collect();
        assert_eq!(ids.len(), 1_234);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let asked = asked.lock().unwrap().clone();
        assert!(
            asked.contains(&1_234),
            "the end is proven by an empty page: {asked:?}"
        );
        assert!(
            asked.len() <= 13 + 4 + 4,
            "{} requests: {asked:?}",
            asked.len()
        );
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
    async fn raw_pages_are_parsed_only_when_the_listing_reaches_them() {
        // Page bodies are the first user number of the page; 23 users, pages of 5, 4 in flight.
        let (fetched, parsed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (f, p) = (fetched.clone(), parsed.clone());
        let fetch = move |skip: u64, _limit: u32| {
            f.fetch_add(1, Ordering::SeqCst);
            async move { Ok(skip) }
        };
        let parse = move |first: u64| {
            p.fetch_add(1, Ordering::SeqCst);
            Ok((first..(first + 5).min(23)).map(user).collect())
        };
        let mut users = Box::pin(paged_raw(5, 4, fetch, parse));
        assert_eq!(users.next().await.unwrap().unwrap().id, user(0).id);
        assert_eq!(fetched.load(Ordering::SeqCst), 4, "four pages in flight");
        assert_eq!(parsed.load(Ordering::SeqCst), 1, "only the first parsed");
        let rest: Vec<_> = users.collect().await;
        assert_eq!(rest.len(), 22);
        assert!(rest.iter().all(Result::is_ok));
        assert_eq!(
            parsed.load(Ordering::SeqCst),
            6,
            "5 pages and the empty end"
        );
    }

    #[tokio::test]
    async fn a_page_whose_fetch_fails_ends_the_stream_after_the_pages_before_it() {
        let fetch = |skip: u64, _limit: u32| async move {
            match skip {
                0..=5 => Ok(skip),
                _ => Err(Error::Config(format!("fetch failed at {skip}"))),
            }
        };
        let parse = |first: u64| Ok((first..first + 5).map(user).collect());
        let items: Vec<_> = paged_raw(5, 3, fetch, parse).collect().await;
        assert_eq!(items.len(), 11, "two pages, then the error");
        assert!(items[..10].iter().all(Result::is_ok));
        assert!(matches!(&items[10], Err(Error::Config(m)) if m == "fetch failed at 10"));
    }

    #[tokio::test]
    async fn a_page_that_does_not_parse_ends_the_stream_with_its_error() {
        let fetch = |skip: u64, _limit: u32| async move { Ok(skip) };
        let parse = |skip: u64| match skip {
            0 => Ok((0..5).map(user).collect()),
            _ => Err(Error::Config(format!("bad body at {skip}"))),
        };
        let items: Vec<_> = paged_raw(5, 3, fetch, parse).collect().await;
        assert_eq!(items.len(), 6);
        assert!(matches!(&items[5], Err(Error::Config(m)) if m == "bad body at 5"));
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
