//! The access-review page: one HTML file with inline CSS and SVG charts, no script and no network at view
//! time (its Content-Security-Policy forbids every fetch). Every value from the CSV is HTML-escaped.

use std::fmt::Write;

use chrono::SecondsFormat;
use lifecycle::export::BUCKETS;
use lifecycle::seats::Tier;

use super::Review;
use super::history::History;

/// Colour of active users (also the last-login columns).
pub const ACTIVE: &str = "#2563eb";
/// Colour of pending invitations.
pub const INACTIVE: &str = "#94a3b8";
/// Colour of never-logged-in users and of the stale-candidate figure.
pub const NEVER: &str = "#f59e0b";
/// Candidates listed in the table; the rest are counted.
pub const MAX_LISTED: usize = 1000;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#0f172a;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.meta{color:#475569}\
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}.kpi{border:1px solid #e2e8f0;border-radius:8px;\
padding:10px 16px;min-width:130px}.kpi dt{color:#475569;font-size:12px}.kpi dd{margin:0;font-size:24px;\
font-weight:600}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #e2e8f0;\
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font-size:12px;fill:#0f172a}";

/// Renders the page; `source` names the CSV it was read from.
pub fn render(review: &Review, source: &str) -> String {
    let s = &review.summary;
    let mut page = String::with_capacity(64 * 1024 + review.candidates.len().min(MAX_LISTED) * 200);
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Sisense access review</title><style>{STYLE}</style></head><body>\
         <h1>Sisense access review</h1><p class=\"meta\">From <code>{}</code>, judged at {}. Stale: not seen \
         for more than {} days (never seen: created more than {} days ago).</p><dl class=\"kpis\">",
        escape(source),
        review.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        review.thresholds.inactive_days,
        review.thresholds.never_logged_in_grace_days,
    );
    for (id, label, value) in [
        ("total-users", "Users", s.users),
        ("active-users", "Active", s.active),
        (
            "pending-invitations",
            "Pending invitations",
            s.pending_invitations,
        ),
        ("never-logged-in", "Never logged in", s.never_logged_in),
        (
            "stale-candidates",
            "Stale candidates",
            review.candidates.len() as u64,
        ),
    ] {
        let _ = write!(
            page,
            "<div class=\"kpi\"><dt>{label}</dt><dd id=\"{id}\">{value}</dd></div>"
        );
    }
    if review.candidates.iter().any(|c| c.dashboards.is_some()) {
        let owners = review
            .candidates
            .iter()
            .filter(|c| c.dashboards.unwrap_or(0) > 0)
            .count();
        let (id, label, value) = ("stale-owners", "Stale candidates owning dashboards", owners);
        let _ = write!(
            page,
            "<div class=\"kpi\"><dt>{label}</dt><dd id=\"{id}\">{value}</dd></div>"
        );
    }
    page.push_str("</dl>");
    active_inactive(&mut page, s.active, s.pending_invitations);
    seats(&mut page, review);
    if let Some(h) = &review.history {
        history(&mut page, h);
    }
    roles(&mut page, review);
    last_login(&mut page, review);
    candidates(&mut page, review);
    page.push_str("</body></html>\n");
    page
}

/// Licence seats per tier, with the stale (reclaimable) ones.
fn seats(page: &mut String, review: &Review) {
    let s = &review.summary;
    page.push_str(
        "<h2>Licence seats</h2><table id=\"seats\"><tr><th>Tier</th><th>Seats</th><th>Active</th>\
         <th>Stale (reclaimable)</th><th>Pending invitations</th></tr>",
    );
    for tier in Tier::ALL {
        let t = s.seats.tier(tier);
        let _ = write!(
            page,
            "<tr id=\"seats-{name}\"><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            t.total,
            t.active,
            t.stale,
            t.pending_invitations,
            name = tier.as_str(),
        );
    }
    page.push_str("</table>");
}

/// Colours of the history's lines: active users, then the tiers.
const LINES: [(&str, &str); 4] = [
    ("active users", "#2563eb"),
    ("administrators", "#dc2626"),
    ("designers", "#16a34a"),
    ("viewers", "#9333ea"),
];

