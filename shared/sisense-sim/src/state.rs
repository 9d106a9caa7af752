//! The simulator's data and the rules Sisense applies to it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Release;
use crate::seed::{BUILT_IN_GROUPS, Population, object_id, timestamp};

/// What `PATCH /api/v1/users/{id}` keeps, as Sisense's server code does: every other key (`email`, `userName`,
/// `active`...) is dropped silently while the answer is 200 (`active` is kept only by releases that honour it).
pub(crate) const V1_PATCHABLE: [&str; 5] =
    ["firstName", "lastName", "groups", "roleId", "preferences"];

/// What v0.9 `PUT /api/users/{user}` writes (`active` only on releases that honour it).
pub(crate) const V09_PUTTABLE: [&str; 8] = [
    "email",
    "userName",
    "firstName",
    "lastName",
    "roleId",
    "groups",
    "preferences",
    "uiSettings",
];

/// The built-in groups Sisense refuses to assign (2010): "Admins" and "Everyone".
const UNASSIGNABLE_GROUPS: [&str; 2] = ["Admins", "Everyone"];

/// The licence tier of a role's API name, as Sisense licenses seats.
fn tier_of(role_name: &str) -> Option<&'static str> {
    match role_name {
        "super" | "admin" | "dataAdmin" => Some("administrators"),
        "contributor" | "dataDesigner" => Some("designers"),
        "consumer" => Some("viewers"),
        _ => None,
    }
}

/// What the bulk create's 201 items carry: the contract's `sisenseUser`, no `_id`.
const BULK_ECHO: [&str; 8] = [
    "email",
    "userName",
    "firstName",
    "lastName",
    "roleId",
    "groups",
    "preferences",
    "uiSettings",
];

/// A Sisense-shaped error: status plus `{"error":{code,message,status,httpMessage}}`.
#[derive(Debug, Clone)]
pub(crate) struct SimError {
    pub status: u16,
    pub code: i64,
    pub message: String,
}

impl SimError {
    pub fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        SimError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn body(&self) -> Value {
        let http = axum::http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        json!({"error": {"code": self.code, "message": self.message, "status": self.status, "httpMessage": http}})
    }
}

pub(crate) struct State {
    pub roles: Vec<Value>,
    pub groups: Vec<Value>,
    pub users: BTreeMap<String, Value>,
    pub tenant_id: String,
    /// The tenants (`[{_id, name}]`, system first); empty without multitenancy.
    pub tenants: Vec<Value>,
    /// Licence seats per tier (`administrators`, `designers`, `viewers`); a tier not named is unlimited.
    pub seats: BTreeMap<String, u64>,
    pub next_user: u64,
    pub user_prefix: u32,
    pub tokens: HashMap<String, u64>,
    pub token_counter: u64,
    /// Legacy `x-api-key` requests accepted since the last injected expiry.
    pub api_key_uses: u64,
    /// Legacy `x-api-key` requests accepted in all.
    pub api_key_requests: u64,
    /// Periscope `HTTP-X-PARTNER-AUTH` requests accepted in all.
    pub partner_requests: u64,
    pub now: DateTime<Utc>,
    pub release: Release,
    /// Dashboards (owner instances) by `oid`.
    pub dashboards: BTreeMap<String, Value>,
    /// Live sessions (tokens) per user id.
    pub sessions: HashMap<String, u64>,
    /// User ids whose tokens an admin logout revoked, in order.
    pub revoked: Vec<String>,
    /// Dashboard transfers applied.
    pub transfers: u64,
}

/// Listing parameters of `GET /api/v1/users`.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub skip: usize,
    pub limit: Option<usize>,
    pub descending: bool,
    pub email: Option<String>,
    pub user_name: Option<String>,
    pub active: Option<bool>,
    pub ids: Option<Vec<String>>,
    pub expand_role: bool,
    pub expand_groups: bool,
    pub fields: Option<Vec<String>>,
}

