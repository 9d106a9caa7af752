//! Deterministic population: roles, groups and users with a realistic mix of activity.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::Release;
use crate::sign_in::{SignIn, SignInMix};

/// Role API names and the names the UI shows (people write these; the API never sends them).
pub const ROLES: [(&str, &str); 6] = [
    ("super", "Sys. Admin"),
    ("admin", "Admin"),
    ("dataAdmin", "Data Admin"),
    ("dataDesigner", "Data Designer"),
    ("contributor", "Designer"),
    ("consumer", "Viewer"),
];

/// The groups every installation has; "Everyone" lists every user (the API adds it to each user's groups).
pub const BUILT_IN_GROUPS: [&str; 2] = ["Everyone", "All users in system"];

/// Group names besides the built-ins; "Analysts" exists twice on purpose (names are not unique in Sisense).
pub const GROUPS: [&str; 9] = [
    "Sales",
    "Finance",
    "Engineering",
    "Marketing",
    "Support",
    "Executives",
    "Contractors",
    "Analysts",
    "Analysts",
];

const FIRST: [&str; 16] = [
    "ann", "bob", "chloe", "dmitri", "eva", "farid", "grace", "hiro", "ines", "jamal", "kaito",
    "lena", "mateo", "noor", "olga", "priya",
];
const LAST: [&str; 12] = [
    "smith", "garcia", "müller", "o'brien", "nguyen", "kowalski", "rossi", "tanaka", "dubois",
    "silva", "khan", "lee",
];

/// RFC 3339 UTC with milliseconds, as Sisense writes timestamps.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A 24-hex id: an 8-hex prefix per kind and installation, then a counter.
pub fn object_id(prefix: u32, n: u64) -> String {
    format!("{prefix:08x}{n:016x}")
}

/// The seeded installation.
pub(crate) struct Population {
    pub roles: Vec<Value>,
    pub groups: Vec<Value>,
    pub users: Vec<Value>,
    pub dashboards: Vec<Value>,
    pub tenant_id: String,
    /// How each user really signs in (the oracle the API may not show).
    pub sign_ins: Vec<SignIn>,
}

/// Id prefixes derived from the seed, so ids differ per "installation".
pub(crate) fn prefixes(seed: u64) -> (u32, u32, u32) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5155_5345);
    let base: u32 = rng.random_range(0x6000_0000..0x6800_0000);
    (base, base + 1, base + 2)
}

