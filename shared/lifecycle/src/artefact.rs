//! What the jobs write and how they name it: key prefixes and timestamps, cells neutralised against formula
//! injection, CSV and pretty JSON put whole into the store.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{ObjectStore, StoreError};

/// Where the import's and the stale job's reports go by default (never under `imports/`, which is watched).
pub const REPORT_PREFIX: &str = "reports/";

/// Prefixes a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) with `'` (OWASP).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// RFC 3339 UTC with milliseconds; empty when absent.
pub fn timestamp(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// RFC 3339 UTC with milliseconds, for summaries.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `YYYYMMDDTHHMMSSZ`, the timestamp in report names.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A key prefix with no leading `/` and, unless empty, a trailing `/`.
pub fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/")
    }
}

/// Whether `c` may not stand in a cell as it is: every control character but tab.
pub fn is_unprintable(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// `cell` with every [unprintable](is_unprintable) character written as `\u{..}`, so that no report holds a
/// raw NUL or a line break that would split its row.
pub fn printable(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.chars().any(is_unprintable) {
        cell.chars()
            .map(|c| {
                if is_unprintable(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        cell.into()
    }
}

/// Encodes a header and rows as CSV; every cell is made [`printable`] and neutralised against formula
/// injection.
pub fn csv_bytes<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(header)?;
    for row in rows {
        write_safe_record(&mut csv, &row)?;
    }
    csv.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// Writes one row with every cell made [`printable`] and neutralised against formula injection (what
/// [`csv_bytes`] does to each row, for reports written a row at a time).
pub fn write_safe_record<W: std::io::Write>(
    csv: &mut csv::Writer<W>,
    cells: &[String],
) -> Result<(), csv::Error> {
    csv.write_record(cells.iter().map(|c| neutralise(&printable(c)).into_owned()))
}

/// Puts `value` as pretty JSON at `key`.
pub async fn put_json(
    store: &dyn ObjectStore,
    key: &str,
    value: &impl Serialize,
) -> Result<(), StoreError> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| StoreError {
        operation: "encode JSON",
        location: key.to_string(),
        message: e.to_string(),
    })?;
    store.put(key, body, "application/json").await
}

/// Puts CSV bytes at `key`.
pub async fn put_csv(store: &dyn ObjectStore, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
    store.put(key, body, "text/csv; charset=utf-8").await
}

/// `name` as a single key segment.
pub fn segment(name: &str) -> String {
    let encoded = name.replace('%', "%25").replace('/', "%2F");
    if !encoded.is_empty() && encoded.chars().all(|c| c == '.') {
        encoded.replace('.', "%2E")
    } else {
        encoded
    }
}

/// Reads JSON at `key`; `None` when absent. Undecodable state is a storage error, never ignored.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match store.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError {
                operation: "decode state",
                location: key.to_string(),
                message: e.to_string(),
            }),
    }
}