impl ListQuery {
    pub fn parse(params: &HashMap<String, String>) -> Result<Self, SimError> {
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
        let expand: Vec<&str> = params
            .get("expand")
            .map(|e| e.split(',').map(str::trim).collect())
            .unwrap_or_default();
        Ok(ListQuery {
            skip: number("skip")?.unwrap_or(0),
            limit: number("limit")?,
            descending: params.get("sort").is_some_and(|s| s.trim() == "-_id"),
            email: params.get("email").cloned(),
            user_name: params.get("userName").cloned(),
            active: params.get("active").map(|a| a == "true"),
            ids: params
                .get("ids")
                .map(|ids| ids.split(',').map(str::to_string).collect()),
            expand_role: expand.contains(&"role"),
            expand_groups: expand.contains(&"groups"),
            fields: params
                .get("fields")
                .map(|f| f.split(',').map(|s| s.trim().to_string()).collect()),
        })
    }
}

impl State {
    pub fn new(
        population: Population,
        user_prefix: u32,
        now: DateTime<Utc>,
        release: Release,
    ) -> Self {
        let next_user = population.users.len() as u64 + 1;
        let sessions = population
            .users
            .iter()
            .filter(|u| u.get("lastLogin").is_some())
            .filter_map(|u| Some((u["_id"].as_str()?.to_string(), 1)))
            .collect();
        let dashboards = population
            .dashboards
            .into_iter()
            .map(|d| (d["oid"].as_str().unwrap_or_default().to_string(), d))
            .collect();
        let users = population
            .users
            .into_iter()
            .map(|u| (u["_id"].as_str().unwrap_or_default().to_string(), u))
            .collect();
        State {
            seats: BTreeMap::new(),
            tenants: Vec::new(),
            roles: population.roles,
            groups: population.groups,
            users,
            tenant_id: population.tenant_id,
            next_user,
            user_prefix,
            tokens: HashMap::new(),
            token_counter: 0,
            api_key_uses: 0,
            api_key_requests: 0,
            partner_requests: 0,
            now,
            release,
            dashboards,
            sessions,
            revoked: Vec::new(),
            transfers: 0,
        }
    }

    /// The built-in "Everyone" group's id.
    fn everyone(&self) -> Option<&Value> {
        self.groups
            .iter()
            .find(|g| g["name"] == BUILT_IN_GROUPS[0])
            .map(|g| &g["_id"])
    }

    /// `GET /api/users/count`: users whose user name or email contains `search` (case-insensitive).
    pub fn count(&self, search: Option<&str>) -> usize {
        let search = search.map(str::to_lowercase);
        self.users
            .values()
            .filter(|u| {
                search.as_ref().is_none_or(|s| {
                    ["userName", "email"].iter().any(|k| {
                        u[*k]
                            .as_str()
                            .is_some_and(|v| v.to_lowercase().contains(s.as_str()))
                    })
                })
            })
            .count()
    }

