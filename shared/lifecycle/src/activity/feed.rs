//! The activity feed: CSV files naming when people were last seen (an IdP sign-in export, a Sisense Usage
//! Analytics export), merged by case-insensitive email as one more signal.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::store::ObjectStore;

/// Header names of the email column, compared lower-case without spaces, `_`, `-` or `.`.
pub const EMAIL_HEADERS: [&str; 8] = [
    "email",
    "mail",
    "emailaddress",
    "useremail",
    "userprincipalname",
    "upn",
    "actoralternateid",
    "login",
];

/// Header names of the last-seen column, compared the same way.
pub const SEEN_HEADERS: [&str; 14] = [
    "lastseen",
    "lastlogin",
    "lastactivity",
    "lastactive",
    "lastsignin",
    "lastsignindatetime",
    "createddatetime",
    "published",
    "timestamp",
    "eventtime",
    "time",
    "date",
    "lastaccess",
    "lastused",
];

/// Why a feed cannot be used. The run stops: the operator named evidence that is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The key does not exist and no CSV lies under it as a prefix.
    #[error("activity feed {0}: no such object, and no .csv under it as a prefix")]
    Missing(String),
    /// A file could not be read, or is not a feed (no email or last-seen column).
    #[error("activity feed {file}: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The newest entry is older than the feed may be: stale evidence is no evidence.
    #[error(
        "activity feed {location}: its newest entry is {newest} ({days} days old), older than the {max_age_days} \
         days a feed may be (ACTIVITY_FEED_MAX_AGE_DAYS): export a fresh one"
    )]
    Stale {
        /// Where the feed is.
        location: String,
        /// Its newest entry (RFC 3339), or `none` when it has no valid row.
        newest: String,
        /// Days since the newest entry.
        days: i64,
        /// The limit.
        max_age_days: u32,
    },
}

/// Last seen per email (lower case), from every file of the feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feed {
    seen: HashMap<String, DateTime<Utc>>,
    /// Rows that named no email or no readable instant (never fatal).
    pub rows_invalid: u64,
    /// Rows read.
    pub rows: u64,
    /// The files read.
    pub files: Vec<String>,
}

impl Feed {
    /// A feed of `(email, last seen)` pairs (tests and callers that hold the data already).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, DateTime<Utc>)>) -> Self {
        let mut feed = Feed::default();
        for (email, at) in pairs {
            feed.note(email, at);
        }
        feed
    }

    /// When `email` was last seen, by the feed.
    pub fn last_seen(&self, email: &str) -> Option<DateTime<Utc>> {
        self.seen.get(&email.trim().to_lowercase()).copied()
    }

    /// People the feed names.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether the feed names nobody.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The newest entry.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.seen.values().max().copied()
    }

    fn note(&mut self, email: &str, at: DateTime<Utc>) {
        let entry = self.seen.entry(email.trim().to_lowercase()).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// Reads the feed at `location` in `store`: one CSV object, or every `.csv` under it as a prefix. Fails
    /// when nothing is there, a file is not a feed, or the newest entry is older than `max_age_days` at `now`.
    pub async fn load(
        store: &dyn ObjectStore,
        location: &str,
        now: DateTime<Utc>,
        max_age_days: u32,
    ) -> Result<Feed, FeedError> {
        let unreadable = |file: &str, reason: String| FeedError::Unreadable {
            file: file.to_string(),
            reason,
        };
        let mut feed = Feed::default();
        let single = match location.is_empty() || location.ends_with('/') {
            true => None,
            false => store
                .get(location)
                .await
                .map_err(|e| unreadable(location, e.to_string()))?,
        };
        match single {
            Some(bytes) => feed.read(location, &bytes, now)?,
            None => {
                let mut keys = store
                    .list(location)
                    .await
                    .map_err(|e| unreadable(location, e.to_string()))?;
                keys.retain(|k| k.to_ascii_lowercase().ends_with(".csv"));
                keys.sort();
                if keys.is_empty() {
                    return Err(FeedError::Missing(location.to_string()));
                }
                for key in keys {
                    let bytes = store
                        .get(&key)
                        .await
                        .map_err(|e| unreadable(&key, e.to_string()))?
                        .ok_or_else(|| unreadable(&key, "vanished while read".into()))?;
                    feed.read(&key, &bytes, now)?;
                }
            }
        }
        let newest = feed.newest();
        let days = newest.map_or(i64::MAX, |n| (now - n).num_days());
        if newest.is_none() || now - newest.unwrap_or(now) > Duration::days(max_age_days.into()) {
            return Err(FeedError::Stale {
                location: location.to_string(),
                newest: newest.map_or_else(|| "none".into(), |n| n.to_rfc3339()),
                days: if newest.is_some() { days } else { 0 },
                max_age_days,
            });
        }
        Ok(feed)
    }

    /// Adds one file's rows. An entry more than a day in the future is invalid (a clock or a format gone wrong).
    fn read(&mut self, file: &str, bytes: &[u8], now: DateTime<Utc>) -> Result<(), FeedError> {
        let unreadable = |reason: String| FeedError::Unreadable {
            file: file.to_string(),
            reason,
        };
        let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
            .map_err(|e| unreadable(format!("not UTF-8 text ({e})")))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| unreadable(e.to_string()))?
            .clone();
        let find = |names: &[&str]| {
            headers
                .iter()
                .position(|h| names.contains(&key(h).as_str()))
        };
        let (Some(email), Some(seen)) = (find(&EMAIL_HEADERS), find(&SEEN_HEADERS)) else {
            return Err(unreadable(format!(
                "needs an email column ({}) and a last-seen column ({}); its header is {:?}",
                EMAIL_HEADERS.join(", "),
                SEEN_HEADERS.join(", "),
                headers.iter().collect::<Vec<_>>().join(",")
            )));
        };
        self.files.push(file.to_string());
        for record in reader.records() {
            self.rows += 1;
            let parsed = record.ok().and_then(|r| {
                let address = r.get(email)?.trim().to_string();
                let at = parse_instant(r.get(seen)?)?;
                (address.contains('@') && at <= now + Duration::days(1)).then_some((address, at))
            });
            match parsed {
                Some((address, at)) => self.note(&address, at),
                None => self.rows_invalid += 1,
            }
        }
        Ok(())
    }
}

