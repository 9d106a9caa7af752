//! Skip/limit paging as a `Stream`, with concurrent prefetch and de-duplication by `_id`. Pages may be fetched
//! unparsed ([`paged_raw`]): each is parsed when the listing reaches it, or, for the one page after the page the
//! listing holds, on a blocking thread while the listing's consumer works through the page before it. The requests
//! in flight are looked at every few dozen items handed out, and answers are set aside and replaced by new
//! requests there: requests do not wait for the consumer to reach the end of its page.
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

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::{FuturesOrdered, Stream, StreamExt};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::ids::{DashboardId, UserId};
use crate::models::{Dashboard, User};

/// An item of a skip/limit listing requested sorted by its id.
pub trait Listed: Send + 'static {
    /// The id the listing is sorted by.
    type Key: Ord + Clone + std::fmt::Display + Send;
    /// This item's id.
    fn key(&self) -> &Self::Key;
    /// What is listed, for messages (`users`, `dashboards`).
    const WHAT: &'static str;
}

impl Listed for User {
    type Key = UserId;
    const WHAT: &'static str = "users";
    fn key(&self) -> &UserId {
        &self.id
    }
}

impl Listed for Dashboard {
    type Key = DashboardId;
    const WHAT: &'static str = "dashboards";
    fn key(&self) -> &DashboardId {
        &self.id
    }
}

/// Checks that a page is strictly ascending by id.
fn check_sorted<T: Listed>(items: &[T], skip: u64) -> Result<(), Error> {
    match items.windows(2).find(|w| w[0].key() >= w[1].key()) {
        None => Ok(()),
        Some(w) => Err(Error::Paging(format!(
            "listing {}: the page at skip={skip} is not in id order ({} before {}) although a sort by id was requested; \
             paging could miss or repeat items",
            T::WHAT,
            w[0].key(),
            w[1].key()
        ))),
    }
}

type PageFuture<'a, P> = Pin<Box<dyn Future<Output = (u64, Result<P, Error>)> + Send + 'a>>;

/// Items handed out between two looks at the requests in flight (whose answers are then set aside, and replaced
/// by new requests, while the consumer is still busy with the page before).
const PUMP_EVERY: usize = 64;

/// The page after the one the listing holds, once it has arrived.
enum Ahead<T> {
    /// Being parsed on a blocking thread.
    Parsing(JoinHandle<Result<Vec<T>, Error>>),
    /// Its fetch failed: the error is what the listing reaches next.
    Failed(Error),
}

/// A listing in progress: requests in flight, pages answered but not reached, the page being handed out.
struct Listing<'a, T: Listed, P, F, D> {
    fetch: F,
    /// Makes the items of a fetched page, once the listing reaches it (or the page before it).
    parse: Arc<D>,
    /// Whether the page after the one the listing holds is parsed ahead, on a blocking thread.
    parse_ahead: bool,
    limit: u32,
    prefetch: usize,
    /// The page size the server really answers (starts at `limit`).
    page: u64,
    /// The offset of the next request.
    next_skip: u64,
    /// Requests in flight, in offset order.
    in_flight: FuturesOrdered<PageFuture<'a, P>>,
    /// Pages answered, in offset order, not yet reached.
    arrived: VecDeque<(u64, Result<P, Error>)>,
    /// The first of them, taken to be parsed ahead.
    ahead: Option<(u64, Ahead<T>)>,
    /// Whether the last page came back full (prefetch on) or short (one request at a time).
    steady: bool,
    done: bool,
    /// The items of the page reached, not yet handed out.
    items: std::vec::IntoIter<T>,
    /// The last id handed out: the items of a later page at or below it are repeats.
    last: Option<T::Key>,
}

// Nothing of `Listing` is pinned in place: the requests in flight are pinned in their own boxes.
impl<T: Listed, P, F, D> Unpin for Listing<'_, T, P, F, D> {}