/// Active users and seats per tier over the stored exports, and the newest export's changes.
fn history(page: &mut String, h: &History) {
    page.push_str("<h2>History</h2>");
    if h.points.is_empty() {
        page.push_str(
            "<p id=\"history-empty\">No stored export summaries under this prefix yet.</p>",
        );
        return;
    }
    let series: Vec<Vec<u64>> = vec![
        h.points.iter().map(|p| p.active).collect(),
        tier_series(h, Tier::Administrators),
        tier_series(h, Tier::Designers),
        tier_series(h, Tier::Viewers),
    ];
    let max = series.iter().flatten().copied().max().unwrap_or(0).max(1);
    let (left, top, w, ht) = (60.0, 20.0, 680.0, 200.0);
    let x = |i: usize| {
        if h.points.len() < 2 {
            left + w / 2.0
        } else {
            left + w * i as f64 / (h.points.len() - 1) as f64
        }
    };
    let y = |v: u64| top + ht - ht * v as f64 / max as f64;
    let _ = write!(
        page,
        "<svg id=\"chart-history\" width=\"820\" height=\"280\" role=\"img\">\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#94a3b8\"/>\
         <text x=\"4\" y=\"{t}\">{max}</text><text x=\"4\" y=\"{b}\">0</text>",
        b = top + ht,
        r = left + w,
        t = top + 4.0,
    );
    for ((label, colour), values) in LINES.iter().zip(&series) {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            page,
            "<polyline class=\"series\" data-series=\"{label}\" fill=\"none\" stroke=\"{colour}\" \
             stroke-width=\"3\" points=\"{}\"/>",
            points.join(" ")
        );
        for (i, v) in values.iter().enumerate() {
            let _ = write!(
                page,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"/>",
                x(i),
                y(*v)
            );
        }
    }
    for (i, (label, colour)) in LINES.iter().enumerate() {
        let lx = left + 170.0 * i as f64;
        let _ = write!(
            page,
            "<rect x=\"{lx}\" y=\"250\" width=\"14\" height=\"14\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"262\">{label}</text>",
            lx + 20.0
        );
    }
    page.push_str(
        "</svg><table id=\"history\"><tr><th>Export</th><th>Users</th><th>Active</th>\
         <th>Administrators</th><th>Designers</th><th>Viewers</th></tr>",
    );
    for (i, p) in h.points.iter().enumerate() {
        let _ = write!(
            page,
            "<tr class=\"point\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&p.at),
            p.users,
            p.active,
            series[1][i],
            series[2][i],
            series[3][i]
        );
    }
    page.push_str("</table>");
    if h.counts.is_empty() {
        return;
    }
    page.push_str("<h2>Latest changes</h2><dl class=\"kpis\">");
    for (name, n) in &h.counts {
        let _ = write!(
            page,
            "<div class=\"kpi\"><dt>{name}</dt><dd id=\"changes-{name}\">{n}</dd></div>"
        );
    }
    page.push_str(
        "</dl><table id=\"changes\"><tr><th>User</th><th>Email</th><th>Change</th><th>Before</th>\
         <th>After</th></tr>",
    );
    for row in &h.changes {
        page.push_str("<tr class=\"change\">");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
    if h.changes_left_out > 0 {
        let _ = write!(
            page,
            "<p>... and {} more in the changes CSV.</p>",
            h.changes_left_out
        );
    }
}

/// A tier's seats per point (0 where a summary predates seats).
fn tier_series(h: &History, tier: Tier) -> Vec<u64> {
    h.points
        .iter()
        .map(|p| {
            p.seats
                .iter()
                .find(|(t, _)| *t == tier)
                .map_or(0, |(_, n)| *n)
        })
        .collect()
}

fn width(count: u64, max: u64, full: f64) -> f64 {
    if max == 0 {
        0.0
    } else {
        count as f64 / max as f64 * full
    }
}

/// Activated accounts against pending invitations (`active: false` on Sisense means never activated).
fn active_inactive(page: &mut String, active: u64, inactive: u64) {
    let total = active + inactive;
    let a = width(active, total, 600.0);
    let _ = write!(
        page,
        "<h2>Activated and pending invitations</h2><svg id=\"chart-activity\" width=\"600\" height=\"32\" role=\"img\">\
         <rect x=\"0\" y=\"4\" width=\"{a:.1}\" height=\"24\" fill=\"{ACTIVE}\"/>\
         <rect x=\"{a:.1}\" y=\"4\" width=\"{:.1}\" height=\"24\" fill=\"{INACTIVE}\"/></svg>\
         <p class=\"legend\" id=\"activity-legend\">{active} activated, {inactive} pending invitations</p>",
        600.0 - a
    );
}

/// A role as admins know it, for a chart's narrow label: the UI name of a standard role, else its name.
fn short_role(api_name: &str) -> String {
    sisense::ui_role_name(api_name).map_or_else(|| api_name.to_string(), str::to_string)
}

/// A role as admins know it with the API name beside it: `Viewer (consumer)`; a custom role as it is named.
fn long_role(api_name: &str) -> String {
    sisense::ui_role_name(api_name)
        .map_or_else(|| api_name.to_string(), |ui| format!("{ui} ({api_name})"))
}

