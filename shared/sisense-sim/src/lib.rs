//! An in-process Sisense REST simulator over real HTTP (axum on 127.0.0.1, random port).
//!
//! By default it answers as the published contracts (vendored in `contracts/` beside this crate, Sisense L8.2.4) describe, and where
//! they are silent it takes the least convenient plausible behaviour:
//! - form-encoded login with bearer tokens; `/api/v1/users` (list with skip/limit/sort/expand/filters/`ids`,
//!   get, create, bulk, patch, delete; `fields` applied as the whitelist the contract documents, unless
//!   [`Faults::ignore_fields`]) and v0.9's `GET /api/users/count`;
//! - users carry no `lastActivity` or `tenantId`; `active` means "activated", so never-logged-in invited users
//!   are `active: false`; a PATCH ignores `active`; a bulk create answers 201 with items without `_id`;
//! - roles only on `/api/roles`, without `displayName`; groups include the built-ins "Everyone" (every user is
//!   a member, and reads back so) and "All users in system";
//! - an optional silent page cap ([`Faults::page_cap`]); Sisense-shaped error bodies.
//!
//! [`Release::Newer`] answers as later releases do (`lastActivity`, `tenantId`, PATCH honours `active`). The
//! same installation also answers as legacy Sisense for Windows (REST v0.9: `x-api-key` JWTs signed with
//! [`SimConfig::rest_api_token`] or bearer tokens, `/api/users`, `/api/groups`), and as one Periscope / Cloud
//! Data Teams site (see the `periscope` module). A seeded population gives a deterministic mix of recent,
//! stale, never-logged-in and invited users. [`Faults`] inject latency, 429/5xx, dropped connections, token
//! expiry and ignored writes; every request is recorded (with its JSON bodies when [`SimConfig::record_bodies`])
//! so tests can assert what was (not) written and hold both sides to the contract.

mod dashboards;
mod faults;
mod legacy;
mod oracle;
mod periscope;
mod routes;
mod seed;
mod sign_in;
mod state;
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use faults::{Faults, RecordedRequest};
pub use oracle::{StaleRule, StaleSets};
pub use periscope::PERISCOPE_ROLES;
pub use seed::{BUILT_IN_GROUPS, GROUPS, ROLES, object_id, timestamp};
pub use sign_in::{SignIn, SignInKind, SignInMix};
pub use tls::TlsIdentity;

/// Which Sisense release the simulator answers as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Release {
    /// L8.2.4, exactly as the published contracts describe it.
    #[default]
    Contract,
    /// A later release: users carry `lastActivity` and `tenantId`, and `PATCH /api/v1/users/{id}` (and v0.9's
    /// PUT) honour `active`.
    Newer,
}

impl Release {
    /// Whether users carry `lastActivity` and `tenantId`.
    pub fn extra_user_fields(self) -> bool {
        match self {
            Release::Contract => false,
            Release::Newer => true,
        }
    }

    /// Whether a PATCH (or v0.9 PUT) applies `active`.
    pub fn honours_active(self) -> bool {
        match self {
            Release::Contract => false,
            Release::Newer => true,
        }
    }
}