    /// The stored users of a page of `q`; at most `cap` whatever `limit` asked (a server's silent page cap).
    fn page(&self, q: &ListQuery, cap: Option<usize>) -> Vec<&Value> {
        let matches = |u: &&Value| {
            q.email.as_ref().is_none_or(|e| {
                u["email"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(e))
            }) && q
                .user_name
                .as_ref()
                .is_none_or(|n| u["userName"].as_str() == Some(n.as_str()))
                && q.active
                    .is_none_or(|a| u["active"].as_bool().unwrap_or(true) == a)
                && q.ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| u["_id"].as_str() == Some(id.as_str())))
        };
        let limit = q.limit.unwrap_or(usize::MAX).min(cap.unwrap_or(usize::MAX));
        if q.descending {
            let users = self.users.values().rev().filter(matches);
            users.skip(q.skip).take(limit).collect()
        } else {
            let users = self.users.values().filter(matches);
            users.skip(q.skip).take(limit).collect()
        }
    }

    /// A page of `q` as values; at most `cap` users whatever `limit` asked (a server's silent page cap).
    #[cfg(test)]
    pub fn list(&self, q: &ListQuery, cap: Option<usize>) -> Vec<Value> {
        let fields = q.fields.as_deref();
        self.page(q, cap)
            .into_iter()
            .map(|u| self.render(u, q.expand_role, q.expand_groups, fields))
            .collect()
    }

    /// A page of `q` as the JSON body [`State::list`] would give, written from the stored users without copying
    /// them (the listing the export reads page after page).
    pub fn list_json(&self, q: &ListQuery, cap: Option<usize>) -> serde_json::Result<Vec<u8>> {
        let page: Vec<Shown<'_>> = (self.page(q, cap).into_iter())
            .map(|user| self.shown(user, q.expand_role, q.expand_groups, q.fields.as_deref()))
            .collect();
        serde_json::to_vec(&page)
    }

    /// A stored user as the API shows it: the built-in Everyone group among the ids, `role` and `groups`
    /// expanded on request, only `_id` and `fields` when given.
    pub fn render(
        &self,
        user: &Value,
        expand_role: bool,
        expand_groups: bool,
        fields: Option<&[String]>,
    ) -> Value {
        let shown = self.shown(user, expand_role, expand_groups, fields);
        serde_json::to_value(shown).unwrap_or(Value::Null)
    }

    fn shown<'a>(
        &'a self,
        user: &'a Value,
        expand_role: bool,
        expand_groups: bool,
        fields: Option<&'a [String]>,
    ) -> Shown<'a> {
        let role = expand_role
            .then(|| self.roles.iter().find(|r| r["_id"] == user["roleId"]))
            .flatten();
        let groups = match (expand_groups, user["groups"].as_array()) {
            (true, ids) => ShownGroups::Expanded {
                ids: ids.map_or(&[], Vec::as_slice),
                all: &self.groups,
            },
            (false, Some(ids)) => ShownGroups::Ids {
                ids,
                everyone: self.everyone().filter(|e| !ids.contains(e)),
            },
            (false, None) => ShownGroups::Absent,
        };
        Shown {
            user,
            role,
            groups,
            fields,
        }
    }

    /// The stored user with this email (case-insensitive).
    pub fn by_email(&self, email: &str) -> Option<&Value> {
        self.users.values().find(|u| {
            u["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    }

    fn email_taken(&self, email: &str) -> bool {
        self.by_email(email).is_some()
    }

    fn check_role_and_groups(&self, body: &Value) -> Result<(), SimError> {
        if let Some(role) = body.get("roleId")
            && !self.roles.iter().any(|r| r["_id"] == *role)
        {
            return Err(SimError::new(
                404,
                2004,
                format!("Role {role} was not found"),
            ));
        }
        if let Some(groups) = body.get("groups") {
            let ids = groups
                .as_array()
                .ok_or_else(|| SimError::new(400, 2005, "groups must be an array of ids"))?;
            for id in ids {
                match self.groups.iter().find(|g| g["_id"] == *id) {
                    None => {
                        return Err(SimError::new(
                            400,
                            2010,
                            format!("Group {id} was not found"),
                        ));
                    }
                    Some(g) if UNASSIGNABLE_GROUPS.iter().any(|n| g["name"] == *n) => {
                        return Err(SimError::new(
                            400,
                            2010,
                            format!(
                                "Users cannot be assigned to the built-in group {}",
                                g["name"]
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// 2007 when `role` (an id) needs a licence seat of a tier that has none free; `user` (an id) already
    /// holding a seat of that tier keeps it.
    fn check_seat(&self, role: Option<&Value>, user: Option<&str>) -> Result<(), SimError> {
        let Some(role) = role else { return Ok(()) };
        let name_of = |id: &Value| {
            self.roles
                .iter()
                .find(|r| r["_id"] == *id)
                .and_then(|r| r["name"].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let name = name_of(role);
        let Some(tier) = tier_of(&name) else {
            return Ok(());
        };
        let Some(limit) = self.seats.get(tier).copied() else {
            return Ok(());
        };
        let held = self
            .users
            .values()
            .filter(|u| u["_id"].as_str() != user)
            .filter(|u| tier_of(&name_of(&u["roleId"])) == Some(tier))
            .count() as u64;
        if user.is_some_and(|id| {
            self.users
                .get(id)
                .is_some_and(|u| tier_of(&name_of(&u["roleId"])) == Some(tier))
        }) || held < limit
        {
            return Ok(());
        }
        Err(SimError::new(
            400,
            2007,
            format!("No available {tier} license for role {name} ({held} of {limit} in use)"),
        ))
    }

    /// Checks a create body as [`State::create`] does, without creating; the trimmed email when valid.
    pub fn check_new(&self, body: &Value) -> Result<String, SimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| SimError::new(400, 2001, "user must be a JSON object"))?;
        let email = obj
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string();
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            return Err(SimError::new(400, 2002, format!("Invalid email {email:?}")));
        }
        if self.email_taken(&email) {
            return Err(SimError::new(
                400,
                2004,
                format!("User with email {email} already exists"),
            ));
        }
        if obj.get("roleId").is_none() {
            return Err(SimError::new(
                422,
                2003,
                "Mandatory field roleId is missing",
            ));
        }
        self.check_role_and_groups(body)?;
        self.check_seat(obj.get("roleId"), None)?;
        if obj
            .get("password")
            .is_some_and(|p| p.as_str().is_none_or(str::is_empty))
        {
            return Err(SimError::new(400, 2006, "password must not be empty"));
        }
        Ok(email)
    }

    pub fn create(&mut self, body: &Value) -> Result<Value, SimError> {
        let email = self.check_new(body)?;
        let obj = body
            .as_object()
            .ok_or_else(|| SimError::new(400, 2001, "user must be a JSON object"))?;
        let id = object_id(self.user_prefix, self.next_user);
        self.next_user += 1;
        let now = timestamp(self.now);
        // Without a password Sisense sends an invitation: the account stays inactive until it is accepted.
        let activated = obj.get("password").is_some();
        let mut user = json!({
            "_id": id, "email": email, "userName": obj.get("userName").cloned().unwrap_or(json!(email)),
            "roleId": obj["roleId"], "groups": obj.get("groups").cloned().unwrap_or(json!([])), "active": activated,
            "created": now, "lastUpdated": now, "preferences": {"language": "en-US"},
        });
        if !activated {
            user["pendingExpiration"] = json!(timestamp(self.now + chrono::Duration::days(7)));
        }
        // A user is created in the caller's tenant: the service account's, the system tenant.
        if self.release.extra_user_fields() || !self.tenants.is_empty() {
            user["tenantId"] = json!(self.tenant_id);
        }
        for key in ["firstName", "lastName"] {
            if let Some(v) = obj.get(key) {
                user[key] = v.clone();
            }
        }
        self.users.insert(id, user.clone());
        Ok(self.render(&user, false, false, None))
    }

    /// Creates every valid user of a bulk request and answers as the contract's 201 does: each item echoes the
    /// request item's own user fields, without `_id`.
    pub fn create_bulk(&mut self, body: &Value) -> Result<Vec<Value>, SimError> {
        self.create_many(body)?;
        let items = body.as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .map(|item| {
                BULK_ECHO
                    .iter()
                    .filter_map(|k| Some((k.to_string(), item.get(*k)?.clone())))
                    .collect::<Map<String, Value>>()
                    .into()
            })
            .collect())
    }

    /// Creates every user of a JSON array, or none: one invalid, existing (2004) or built-in-group (2010) item
    /// rejects the whole batch with that item's code, as Sisense's server code does. The message does not say
    /// which item (the hard case: the client cannot drop just that one).
    pub fn create_many(&mut self, body: &Value) -> Result<Vec<Value>, SimError> {
        let items = body
            .as_array()
            .ok_or_else(|| SimError::new(400, 1003, "Expected a JSON array of users"))?;
        let mut emails = std::collections::HashSet::new();
        for item in items {
            let email = self.check_new(item)?;
            if !emails.insert(email.to_lowercase()) {
                return Err(SimError::new(400, 2004, "User already exists"));
            }
        }
        // Seats are counted for the batch as a whole.
        let before = self.users.clone();
        let mut created = Vec::with_capacity(items.len());
        for item in items {
            match self.create(item) {
                Ok(user) => created.push(user),
                Err(e) => {
                    self.users = before;
                    return Err(e);
                }
            }
        }
        Ok(created)
    }

    /// Applies the keys of `body` that `keys` names (and `active` where the release honours it), dropping every
    /// other key silently; 2007, 2010 and unknown ids are refused.
    pub fn patch(
        &mut self,
        id: &str,
        body: &Value,
        ignore: bool,
        keys: &[&str],
    ) -> Result<Value, SimError> {
        let patch = body
            .as_object()
            .ok_or_else(|| SimError::new(400, 2001, "patch must be a JSON object"))?;
        self.check_role_and_groups(body)?;
        if self.users.contains_key(id) {
            self.check_seat(patch.get("roleId"), Some(id))?;
        }
        if let Some(email) = patch.get("email").and_then(Value::as_str)
            && self.users.values().any(|u| {
                u["_id"] != id
                    && u["email"]
                        .as_str()
                        .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
        {
            return Err(SimError::new(
                400,
                2004,
                format!("User with email {email} already exists"),
            ));
        }
        let now = timestamp(self.now);
        let honours_active = self.release.honours_active();
        let user = self
            .users
            .get_mut(id)
            .ok_or_else(|| SimError::new(404, 2001, format!("User {id} was not found")))?;
        if !ignore {
            // Fields the release does not accept are ignored silently, as a lenient server would.
            for (key, value) in patch {
                if keys.contains(&key.as_str()) || (key == "active" && honours_active) {
                    user[key] = value.clone();
                }
            }
            user["lastUpdated"] = json!(now);
        }
        let user = user.clone();
        Ok(self.render(&user, false, false, None))
    }

    pub fn delete(&mut self, id: &str, ignore: bool) -> Result<(), SimError> {
        let Some(user) = self.users.get(id) else {
            return Err(SimError::new(404, 2001, format!("User {id} was not found")));
        };
        let is_super = self
            .roles
            .iter()
            .any(|r| r["name"] == "super" && r["_id"] == user["roleId"]);
        if is_super {
            return Err(SimError::new(400, 2011, "A super-user cannot be deleted."));
        }
        if !ignore {
            self.users.remove(id);
            self.delete_owned(id);
        }
        Ok(())
    }
}

/// A stored user as shown by the API, borrowed (see [`State::render`]).
struct Shown<'a> {
    user: &'a Value,
    /// The expanded role, replacing any stored `role`.
    role: Option<&'a Value>,
    groups: ShownGroups<'a>,
    fields: Option<&'a [String]>,
}

/// The `groups` a [`Shown`] user carries.
enum ShownGroups<'a> {
    /// No ids stored and no expansion asked: `groups` as stored, `null` when missing.
    Absent,
    /// The stored ids, after the built-in Everyone group when it is not among them.
    Ids {
        ids: &'a [Value],
        everyone: Option<&'a Value>,
    },
    /// The stored ids' groups (`expand=groups`); unknown ids are left out.
    Expanded { ids: &'a [Value], all: &'a [Value] },
}

impl serde::Serialize for ShownGroups<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        match self {
            ShownGroups::Absent => {}
            ShownGroups::Ids { ids, everyone } => {
                for id in everyone.iter().copied().chain(ids.iter()) {
                    seq.serialize_element(id)?;
                }
            }
            ShownGroups::Expanded { ids, all } => {
                for id in ids.iter() {
                    if let Some(group) = all.iter().find(|g| g["_id"] == *id) {
                        seq.serialize_element(group)?;
                    }
                }
            }
        }
        seq.end()
    }
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(stored) = self.user.as_object() else {
            return self.user.serialize(s);
        };
        let kept =
            |key: &str| key == "_id" || self.fields.is_none_or(|f| f.iter().any(|x| x == key));
        let mut map = s.serialize_map(None)?;
        for (key, value) in stored {
            match key.as_str() {
                "groups" | "role" if !kept(key) => {}
                "groups" if matches!(self.groups, ShownGroups::Absent) => {
                    map.serialize_entry(key, value)?
                }
                "groups" => map.serialize_entry(key, &self.groups)?,
                "role" => map.serialize_entry(key, self.role.unwrap_or(value))?,
                _ if kept(key) => map.serialize_entry(key, value)?,
                _ => {}
            }
        }
        if kept("groups") && !stored.contains_key("groups") {
            match self.groups {
                ShownGroups::Absent => map.serialize_entry("groups", &Value::Null)?,
                ShownGroups::Ids { .. } | ShownGroups::Expanded { .. } => {
                    map.serialize_entry("groups", &self.groups)?
                }
            }
        }
        if let Some(role) = self
            .role
            .filter(|_| kept("role") && !stored.contains_key("role"))
        {
            map.serialize_entry("role", role)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{populate, prefixes};

    fn state() -> State {
        let now = Utc::now();
        State::new(
            populate(
                1,
                30,
                now,
                "svc@example.com",
                Release::Contract,
                4,
                &crate::SignInMix::default(),
            ),
            prefixes(1).2,
            now,
            Release::Contract,
        )
    }

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        ListQuery::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    /// How a user was shown before pages were written without copies: clone, then edit the copy.
    fn render_by_copy(
        s: &State,
        user: &Value,
        expand_role: bool,
        expand_groups: bool,
        fields: Option<&[String]>,
    ) -> Value {
        let mut out = user.clone();
        if let (Some(everyone), Some(groups)) = (s.everyone(), out["groups"].as_array_mut())
            && !groups.contains(everyone)
        {
            groups.insert(0, everyone.clone());
        }
        if expand_role && let Some(role) = s.roles.iter().find(|r| r["_id"] == user["roleId"]) {
            out["role"] = role.clone();
        }
        if expand_groups {
            let ids = user["groups"].as_array().cloned().unwrap_or_default();
            out["groups"] = ids
                .iter()
                .filter_map(|id| s.groups.iter().find(|g| g["_id"] == *id).cloned())
                .collect();
        }
        if let (Some(fields), Some(obj)) = (fields, out.as_object()) {
            let kept: Map<String, Value> = obj
                .iter()
                .filter(|(k, _)| k.as_str() == "_id" || fields.iter().any(|f| f == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out = Value::Object(kept);
        }
        out
    }

    #[test]
    fn pages_written_without_copies_equal_the_copied_users() {
        let mut s = state();
        // Odd stored shapes too: no groups, groups not a list, a stored role id, Everyone already among the ids.
        let everyone = s.everyone().cloned().unwrap();
        let group = s.groups[1]["_id"].clone();
        let ids: Vec<String> = s.users.keys().take(4).cloned().collect();
        s.users
            .get_mut(&ids[0])
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("groups");
        s.users.get_mut(&ids[1]).unwrap()["groups"] = Value::Null;
        s.users.get_mut(&ids[2]).unwrap()["role"] = json!("stored-role-id");
        s.users.get_mut(&ids[3]).unwrap()["groups"] = json!([group, everyone, "no-such-group"]);
        let field_sets: [Option<Vec<String>>; 4] = [
            None,
            Some(vec!["email".into()]),
            Some(vec!["groups".into(), "role".into()]),
            Some(vec!["roleId".into(), "groups".into(), "lastLogin".into()]),
        ];
        let mut compared = 0;
        for (expand_role, expand_groups) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            for fields in &field_sets {
                let mut q = query(&[("sort", "_id")]);
                (q.expand_role, q.expand_groups, q.fields) =
                    (expand_role, expand_groups, fields.clone());
                let copied: Vec<Value> = s
                    .users
                    .values()
                    .map(|u| render_by_copy(&s, u, expand_role, expand_groups, fields.as_deref()))
                    .collect();
                let written: Value =
                    serde_json::from_slice(&s.list_json(&q, None).unwrap()).unwrap();
                for (w, c) in written.as_array().unwrap().iter().zip(&copied) {
                    assert_eq!(w, c, "{expand_role} {expand_groups} {fields:?}");
                }
                assert_eq!(written, Value::Array(copied.clone()));
                assert_eq!(Value::Array(s.list(&q, None)), written);
                compared += copied.len();
            }
        }
        assert_eq!(compared, 16 * 30);
    }

    #[test]
    fn lists_with_skip_limit_sort_filters_and_fields() {
        let s = state();
        let ids = |v: Vec<Value>| {
            v.iter()
                .map(|u| u["_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let all = ids(s.list(&query(&[("sort", "_id")]), None));
        assert_eq!(all.len(), 30);
        assert_eq!(
            ids(s.list(&query(&[("skip", "10"), ("limit", "5")]), None)),
            all[10..15]
        );
        let mut rev = all.clone();
        rev.reverse();
        assert_eq!(ids(s.list(&query(&[("sort", "-_id")]), None)), rev);
        let one = s.list(
            &query(&[("email", "SVC@example.com"), ("fields", "email")]),
            None,
        );
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].as_object().unwrap().len(),
            2,
            "only _id and email: {}",
            one[0]
        );
        assert!(ListQuery::parse(&[("skip".to_string(), "x".to_string())].into()).is_err());
    }

    #[test]
    fn create_validates_email_uniqueness_role_groups_and_password() {
        let mut s = state();
        let role = s.roles[5]["_id"].clone();
        // Past the built-ins "Everyone" and "All users in system", which Sisense never assigns (2010).
        let group = s.groups[2]["_id"].clone();
        let everyone = s.groups[0]["_id"].clone();
        let refused = s
            .create(&json!({"email": "new@x.io", "roleId": role, "groups": [everyone]}))
            .unwrap_err();
        assert_eq!(refused.code, 2010, "{refused:?}");
        let ok = s
            .create(&json!({"email": "new@x.io", "roleId": role, "groups": [group]}))
            .unwrap();
        assert_eq!(ok["active"], false, "invited without a password: pending");
        assert!(ok.get("tenantId").is_none());
        assert_eq!(ok["userName"], "new@x.io");
        let cases = [
            (
                json!({"email": "NEW@x.io", "roleId": role}),
                "already exists",
            ),
            (json!({"email": "bad", "roleId": role}), "Invalid email"),
            (json!({"email": "a@x.io", "roleId": "nope"}), "Role"),
            (
                json!({"email": "a@x.io", "roleId": role, "groups": ["nope"]}),
                "Group",
            ),
            (
                json!({"email": "a@x.io", "roleId": role, "password": ""}),
                "password",
            ),
            (json!({"email": "a@x.io"}), "roleId"),
        ];
        for (body, expected) in cases {
            let err = s.create(&body).unwrap_err();
            assert!(err.message.contains(expected), "{body}: {}", err.message);
            assert!(
                [400, 404, 422].contains(&err.status),
                "{body}: {}",
                err.status
            );
        }
    }

    #[test]
    fn patch_and_delete_respect_ignore_writes() {
        let mut s = state();
        let id = s.users.keys().nth(3).unwrap().clone();
        let before = s.users[&id].clone();
        let answered = s
            .patch(
                &id,
                &json!({"firstName": "Zed", "active": false}),
                true,
                &V1_PATCHABLE,
            )
            .unwrap();
        assert_eq!(
            answered,
            s.render(&before, false, false, None),
            "the server answers with the unchanged user"
        );
        assert_eq!(s.users[&id], before, "ignored patch changes nothing");
        s.patch(
            &id,
            &json!({"firstName": "Zed", "_id": "hijack", "active": !before["active"].as_bool().unwrap(),
                "email": "new@example.com", "userName": "renamed"}),
            false,
            &V1_PATCHABLE,
        )
        .unwrap();
        assert_eq!(s.users[&id]["email"], before["email"], "PATCH drops email");
        assert_eq!(
            s.users[&id]["userName"], before["userName"],
            "PATCH drops userName"
        );
        assert_eq!(s.users[&id]["firstName"], "Zed");
        assert_eq!(
            s.users[&id]["active"], before["active"],
            "the contract's PATCH does not take active"
        );
        assert_eq!(s.users[&id]["_id"], id.as_str(), "_id cannot be patched");
        s.delete(&id, true).unwrap();
        assert!(s.users.contains_key(&id));
        s.delete(&id, false).unwrap();
        assert_eq!(s.delete(&id, false).unwrap_err().status, 404);
    }
}