impl<'a, T, P, F, Fut, D> Listing<'a, T, P, F, D>
where
    T: Listed,
    P: Send + 'static,
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<P, Error>> + Send + 'a,
    D: Fn(P) -> Result<Vec<T>, Error> + Send + Sync + 'static,
{
    /// Sends requests until `prefetch` are in flight (one at a time after a short page, and only once the page
    /// before is reached, since its length sets the next offset), while at most `prefetch / 4` answers wait.
    /// More answers set aside than that did not make `bench_export` faster, only larger.
    fn fill(&mut self) {
        if self.done {
            return;
        }
        let (depth, waiting) = if self.steady {
            (self.prefetch, self.prefetch / 4)
        } else if self.arrived.is_empty() && self.ahead.is_none() {
            (1, 0)
        } else {
            return;
        };
        while self.in_flight.len() < depth && self.arrived.len() <= waiting {
            let skip = self.next_skip;
            let fut = (self.fetch)(skip, self.limit);
            self.in_flight
                .push_back(Box::pin(async move { (skip, fut.await) }));
            self.next_skip += self.page;
        }
    }

    /// Keeps the listing moving while its consumer works: sets answers aside, sends the requests that replace
    /// them, and starts parsing the next page on a blocking thread once it has arrived.
    fn pump(&mut self, cx: &mut Context<'_>) {
        loop {
            self.fill();
            match self.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(answer)) => self.arrived.push_back(answer),
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        if self.parse_ahead
            && self.ahead.is_none()
            && tokio::runtime::Handle::try_current().is_ok()
            && let Some((skip, page)) = self.arrived.pop_front()
        {
            let ahead = match page {
                Ok(raw) => {
                    let parse = Arc::clone(&self.parse);
                    Ahead::Parsing(tokio::task::spawn_blocking(move || parse(raw)))
                }
                Err(e) => Ahead::Failed(e),
            };
            self.ahead = Some((skip, ahead));
        }
    }

    /// The next page's items, once it has arrived (and been parsed).
    fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<(u64, Result<Vec<T>, Error>)> {
        match self.ahead.take() {
            Some((skip, Ahead::Failed(e))) => Poll::Ready((skip, Err(e))),
            Some((skip, Ahead::Parsing(mut parsing))) => match Pin::new(&mut parsing).poll(cx) {
                Poll::Pending => {
                    self.ahead = Some((skip, Ahead::Parsing(parsing)));
                    Poll::Pending
                }
                Poll::Ready(Ok(parsed)) => Poll::Ready((skip, parsed)),
                Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Poll::Ready(Err(_)) => Poll::Ready((
                    skip,
                    Err(Error::Paging(format!(
                        "listing {}: parsing the page at skip={skip} was interrupted: the runtime is shutting down",
                        T::WHAT
                    ))),
                )),
            },
            None => match self.arrived.pop_front() {
                Some((skip, page)) => Poll::Ready((skip, page.and_then(|raw| (self.parse)(raw)))),
                // Unreachable: the pump before this sends a request whenever nothing is pending. Were it reached,
                // ending here would pass for a complete listing.
                None if self.in_flight.is_empty() => Poll::Ready((
                    self.next_skip,
                    Err(Error::Paging(format!(
                        "listing {}: nothing was pending at skip={} before an empty page ended the listing",
                        T::WHAT,
                        self.next_skip
                    ))),
                )),
                None => Poll::Pending,
            },
        }
    }

    /// Checks a page reached and adapts to its length; `None` at the (empty) end.
    fn reach(&mut self, skip: u64, page: Result<Vec<T>, Error>) -> Option<Result<Vec<T>, Error>> {
        let items = match page.and_then(|items| check_sorted(&items, skip).map(|()| items)) {
            Ok(items) => items,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let got = items.len() as u64;
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
            self.arrived.clear();
            self.ahead = None;
            self.page = got;
            self.next_skip = skip + got;
            self.steady = false;
        } else {
            self.steady = true;
        }
        Some(Ok(items))
    }

    /// Hands out a page's items from the first one above the last id handed out (a page is checked strictly
    /// ascending, so repeats can only be its first items).
    fn hand_out(&mut self, items: Vec<T>) {
        let repeated = match &self.last {
            Some(last) => items.iter().take_while(|item| item.key() <= last).count(),
            None => 0,
        };
        if let Some(newest) = items.last().filter(|_| repeated < items.len()) {
            self.last = Some(newest.key().clone());
        }
        let mut items = items.into_iter();
        items.by_ref().take(repeated).for_each(drop);
        self.items = items;
    }
}

