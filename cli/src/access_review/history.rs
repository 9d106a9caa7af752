//! The access review's history: the dated export summaries under an export prefix (seats per tier and active
//! users over time) and the latest export's changes.

use lifecycle::ObjectStore;
use lifecycle::seats::Tier;
use serde_json::Value;

/// Most summaries drawn (the newest).
pub const MAX_POINTS: usize = 366;
/// Most changes listed.
pub const MAX_CHANGES: usize = 200;

/// One export's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// When the export started (RFC 3339).
    pub at: String,
    /// Users exported.
    pub users: u64,
    /// Activated users.
    pub active: u64,
    /// Seats per tier (`administrators`, `designers`, `viewers`); absent in summaries older than seats.
    pub seats: Vec<(Tier, u64)>,
}

/// The history the page draws.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Exports, oldest first.
    pub points: Vec<Point>,
    /// The newest export's change counts (`joined`, `left`, ...), when it compared itself.
    pub counts: Vec<(String, u64)>,
    /// The newest export's changes: user_id, email, change, before, after (at most [`MAX_CHANGES`]).
    pub changes: Vec<[String; 5]>,
    /// Changes beyond those listed.
    pub changes_left_out: usize,
}

fn point(at_key: &str, summary: &Value) -> Point {
    let number = |v: &Value| v.as_u64().unwrap_or(0);
    Point {
        at: summary["timing"]["startedAt"]
            .as_str()
            .unwrap_or(at_key)
            .to_string(),
        users: number(&summary["users"]),
        active: number(&summary["active"]),
        seats: [Tier::Administrators, Tier::Designers, Tier::Viewers]
            .into_iter()
            .filter_map(|t| {
                summary["seats"][t.as_str()]["total"]
                    .as_u64()
                    .map(|n| (t, n))
            })
            .collect(),
    }
}

/// Reads the dated summaries under `prefix` in `store` and the newest export's changes CSV.
pub async fn load(store: &dyn ObjectStore, prefix: &str) -> Result<History, String> {
    let keys = store
        .list(&format!("{prefix}dt="))
        .await
        .map_err(|e| e.to_string())?;
    let mut summaries: Vec<String> = keys
        .into_iter()
        .filter(|k| k.ends_with(".summary.json") && k.contains("/users-"))
        .collect();
    // Keys carry the export's timestamp (`dt=YYYY-MM-DD/users-YYYYMMDDTHHMMSSZ`): sorted keys are in time order.
    summaries.sort();
    let skip = summaries.len().saturating_sub(MAX_POINTS);
    let mut history = History::default();
    let mut newest = Value::Null;
    for key in &summaries[skip..] {
        let Some(bytes) = store.get(key).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let summary: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{key} is not a summary: {e}"))?;
        history.points.push(point(key, &summary));
        newest = summary;
    }
    let changes = &newest["changes"];
    if let Some(key) = changes["key"].as_str() {
        for name in [
            "joined",
            "left",
            "roleChanged",
            "groupsChanged",
            "activated",
            "deactivated",
        ] {
            history
                .counts
                .push((name.to_string(), changes[name].as_u64().unwrap_or(0)));
        }
        if let Some(bytes) = store.get(key).await.map_err(|e| e.to_string())? {
            let mut reader = csv::Reader::from_reader(bytes.as_slice());
            for record in reader.records() {
                let record = record.map_err(|e| format!("{key}: {e}"))?;
                if history.changes.len() == MAX_CHANGES {
                    history.changes_left_out += 1;
                    continue;
                }
                history.changes.push(std::array::from_fn(|i| {
                    record.get(i).unwrap_or("").to_string()
                }));
            }
        }
    }
    Ok(history)
}

/// The export prefix an export CSV's key sits under: its folder, above a `dt=` folder.
pub fn prefix_of(key: &str) -> String {
    let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder);
    let folder = match folder.rsplit_once('/') {
        Some((above, last)) if last.starts_with("dt=") => above,
        None if folder.starts_with("dt=") => "",
        _ => folder,
    };
    if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifecycle::MemoryStore;

    #[test]
    fn prefixes_of_latest_and_dated_exports() {
        assert_eq!(prefix_of("exports/users/latest.csv"), "exports/users/");
        assert_eq!(
            prefix_of("exports/users/dt=2026-11-30/users-20261130T000000Z.csv"),
            "exports/users/"
        );
        assert_eq!(prefix_of("latest.csv"), "");
        assert_eq!(prefix_of("dt=2026-11-30/users-x.csv"), "");
    }

    #[tokio::test]
    async fn reads_summaries_in_time_order_and_the_newest_changes() {
        let store = MemoryStore::default();
        let put = |key: &str, body: String| {
            let store = store.clone();
            let key = key.to_string();
            async move { store.put(&key, body.into_bytes(), "x").await.unwrap() }
        };
        put("p/dt=2026-11-02/users-20261102T000000Z.summary.json", r#"{"users":12,"active":10,"seats":{"viewers":{"total":8}},"timing":{"startedAt":"2026-11-02T00:00:00.000Z"},"changes":{"key":"p/dt=2026-11-02/changes-20261102T000000Z.csv","joined":2}}"#.into()).await;
        put("p/dt=2026-11-01/users-20261101T000000Z.summary.json", r#"{"users":10,"active":9,"timing":{"startedAt":"2026-11-01T00:00:00.000Z"},"changes":{"key":null}}"#.into()).await;
        put(
            "p/dt=2026-11-02/changes-20261102T000000Z.csv",
            "user_id,email,change,before,after\n1,a@x,joined,,consumer\n2,b@x,joined,,consumer\n"
                .into(),
        )
        .await;
        let history = load(&store, "p/").await.unwrap();
        let users: Vec<u64> = history.points.iter().map(|p| p.users).collect();
        assert_eq!(users, [10, 12]);
        assert!(
            history.points[0].seats.is_empty(),
            "older summaries have no seats"
        );
        assert_eq!(history.points[1].seats, [(Tier::Viewers, 8)]);
        assert_eq!(history.counts[0], ("joined".to_string(), 2));
        assert_eq!(history.changes.len(), 2);
        assert_eq!(history.changes[1][1], "b@x");
    }
}