/// How to build a simulated installation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Users to generate (the first is the service account, a `super` user).
    pub users: usize,
    /// Seed for the population, the ids and the fault dice.
    pub seed: u64,
    /// The simulator's "now": activity is generated relative to it and creates are stamped with it.
    pub now: DateTime<Utc>,
    /// Login name of the service account.
    pub username: String,
    /// Its password.
    pub password: String,
    /// A pre-issued API token that never expires, if any.
    pub api_token: Option<String>,
    /// The legacy REST API token that signs `x-api-key` JWTs.
    pub rest_api_token: String,
    /// The release answered as.
    pub release: Release,
    /// Record each request's and response's JSON body (for the contract tests; off by default to keep memory
    /// flat in benchmarks).
    pub record_bodies: bool,
    /// Legacy `GET /api/users` ignores `skip` and `limit` and answers every user (older v0.9 servers).
    pub legacy_ignores_paging: bool,
    /// The Periscope site this installation answers as (`HTTP-X-PARTNER-AUTH: site:key`).
    pub periscope_site: String,
    /// The Periscope site's API key.
    pub periscope_api_key: String,
    /// Whether the Periscope site uses RBAC (`/api/v2/users`, roles) rather than groups (`/api/v1/users`).
    pub periscope_rbac: bool,
    /// Users per page of the Periscope site's `GET /api/v2/users`.
    pub periscope_page_size: usize,
    /// Every n-th activated user owns one to three dashboards, each shared with one other user (0: none).
    pub dashboards_every: usize,
    /// Faults from the start.
    pub faults: Faults,
    /// How the users sign in, and so which activity fields move (default: every user a password user).
    pub sign_ins: SignInMix,
    /// Licence seats per tier (`administrators`, `designers`, `viewers`): a create or a role change that needs
    /// a seat of a full tier is refused with 2007. A tier not named is unlimited (the default).
    pub licence_seats: std::collections::BTreeMap<String, u64>,
    /// Multitenancy (L2022 and later): the tenants besides `system`. When set, `GET /api/v1/tenants` answers
    /// `[{_id, name}]` with the system tenant first, and every user and group carries `tenantId`: the service
    /// account and the groups are the system tenant's, the other users spread over every tenant in turn. Empty
    /// (the default): no tenants route (404, as on L8.2.4).
    pub tenants: Vec<String>,
    /// Serve HTTPS with this certificate instead of plain HTTP (the base URL is then `https://127.0.0.1:<port>`;
    /// give the certificate that name as an IP address).
    pub tls: Option<TlsIdentity>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            users: 100,
            seed: 42,
            now: Utc::now(),
            username: "svc-lifecycle@example.com".into(),
            password: "sim-password-123".into(),
            api_token: None,
            rest_api_token: "sim-rest-api-token-789".into(),
            release: Release::Contract,
            record_bodies: false,
            legacy_ignores_paging: false,
            periscope_site: "sim-site".into(),
            periscope_api_key: "sim-periscope-key-456".into(),
            periscope_rbac: true,
            periscope_page_size: 100,
            dashboards_every: 4,
            faults: Faults::default(),
            sign_ins: SignInMix::default(),
            licence_seats: std::collections::BTreeMap::new(),
            tenants: Vec::new(),
            tls: None,
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<state::State>,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    log: Mutex<Vec<RecordedRequest>>,
    username: String,
    password: String,
    api_token: Option<String>,
    rest_api_token: String,
    record_bodies: bool,
    legacy_ignores_paging: bool,
    periscope_site: String,
    periscope_api_key: String,
    periscope_rbac: bool,
    periscope_page_size: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, state::State> {
        lock(&self.state)
    }

    fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    fn record(&self, request: RecordedRequest) {
        lock(&self.log).push(request);
    }
}