fn roles(page: &mut String, review: &Review) {
    let max = review.roles.values().map(|(a, i)| a + i).max().unwrap_or(0);
    let height = review.roles.len() * 26 + 8;
    let _ = write!(
        page,
        "<h2>Users per role</h2><svg id=\"chart-roles\" width=\"760\" height=\"{height}\" role=\"img\">"
    );
    for (n, (role, (active, inactive))) in review.roles.iter().enumerate() {
        let y = n * 26 + 4;
        let (a, i) = (width(*active, max, 480.0), width(*inactive, max, 480.0));
        let _ = write!(
            page,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"140\" y=\"{y}\" width=\"{a:.1}\" height=\"20\" \
             fill=\"{ACTIVE}\"/><rect x=\"{:.1}\" y=\"{y}\" width=\"{i:.1}\" height=\"20\" fill=\"{INACTIVE}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text>",
            y + 15,
            escape(&short_role(role)),
            140.0 + a,
            146.0 + a + i,
            y + 15,
            active + inactive
        );
    }
    page.push_str("</svg><table id=\"roles\"><tr><th>Role</th><th>Activated</th><th>Pending invitations</th><th>Total</th></tr>");
    for (role, (active, inactive)) in &review.roles {
        let _ = write!(
            page,
            "<tr data-role=\"{0}\"><td>{2}</td><td class=\"n active\">{active}</td>\
             <td class=\"n pending\">{inactive}</td><td class=\"n total\">{1}</td></tr>",
            escape(role),
            active + inactive,
            escape(&long_role(role))
        );
    }
    page.push_str("</table>");
}

fn last_login(page: &mut String, review: &Review) {
    let order: Vec<&str> = BUCKETS
        .iter()
        .map(|(name, _)| *name)
        .chain(["older", "never"])
        .collect();
    let counts: Vec<u64> = order
        .iter()
        .map(|b| review.summary.last_login.get(*b).copied().unwrap_or(0))
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    page.push_str(
        "<h2>Last login</h2><svg id=\"chart-last-login\" width=\"760\" height=\"230\" role=\"img\">",
    );
    for (n, (bucket, count)) in order.iter().zip(&counts).enumerate() {
        let h = width(*count, max, 170.0);
        let x = n * 100 + 10;
        let colour = if *bucket == "never" { NEVER } else { ACTIVE };
        let _ = write!(
            page,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"70\" height=\"{h:.1}\" fill=\"{colour}\"/>\
             <text x=\"{x}\" y=\"{:.1}\">{count}</text><text x=\"{x}\" y=\"222\">{bucket}</text>",
            200.0 - h,
            195.0 - h
        );
    }
    page.push_str("</svg><table id=\"last-login\"><tr><th>Last login</th><th>Users</th></tr>");
    for (bucket, count) in order.iter().zip(&counts) {
        let _ = write!(
            page,
            "<tr data-bucket=\"{bucket}\"><td>{bucket}</td><td class=\"n\">{count}</td></tr>"
        );
    }
    page.push_str("</table>");
}

fn candidates(page: &mut String, review: &Review) {
    let dashboards = review.candidates.iter().any(|c| c.dashboards.is_some());
    let _ = write!(
        page,
        "<h2>Stale candidates</h2><p class=\"meta\">Active users the deactivation job would consider, before its \
         protections (roles, users, groups) and caps. Longest inactive first.{}</p><table id=\"candidates\">\
         <tr><th>Email</th><th>Role</th><th>Groups</th><th>Last seen</th><th>Days inactive</th>{}</tr>",
        if dashboards {
            " Dashboards owned: deleting a user deletes them, so delete leaves owners alone unless a transfer \
             target is set."
        } else {
            ""
        },
        if dashboards {
            "<th>Dashboards owned</th>"
        } else {
            ""
        }
    );
    for c in review.candidates.iter().take(MAX_LISTED) {
        let seen = c.last_seen.map_or_else(
            || "never".to_string(),
            |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        let owned = c
            .dashboards
            .map_or_else(String::new, |n| format!("<td class=\"n\">{n}</td>"));
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{seen}</td><td class=\"n\">{}</td>{owned}</tr>",
            escape(&c.email),
            escape(&long_role(&c.role)),
            escape(&c.groups),
            c.days_inactive
        );
    }
    page.push_str("</table>");
    if review.candidates.len() > MAX_LISTED {
        let _ = write!(
            page,
            "<p class=\"meta\" id=\"candidates-more\">and {} more (run <code>sisense-lifecycle deactivate --dry-run</code> \
             for the full list)</p>",
            review.candidates.len() - MAX_LISTED
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_from_the_csv() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
