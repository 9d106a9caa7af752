//! The legacy Sisense for Windows REST v0.9 surface over the same installation: `x-api-key` JWT auth and
//! `/api/users` (list with skip/limit, get by id or email, array create with `notify`, PUT, delete by ids
//! in the body), `/api/groups` (roles share `/api/roles` with Fusion).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::routes::{self, authorize, empty_reply, error, json_reply, parse_json};
use crate::state::{ListQuery, SimError};

type Shared_ = State<Arc<Shared>>;

/// How far a JWT's `iat` may be from the simulator's wall clock.
const IAT_SKEW_SECS: i64 = 300;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/users", get(list_users).post(create_users))
        .route("/api/users/delete", post(delete_users))
        .route("/api/users/{id}", get(get_user).put(put_user))
        .route("/api/groups", get(routes::groups))
}

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    email: String,
    password: String,
}

/// Checks an `x-api-key`: an HS256 JWT signed with the REST API token whose claims name the service account,
/// with an `iat` within five minutes of now. Fault settings apply as to bearer tokens.
pub(crate) fn verify_api_key(shared: &Shared, jwt: &str) -> Result<(), SimError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let key = DecodingKey::from_secret(shared.rest_api_token.as_bytes());
    let claims = jsonwebtoken::decode::<Claims>(jwt, &key, &validation)
        .map_err(|e| SimError::new(401, 5101, format!("Invalid x-api-key: {e}")))?
        .claims;
    if !claims.email.eq_ignore_ascii_case(&shared.username) || claims.password != shared.password {
        return Err(SimError::new(
            401,
            5102,
            "Invalid email or password in x-api-key.",
        ));
    }
    if (chrono::Utc::now().timestamp() - claims.iat).abs() > IAT_SKEW_SECS {
        return Err(SimError::new(
            401,
            5103,
            "The x-api-key was issued too long ago.",
        ));
    }
    let faults = shared.faults();
    if faults.reject_all_tokens {
        return Err(SimError::new(401, 5001, "Invalid token."));
    }
    let mut state = shared.lock();
    if faults
        .token_expiry_after
        .is_some_and(|limit| state.api_key_uses >= limit)
    {
        state.api_key_uses = 0;
        return Err(SimError::new(401, 5001, "Token expired."));
    }
    state.api_key_uses += 1;
    state.api_key_requests += 1;
    Ok(())
}

fn find<'a>(state: &'a crate::state::State, id_or_email: &str) -> Option<&'a Value> {
    state
        .users
        .get(id_or_email)
        .or_else(|| state.by_email(id_or_email))
}

async fn list_users(
    State(shared): Shared_,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let mut paging = ListQuery::parse(&params)?;
        if shared.legacy_ignores_paging {
            paging = ListQuery::default();
        }
        let faults = shared.faults();
        if faults.max_skip.is_some_and(|max| paging.skip >= max) {
            return Ok(Value::Array(Vec::new()));
        }
        let cap = faults.page_cap;
        let limit = paging
            .limit
            .unwrap_or(usize::MAX)
            .min(cap.unwrap_or(usize::MAX));
        let search = params.get("search").map(|s| s.to_lowercase());
        let newest_first = params.get("orderby").is_some_and(|o| o == "_id")
            && params.get("desc").is_some_and(|d| d == "true");
        let state = shared.lock();
        let users: Box<dyn Iterator<Item = &Value>> = if newest_first {
            Box::new(state.users.values().rev())
        } else {
            Box::new(state.users.values())
        };
        Ok(Value::Array(
            users
                .filter(|u| {
                    search.as_ref().is_none_or(|s| {
                        ["userName", "email"].iter().any(|k| {
                            u[*k]
                                .as_str()
                                .is_some_and(|v| v.to_lowercase().contains(s.as_str()))
                        })
                    })
                })
                .skip(paging.skip)
                .take(limit)
                .map(|u| state.render(u, false, false, None))
                .collect(),
        ))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

async fn get_user(State(shared): Shared_, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let state = shared.lock();
        find(&state, &id)
            .map(|u| state.render(u, false, false, None))
            .ok_or_else(|| SimError::new(404, 2001, format!("User {id} was not found")))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

/// Creates every user of the array or none (all-or-nothing, as Fusion's bulk route); when all were valid, 200
/// with a single user object, as the contract's response schema says (the first created: the client must find
/// the others).
async fn create_users(State(shared): Shared_, headers: HeaderMap, body: Bytes) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        let created = shared.lock().create_many(&body)?;
        Ok(created.into_iter().next().unwrap_or_else(|| json!({})))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

async fn put_user(
    State(shared): Shared_,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Result<(), SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        let ignore = shared.faults().ignore_writes;
        shared
            .lock()
            .patch(&id, &body, ignore, &crate::state::V09_PUTTABLE)
            .map(drop)
    };
    // The contract declares no response schema for this 200: Sisense answers with an empty body.
    run().map_or_else(error, |()| empty_reply(StatusCode::OK))
}

/// Deletes the users whose ids the body lists; 404 when none of them exists.
async fn delete_users(State(shared): Shared_, headers: HeaderMap, body: Bytes) -> Response {
    let run = || -> Result<(), SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        let ids: Vec<String> = serde_json::from_value(body)
            .map_err(|_| SimError::new(400, 1003, "Expected a JSON array of user ids"))?;
        let ignore = shared.faults().ignore_writes;
        let mut state = shared.lock();
        let deleted: Vec<&String> = ids
            .iter()
            .filter(|id| state.delete(id, ignore).is_ok())
            .collect();
        if deleted.is_empty() {
            return Err(SimError::new(404, 2000, "None of the users was found"));
        }
        Ok(())
    };
    // No response schema in the contract: an empty 200.
    run().map_or_else(error, |()| empty_reply(StatusCode::OK))
}
