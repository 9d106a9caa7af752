//! The access-review page: one HTML file with inline CSS and SVG charts, no script and no network at view
//! time (its Content-Security-Policy forbids every fetch). Every value from the CSV is HTML-escaped.

use std::fmt::Write;

use chrono::SecondsFormat;
use lifecycle::export::BUCKETS;

use super::Review;

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
    roles(&mut page, review);
    last_login(&mut page, review);
    candidates(&mut page, review);
    page.push_str("</body></html>\n");
    page
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
        "<h2>Activated and pending invitations</h2><svg id=\"chart-activity\" width=\"820\" height=\"40\" role=\"img\">\
         <rect x=\"0\" y=\"4\" width=\"{a:.1}\" height=\"24\" fill=\"{ACTIVE}\"/>\
         <rect x=\"{a:.1}\" y=\"4\" width=\"{:.1}\" height=\"24\" fill=\"{INACTIVE}\"/>\
         <text x=\"610\" y=\"21\">{active} activated, {inactive} pending invitations</text></svg>",
        600.0 - a
    );
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
            escape(role),
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
            "<tr data-role=\"{0}\"><td>{0}</td><td class=\"n active\">{active}</td>\
             <td class=\"n pending\">{inactive}</td><td class=\"n total\">{1}</td></tr>",
            escape(role),
            active + inactive
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
            escape(&c.role),
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