fn names_by_id(objects: &[Value]) -> HashMap<String, String> {
    objects
        .iter()
        .filter_map(|o| {
            Some((
                o["_id"].as_str()?.to_string(),
                o["name"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// A running simulator; it stops when dropped.
pub struct Simulator {
    shared: Arc<Shared>,
    base_url: String,
    server: JoinHandle<()>,
    sign_ins: Vec<SignIn>,
    tls_failures: Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Simulator {
    /// Seeds the installation and serves it on `127.0.0.1` at a random port.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let mut population = seed::populate(
            config.seed,
            config.users,
            config.now,
            &config.username,
            config.release,
            config.dashboards_every,
            &config.sign_ins,
        );
        let tenants = seed::tenants(&mut population, &config.tenants);
        let sign_ins = population.sign_ins.clone();
        let licence_seats = config.licence_seats.clone();
        let (_, _, user_prefix) = seed::prefixes(config.seed);
        let shared = Arc::new(Shared {
            state: Mutex::new({
                let mut state =
                    state::State::new(population, user_prefix, config.now, config.release);
                state.seats = licence_seats;
                state.tenants = tenants;
                state
            }),
            faults: Mutex::new(config.faults),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed.wrapping_add(1))),
            log: Mutex::new(Vec::new()),
            username: config.username,
            password: config.password,
            api_token: config.api_token,
            rest_api_token: config.rest_api_token,
            record_bodies: config.record_bodies,
            legacy_ignores_paging: config.legacy_ignores_paging,
            periscope_site: config.periscope_site,
            periscope_api_key: config.periscope_api_key,
            periscope_rbac: config.periscope_rbac,
            periscope_page_size: config.periscope_page_size,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let app = routes::router(shared.clone());
        let tls_failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (base_url, server) = match &config.tls {
            None => {
                let base_url = format!("http://{}", listener.local_addr()?);
                let server = tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "simulator server stopped");
                    }
                });
                (base_url, server)
            }
            Some(identity) => {
                let base_url = format!("https://{}", listener.local_addr()?);
                let listener = tls::TlsListener::new(listener, identity, tls_failures.clone())?;
                let server = tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "simulator server stopped");
                    }
                });
                (base_url, server)
            }
        };
        Ok(Simulator {
            shared,
            base_url,
            server,
            sign_ins,
            tls_failures,
        })
    }

    /// How each seeded user really signs in and when they last signed in: the truth the API may not show
    /// (the oracle of the staleness tests).
    pub fn sign_ins(&self) -> &[SignIn] {
        &self.sign_ins
    }

    /// TLS handshakes that did not complete (a client that refused the certificate), when serving HTTPS.
    pub fn tls_failures(&self) -> u64 {
        self.tls_failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tenant names by id (empty without tenants).
    pub fn tenant_names(&self) -> HashMap<String, String> {
        let state = self.shared.lock();
        state
            .tenants
            .iter()
            .filter_map(|t| {
                Some((
                    t["_id"].as_str()?.to_string(),
                    t["name"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The service account's login name.
    pub fn username(&self) -> &str {
        &self.shared.username
    }

    /// The service account's password.
    pub fn password(&self) -> &str {
        &self.shared.password
    }

    /// The legacy REST API token that signs `x-api-key` JWTs.
    pub fn rest_api_token(&self) -> &str {
        &self.shared.rest_api_token
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Every request so far, in arrival-completion order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// The requests that asked for a change.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_write)
            .collect()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// The release answered as.
    pub fn release(&self) -> Release {
        self.shared.lock().release
    }

    /// Answers as `release` from now on (an upgrade; stored users keep the fields they have).
    pub fn set_release(&self, release: Release) {
        self.shared.lock().release = release;
    }

    /// The stored users (ids, not expanded), in `_id` order. Stored groups never list the built-in
    /// "Everyone", which the API adds to every user it answers with.
    pub fn users(&self) -> Vec<Value> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// How many users are stored (without copying them, unlike [`Simulator::users`]).
    pub fn user_count(&self) -> usize {
        self.shared.lock().users.len()
    }

    /// The stored user with this email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<Value> {
        self.shared.lock().by_email(email).cloned()
    }

    /// Roles as served.
    pub fn roles(&self) -> Vec<Value> {
        self.shared.lock().roles.clone()
    }

    /// Groups as served.
    pub fn groups(&self) -> Vec<Value> {
        self.shared.lock().groups.clone()
    }

    /// Role API names by role id.
    pub fn role_names(&self) -> HashMap<String, String> {
        names_by_id(&self.roles())
    }

    /// Group names by group id.
    pub fn group_names(&self) -> HashMap<String, String> {
        names_by_id(&self.groups())
    }

    /// The test oracle for exports: every stored user as the 13 cells of the export CSV
    /// (`user_id` ... `group_names`), in `_id` order. The simulator's own values never start with a formula
    /// character, so no neutralisation is applied here.
    pub fn export_rows(&self) -> Vec<[String; 17]> {
        let (roles, groups) = (self.role_names(), self.group_names());
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let instant = |v: &Value| {
            v.as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        self.users()
            .iter()
            .map(|u| {
                let role = u["roleId"]
                    .as_str()
                    .and_then(|id| roles.get(id))
                    .cloned()
                    .unwrap_or_default();
                let group_names: Vec<&str> = (u["groups"].as_array().into_iter().flatten())
                    .filter_map(|g| groups.get(g.as_str()?).map(String::as_str))
                    .filter(|name| !BUILT_IN_GROUPS.contains(name))
                    .collect();
                // Last seen: the latest of a real login (not one the creation wrote, within a minute of it),
                // the JWT SSO iat (seconds) and lastActivity; ties go to that order.
                let created = instant(&u["created"]);
                let login = instant(&u["lastLogin"])
                    .filter(|l| created.is_none_or(|c| (*l - c).num_seconds().abs() > 60));
                let iat = u["ssoTokenIat"]
                    .as_i64()
                    .and_then(|s| DateTime::from_timestamp(s, 0));
                let mut seen: Option<(DateTime<Utc>, &str)> = None;
                for (at, source) in [
                    (login, "lastLogin"),
                    (iat, "ssoTokenIat"),
                    (instant(&u["lastActivity"]), "lastActivity"),
                ] {
                    if let Some(at) = at
                        && seen.is_none_or(|(best, _)| at > best)
                    {
                        seen = Some((at, source));
                    }
                }
                [
                    text(&u["_id"]),
                    text(&u["userName"]),
                    text(&u["firstName"]),
                    text(&u["lastName"]),
                    u["active"].as_bool().unwrap_or(true).to_string(),
                    text(&u["roleId"]),
                    text(&u["created"]),
                    text(&u["tenantId"]),
                    text(&u["lastLogin"]),
                    text(&u["lastActivity"]),
                    text(&u["email"]),
                    role,
                    group_names.join(";"),
                    seen.map_or_else(String::new, |(at, _)| timestamp(at)),
                    seen.map_or_else(String::new, |(_, s)| s.to_string()),
                    iat.map_or_else(String::new, timestamp),
                    text(&u["createdSso"]),
                ]
            })
            .collect()
    }

    /// Inserts or replaces a stored user (test set-up); it must carry an `_id`.
    pub fn put_user(&self, user: Value) {
        let id = user["_id"].as_str().unwrap_or_default().to_string();
        self.shared.lock().users.insert(id, user);
    }

    /// Logins that succeeded so far (tokens issued).
    pub fn logins(&self) -> u64 {
        self.shared.lock().token_counter
    }

    /// The Periscope site name.
    pub fn periscope_site(&self) -> &str {
        &self.shared.periscope_site
    }

    /// The Periscope site's API key.
    pub fn periscope_api_key(&self) -> &str {
        &self.shared.periscope_api_key
    }

    /// Whether the Periscope site uses RBAC.
    pub fn periscope_rbac(&self) -> bool {
        self.shared.periscope_rbac
    }

    /// The Periscope role (id, name) a stored user has on the RBAC site (test oracle).
    pub fn periscope_role(&self, user: &Value) -> (&'static str, &'static str) {
        let id = periscope::periscope_role(&self.shared.lock(), user);
        let name = PERISCOPE_ROLES
            .iter()
            .find(|(i, _, _)| *i == id)
            .map_or("", |(_, name, _)| name);
        (id, name)
    }

    /// Requests accepted with `HTTP-X-PARTNER-AUTH` so far.
    pub fn partner_requests(&self) -> u64 {
        self.shared.lock().partner_requests
    }

    /// The stored dashboards (owner instances), in `oid` order.
    pub fn dashboards(&self) -> Vec<Value> {
        self.shared.lock().dashboards.values().cloned().collect()
    }

    /// The ids of the dashboards each user owns (owners only), in `oid` order.
    pub fn dashboards_by_owner(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut owned = std::collections::BTreeMap::<String, Vec<String>>::new();
        for d in self.dashboards() {
            if let (Some(owner), Some(id)) = (d["owner"].as_str(), d["oid"].as_str()) {
                owned
                    .entry(owner.to_string())
                    .or_default()
                    .push(id.to_string());
            }
        }
        owned
    }

    /// The first stored user (in `_id` order) with role `role` (API name) who logged in within `days` of the
    /// simulator's "now": someone certainly not stale (test set-up, e.g. a dashboards transfer target).
    pub fn recently_seen(&self, role: &str, days: i64) -> Option<Value> {
        let state = self.shared.lock();
        let role_id = state.roles.iter().find(|r| r["name"] == role)?["_id"].clone();
        state
            .users
            .values()
            .find(|u| {
                u["roleId"] == role_id
                    && u["lastLogin"]
                        .as_str()
                        .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                        .is_some_and(|t| (state.now - t).num_days() < days)
            })
            .cloned()
    }

    /// Live sessions (tokens) of a user.
    pub fn sessions(&self, user_id: &str) -> u64 {
        self.shared
            .lock()
            .sessions
            .get(user_id)
            .copied()
            .unwrap_or(0)
    }

    /// User ids whose tokens an admin logout revoked, in order.
    pub fn revoked(&self) -> Vec<String> {
        self.shared.lock().revoked.clone()
    }

    /// Requests accepted with a legacy `x-api-key` so far.
    pub fn api_key_requests(&self) -> u64 {
        self.shared.lock().api_key_requests
    }
}