impl<'a, T, P, F, Fut, D> Stream for Listing<'a, T, P, F, D>
where
    T: Listed,
    P: Send + 'static,
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<P, Error>> + Send + 'a,
    D: Fn(P) -> Result<Vec<T>, Error> + Send + Sync + 'static,
{
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.items.next() {
                if this.items.len().is_multiple_of(PUMP_EVERY) {
                    this.pump(cx);
                }
                return Poll::Ready(Some(Ok(item)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            this.pump(cx);
            let (skip, page) = futures::ready!(this.poll_page(cx));
            match this.reach(skip, page) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(items)) => {
                    this.hand_out(items);
                    // The next page is parsed while this one is handed out.
                    this.pump(cx);
                }
            }
        }
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
    listing(limit, prefetch, fetch, Ok, false)
}

/// [`paged`] for pages fetched unparsed (a response body): `parse` makes a page's items only when the listing
/// reaches the page before it, so the pages prefetched meanwhile hold their bytes rather than their items. That
/// page, once it has arrived, is parsed on a blocking thread while the consumer works through the one before.
pub fn paged_raw<'a, T, P, F, Fut, D>(
    limit: u32,
    prefetch: usize,
    fetch: F,
    parse: D,
) -> impl Stream<Item = Result<T, Error>> + Send + 'a
where
    T: Listed,
    P: Send + 'static,
    F: Fn(u64, u32) -> Fut + Send + 'a,
    Fut: Future<Output = Result<P, Error>> + Send + 'a,
    D: Fn(P) -> Result<Vec<T>, Error> + Send + Sync + 'static,
{
    listing(limit, prefetch, fetch, parse, true)
}