/// A header as compared: lower case without spaces, `_`, `-` or `.`.
fn key(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// An instant as feeds write it: RFC 3339 (`2026-11-20T08:30:00Z`, any offset), a date and time without a zone
/// (UTC, `T` or a space, optional fraction), a date alone (its midnight UTC), or epoch seconds or milliseconds.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return day.and_hms_opt(0, 0, 0).map(|at| at.and_utc());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = text.parse().ok()?;
        return if n >= 100_000_000_000 {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn instants_in_every_documented_format() {
        let at: DateTime<Utc> = "2026-11-20T08:30:00Z".parse().unwrap();
        for text in [
            "2026-11-20T08:30:00Z",
            "2026-11-20T09:30:00+01:00",
            "2026-11-20T08:30:00.000Z",
            "2026-11-20T08:30:00",
            "2026-11-20 08:30:00",
            "2026-11-20 08:30:00.0",
            "2026-11-20 08:30",
            "1795163400",
            "1795163400000",
        ] {
            assert_eq!(parse_instant(text), Some(at), "{text}");
        }
        assert_eq!(
            parse_instant("2026-11-20"),
            Some("2026-11-20T00:00:00Z".parse().unwrap())
        );
        for bad in ["", "yesterday", "20/11/2026", "2026-13-01", "-5"] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn okta_and_entra_exports_merge_by_email_keeping_the_latest_and_count_bad_rows() {
        let store = MemoryStore::default();
        let okta = "actor.alternateId,eventType,published\n\
                    Ann@Example.com,user.session.start,2026-11-20T08:30:00.000Z\n\
                    ann@example.com,user.session.start,2026-11-01T08:30:00.000Z\n\
                    not-an-email,user.session.start,2026-11-20T08:30:00Z\n\
                    bob@example.com,user.session.start,yesterday\n\
                    future@example.com,user.session.start,2027-01-01T00:00:00Z\n";
        let entra = "\u{feff}User principal name,Created date time,Status\n\
                     bob@example.com,2026-11-21 10:00:00,Success\n";
        store
            .put("feed/okta.csv", okta.as_bytes().to_vec(), "text/csv")
            .await
            .unwrap();
        store
            .put("feed/entra.CSV", entra.as_bytes().to_vec(), "text/csv")
            .await
            .unwrap();
        store
            .put("feed/readme.txt", b"not a feed".to_vec(), "text/plain")
            .await
            .unwrap();
        let feed = Feed::load(&store, "feed/", now(), 7).await.unwrap();
        assert_eq!(feed.files.len(), 2, "{:?}", feed.files);
        assert_eq!(
            feed.last_seen("ANN@example.com"),
            Some("2026-11-20T08:30:00Z".parse().unwrap())
        );
        assert_eq!(
            feed.last_seen("bob@example.com"),
            Some("2026-11-21T10:00:00Z".parse().unwrap())
        );
        assert_eq!((feed.rows, feed.rows_invalid), (6, 3));
        assert_eq!(feed.len(), 2);

        let one = Feed::load(&store, "feed/okta.csv", now(), 7).await.unwrap();
        assert_eq!(one.files, ["feed/okta.csv"]);
    }

    #[tokio::test]
    async fn a_missing_unreadable_or_stale_feed_is_refused_with_its_reason() {
        let store = MemoryStore::default();
        let missing = Feed::load(&store, "feed/none.csv", now(), 7)
            .await
            .unwrap_err();
        assert!(matches!(missing, FeedError::Missing(_)), "{missing}");

        store
            .put("wrong.csv", b"name,age\nann,3\n".to_vec(), "text/csv")
            .await
            .unwrap();
        let wrong = Feed::load(&store, "wrong.csv", now(), 7).await.unwrap_err();
        assert!(
            wrong.to_string().contains("needs an email column"),
            "{wrong}"
        );

        store
            .put(
                "old.csv",
                b"email,last_seen\nann@example.com,2026-11-10\n".to_vec(),
                "text/csv",
            )
            .await
            .unwrap();
        let stale = Feed::load(&store, "old.csv", now(), 7).await.unwrap_err();
        assert!(
            matches!(stale, FeedError::Stale { days: 12, .. }),
            "{stale}"
        );
        assert!(Feed::load(&store, "old.csv", now(), 14).await.is_ok());

        store
            .put("empty.csv", b"email,last_seen\n".to_vec(), "text/csv")
            .await
            .unwrap();
        let empty = Feed::load(&store, "empty.csv", now(), 7).await.unwrap_err();
        assert!(empty.to_string().contains("none"), "{empty}");
    }
}
