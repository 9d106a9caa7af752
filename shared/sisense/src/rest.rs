//! Wire pieces the two Sisense REST families (Fusion v1 and legacy v0.9) share: the create body and the bulk
//! create's confirmation.

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};

use crate::create::{BulkAnswer, Creator, confirm_bulk, outcome};
use crate::directory::CreateOutcome;
use crate::error::Error;
use crate::ids::{GroupId, RoleId};
use crate::models::{NewUser, User};
use crate::transport::{Authenticator, Call, Transport, decode};

/// A user to create as Sisense takes it (`POST /api/v1/users`, an element of `/bulk`, or of the v0.9 array).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewUserBody<'a> {
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_id: Option<&'a RoleId>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    groups: &'a [GroupId],
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_password"
    )]
    password: Option<&'a SecretString>,
}

impl<'a> From<&'a NewUser> for NewUserBody<'a> {
    fn from(user: &'a NewUser) -> Self {
        NewUserBody {
            email: &user.email,
            user_name: user.user_name.as_deref(),
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            role_id: user.role_id.as_ref(),
            groups: &user.groups,
            password: user.password.as_ref(),
        }
    }
}

fn expose_password<S: Serializer>(
    password: &Option<&SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match password {
        Some(p) => s.serialize_str(p.expose_secret()),
        None => s.serialize_none(),
    }
}

/// The bodies of `users`.
pub(crate) fn bodies(users: &[NewUser]) -> Vec<NewUserBody<'_>> {
    users.iter().map(NewUserBody::from).collect()
}

/// `GET /api/users/count` (v0.9, also on Linux): `{collection, count}`.
pub(crate) async fn count_users(
    transport: &Transport,
    auth: &dyn Authenticator,
) -> Result<Option<u64>, Error> {
    #[derive(serde::Deserialize)]
    struct Count {
        count: u64,
    }
    let count: Count = transport
        .json(&Call::get(&["api", "users", "count"]), auth)
        .await?;
    Ok(Some(count.count))
}

/// The users a create's answer carries with an `_id`: an array or a single object (v0.9 answers one object
/// whatever was posted); items without `_id` (the contract's bulk 201) are left for the confirmation to find.
pub(crate) fn users_with_ids(body: serde_json::Value) -> Vec<User> {
    let items = match body {
        serde_json::Value::Array(items) => items,
        one @ serde_json::Value::Object(_) => vec![one],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter(|item| item.get("_id").is_some_and(|id| id.is_string()))
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect()
}

/// Sends a bulk create (`call`, already built) and confirms every user of `chunk`: the users the answer
/// carries with ids when `accepted(status)`, the others by one listing of the newest users, and any still
/// missing by a look and, if absent, a single create.
pub(crate) async fn bulk_create(
    transport: &Transport,
    auth: &dyn Authenticator,
    creator: &dyn Creator,
    chunk: &[NewUser],
    call: Result<Call<'_>, Error>,
    accepted: fn(StatusCode) -> bool,
) -> Vec<CreateOutcome> {
    let call = match call {
        Ok(call) => call,
        Err(e) => {
            return chunk
                .iter()
                .map(|u| outcome(u, Err(Error::Config(e.to_string())), false))
                .collect();
        }
    };
    let (confirmed, answer) = match transport.send(&call, auth).await {
        Ok(reply) if accepted(reply.status) => {
            match decode(&call.method, &call.path(), &reply.body) {
                Ok(body) => (users_with_ids(body), BulkAnswer::Accepted),
                Err(e) => {
                    tracing::warn!(error = %e, "bulk create succeeded with an unreadable body; reconciling by email");
                    (Vec::new(), BulkAnswer::Accepted)
                }
            }
        }
        Ok(reply) => {
            tracing::warn!(
                status = reply.status.as_u16(),
                "bulk create did not answer as documented; falling back to single creates"
            );
            (Vec::new(), BulkAnswer::Unknown)
        }
        Err(Error::Api { status, .. })
            if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS =>
        {
            tracing::warn!(
                status = status.as_u16(),
                "bulk create refused (all or nothing: nobody created); creating each user alone"
            );
            (Vec::new(), BulkAnswer::Refused)
        }
        Err(e) => {
            tracing::warn!(error = %e, "bulk create failed; falling back to single creates");
            (Vec::new(), BulkAnswer::Unknown)
        }
    };
    confirm_bulk(creator, chunk, confirmed, answer).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_user_omits_empty_password_and_groups_and_never_the_scope() {
        let new = NewUser {
            email: "a@b.c".into(),
            user_name: None,
            first_name: Some("A".into()),
            last_name: None,
            role_id: Some("r1".into()),
            groups: vec![],
            scope: Some("not-sent".into()),
            password: None,
        };
        assert_eq!(
            serde_json::to_value(NewUserBody::from(&new)).unwrap(),
            json!({"email": "a@b.c", "firstName": "A", "roleId": "r1"})
        );
        let with_pw = NewUser {
            password: Some(SecretString::from("pw")),
            ..new
        };
        assert_eq!(
            serde_json::to_value(NewUserBody::from(&with_pw)).unwrap()["password"],
            "pw"
        );
        assert!(!format!("{with_pw:?}").contains("\"pw\""));
    }
}
