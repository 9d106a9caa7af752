//! Dashboards and sessions: `GET /api/v1/dashboards/admin` (paged, sorted by `oid`; without
//! `dashboardType=owner` it lists every shared user's copy too), `POST /api/v1/dashboards/{id}/admin/change_owner`,
//! and `GET /api/v1/authentication/admin/logout?users=`. Deleting a user deletes the dashboards it owns, as a
//! Sisense knowledge-base article says Sisense does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::Shared;
use crate::routes::{authorize, error, json_reply, parse_json};
use crate::seed::{object_id, timestamp};
use crate::state::{SimError, State as Data};

const TITLES: [&str; 8] = [
    "Revenue",
    "Pipeline",
    "Churn",
    "Headcount",
    "Support SLA",
    "Inventory",
    "Marketing ROI",
    "Forecast",
];

/// Seeds dashboards: every `every`-th activated user (never the service account) owns one to three, each
/// shared with the next user, who therefore has a `user` copy.
pub(crate) fn seed(users: &[Value], every: usize, prefix: u32, now: DateTime<Utc>) -> Vec<Value> {
    if every == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, user) in users.iter().enumerate().skip(1) {
        if i % every != 1 || user["active"] == false {
            continue;
        }
        let sharee = &users[(i + 1) % users.len()]["_id"];
        for k in 0..(i % 3) + 1 {
            let n = out.len() as u64 + 1;
            let at = timestamp(now - Duration::days(30 + (i as i64 % 300)));
            out.push(json!({
                "oid": object_id(prefix, n),
                "title": format!("{} {}", TITLES[(i + k) % TITLES.len()], n),
                "type": "dashboard",
                "instanceType": "owner",
                "owner": user["_id"],
                "userId": user["_id"],
                "created": at,
                "lastUpdated": at,
                "shares": [
                    {"shareId": user["_id"], "type": "user", "rule": "owner"},
                    {"shareId": sharee, "type": "user", "rule": "view"},
                ],
            }));
        }
    }
    out
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/dashboards/admin", get(list))
        .route(
            "/api/v1/dashboards/{id}/admin/change_owner",
            post(change_owner),
        )
        .route("/api/v1/authentication/admin/logout", get(logout))
}

/// The shares of `dashboard` as the contract has them: `rule` is only `view` or `edit` (the owner's own entry is
/// stored as `owner` and left out).
fn render(dashboard: &Value) -> Value {
    let mut out = dashboard.clone();
    if let Some(shares) = out["shares"].as_array_mut() {
        shares.retain(|s| s["rule"] != "owner");
    }
    out
}

/// The copies shared users have of `dashboard` (`instanceType: user`).
fn copies(dashboard: &Value) -> Vec<Value> {
    dashboard["shares"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "user" && s["rule"] != "owner")
        .map(|s| {
            let mut copy = render(dashboard);
            copy["instanceType"] = json!("user");
            copy["userId"] = s["shareId"].clone();
            copy
        })
        .collect()
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let number = |key: &str| -> Result<Option<usize>, SimError> {
            params
                .get(key)
                .map(|v| {
                    v.parse().map_err(|_| {
                        SimError::new(400, 1001, format!("{key} must be a non-negative integer"))
                    })
                })
                .transpose()
        };
        let (skip, limit) = (number("skip")?.unwrap_or(0), number("limit")?);
        let owners_only = params.get("dashboardType").is_some_and(|t| t == "owner");
        let cap = shared.faults().page_cap;
        let limit = limit.unwrap_or(usize::MAX).min(cap.unwrap_or(usize::MAX));
        let state = shared.lock();
        let items = state
            .dashboards
            .values()
            .filter(|d| params.get("id").is_none_or(|id| d["oid"] == id.as_str()))
            .flat_map(|d| {
                let mut instances = vec![render(d)];
                if !owners_only {
                    instances.extend(copies(d));
                }
                instances
            })
            .skip(skip)
            .take(limit)
            .collect();
        Ok(Value::Array(items))
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

async fn change_owner(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Result<Value, SimError> {
        authorize(&shared, &headers)?;
        let body = parse_json(&body)?;
        let owner = body["ownerId"]
            .as_str()
            .ok_or_else(|| SimError::new(400, 1002, "ownerId is required"))?
            .to_string();
        let keep = match body.get("originalOwnerRule") {
            None => None,
            Some(rule) if rule == "edit" || rule == "view" => Some(rule.clone()),
            Some(other) => {
                return Err(SimError::new(
                    400,
                    1002,
                    format!("originalOwnerRule must be edit or view, not {other}"),
                ));
            }
        };
        let faults = shared.faults();
        let mut state = shared.lock();
        if faults
            .change_owner_fails_after
            .is_some_and(|n| state.transfers >= n)
        {
            return Err(SimError::new(
                403,
                1403,
                "Forbidden: cannot change this dashboard's owner",
            ));
        }
        let answer = state.change_owner(&id, &owner, keep, faults.ignore_change_owner)?;
        if !faults.ignore_change_owner {
            state.transfers += 1;
        }
        Ok(answer)
    };
    run().map_or_else(error, |v| json_reply(StatusCode::OK, v))
}

async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = || -> Result<(), SimError> {
        authorize(&shared, &headers)?;
        if let Some(status) = shared.faults().logout_status {
            return Err(SimError::new(status, 5500, "Logout is not available"));
        }
        let users = params
            .get("users")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| SimError::new(400, 1001, "users is required"))?;
        let mut state = shared.lock();
        for id in users.split(',') {
            state.sessions.insert(id.to_string(), 0);
            state.revoked.push(id.to_string());
        }
        Ok(())
    };
    run().map_or_else(error, |()| StatusCode::NO_CONTENT.into_response())
}

