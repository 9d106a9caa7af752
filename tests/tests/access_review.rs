//! `sisense-lifecycle report` renders in headless Chromium: the screenshot is not blank and shows the charts'
//! colours, and the figures in the page Chromium parsed equal those computed from the simulator's own users.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e_tests::{NOW, function_binary, now};
use sisense_sim::{SimConfig, Simulator, StaleRule};

const TOKEN: &str = "sim-api-token-review-0123456789";

fn chromium() -> PathBuf {
    let candidates = std::env::var("CHROMIUM").into_iter().chain([
        "/usr/bin/chromium".into(),
        "/usr/bin/chromium-browser".into(),
    ]);
    candidates
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("headless Chromium is needed: apt-get install chromium (tests/run.sh installs it)")
}

/// Runs headless Chromium on `page` with `args` (flags from the machine notes: no sandbox as root, no
/// background networking on a closed network, a throw-away profile).
fn chromium_on(page: &Path, profile: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs the CLI in `dir` against `sim`; returns its stdout (panics when it fails).
fn cli(dir: &Path, sim: &Simulator, args: &[&str]) -> Vec<u8> {
    let out = Command::new(function_binary("sisense-lifecycle"))
        .current_dir(dir)
        .args(args)
        .env("SISENSE_URL", sim.base_url())
        .env("SISENSE_TOKEN", TOKEN)
        .env("SISENSE_RATE_LIMIT", "0")
        .env_remove("SISENSE_SECRET_ID")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The pixels of a PNG screenshot, as RGB.
fn rgb(png_path: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    pixels[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// Whether two colours are within 8 of each other on every channel.
fn near(c: [u8; 3], want: [u8; 3]) -> bool {
    c.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 8)
}

/// The text of the element whose opening tag contains `marker`.
fn element_text<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} is not in the page"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    &rest[start..start + end]
}

fn number(dom: &str, marker: &str) -> u64 {
    element_text(dom, marker)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{marker}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_review_renders_in_chromium_with_the_simulators_numbers() {
    let sim = Simulator::start(SimConfig {
        users: 600,
        now: now(),
        api_token: Some(TOKEN.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("access-review");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| cli(&dir, &sim, args);
    tokio::task::block_in_place(|| {
        run(&["export", "--out", "users.csv"]);
        run(&["report", "users.csv", "--now", NOW, "--out", "review.html"]);
    });
    let page = dir.join("review.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["src=", "href=", "<script", "url("] {
        assert!(
            !html.contains(external),
            "the page loads nothing at view time: {external}"
        );
    }
    assert!(
        html.contains("default-src 'none'"),
        "its CSP forbids every fetch"
    );

    // The oracle, straight from the simulator's JSON.
    let users = sim.users();
    let active = users.iter().filter(|u| u["active"] != false).count() as u64;
    let never = users.iter().filter(|u| u["lastLogin"].is_null()).count() as u64;
    let role_names = sim.role_names();
    let mut per_role: BTreeMap<String, u64> = BTreeMap::new();
    for u in &users {
        *per_role
            .entry(role_names[u["roleId"].as_str().unwrap()].clone())
            .or_default() += 1;
    }
    let stale = sim.stale_sets(&StaleRule {
        now: now(),
        inactive_days: 90,
        grace_days: 90,
        roles: vec![],
        users: vec![],
        groups: vec![],
    });

    let profile = dir.join("profile");
    let dom = String::from_utf8(chromium_on(&page, &profile, &["--dump-dom"])).unwrap();
    assert_eq!(number(&dom, "id=\"total-users\""), users.len() as u64);
    assert_eq!(number(&dom, "id=\"active-users\""), active);
    assert_eq!(
        number(&dom, "id=\"pending-invitations\""),
        users.len() as u64 - active
    );
    assert_eq!(number(&dom, "id=\"never-logged-in\""), never);
    assert_eq!(
        number(&dom, "id=\"stale-candidates\""),
        stale.act.len() as u64
    );
    for (role, count) in &per_role {
        let row = format!("data-role=\"{role}\"");
        let at = dom
            .find(&row)
            .unwrap_or_else(|| panic!("{role} has no row"));
        assert_eq!(number(&dom[at..], "class=\"n total\""), *count, "{role}");
    }
    // Roles as admins know them, with the API name beside; the activity line whole, outside the chart.
    let viewer = &dom[dom.find("data-role=\"consumer\"").expect("consumer row")..];
    assert!(
        viewer.starts_with("data-role=\"consumer\"><td>Viewer (consumer)</td>"),
        "{}",
        &viewer[..80]
    );
    let legend = format!(
        "id=\"activity-legend\">{active} activated, {} pending invitations</p>",
        users.len() as u64 - active
    );
    assert!(dom.contains(&legend), "{legend} not in the page");
    // Licence seats per tier, from the same users.
    let tier_total =
        |roles: &[&str]| -> u64 { roles.iter().filter_map(|r| per_role.get(*r)).sum() };
    for (tier, roles) in [
        ("administrators", &["super", "admin", "dataAdmin"][..]),
        ("designers", &["contributor", "dataDesigner"][..]),
        ("viewers", &["consumer"][..]),
    ] {
        let at = dom
            .find(&format!("id=\"seats-{tier}\""))
            .unwrap_or_else(|| panic!("{tier} has no seats row"));
        assert_eq!(
            number(&dom[at..], "class=\"n\""),
            tier_total(roles),
            "{tier}"
        );
    }
    let listed = dom.matches("<tr><td>").count() as u64;
    assert_eq!(
        listed,
        stale.act.len() as u64,
        "every candidate is listed (fewer than 1000 here)"
    );

    let shot = dir.join("review.png");
    chromium_on(
        &page,
        &profile,
        &[
            "--window-size=1000,1400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let rgb = rgb(&shot);
    let white = rgb.iter().filter(|c| near(**c, [255, 255, 255])).count();
    let blue = rgb.iter().filter(|c| near(**c, [0x25, 0x63, 0xeb])).count();
    let amber = rgb.iter().filter(|c| near(**c, [0xf5, 0x9e, 0x0b])).count();
    assert!(
        white < rgb.len() * 97 / 100,
        "the screenshot is not blank ({white} of {} white)",
        rgb.len()
    );
    assert!(
        blue > 5_000,
        "the bars are drawn in the active colour ({blue} pixels)"
    );
    assert!(
        amber > 500,
        "the never-logged-in column is drawn ({amber} pixels)"
    );
}

/// With three dated summaries stored beside the export, `report` draws active users and seats per tier over
/// time and lists the newest export's changes; Chromium shows the lines in their colours.
#[tokio::test(flavor = "multi_thread")]
async fn the_access_review_draws_the_history_of_three_stored_summaries() {
    let sim = Simulator::start(SimConfig {
        users: 300,
        now: now(),
        api_token: Some(TOKEN.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("access-review-history");
    let _ = std::fs::remove_dir_all(&dir);
    let exports = dir.join("exports");
    let history = [
        ("2026-09-22", 210, 40, 12, 150),
        ("2026-10-22", 230, 55, 14, 160),
        ("2026-11-22", 260, 70, 15, 175),
    ];
    for (day, active, designers, admins, viewers) in history {
        let stamp = format!("{}T060000Z", day.replace('-', ""));
        let folder = exports.join(format!("dt={day}"));
        std::fs::create_dir_all(&folder).unwrap();
        let changes_key = format!("dt={day}/changes-{stamp}.csv");
        let summary = serde_json::json!({
            "users": active + 10, "active": active,
            "seats": {"administrators": {"total": admins}, "designers": {"total": designers}, "viewers": {"total": viewers}},
            "timing": {"startedAt": format!("{day}T06:00:00.000Z")},
            "changes": {"key": changes_key, "joined": 2, "left": 1, "roleChanged": 0, "groupsChanged": 0, "activated": 0, "deactivated": 0},
        });
        std::fs::write(
            folder.join(format!("users-{stamp}.summary.json")),
            summary.to_string(),
        )
        .unwrap();
        std::fs::write(
            exports.join(&changes_key),
            format!("user_id,email,change,before,after\n1,new-{day}@x.io,joined,,consumer\n2,other-{day}@x.io,joined,,viewer\n3,<b>gone</b>@x.io,left,consumer,\n"),
        )
        .unwrap();
    }
    tokio::task::block_in_place(|| {
        cli(&dir, &sim, &["export", "--out", "exports/latest.csv"]);
        let out = cli(
            &dir,
            &sim,
            &[
                "report",
                "exports/latest.csv",
                "--now",
                NOW,
                "--out",
                "review.html",
                "--json",
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["historyPoints"], 3, "{json}");
    });
    let page = dir.join("review.html");
    let profile = dir.join("profile");
    let dom = String::from_utf8(chromium_on(&page, &profile, &["--dump-dom"])).unwrap();
    assert!(
        dom.contains("id=\"chart-history\""),
        "the history chart is drawn"
    );
    assert_eq!(
        dom.matches("class=\"series\"").count(),
        4,
        "active users and three tiers"
    );
    let points: Vec<&str> = dom
        .match_indices("<tr class=\"point\">")
        .map(|(i, _)| &dom[i..])
        .collect();
    assert_eq!(points.len(), 3);
    for ((day, active, designers, admins, viewers), row) in history.iter().zip(&points) {
        let cells: Vec<&str> = row
            .split("</tr>")
            .next()
            .unwrap()
            .split("<td")
            .skip(1)
            .map(|c| &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()])
            .collect();
        assert!(cells[0].starts_with(day), "{cells:?}");
        assert_eq!(
            cells[2..],
            [
                active.to_string(),
                admins.to_string(),
                designers.to_string(),
                viewers.to_string()
            ],
            "{day}"
        );
    }
    assert_eq!(number(&dom, "id=\"changes-joined\""), 2);
    assert_eq!(
        dom.matches("<tr class=\"change\">").count(),
        3,
        "the newest export's changes"
    );
    assert!(dom.contains("new-2026-11-22@x.io") && !dom.contains("new-2026-10-22@x.io"));
    assert!(dom.contains("&lt;b&gt;gone&lt;/b&gt;"), "cells are escaped");

    let shot = dir.join("review.png");
    chromium_on(
        &page,
        &profile,
        &[
            "--window-size=1000,1800",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let pixels = rgb(&shot);
    for (name, colour) in [
        ("administrators", [0xdc, 0x26, 0x26]),
        ("designers", [0x16, 0xa3, 0x4a]),
        ("viewers", [0x93, 0x33, 0xea]),
    ] {
        let n = pixels.iter().filter(|c| near(**c, colour)).count();
        assert!(n > 300, "the {name} line is drawn ({n} pixels)");
    }
}
