//! The Sisense REST routes the simulator serves.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::state::{ListQuery, SimError};
use crate::{Shared, periscope};

type Shared_ = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/authentication/login", post(login))
        .route(
            "/api/v1/users",
            get(list_users)
                .post(create_user)
                .put(crate::periscope::put_v1)
                .delete(crate::periscope::delete_v1),
        )
        .route("/api/v1/users/bulk", post(bulk_create).delete(bulk_delete))
        .route(
            "/api/v1/users/{id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/api/roles", get(roles))
        .route("/api/v1/roles", get(roles_v1))
        .route("/api/users/count", get(count_users))
        .route("/api/v1/groups", get(groups))
        .route("/api/v1/tenants", get(tenants))
        .merge(crate::dashboards::routes())
        .merge(crate::legacy::routes())
        .merge(crate::periscope::routes())
        .fallback(|| async { error(SimError::new(404, 1404, "Route not found")) })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::faults::inject,
        ))
        .with_state(shared)
}

pub(crate) fn error(err: SimError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(err.body())).into_response()
}

/// A reply with no body, where the contract declares no response schema.
pub(crate) fn empty_reply(status: StatusCode) -> Response {
    status.into_response()
}

pub(crate) fn json_reply(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

pub(crate) fn parse_json(body: &Bytes) -> Result<Value, SimError> {
    serde_json::from_slice(body)
        .map_err(|e| SimError::new(400, 1002, format!("Invalid JSON body: {e}")))
}

/// Checks a legacy `x-api-key` when one is sent, else `Authorization: Bearer <token>`, counting the token's use
/// (for expiry).
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), SimError> {
    if let Some(jwt) = headers.get("x-api-key") {
        let jwt = jwt
            .to_str()
            .map_err(|_| SimError::new(401, 5101, "Invalid x-api-key."))?;
        return crate::legacy::verify_api_key(shared, jwt);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| SimError::new(401, 5002, "Authorization header is missing."))?;
    let faults = shared.faults();
    if faults.reject_all_tokens {
        return Err(SimError::new(401, 5001, "Invalid token."));
    }
    if shared.api_token.as_deref() == Some(token) {
        return Ok(());
    }
    let mut state = shared.lock();
    let uses = state
        .tokens
        .get_mut(token)
        .ok_or_else(|| SimError::new(401, 5001, "Invalid token."))?;
    if faults
        .token_expiry_after
        .is_some_and(|limit| *uses >= limit)
    {
        state.tokens.remove(token);
        return Err(SimError::new(401, 5001, "Token expired."));
    }
    *uses += 1;
    Ok(())
}

async fn login(
    State(shared): Shared_,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "message": "Expected a form-encoded body with username and password"}),
        );
    };
    let (user, pass) = (form.get("username"), form.get("password"));
    let ok = user.is_some_and(|u| u.eq_ignore_ascii_case(&shared.username))
        && pass.is_some_and(|p| *p == shared.password);
    if !ok {
        return error(SimError::new(401, 5004, "Invalid username or password"));
    }
    let mut state = shared.lock();
    state.token_counter += 1;
    let token = format!(
        "simtok.{:06}.{:016x}",
        state.token_counter,
        rand::random::<u64>()
    );
    state.tokens.insert(token.clone(), 0);
    let profile = state
        .users
        .values()
        .find(|u| {
            u["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(&shared.username))
        })
        .cloned();
    json_reply(
        StatusCode::OK,
        json!({"success": true, "message": "", "access_token": token, "profile": profile}),
    )
}

async fn list_users(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if periscope::is_partner(&headers) {
        return periscope::get_v1(&shared, &headers);
    }
    let run = || -> Result<Vec<u8>, SimError> {
        authorize(&shared, &headers)?;
        let mut query = ListQuery::parse(&params)?;
        let faults = shared.faults();
        if faults.ignore_fields {
            query.fields = None;
        }
        if faults.max_skip.is_some_and(|max| query.skip >= max) {
            return Ok(b"[]".to_vec());
        }
        let page = shared.lock().list_json(&query, faults.page_cap);
        page.map_err(|e| SimError::new(500, 1000, format!("could not write the page: {e}")))
    };
    run().map_or_else(error, |body| {
        let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
        (StatusCode::OK, json, body).into_response()
    })
}

