//! The Periscope Data / Sisense for Cloud Data Teams surface over the same installation, as one site
//! ([`crate::SimConfig::periscope_site`]): `HTTP-X-PARTNER-AUTH: site:api-key` on every request, then either the
//! groups API (`/api/v1/users` with one user selected by `HTTP-X-EMAIL`, groups by name, `/api/v1/groups`) or,
//! on an RBAC site, `/api/v2/users/{id}` with Periscope-style role ids (`0000-admin-1111-id`, see
//! [`PERISCOPE_ROLES`]) and `/api/v1/roles`. Lists answer as objects wrapping the array (`{"users": [...]}`,
//! `{"roles": [...]}`, `{"groups": [...]}`), and `/api/v2/users` is paged (`next_page_start`, resumed with
//! the query parameter `next_page_start`; [`crate::SimConfig::periscope_page_size`]). A user created without roles is in the site's
//! Everyone. Creates need `invited_by_email`, an
//! existing user. `?test_mode=true` validates a write and answers as if applied, changing nothing. Users carry
//! no last login and no active flag, as in the real API.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::routes::{error, json_reply, parse_json};
use crate::state::{SimError, State as Store};

type Shared_ = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

const PARTNER_AUTH: &str = "http-x-partner-auth";
const EMAIL: &str = "http-x-email";

/// The role a user created on a groups site gets in the underlying installation.
const GROUPS_SITE_ROLE: &str = "consumer";

/// An RBAC site's roles: Periscope-style id, name, and the installation role its users are stored with
/// (`None`: the site's Everyone, what a user created without roles gets).
pub const PERISCOPE_ROLES: [(&str, &str, Option<&str>); 4] = [
    ("0000-admin-1111-id", "Admin", Some("admin")),
    ("0000-editor-2222-id", "Editor", Some("contributor")),
    ("0000-viewer-3333-id", "Viewer", Some("consumer")),
    ("0000-everyone-4444-id", "Everyone", None),
];

/// The Periscope role id of a stored user: by its installation role's name.
pub(crate) fn periscope_role(store: &Store, user: &Value) -> &'static str {
    let name = store
        .roles
        .iter()
        .find(|r| r["_id"] == user["roleId"])
        .and_then(|r| r["name"].as_str());
    let by_name = |n: &str| {
        PERISCOPE_ROLES
            .iter()
            .find(|(_, _, stored)| *stored == Some(n))
            .map_or(PERISCOPE_ROLES[3].0, |(id, _, _)| id)
    };
    match name {
        Some("super" | "admin") => by_name("admin"),
        Some("dataAdmin" | "dataDesigner" | "contributor") => by_name("contributor"),
        Some(_) => by_name("consumer"),
        None => PERISCOPE_ROLES[3].0,
    }
}

/// Routes only Periscope serves (the shared `/api/v1/users`, `/api/v1/roles` and `/api/v1/groups` GET and POST
/// dispatch here from [`crate::routes`] when a partner header is sent).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v2/users", get(list_v2).post(post_v2))
        .route(
            "/api/v2/users/{id}",
            get(get_v2).put(put_v2).delete(delete_v2),
        )
}

/// Whether a request authenticates as a Periscope partner.
pub(crate) fn is_partner(headers: &HeaderMap) -> bool {
    headers.contains_key(PARTNER_AUTH)
}

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), SimError> {
    let given = headers
        .get(PARTNER_AUTH)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SimError::new(401, 6001, "HTTP-X-PARTNER-AUTH is missing."))?;
    if shared.faults().reject_all_tokens {
        return Err(SimError::new(401, 6002, "Invalid partner credentials."));
    }
    let expected = format!("{}:{}", shared.periscope_site, shared.periscope_api_key);
    if given != expected {
        return Err(SimError::new(401, 6002, "Invalid partner credentials."));
    }
    shared.lock().partner_requests += 1;
    Ok(())
}

/// Checks the partner header, then that the route is this kind of site's.
fn guard(shared: &Shared, headers: &HeaderMap, rbac: bool) -> Result<(), SimError> {
    authorize(shared, headers)?;
    require_rbac(shared, rbac)
}

