//! The export job against the simulator, writing to memory.

mod common;

use chrono::{TimeZone, Utc};
use lifecycle::export::{ExportError, ExportOptions, FIELDS, HEADER, export_users};
use lifecycle::{FixedClock, MemoryStore};
use sisense_sim::{Faults, Release, Simulator};

fn clock() -> FixedClock {
    FixedClock(Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 5).unwrap())
}

async fn sim(users: usize, faults: Faults) -> Simulator {
    common::sim_at(users, clock().0, faults).await
}

fn options() -> ExportOptions {
    ExportOptions {
        page_size: Some(250),
        prefetch: Some(3),
        flush_bytes: 64 * 1024,
        ..ExportOptions::default()
    }
}

/// Checks every row of `csv` against the simulator's stored users.
fn assert_matches_sim(csv: &[u8], sim: &Simulator) {
    let mut reader = csv::Reader::from_reader(csv);
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), HEADER);
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let expected: Vec<Vec<String>> = sim.export_rows().into_iter().map(Vec::from).collect();
    assert_eq!(rows.len(), expected.len());
    assert_eq!(rows, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_every_user_with_names_summary_and_latest_copy() {
    let sim = sim(3_000, Faults::default()).await;
    let store = MemoryStore::default();
    let outcome = export_users(&common::client(&sim), &store, &clock(), &options())
        .await
        .unwrap();
    assert_eq!(outcome.users, 3_000);
    assert_eq!(
        outcome.key,
        "exports/users/dt=2026-11-22/users-20261122T103005Z.csv"
    );
    assert_eq!(
        outcome.summary_key,
        "exports/users/dt=2026-11-22/users-20261122T103005Z.summary.json"
    );
    let objects = store.objects();
    assert_eq!(objects.len(), 3);
    let csv = &objects[&outcome.key];
    assert_eq!(
        csv, &objects["exports/users/latest.csv"],
        "latest.csv holds the same bytes"
    );
    assert_eq!(outcome.bytes, csv.len() as u64);
    assert_matches_sim(csv, &sim);

    let summary: serde_json::Value =
        serde_json::from_slice(&objects[&outcome.summary_key]).unwrap();
    let stored = sim.users();
    let active = stored.iter().filter(|u| u["active"] == true).count();
    let never = stored
        .iter()
        .filter(|u| u.get("lastLogin").is_none())
        .count();
    assert_eq!(summary["users"], 3_000);
    assert_eq!(summary["active"], active);
    assert_eq!(summary["pendingInvitations"], 3_000 - active);
    assert!(summary.get("inactive").is_none());
    assert_eq!(summary["neverLoggedIn"], never);
    assert_eq!(summary["lastLogin"]["never"], never);
    let bucket_total: u64 = summary["lastLogin"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(bucket_total, 3_000);
    let role_total: u64 = summary["perRole"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(role_total, 3_000);
    assert_eq!(summary["csvKey"], outcome.key.as_str());
    assert!(summary["timing"]["durationMs"].is_u64());
    // Role and group names are resolved once per run, not per user.
    let lookups = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/roles") || r.path.ends_with("/groups"))
        .count();
    assert_eq!(lookups, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_asks_only_for_the_fields_written_and_a_server_sending_all_gives_the_same_csv()
{
    // Both releases: the newer one adds `tenantId` and `lastActivity`, which the export writes too.
    for release in [Release::Contract, Release::Newer] {
        let asked = common::sim_release(1_200, clock().0, Faults::default(), release).await;
        let asked_store = MemoryStore::default();
        let a = export_users(&common::client(&asked), &asked_store, &clock(), &options())
            .await
            .unwrap();
        let pages: Vec<_> = asked
            .requests()
            .into_iter()
            .filter(|r| r.path == "/api/v1/users")
            .collect();
        assert!(pages.len() >= 6, "five pages of 250 and the empty one");
        for page in &pages {
            let query = page.query.as_deref().unwrap_or_default();
            let fields = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("fields="))
                .map(|v| v.replace("%2C", ","));
            assert_eq!(fields, Some(FIELDS.join(",")), "{query}");
        }
        let csv = &asked_store.objects()[&a.key];
        assert_matches_sim(csv, &asked);

        // A server that ignores the whitelist sends every field; the export is the same, byte for byte.
        let faults = Faults {
            ignore_fields: true,
            ..Faults::default()
        };
        let all = common::sim_release(1_200, clock().0, faults, release).await;
        let all_store = MemoryStore::default();
        let b = export_users(&common::client(&all), &all_store, &clock(), &options())
            .await
            .unwrap();
        assert_eq!(csv, &all_store.objects()[&b.key], "{release:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_give_identical_csv_content() {
    let clean = sim(2_000, Faults::default()).await;
    let clean_store = MemoryStore::default();
    let a = export_users(&common::client(&clean), &clean_store, &clock(), &options())
        .await
        .unwrap();
    let faults = Faults {
        rate_429: 0.10,
        rate_5xx: 0.05,
        token_expiry_after: Some(5),
        ..Faults::default()
    };
    let faulty = sim(2_000, faults).await;
    let faulty_store = MemoryStore::default();
    let b = export_users(
        &common::client(&faulty),
        &faulty_store,
        &clock(),
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(
        clean_store.objects()[&a.key],
        faulty_store.objects()[&b.key]
    );
    assert!(faulty.requests().iter().any(|r| r.fault.is_some()));
    assert!(faulty.logins() > 1);
}

#[tokio::test]
async fn a_failed_upload_is_aborted_and_leaves_no_latest() {
    let sim = sim(2_000, Faults::default()).await;
    let store = MemoryStore::failing_after(100_000);
    let err = export_users(&common::client(&sim), &store, &clock(), &options())
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Store(_)), "{err}");
    assert!(
        store.objects().is_empty(),
        "nothing half-written: {:?}",
        store.objects().keys()
    );
}

#[tokio::test]
async fn sisense_failure_mid_stream_writes_nothing() {
    let sim = sim(2_000, Faults::default()).await;
    let store = MemoryStore::default();
    let client = common::client(&sim);
    // Roles and groups succeed, then every token is refused while paging.
    let sim_ref = &sim;
    let options = ExportOptions {
        page_size: Some(100),
        prefetch: Some(1),
        ..options()
    };
    let clock = clock();
    let export = export_users(&client, &store, &clock, &options);
    let flip = async {
        while !sim_ref.requests().iter().any(|r| r.path == "/api/v1/users") {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        sim_ref.set_faults(Faults {
            reject_all_tokens: true,
            ..Faults::default()
        });
    };
    let (result, ()) = tokio::join!(export, flip);
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Sisense(sisense::Error::Unauthorized { .. })
        ),
        "{err}"
    );
    assert!(store.objects().is_empty());
}

#[tokio::test]
async fn formula_cells_are_neutralised_in_the_file() {
    let sim = sim(3, Faults::default()).await;
    let mut user = sim.users()[2].clone();
    user["firstName"] = serde_json::json!("=HYPERLINK(\"http://evil\",\"x\")");
    user["lastName"] = serde_json::json!("Smith, \"Jr\"\nIII");
    sim.put_user(user);
    let store = MemoryStore::default();
    let outcome = export_users(&common::client(&sim), &store, &clock(), &options())
        .await
        .unwrap();
    let csv = store.objects()[&outcome.key].clone();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_slice())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(&rows[2][2], "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(
        &rows[2][3], "Smith, \"Jr\"\nIII",
        "RFC 4180 quoting round-trips commas, quotes and newlines"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_page_cap_below_the_page_size_still_exports_everyone() {
    let sim = sim(
        1_234,
        Faults {
            page_cap: Some(100),
            ..Faults::default()
        },
    )
    .await;
    let store = MemoryStore::default();
    let outcome = export_users(&common::client(&sim), &store, &clock(), &options())
        .await
        .unwrap();
    assert_eq!(outcome.users, 1_234);
    assert_matches_sim(&store.objects()[&outcome.key], &sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_shorter_than_the_count_fails_and_keeps_the_previous_latest() {
    let sim = sim(1_000, Faults::default()).await;
    let store = MemoryStore::default();
    let first = export_users(&common::client(&sim), &store, &clock(), &options())
        .await
        .unwrap();
    let latest = store.objects()["exports/users/latest.csv"].clone();
    assert_eq!(latest, store.objects()[&first.key]);
    sim.set_faults(Faults {
        max_skip: Some(500),
        ..Faults::default()
    });
    let later = FixedClock(clock().0 + chrono::Duration::hours(1));
    let err = export_users(&common::client(&sim), &store, &later, &options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Incomplete {
                listed: 500,
                counted: 1_000
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("latest.csv is unchanged"), "{err}");
    assert_eq!(store.objects()["exports/users/latest.csv"], latest);
    assert_eq!(
        store.objects().len(),
        3,
        "nothing of the failed run is kept"
    );
}

/// A previous `latest.csv` that cannot be compared with (malformed, or not an export) never fails the export: the
/// summary says why nothing was compared, no changes CSV is written, and `latest.csv` is replaced. An unchanged
/// installation exported twice reports no change at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_previous_export_is_noted_and_an_unchanged_one_reports_no_change() {
    use lifecycle::ObjectStore;
    let sim = sim(600, Faults::default()).await;
    let store = MemoryStore::default();
    let latest = "exports/users/latest.csv";
    store
        .put(
            latest,
            b"user_id,email,role_name,group_names,is_active\n1,a@x\n".to_vec(),
            "text/csv",
        )
        .await
        .unwrap();
    let outcome = export_users(&common::client(&sim), &store, &clock(), &options())
        .await
        .unwrap();
    assert_eq!(outcome.users, 600);
    let note = outcome.changes.note.clone().unwrap_or_default();
    assert!(note.contains("could not be read"), "{note}");
    assert!(outcome.changes.key.is_none());
    assert!(!store.objects().keys().any(|k| k.contains("/changes-")));
    assert_eq!(store.objects()[latest], store.objects()[&outcome.key]);

    let later = FixedClock(clock().0 + chrono::Duration::hours(1));
    let again = export_users(&common::client(&sim), &store, &later, &options())
        .await
        .unwrap();
    let changes = &again.changes;
    assert_eq!(changes.compared_with.as_deref(), Some(latest));
    assert_eq!(
        (
            changes.joined,
            changes.left,
            changes.role_changed,
            changes.groups_changed,
            changes.activated
        ),
        (0, 0, 0, 0, 0)
    );
    let key = changes.key.clone().expect("a changes CSV, header only");
    assert_eq!(
        store.objects()[&key],
        b"user_id,email,change,before,after\n"
    );
}