async fn get_user(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let query = ListQuery::parse(&params)?;
        let state = shared.lock();
        let user = state
            .users
            .get(&id)
            .ok_or_else(|| SimError::new(404, 2001, format!("User {id} was not found")))?;
        Ok(state.render(
            user,
            query.expand_role,
            query.expand_groups,
            query.fields.as_deref(),
        ))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

async fn create_user(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if periscope::is_partner(&headers) {
        return periscope::post_v1(&shared, &headers, &params, &body);
    }
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        shared.lock().create(&body)
    };
    run().map_or_else(error, |v| json_reply(StatusCode::CREATED, v))
}

/// Creates every valid user; answers 201 (items without `_id`, as the contract says) only when all were valid,
/// else 400 naming the failures.
async fn bulk_create(State(shared): Shared_, headers: HeaderMap, body: Bytes) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        Ok(Value::Array(shared.lock().create_bulk(&body)?))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::CREATED, v))
}

async fn patch_user(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        let ignore = shared.faults().ignore_writes;
        shared
            .lock()
            .patch(&id, &body, ignore, &crate::state::V1_PATCHABLE)
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

async fn delete_user(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let run = || -> Result<(), SimError> {
        authorize(&shared, &headers)?;
        let ignore = shared.faults().ignore_writes;
        shared.lock().delete(&id, ignore)
    };
    run().map_or_else(error, |()| StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/users/bulk?ids=a,b`: every user or none; one missing id is a 404 for the whole batch.
async fn bulk_delete(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = || -> Result<(), SimError> {
        authorize(&shared, &headers)?;
        let ids: Vec<&str> = params
            .get("ids")
            .map(|ids| ids.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let ignore = shared.faults().ignore_writes;
        let mut state = shared.lock();
        if let Some(missing) = ids.iter().find(|id| !state.users.contains_key(**id)) {
            return Err(SimError::new(
                404,
                2001,
                format!("User {missing} was not found"),
            ));
        }
        let before = state.users.clone();
        for id in &ids {
            if let Err(e) = state.delete(id, ignore) {
                state.users = before;
                return Err(e);
            }
        }
        Ok(())
    };
    run().map_or_else(error, |()| StatusCode::NO_CONTENT.into_response())
}

/// `/api/v1/roles` is Periscope's; Sisense's contract has roles only on `/api/roles`.
async fn roles_v1(State(shared): Shared_, headers: HeaderMap) -> Response {
    if periscope::is_partner(&headers) {
        return periscope::roles(&shared, &headers);
    }
    error(SimError::new(404, 1404, "Route not found"))
}

/// `GET /api/roles` (v0.9): the roles, without `displayName`.
async fn roles(State(shared): Shared_, headers: HeaderMap) -> Response {
    match authorize(&shared, &headers) {
        Ok(()) => json_reply(StatusCode::OK, Value::Array(shared.lock().roles.clone())),
        Err(e) => error(e),
    }
}

/// `GET /api/users/count` (v0.9): `{collection, count}`.
async fn count_users(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match authorize(&shared, &headers) {
        Ok(()) => {
            let count = shared
                .lock()
                .count(params.get("search").map(String::as_str));
            json_reply(
                StatusCode::OK,
                json!({"collection": "users", "count": count}),
            )
        }
        Err(e) => error(e),
    }
}

/// The groups; served on `/api/v1/groups` and, for the legacy family, `/api/groups`.
/// `GET /api/v1/tenants` (multitenancy, L2022 and later; not in the L8.2.4 contract): 404 without tenants.
async fn tenants(State(shared): Shared_, headers: HeaderMap) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let tenants = shared.lock().tenants.clone();
        if tenants.is_empty() {
            return Err(SimError::new(404, 1404, "Route not found"));
        }
        Ok(Value::Array(tenants))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

pub(crate) async fn groups(State(shared): Shared_, headers: HeaderMap) -> Response {
    if periscope::is_partner(&headers) {
        return periscope::groups(&shared, &headers);
    }
    match authorize(&shared, &headers) {
        Ok(()) => json_reply(StatusCode::OK, Value::Array(shared.lock().groups.clone())),
        Err(e) => error(e),
    }
}
