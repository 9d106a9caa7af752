//! Hand-written `Deserialize` for the models every listing reads by the thousand: [`User`] and [`Ref`].
//!
//! `#[serde(flatten)]` and `#[serde(untagged)]` buffer every value before the struct is built (serde's `Content`),
//! then read it a second time; a page of users spent most of its parse there. These impls read each value once,
//! straight into its field, and still keep every field the model does not name in `extra`. They accept and reject
//! exactly what the derived impls did (see the tests, which keep the derived impls as their oracle).

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StrDeserializer};
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{Ref, User};
use crate::ids::UserId;

impl<'de, I: Deserialize<'de>, T: Deserialize<'de>> Deserialize<'de> for Ref<I, T> {
    /// A string is the id; an object is the expanded value; anything else is an error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RefVisitor(PhantomData))
    }
}

struct RefVisitor<I, T>(PhantomData<(I, T)>);

impl<'de, I: Deserialize<'de>, T: Deserialize<'de>> Visitor<'de> for RefVisitor<I, T> {
    type Value = Ref<I, T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id or an object")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        I::deserialize(BorrowedStrDeserializer::new(v)).map(Ref::Id)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        I::deserialize(StrDeserializer::new(v)).map(Ref::Id)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        I::deserialize(v.into_deserializer()).map(Ref::Id)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Ref::Expanded)
    }
}

/// The key of the user's SSO token (a JWT SSO login writes it beside `ssoTokenIat`).
const SSO_TOKEN: &str = "ssoToken";
/// What `extra` holds instead of an SSO token's value.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// The keys [`User`] names; any other key goes to `extra`.
enum Key {
    Id,
    UserName,
    Email,
    FirstName,
    LastName,
    RoleId,
    Role,
    Groups,
    Active,
    Created,
    LastUpdated,
    LastLogin,
    LastActivity,
    TenantId,
    Other(String),
}