pub(crate) fn populate(
    seed: u64,
    users: usize,
    now: DateTime<Utc>,
    service_user: &str,
    release: Release,
    dashboards_every: usize,
    mix: &SignInMix,
) -> Population {
    let (role_prefix, group_prefix, user_prefix) = prefixes(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sign_in_rng = StdRng::seed_from_u64(seed ^ 0x5349_474e);
    let mut sign_ins = Vec::with_capacity(users);
    let roles: Vec<Value> = ROLES
        .iter()
        .enumerate()
        .map(|(i, (name, _ui))| json!({"_id": object_id(role_prefix, i as u64 + 1), "name": name, "desc": format!("{name} role")}))
        .collect();
    let groups: Vec<Value> = BUILT_IN_GROUPS
        .iter()
        .chain(GROUPS.iter())
        .enumerate()
        .map(|(i, name)| json!({"_id": object_id(group_prefix, i as u64 + 1), "name": name, "created": timestamp(now - Duration::days(900))}))
        .collect();
    let tenant_id = object_id(group_prefix + 7, 1);
    let role_id = |name: &str| {
        roles
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["_id"].clone())
            .unwrap_or(Value::Null)
    };
    let ms = |rng: &mut StdRng, lo_days: i64, hi_days: i64| {
        Duration::milliseconds(rng.random_range(lo_days * 86_400_000..hi_days * 86_400_000))
    };

    let mut out = Vec::with_capacity(users);
    for i in 0..users {
        let id = object_id(user_prefix, i as u64 + 1);
        let (first, last) = (
            FIRST[rng.random_range(0..FIRST.len())],
            LAST[rng.random_range(0..LAST.len())],
        );
        let email = if i == 0 {
            service_user.to_string()
        } else {
            format!("{first}.{}{i}@example.com", last.replace(['\'', 'ü'], ""))
        };
        let role = match i {
            0 | 1 => "super",
            2..=4 => "admin",
            _ => match rng.random_range(0..1000) {
                0..2 => "super",
                2..12 => "admin",
                12..30 => "dataAdmin",
                30..100 => "dataDesigner",
                100..300 => "contributor",
                _ => "consumer",
            },
        };
        let bucket = if i == 0 { 0 } else { rng.random_range(0..100) };
        let last_login = match bucket {
            0..50 => Some(now - ms(&mut rng, 0, 30)),
            50..65 => Some(now - ms(&mut rng, 31, 89)),
            65..85 => Some(now - ms(&mut rng, 91, 720)),
            _ => None,
        };
        let last_activity = match (last_login, rng.random_range(0..100)) {
            (Some(login), 0..5) if login < now - Duration::days(90) => {
                Some(now - ms(&mut rng, 0, 20))
            }
            (Some(login), 5..75) => Some((login + ms(&mut rng, 0, 2)).min(now)),
            _ => None,
        };
        let created = match last_login {
            Some(login) => login - ms(&mut rng, 1, 400),
            None => now - ms(&mut rng, 1, 400),
        };
        let mut groups_of: Vec<Value> = Vec::new();
        for _ in 0..rng.random_range(0..4) {
            let g = groups[rng.random_range(BUILT_IN_GROUPS.len()..groups.len())]["_id"].clone();
            if !groups_of.contains(&g) {
                groups_of.push(g);
            }
        }
        let mut user = json!({
            "_id": id,
            "email": email,
            "userName": if i > 0 && rng.random_range(0..10) == 0 { format!("{first}.{last}{i}") } else { email.clone() },
            "firstName": first[..1].to_uppercase() + &first[1..],
            "roleId": role_id(role),
            "groups": groups_of,
            "created": timestamp(created),
            "lastUpdated": timestamp(created + Duration::days(1)),
            "preferences": {"language": "en-US"},
        });
        // `active` is "activated": everyone who logged in is; of those who never did, some were created with a
        // password (activated) and the others are invitations still pending.
        let activated = last_login.is_some() || rng.random_range(0..100) < 40;
        user["active"] = json!(activated);
        if !activated {
            user["pendingExpiration"] = json!(timestamp(created + Duration::days(7)));
        }
        if release.extra_user_fields() {
            user["tenantId"] = json!(tenant_id);
        }
        if rng.random_range(0..100) >= 5 {
            user["lastName"] = json!(last[..1].to_uppercase() + &last[1..]);
        }
        if let Some(t) = last_login {
            user["lastLogin"] = json!(timestamp(t));
        }
        if let Some(t) = last_activity.filter(|_| release.extra_user_fields()) {
            user["lastActivity"] = json!(timestamp(t));
        }
        // The person's last sign-in: what each way of signing in leaves a trace of, or not.
        sign_ins.push(crate::sign_in::apply(
            mix,
            &mut sign_in_rng,
            i,
            &mut user,
            last_login,
            created,
            now,
        ));
        out.push(user);
    }
    // Sisense's built-in "Admins" group (never assignable through the API: 2010), added after the users drew
    // their groups so the population is as before.
    let mut groups = groups;
    groups.push(
        json!({"_id": object_id(group_prefix, groups.len() as u64 + 1), "name": "Admins",
        "created": timestamp(now - Duration::days(900))}),
    );
    Population {
        roles,
        groups,
        dashboards: crate::dashboards::seed(&out, dashboards_every, user_prefix + 3, now),
        users: out,
        tenant_id,
        sign_ins,
    }
}

