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
    let run = |args: &[&str]| {
        let out = Command::new(function_binary("sisense-lifecycle"))
            .current_dir(&dir)
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
    };
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
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let rgb: Vec<[u8; 3]> = pixels[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let near = |c: [u8; 3], want: [u8; 3]| c.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 8);
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