impl Key {
    fn of(key: &str) -> Key {
        match key {
            "_id" => Key::Id,
            "userName" | "username" => Key::UserName,
            "email" => Key::Email,
            "firstName" => Key::FirstName,
            "lastName" => Key::LastName,
            "roleId" => Key::RoleId,
            "role" => Key::Role,
            "groups" => Key::Groups,
            "active" => Key::Active,
            "created" => Key::Created,
            "lastUpdated" => Key::LastUpdated,
            "lastLogin" => Key::LastLogin,
            "lastActivity" => Key::LastActivity,
            "tenantId" => Key::TenantId,
            other => Key::Other(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::of(v))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// An optional RFC 3339 instant: RFC 3339 proper is parsed by chrono's strict parser, anything else by the
/// relaxed one chrono's own `Deserialize` uses (so the same texts are accepted, with the same errors).
struct Instant(Option<DateTime<Utc>>);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(InstantVisitor)
    }
}

struct InstantVisitor;

impl<'de> Visitor<'de> for InstantVisitor {
    type Value = Instant;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 formatted date and time string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Instant, E> {
        Ok(Instant(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Instant, E> {
        Ok(Instant(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Instant, D::Error> {
        deserializer.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Instant, E> {
        let parsed = match DateTime::parse_from_rfc3339(v) {
            Ok(t) => t.with_timezone(&Utc),
            Err(_) => v.parse::<DateTime<Utc>>().map_err(E::custom)?,
        };
        Ok(Instant(Some(parsed)))
    }
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UserVisitor)
    }
}

struct UserVisitor;

/// Stores a field's value, refusing a second one (as the derived impl did, `userName` and its alias
/// `username` count as one field).
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Visitor<'de> for UserVisitor {
    type Value = User;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a user object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<User, A::Error> {
        let mut id: Option<UserId> = None;
        let (mut user_name, mut first_name, mut last_name, mut tenant_id) =
            (None, None, None, None);
        let (mut email, mut role_id, mut role, mut groups, mut active) =
            (None, None, None, None, None);
        let (mut created, mut last_updated, mut last_login, mut last_activity) = (
            None::<Instant>,
            None::<Instant>,
            None::<Instant>,
            None::<Instant>,
        );
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => once(&mut id, &mut map, "_id")?,
                Key::UserName => once(&mut user_name, &mut map, "userName")?,
                Key::Email => once(&mut email, &mut map, "email")?,
                Key::FirstName => once(&mut first_name, &mut map, "firstName")?,
                Key::LastName => once(&mut last_name, &mut map, "lastName")?,
                Key::RoleId => once(&mut role_id, &mut map, "roleId")?,
                Key::Role => once(&mut role, &mut map, "role")?,
                Key::Groups => once(&mut groups, &mut map, "groups")?,
                Key::Active => once(&mut active, &mut map, "active")?,
                Key::Created => once(&mut created, &mut map, "created")?,
                Key::LastUpdated => once(&mut last_updated, &mut map, "lastUpdated")?,
                Key::LastLogin => once(&mut last_login, &mut map, "lastLogin")?,
                Key::LastActivity => once(&mut last_activity, &mut map, "lastActivity")?,
                Key::TenantId => once(&mut tenant_id, &mut map, "tenantId")?,
                // The SSO token is a credential: only its presence is kept (never logged, snapshotted or sent).
                Key::Other(name) if name == SSO_TOKEN => {
                    let token = map.next_value::<Value>()?;
                    if !token.is_null() {
                        extra.insert(name, Value::String(REDACTED.into()));
                    }
                }
                Key::Other(name) => {
                    extra.insert(name, map.next_value::<Value>()?);
                }
            }
        }
        let instant = |t: Option<Instant>| t.and_then(|t| t.0);
        Ok(User {
            id: id.ok_or_else(|| de::Error::missing_field("_id"))?,
            user_name: user_name.flatten(),
            email: email.unwrap_or_default(),
            first_name: first_name.flatten(),
            last_name: last_name.flatten(),
            role_id: role_id.flatten(),
            role: role.flatten(),
            groups: groups.unwrap_or_default(),
            active: active.flatten(),
            created: instant(created),
            last_updated: instant(last_updated),
            last_login: instant(last_login),
            last_activity: instant(last_activity),
            tenant_id: tenant_id.flatten(),
            scope: None,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Map, Value, json};

    use super::super::{Group, Ref, Role, User};
    use crate::ids::{GroupId, RoleId, UserId};

    /// The derived impls these replace, kept as the oracle.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DerivedRef<I, T> {
        Id(I),
        Expanded(T),
    }

    impl<I, T> From<DerivedRef<I, T>> for Ref<I, T> {
        fn from(r: DerivedRef<I, T>) -> Self {
            match r {
                DerivedRef::Id(id) => Ref::Id(id),
                DerivedRef::Expanded(t) => Ref::Expanded(t),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DerivedUser {
        #[serde(rename = "_id")]
        id: UserId,
        #[serde(default, alias = "username")]
        user_name: Option<String>,
        #[serde(default)]
        email: String,
        #[serde(default)]
        first_name: Option<String>,
        #[serde(default)]
        last_name: Option<String>,
        #[serde(default)]
        role_id: Option<RoleId>,
        #[serde(default)]
        role: Option<DerivedRef<RoleId, Role>>,
        #[serde(default)]
        groups: Vec<DerivedRef<GroupId, Group>>,
        #[serde(default)]
        active: Option<bool>,
        #[serde(default)]
        created: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default)]
        last_updated: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default)]
        last_login: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default)]
        last_activity: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(default)]
        tenant_id: Option<String>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    impl From<DerivedUser> for User {
        fn from(u: DerivedUser) -> Self {
            User {
                id: u.id,
                user_name: u.user_name,
                email: u.email,
                first_name: u.first_name,
                last_name: u.last_name,
                role_id: u.role_id,
                role: u.role.map(Ref::from),
                groups: u.groups.into_iter().map(Ref::from).collect(),
                active: u.active,
                created: u.created,
                last_updated: u.last_updated,
                last_login: u.last_login,
                last_activity: u.last_activity,
                tenant_id: u.tenant_id,
                scope: None,
                extra: u.extra,
            }
        }
    }