/// Refuses the API of the other kind of site.
fn require_rbac(shared: &Shared, rbac: bool) -> Result<(), SimError> {
    match (shared.periscope_rbac, rbac) {
        (true, false) => Err(SimError::new(
            403,
            6010,
            "This site uses RBAC: manage users on /api/v2/users with role ids.",
        )),
        (false, true) => Err(SimError::new(
            403,
            6011,
            "This site does not use RBAC: manage users on /api/v1/users with groups.",
        )),
        _ => Ok(()),
    }
}

fn test_mode(params: &HashMap<String, String>) -> bool {
    params.get("test_mode").is_some_and(|v| v == "true")
}

/// Sisense's built-in groups are not Periscope groups.
fn is_built_in(group: &Value) -> bool {
    crate::BUILT_IN_GROUPS.iter().any(|b| group["name"] == *b)
}

/// A stored user as Periscope shows it.
fn view(store: &Store, user: &Value, rbac: bool) -> Value {
    let mut out = json!({"id": user["_id"], "email": user["email"], "created_at": user["created"]});
    for (from, to) in [("firstName", "first_name"), ("lastName", "last_name")] {
        if let Some(v) = user.get(from) {
            out[to] = v.clone();
        }
    }
    if rbac {
        out["roles"] = json!([periscope_role(store, user)]);
    } else {
        let names: Vec<Value> = (user["groups"].as_array().into_iter().flatten())
            .filter_map(|id| store.groups.iter().find(|g| g["_id"] == *id))
            .filter(|g| !is_built_in(g))
            .map(|g| g["name"].clone())
            .collect();
        out["groups"] = Value::Array(names);
    }
    out
}

fn id_by_email(store: &Store, email: &str) -> Option<String> {
    store
        .by_email(email)
        .and_then(|u| u["_id"].as_str().map(str::to_string))
}

/// The user `HTTP-X-EMAIL` selects.
fn selected(store: &Store, headers: &HeaderMap) -> Result<String, SimError> {
    let email = headers
        .get(EMAIL)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SimError::new(400, 6020, "HTTP-X-EMAIL selects the user; it is missing."))?;
    id_by_email(store, email)
        .ok_or_else(|| SimError::new(404, 6021, format!("No user with email {email}.")))
}

/// The installation role id a Periscope role is stored as (`null` for Everyone).
fn installation_role(store: &Store, name: Option<&str>) -> Value {
    name.and_then(|n| store.roles.iter().find(|r| r["name"] == n))
        .map_or(Value::Null, |r| r["_id"].clone())
}

/// Translates a Periscope create or update body into the installation's (camelCase, group ids, `roleId`).
fn translate(store: &Store, body: &Value, rbac: bool, create: bool) -> Result<Value, SimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| SimError::new(400, 6030, "Expected a JSON object."))?;
    let mut out = Map::new();
    for (from, to) in [
        ("email", "email"),
        ("first_name", "firstName"),
        ("last_name", "lastName"),
    ] {
        if let Some(v) = obj.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    match (rbac, obj.get("roles"), obj.get("groups")) {
        (true, _, Some(_)) => {
            return Err(SimError::new(
                400,
                6031,
                "This site uses roles, not groups.",
            ));
        }
        (false, Some(_), _) => {
            return Err(SimError::new(
                400,
                6032,
                "This site uses groups, not roles.",
            ));
        }
        (true, Some(roles), None) => {
            let first = roles
                .as_array()
                .and_then(|r| r.first())
                .ok_or_else(|| SimError::new(400, 6033, "roles must list at least one role id."))?;
            let stored = PERISCOPE_ROLES
                .iter()
                .find(|(id, _, _)| *first == **id)
                .ok_or_else(|| SimError::new(400, 6037, format!("Role {first} does not exist.")))?
                .2;
            out.insert("roleId".into(), installation_role(store, stored));
        }
        // No roles: the site's Everyone.
        (true, None, None) if create => {
            out.insert("roleId".into(), Value::Null);
        }
        (false, None, groups) => {
            if let Some(groups) = groups {
                let names = groups
                    .as_array()
                    .ok_or_else(|| SimError::new(400, 6034, "groups must be a list of names."))?;
                let mut ids = Vec::new();
                for name in names {
                    let group = store
                        .groups
                        .iter()
                        .find(|g| g["name"] == *name)
                        .ok_or_else(|| {
                            SimError::new(400, 6035, format!("Group {name} does not exist."))
                        })?;
                    ids.push(group["_id"].clone());
                }
                out.insert("groups".into(), Value::Array(ids));
            }
            if create {
                let role = store
                    .roles
                    .iter()
                    .find(|r| r["name"] == GROUPS_SITE_ROLE)
                    .map(|r| r["_id"].clone())
                    .unwrap_or(Value::Null);
                out.insert("roleId".into(), role);
            }
        }
        (true, None, None) => {}
    }
    if create {
        let inviter = obj
            .get("invited_by_email")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if id_by_email(store, inviter).is_none() {
            return Err(SimError::new(
                400,
                6036,
                format!("invited_by_email {inviter:?} is not a user of this site."),
            ));
        }
    }
    Ok(Value::Object(out))
}