/// Spreads the population over `system` and the `names` tenants (see [`crate::SimConfig::tenants`]); the
/// tenants as `GET /api/v1/tenants` lists them, empty when `names` is.
pub(crate) fn tenants(population: &mut Population, names: &[String]) -> Vec<Value> {
    if names.is_empty() {
        return Vec::new();
    }
    let system = population.tenant_id.clone();
    let prefix = u32::from_str_radix(&system[..8], 16).unwrap_or_default();
    let mut tenants = vec![json!({"_id": system, "name": "system"})];
    for (i, name) in names.iter().enumerate() {
        tenants.push(json!({"_id": object_id(prefix, i as u64 + 2), "name": name}));
    }
    for (i, user) in population.users.iter_mut().enumerate() {
        user["tenantId"] = tenants[i % tenants.len()]["_id"].clone();
    }
    for group in &mut population.groups {
        group["tenantId"] = json!(system);
    }
    tenants
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn same_seed_same_population_other_seed_other_ids() {
        let a = populate(
            7,
            200,
            now(),
            "svc@example.com",
            Release::Contract,
            4,
            &SignInMix::default(),
        );
        let b = populate(
            7,
            200,
            now(),
            "svc@example.com",
            Release::Contract,
            4,
            &SignInMix::default(),
        );
        let c = populate(
            8,
            200,
            now(),
            "svc@example.com",
            Release::Contract,
            4,
            &SignInMix::default(),
        );
        assert_eq!(a.users, b.users);
        assert_ne!(
            a.roles[0]["_id"], c.roles[0]["_id"],
            "ids differ per installation"
        );
    }

    #[test]
    fn population_mixes_activity_roles_and_states() {
        let p = populate(
            42,
            5_000,
            now(),
            "svc@example.com",
            Release::Contract,
            4,
            &SignInMix::default(),
        );
        let days_since = |u: &Value, key: &str| {
            u[key].as_str().map(|t| {
                (now() - DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)).num_days()
            })
        };
        let recent = p
            .users
            .iter()
            .filter(|u| days_since(u, "lastLogin").is_some_and(|d| d <= 30))
            .count();
        let stale = p
            .users
            .iter()
            .filter(|u| days_since(u, "lastLogin").is_some_and(|d| d > 90))
            .count();
        let never = p
            .users
            .iter()
            .filter(|u| u.get("lastLogin").is_none())
            .count();
        let inactive = p.users.iter().filter(|u| u["active"] == false).count();
        for (what, n) in [
            ("recent", recent),
            ("stale", stale),
            ("never", never),
            ("inactive", inactive),
        ] {
            assert!(n > 200, "{what}: {n}");
        }
        let role_of =
            |name: &str| p.roles.iter().find(|r| r["name"] == name).unwrap()["_id"].clone();
        let supers = p
            .users
            .iter()
            .filter(|u| u["roleId"] == role_of("super"))
            .count();
        let admins = p
            .users
            .iter()
            .filter(|u| u["roleId"] == role_of("admin"))
            .count();
        assert!(
            (2..50).contains(&supers) && admins >= 3,
            "supers {supers} admins {admins}"
        );
        assert_eq!(p.users[0]["email"], "svc@example.com");
        assert!(
            p.users
                .iter()
                .all(|u| u.get("lastActivity").is_none() && u.get("tenantId").is_none()),
            "the contract has neither field"
        );
        assert!(
            p.users
                .iter()
                .filter(|u| u["active"] == false)
                .all(|u| u.get("lastLogin").is_none()),
            "only never-logged-in users can be pending invitations"
        );
        assert!(p.roles.iter().all(|r| r.get("displayName").is_none()));
        assert!(
            p.users
                .iter()
                .all(|u| u["_id"].as_str().unwrap().len() == 24)
        );
        let ts = p.users[0]["created"].as_str().unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == 24,
            "RFC 3339 with millis: {ts}"
        );
        let mut ids: Vec<_> = p.users.iter().map(|u| u["_id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5_000);
    }
}