    /// Users of every shape the families send, and malformed ones.
    fn cases() -> Vec<Value> {
        let full = json!({
            "_id": "64a000000000000000000001", "userName": "ann@example.com", "email": "ann@example.com",
            "firstName": "Ann", "lastName": "Lee", "roleId": "r1", "groups": ["g1", "g2"], "active": true,
            "created": "2025-01-02T03:04:05.678Z", "lastUpdated": "2025-02-02T03:04:05Z",
            "lastLogin": "2026-11-01T10:00:00.5+02:00", "lastActivity": "2026-11-03 10:00:00Z",
            "preferences": {"language": "en-US", "nested": [1, {"a": null}]}, "tenantId": "t1",
            "scope": "kept as an unknown field", "lastName\u{e9}": "escaped key",
        });
        let mut cases = vec![
            full,
            json!({"_id": "u1"}),
            json!({"_id": "u1", "username": "legacy"}),
            json!({"_id": "u1", "userName": "a", "username": "b"}),
            json!({"_id": "u1", "email": "a@b.c", "email2": "x", "role": "r2"}),
            json!({"_id": "u1", "role": {"_id": "r9", "name": "consumer", "displayName": "Viewer", "manifest": {}},
                   "groups": [{"_id": "g1", "name": "Sales", "x": 1}, "g2"]}),
            json!({"_id": "u1", "firstName": null, "lastName": null, "roleId": null, "role": null, "active": null,
                   "created": null, "lastLogin": null, "tenantId": null, "userName": null}),
            json!({"_id": "u1", "lastLogin": "2026-13-01T00:00:00Z"}),
            json!({"_id": "u1", "lastLogin": "yesterday"}),
            json!({"_id": "u1", "lastLogin": "2016-12-31T23:59:60Z"}),
            json!({"_id": "u1", "lastLogin": "2026-11-01t10:00:00.123456789-05:30"}),
            json!({"_id": "u1", "lastLogin": 1_700_000_000}),
            json!({"_id": "u1", "groups": null}),
            json!({"_id": "u1", "groups": "g1"}),
            json!({"_id": "u1", "groups": [1]}),
            json!({"_id": "u1", "role": 5}),
            json!({"_id": "u1", "email": null}),
            json!({"_id": 7}),
            json!({"email": "no id"}),
            json!({"_id": "u1", "active": "yes"}),
            json!(["not", "a", "user"]),
            json!("u1"),
        ];
        cases.push(json!({"_id": "u1", "preferences": {"deep": cases.clone()}}));
        cases
    }

    fn same(text: &str) {
        let ours = serde_json::from_str::<User>(text);
        let derived = serde_json::from_str::<DerivedUser>(text).map(User::from);
        match (&ours, &derived) {
            (Ok(ours), Ok(derived)) => assert_eq!(ours, derived, "{text}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text}: ours {ours:?}, derived {derived:?}"),
        }
        let value: Value = serde_json::from_str(text).unwrap();
        let ours = serde_json::from_value::<User>(value.clone());
        let derived = serde_json::from_value::<DerivedUser>(value).map(User::from);
        match (&ours, &derived) {
            (Ok(ours), Ok(derived)) => assert_eq!(ours, derived, "from a Value: {text}"),
            (Err(_), Err(_)) => {}
            _ => panic!("from a Value: {text}: ours {ours:?}, derived {derived:?}"),
        }
    }

    #[test]
    fn reads_every_user_as_the_derived_impls_did() {
        for case in cases() {
            same(&case.to_string());
        }
        // Escapes the text carries (not the `Value`), so strings cannot be borrowed from it.
        same(
            r#"{"_id": "u\u0031", "user\u004eame": "a\"b", "groups": ["g\n1"], "lastLogin": "2026-11-01T10:00:00\u005a"}"#,
        );
        same(r#"{"_id": "u1", "email": "a", "email": "b"}"#);
        same(r#"{"_id": "u1", "x": 1, "x": 2}"#);
    }

    #[test]
    fn a_user_without_an_id_or_with_a_bad_instant_is_refused_with_the_reason() {
        let missing = serde_json::from_str::<User>(r#"{"email": "a@b.c"}"#).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `_id`"),
            "{missing}"
        );
        let bad =
            serde_json::from_str::<User>(r#"{"_id": "u1", "lastLogin": "yesterday"}"#).unwrap_err();
        assert!(
            bad.to_string()
                .contains("input contains invalid characters"),
            "{bad}"
        );
        let twice =
            serde_json::from_str::<User>(r#"{"_id": "u1", "userName": "a", "username": "b"}"#)
                .unwrap_err();
        assert!(
            twice.to_string().contains("duplicate field `userName`"),
            "{twice}"
        );
    }

    #[test]
    fn a_ref_is_an_id_or_an_object_and_nothing_else() {
        let id: Ref<GroupId, Group> = serde_json::from_value(json!("g1")).unwrap();
        assert_eq!(id, Ref::Id(GroupId::new("g1")));
        let expanded: Ref<GroupId, Group> =
            serde_json::from_value(json!({"_id": "g1", "name": "Sales"})).unwrap();
        assert!(matches!(expanded, Ref::Expanded(g) if g.name == "Sales"));
        let number = serde_json::from_value::<Ref<GroupId, Group>>(json!(1)).unwrap_err();
        assert!(
            number.to_string().contains("expected an id or an object"),
            "{number}"
        );
    }
}