/// A site's users as Periscope lists them: `{"users": [...]}`; on an RBAC site (`/api/v2/users`) paged, with
/// `next_page_start` (an opaque start, here the next user's id) until the last page, resumed with the query
/// parameter of the same name, as Sisense's own script pages. Any other parameter is ignored, as a site ignores
/// what it does not know: the first page again.
fn list(shared: &Shared, rbac: bool, params: &HashMap<String, String>) -> Result<Value, SimError> {
    let store = shared.lock();
    if !rbac {
        let users: Vec<Value> = store
            .users
            .values()
            .map(|u| view(&store, u, false))
            .collect();
        return Ok(json!({ "users": users }));
    }
    let start = params
        .get("next_page_start")
        .filter(|_| !shared.faults().ignore_page_start);
    if let Some(start) = start
        && !store.users.contains_key(start)
    {
        return Err(SimError::new(
            400,
            6040,
            format!("Invalid next_page_start {start:?}."),
        ));
    }
    let size = shared.periscope_page_size.max(1);
    let mut rest = store
        .users
        .range(start.cloned().unwrap_or_default()..)
        .map(|(_, u)| u);
    let page: Vec<Value> = rest
        .by_ref()
        .take(size)
        .map(|u| view(&store, u, true))
        .collect();
    let mut out = json!({ "users": page });
    if let Some(next) = rest.next() {
        out["next_page_start"] = next["_id"].clone();
    }
    Ok(out)
}

fn create(shared: &Shared, body: &Bytes, rbac: bool, test: bool) -> Result<Value, SimError> {
    let body = parse_json(body)?;
    let mut store = shared.lock();
    let mut translated = translate(&store, &body, rbac, true)?;
    // No role: the site's Everyone. The installation needs a role to store the user, so it is stored with one
    // and shown (and kept) in Everyone.
    let everyone = translated.get("roleId").is_some_and(Value::is_null);
    if everyone {
        translated["roleId"] = installation_role(&store, Some(GROUPS_SITE_ROLE));
    }
    if test {
        store.check_new(&translated)?;
        let mut would = translated;
        would["_id"] = Value::Null;
        if everyone {
            would["roleId"] = Value::Null;
        }
        return Ok(view(&store, &would, rbac));
    }
    let user = store.create(&translated)?;
    let id = user["_id"].as_str().unwrap_or_default().to_string();
    if everyone && let Some(stored) = store.users.get_mut(&id) {
        stored["roleId"] = Value::Null;
    }
    let stored = store.users.get(&id).cloned().unwrap_or(user);
    Ok(view(&store, &stored, rbac))
}

fn update(
    shared: &Shared,
    id: &str,
    body: &Bytes,
    rbac: bool,
    test: bool,
) -> Result<Value, SimError> {
    let body = parse_json(body)?;
    let ignore = test || shared.faults().ignore_writes;
    let mut store = shared.lock();
    let translated = translate(&store, &body, rbac, false)?;
    let user = store.patch(id, &translated, ignore, &crate::state::V09_PUTTABLE)?;
    Ok(view(&store, &user, rbac))
}