impl Data {
    /// Makes `owner` the owner of dashboard `id`; the previous owner keeps a share with `keep`.
    pub(crate) fn change_owner(
        &mut self,
        id: &str,
        owner: &str,
        keep: Option<Value>,
        ignore: bool,
    ) -> Result<Value, SimError> {
        if !self.users.contains_key(owner) {
            return Err(SimError::new(
                404,
                2001,
                format!("User {owner} was not found"),
            ));
        }
        let now = timestamp(self.now);
        let dashboard = self
            .dashboards
            .get_mut(id)
            .ok_or_else(|| SimError::new(404, 1404, format!("Dashboard {id} was not found")))?;
        if !ignore {
            let previous = dashboard["owner"].clone();
            let shares = dashboard["shares"].as_array_mut();
            if let Some(shares) = shares {
                shares.retain(|s| s["shareId"] != previous && s["shareId"] != owner);
                shares.insert(
                    0,
                    json!({"shareId": owner, "type": "user", "rule": "owner"}),
                );
                if let Some(rule) = keep
                    && previous != owner
                {
                    shares.push(json!({"shareId": previous, "type": "user", "rule": rule}));
                }
            }
            dashboard["owner"] = json!(owner);
            dashboard["userId"] = json!(owner);
            dashboard["lastUpdated"] = json!(now);
        }
        Ok(render(dashboard))
    }

    /// Deletes the dashboards `user` owns (with the user, as Sisense does) and its shares of others'.
    pub(crate) fn delete_owned(&mut self, user: &str) {
        self.dashboards.retain(|_, d| d["owner"] != user);
        for d in self.dashboards.values_mut() {
            if let Some(shares) = d["shares"].as_array_mut() {
                shares.retain(|s| s["shareId"] != user);
            }
        }
        self.sessions.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_dashboards_have_owners_and_copies_and_follow_their_owner_out() {
        let users: Vec<Value> = (1..=20)
            .map(|n| json!({"_id": object_id(1, n), "active": n != 6}))
            .collect();
        let dashboards = seed(&users, 4, 9, Utc::now());
        assert!(!dashboards.is_empty());
        assert!(dashboards.iter().all(|d| d["owner"] != users[0]["_id"]));
        assert!(
            dashboards.iter().all(|d| d["owner"] != users[5]["_id"]),
            "pending users own nothing"
        );
        let copies = copies(&dashboards[0]);
        assert_eq!(copies.len(), 1);
        assert_eq!(copies[0]["instanceType"], "user");
        assert_ne!(copies[0]["userId"], dashboards[0]["owner"]);
    }
}
