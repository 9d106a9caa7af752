//! Report rows kept between invocations: each segment's rows as a headerless CSV part, read back in order when
//! the run assembles its report.

use serde::Serialize;

use super::RunKeys;
use crate::artefact::put_csv;
use crate::error::JobError;
use crate::store::{ObjectStore, StoreError};

/// Writes `rows` (each a CSV record) at `key` without a header.
pub async fn write_rows<R: Serialize>(
    store: &dyn ObjectStore,
    key: &str,
    rows: impl IntoIterator<Item = R>,
) -> Result<(), JobError> {
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for row in rows {
        csv.serialize(row)?;
    }
    let body = csv
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    put_csv(store, key, body).await?;
    Ok(())
}

/// Calls `each` with every record at `key`, which must exist.
pub async fn read_rows(
    store: &dyn ObjectStore,
    key: &str,
    mut each: impl FnMut(csv::StringRecord) -> Result<(), JobError>,
) -> Result<(), JobError> {
    let bytes = store.get(key).await?.ok_or_else(|| StoreError {
        operation: "assemble report",
        location: key.to_string(),
        message: "a part of the run is missing".into(),
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    for record in reader.records() {
        each(record?)?;
    }
    Ok(())
}

/// Calls `each` with every record of parts `1..=parts`, in the order the segments ran.
pub async fn read_parts(
    store: &dyn ObjectStore,
    keys: &RunKeys,
    parts: usize,
    mut each: impl FnMut(csv::StringRecord) -> Result<(), JobError>,
) -> Result<(), JobError> {
    for n in 1..=parts {
        read_rows(store, &keys.part(n), &mut each).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn parts_come_back_in_order_and_a_missing_one_is_an_error() {
        let store = MemoryStore::default();
        let keys = RunKeys::new("s/");
        write_rows(&store, &keys.part(1), [["a", "1"], ["b", "2"]])
            .await
            .unwrap();
        write_rows(&store, &keys.part(2), [["c, with comma", "3"]])
            .await
            .unwrap();
        let mut seen = Vec::new();
        read_parts(&store, &keys, 2, |r| {
            seen.push(r.get(0).unwrap_or_default().to_string());
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(seen, ["a", "b", "c, with comma"]);
        let missing = read_parts(&store, &keys, 3, |_| Ok(())).await.unwrap_err();
        assert!(
            missing.to_string().contains("parts/000003.csv"),
            "{missing}"
        );
    }
}
