//! Hostile and messy CSV files through the whole import job (simulator over HTTP, memory stores): each test is
//! one of the ways an operator's spreadsheet export used to lose, merge or mangle rows.

mod common;

use chrono::{TimeZone, Utc};
use lifecycle::import::{
    ImportOptions, ImportOutcome, ImportRequest, ImportSummary, OnExisting, import_users,
};
use lifecycle::{FixedClock, MemoryStore, ObjectStore};
use sisense_sim::{Faults, Simulator};
use std::collections::BTreeMap;

/// Step Functions passes at most 256 KiB between states; every response must stay below it.
const STEP_FUNCTIONS_LIMIT: usize = 256 * 1024;

fn clock() -> FixedClock {
    FixedClock(Utc.with_ymd_and_hms(2026, 11, 22, 9, 15, 0).unwrap())
}

async fn sim() -> Simulator {
    common::sim_at(20, clock().0, Faults::default()).await
}

/// Imports `body` live; returns the response, the summary and the report's rows.
async fn import(
    sim: &Simulator,
    body: &[u8],
) -> (
    serde_json::Value,
    ImportSummary,
    Vec<BTreeMap<String, String>>,
    Vec<u8>,
) {
    let (input, reports) = (MemoryStore::default(), MemoryStore::default());
    input
        .put("hires.csv", body.to_vec(), "text/csv")
        .await
        .unwrap();
    let request = ImportRequest {
        bucket: "in".into(),
        key: "hires.csv".into(),
        dry_run: false,
        on_existing: OnExisting::Skip,
        run_id: "run-1".into(),
    };
    let client = common::client(sim);
    let outcome = import_users(
        &client,
        &input,
        &reports,
        &clock(),
        &request,
        &ImportOptions::default(),
    )
    .await
    .unwrap();
    let response = outcome.response();
    let ImportOutcome::Done { summary, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let bytes = reports
        .objects()
        .remove(&summary.report_key)
        .expect("report");
    let rows = csv::Reader::from_reader(bytes.as_slice())
        .deserialize()
        .map(|r| r.unwrap())
        .collect();
    (response, *summary, rows, bytes)
}

fn created_emails(sim: &Simulator, before: usize) -> Vec<String> {
    sim.users()[before..]
        .iter()
        .map(|u| u["email"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn an_unterminated_quote_rejects_the_file_naming_its_line_and_creates_nobody() {
    let sim = sim().await;
    let before = sim.users().len();
    let (_, summary, rows, _) = import(
        &sim,
        b"email,first_name\nok@x.test,Ann\na@x.test,\"Bob\nb@x.test,Cy\n",
    )
    .await;
    let error = summary.error.expect("whole file rejected");
    assert!(
        error.contains("quote opened on line 3 is never closed"),
        "{error}"
    );
    assert_eq!(rows.len(), 1, "one report row describes the file");
    assert_eq!(rows[0]["status"], "invalid");
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    assert_eq!(sim.users().len(), before);
}

#[tokio::test]
async fn row_numbers_are_right_for_cr_only_and_mixed_line_endings() {
    let sim = sim().await;
    for (name, body) in [
        (
            "CR only",
            &b"email,first_name\rcr1@x.test,A\rcr2@x.test,B\r"[..],
        ),
        (
            "mixed",
            &b"email,first_name\r\nmx1@x.test,A\nmx2@x.test,B\rmx3@x.test,C"[..],
        ),
    ] {
        let (_, summary, rows, _) = import(&sim, body).await;
        assert_eq!(summary.error, None, "{name}");
        let numbered: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r["row"].clone(), r["status"].clone()))
            .collect();
        let expected: Vec<(String, String)> = (2..2 + rows.len())
            .map(|n| (n.to_string(), "created".to_string()))
            .collect();
        assert_eq!(numbered, expected, "{name}");
        assert_eq!(summary.created as usize, rows.len(), "{name}");
    }
    let created = created_emails(&sim, 20);
    assert_eq!(
        created,
        [
            "cr1@x.test",
            "cr2@x.test",
            "mx1@x.test",
            "mx2@x.test",
            "mx3@x.test"
        ]
    );
}

#[tokio::test]
async fn a_wide_header_keeps_the_response_and_summary_small() {
    let sim = sim().await;
    let ignored: Vec<String> = (0..20_000)
        .map(|i| format!("{}-{i}", "unknown column ".repeat(20)))
        .collect();
    let body = format!(
        "email,{}\nwide@x.test{}\n",
        ignored.join(","),
        ",".repeat(20_000)
    );
    assert!(
        body.len() > 6_000_000,
        "the header alone is {} bytes",
        body.len()
    );
    let (response, summary, rows, _) = import(&sim, body.as_bytes()).await;
    let size = serde_json::to_vec(&response).unwrap().len();
    assert!(size < STEP_FUNCTIONS_LIMIT / 8, "response of {size} bytes");
    assert_eq!(summary.ignored_headers.len(), 20);
    assert_eq!(summary.ignored_headers_left_out, 19_980);
    assert!(
        summary
            .ignored_headers
            .iter()
            .all(|h| h.chars().count() <= 101),
        "{:?}",
        summary.ignored_headers
    );
    assert_eq!(rows[0]["status"], "created");
}

#[tokio::test]
async fn a_huge_name_and_control_characters_make_rows_invalid_and_reports_stay_printable() {
    let sim = sim().await;
    let huge = "A".repeat(10 * 1024 * 1024);
    let body = format!(
        "email,first_name,last_name,groups\n\
         huge@x.test,{huge},Smith,\n\
         nul@x.test,Ann\u{0}ie,Smith,\n\
         bell@x.test,Bo,Sm\u{7}ith,\n\
         \"nl@x.test\",\"Two\nLines\",Smith,\n\
         tab@x.test,Tab\tBed,Smith,\n\
         nul\u{0}mail@x.test,Ann,Smith,\n"
    );
    let (response, summary, rows, report) = import(&sim, body.as_bytes()).await;
    assert!(serde_json::to_vec(&response).unwrap().len() < STEP_FUNCTIONS_LIMIT);
    let by_email: BTreeMap<&str, (&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["email"].as_str(),
                (r["status"].as_str(), r["message"].as_str()),
            )
        })
        .collect();
    let expect = |email: &str, message: &str| {
        let (status, got) = by_email[email];
        assert_eq!(status, "invalid", "{email}: {got}");
        assert!(got.contains(message), "{email}: {got}");
    };
    expect(
        "huge@x.test",
        "first_name has 10485760 characters; at most 128 are allowed",
    );
    expect(
        "nul@x.test",
        "first_name contains the control character U+0000",
    );
    expect(
        "bell@x.test",
        "last_name contains the control character U+0007",
    );
    expect(
        "nl@x.test",
        "first_name contains the control character U+000A",
    );
    // The report escapes the NUL of the email it echoes.
    expect(
        "nul\\u{0}mail@x.test",
        "email contains the control character U+0000",
    );
    assert_eq!(by_email["tab@x.test"].0, "created", "a tab is text");
    assert_eq!(summary.invalid, 5);
    assert_eq!(summary.created, 1);
    assert!(
        !report
            .iter()
            .any(|b| *b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t')),
        "the report holds a raw control character"
    );
    assert!(report.len() < 64 * 1024, "no 10 MB cell was echoed");
    assert_eq!(
        created_emails(&sim, 20),
        ["tab@x.test"],
        "only the clean row reached Sisense"
    );
}

#[tokio::test]
async fn whole_file_problems_have_specific_messages() {
    let sim = sim().await;
    let utf16: Vec<u8> = "email\na@x.test\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    for (body, message) in [
        (&b""[..], "the file is empty"),
        (&b"\xef\xbb\xbf \r\n"[..], "the file is empty"),
        (&b"email,first_name\r\n"[..], "a header but no data rows"),
        (&[0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02][..], "gzip-compressed"),
        (&b"PK\x03\x04\x14\x00"[..], "Excel workbook (.xlsx)"),
        (&utf16[..], "UTF-16 text without a byte-order mark"),
    ] {
        let (response, summary, rows, _) = import(&sim, body).await;
        let error = summary.error.expect("rejected whole");
        assert!(error.contains(message), "{message}: {error}");
        assert_eq!(response["error"], error.as_str());
        assert_eq!(rows.len(), 1);
    }
    assert!(sim.writes().is_empty());
}