fn delete(shared: &Shared, id: &str, test: bool) -> Result<(), SimError> {
    let ignore = test || shared.faults().ignore_writes;
    shared.lock().delete(id, ignore)
}

fn reply(result: Result<Value, SimError>, status: StatusCode) -> Response {
    result.map_or_else(error, |v| json_reply(status, v))
}

/// `GET /api/v1/users`: every user, or the one `HTTP-X-EMAIL` selects.
pub(crate) fn get_v1(shared: &Shared, headers: &HeaderMap) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(shared, headers, false)?;
        if headers.contains_key(EMAIL) {
            let store = shared.lock();
            let id = selected(&store, headers)?;
            return Ok(view(&store, &store.users[&id], false));
        }
        list(shared, false, &HashMap::new())
    };
    reply(run(), StatusCode::OK)
}

/// `POST /api/v1/users`.
pub(crate) fn post_v1(
    shared: &Shared,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(shared, headers, false)?;
        create(shared, body, false, test_mode(params))
    };
    reply(run(), StatusCode::CREATED)
}

/// `PUT /api/v1/users` for the user `HTTP-X-EMAIL` selects.
pub(crate) async fn put_v1(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(&shared, &headers, false)?;
        let id = selected(&shared.lock(), &headers)?;
        update(&shared, &id, &body, false, test_mode(&params))
    };
    reply(run(), StatusCode::OK)
}

/// `DELETE /api/v1/users` for the user `HTTP-X-EMAIL` selects.
pub(crate) async fn delete_v1(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let run = || -> Result<(), SimError> {
        guard(&shared, &headers, false)?;
        let id = selected(&shared.lock(), &headers)?;
        delete(&shared, &id, test_mode(&params))
    };
    run().map_or_else(error, |()| StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/users`, paged.
async fn list_v2(State(shared): Shared_, headers: HeaderMap, Query(params): Params) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(&shared, &headers, true)?;
        list(&shared, true, &params)
    };
    reply(run(), StatusCode::OK)
}

/// `POST /api/v2/users`.
async fn post_v2(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(&shared, &headers, true)?;
        create(&shared, &body, true, test_mode(&params))
    };
    reply(run(), StatusCode::CREATED)
}

async fn get_v2(State(shared): Shared_, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(&shared, &headers, true)?;
        let store = shared.lock();
        let user = store
            .users
            .get(&id)
            .ok_or_else(|| SimError::new(404, 6021, format!("No user with id {id}.")))?;
        Ok(view(&store, user, true))
    };
    reply(run(), StatusCode::OK)
}

async fn put_v2(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(&shared, &headers, true)?;
        update(&shared, &id, &body, true, test_mode(&params))
    };
    reply(run(), StatusCode::OK)
}

async fn delete_v2(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    let run = || -> Result<(), SimError> {
        guard(&shared, &headers, true)?;
        delete(&shared, &id, test_mode(&params))
    };
    run().map_or_else(error, |()| StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/roles` (RBAC sites).
pub(crate) fn roles(shared: &Shared, headers: &HeaderMap) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(shared, headers, true)?;
        let roles: Vec<Value> = PERISCOPE_ROLES
            .iter()
            .map(|(id, name, _)| json!({"id": id, "name": name}))
            .collect();
        Ok(json!({ "roles": roles }))
    };
    reply(run(), StatusCode::OK)
}

/// `GET /api/v1/groups` (groups sites).
pub(crate) fn groups(shared: &Shared, headers: &HeaderMap) -> Response {
    let run = || -> Result<Value, SimError> {
        guard(shared, headers, false)?;
        let store = shared.lock();
        let groups: Vec<Value> = store
            .groups
            .iter()
            .filter(|g| !is_built_in(g))
            .map(|g| json!({"id": g["_id"], "name": g["name"]}))
            .collect();
        Ok(json!({ "groups": groups }))
    };
    reply(run(), StatusCode::OK)
}