/// A listing before its first request (what it needs to run is bound where it runs: on `Listing`'s `Stream`).
fn listing<'a, T: Listed, P, F, D>(
    limit: u32,
    prefetch: usize,
    fetch: F,
    parse: D,
    parse_ahead: bool,
) -> Listing<'a, T, P, F, D> {
    let limit = limit.max(1);
    Listing {
        fetch,
        parse: Arc::new(parse),
        parse_ahead,
        limit,
        prefetch: prefetch.max(1),
        page: u64::from(limit),
        next_skip: 0,
        in_flight: FuturesOrdered::new(),
        arrived: VecDeque::new(),
        ahead: None,
        steady: true,
        done: false,
        items: Vec::new().into_iter(),
        last: None,
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
        // 13 pages; before the first (short) page is reached and past the end, up to 4 in flight and 1 answer set
        // aside each.
        assert!(
            asked.len() <= 13 + 2 * (4 + 1),
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
        assert!(err.to_string().contains("listing users"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_dashboards_listing_is_named_as_such() {
        let dashboard = |n: u64| -> Dashboard {
            serde_json::from_value(serde_json::json!({"oid": format!("d{n:03}"), "title": "x"}))
                .unwrap()
        };
        let fetch = move |skip: u64, _limit: u32| async move {
            Ok(if skip == 0 {
                vec![dashboard(2), dashboard(1)]
            } else {
                vec![]
            })
        };
        let items: Vec<Result<Dashboard, Error>> = paged(5, 1, fetch).collect().await;
        let err = items.last().unwrap().as_ref().unwrap_err();
        assert!(
            err.to_string().contains("listing dashboards"),
            "not 'paging users': {err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_pages_are_parsed_one_page_ahead_of_the_listing_and_each_once() {
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
        // The listing is not polled now: the second page is parsed meanwhile, and no page after it.
        let waited = std::time::Instant::now();
        while parsed.load(Ordering::SeqCst) < 2 {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(10),
                "the page after the first was not parsed ahead"
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(parsed.load(Ordering::SeqCst), 2, "one page ahead, not more");
        // At most 4 requests in flight and 1 answer set aside when the last request went out, besides the page
        // held and the page parsed ahead.
        let sent = fetched.load(Ordering::SeqCst);
        assert!((5..=4 + 1 + 2).contains(&sent), "{sent} pages requested");
        let rest: Vec<_> = users.collect().await;
        assert_eq!(rest.len(), 22);
        assert!(rest.iter().all(Result::is_ok));
        assert_eq!(
            parsed.load(Ordering::SeqCst),
            6,
            "5 pages and the empty end, each parsed once"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_are_replaced_while_the_consumer_is_inside_a_page_never_past_prefetch_in_flight()
     {
        // Pages of 200 answered after 60 ms, 4 in flight (15 ms a page); the consumer takes about 10 ms a page, so
        // answers arrive while it is inside a page. It counts the users it has taken; each request notes the count.
        let (taken, at_send, now, most) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(std::sync::Mutex::new(Vec::new())),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (t, a, n, m) = (taken.clone(), at_send.clone(), now.clone(), most.clone());
        let fetch = move |skip: u64, _limit: u32| {
            a.lock().unwrap().push(t.load(Ordering::SeqCst));
            let (n, m) = (n.clone(), m.clone());
            async move {
                m.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(60)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                Ok(skip)
            }
        };
        let parse = |first: u64| Ok((first..(first + 200).min(2_000)).map(user).collect());
        let mut users = Box::pin(paged_raw(200, 4, fetch, parse));
        while let Some(user) = users.next().await {
            user.unwrap();
            if taken.fetch_add(1, Ordering::SeqCst) % 20 == 19 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        assert_eq!(taken.load(Ordering::SeqCst), 2_000);
        // Requests sent only as the listing reaches a page would all be sent at a multiple of 200.
        let at_send = at_send.lock().unwrap().clone();
        assert!(
            at_send.iter().any(|taken| taken % 200 != 0),
            "every request was sent at a page boundary: {at_send:?}"
        );
        assert!(
            most.load(Ordering::SeqCst) <= 4,
            "more than 4 requests in flight"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_page_parsed_ahead_restarts_the_listing_after_it() {
        // 1,234 users; the server answers at most 100 per page although 500 are asked, and bodies are parsed
        // ahead: the short pages still lose and repeat nobody.
        let fetch = move |skip: u64, limit: u32| async move {
            Ok((skip, (skip + u64::from(limit.min(100))).min(1_234)))
        };
        let parse = |(start, end): (u64, u64)| Ok((start..end).map(user).collect());
        let users: Vec<_> = paged_raw(500, 4, fetch, parse).collect().await;
        let ids: Vec<_> = users.into_iter().map(|u| u.unwrap().id).collect();
        let expected: Vec<_> = (0..1_234).map(|n| user(n).id).collect();
        assert_eq!(ids, expected);
    }

    #[tokio::test]
    async fn a_panic_while_a_page_is_parsed_ahead_reaches_the_listing() {
        let fetch = |skip: u64, _limit: u32| async move { Ok(skip) };
        let parse = |first: u64| {
            assert!(first < 5, "cannot parse the page at {first}");
            Ok((first..first + 5).map(user).collect())
        };
        let listing = tokio::spawn(paged_raw(5, 2, fetch, parse).collect::<Vec<_>>());
        let panic = listing.await.unwrap_err().into_panic();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("cannot parse the page at 5"), "{message}");
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
