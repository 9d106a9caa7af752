//! Periscope Data / Sisense for Cloud Data Teams: one or more sites, each addressed with its own
//! `HTTP-X-PARTNER-AUTH: site:api-key`.
//!
//! Sites without RBAC manage users on `/api/v1/users` (one user selected with `HTTP-X-EMAIL`, groups by name,
//! `/api/v1/groups`); RBAC sites on `/api/v2/users/{id}` with role ids (`/api/v1/roles`). Every id the
//! [`crate::Directory`] hands out is qualified by its site, `site:raw`, where `raw` is the email (groups sites),
//! the user id (RBAC sites), the role id or the group name, so users, roles and groups of several sites never
//! collide and every operation finds its site again. Writes with `test_mode=true` are validated by the server
//! and not applied.

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SisenseClient;
use super::transport::{Call, Safety};
use crate::config::{Credentials, PeriscopeSite};
use crate::directory::{Capabilities, Site, UserQuery};
use crate::error::Error;
use crate::models::{Group, NewUser, Ref, Role, User, UserPatch};

/// The family's name in messages.
pub(super) const PERISCOPE: &str = "Periscope (Sisense for Cloud Data Teams)";

const EMAIL_HEADER: &str = "http-x-email";

/// An id or number as Periscope sends it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Key {
    Text(String),
    Number(i64),
}

impl Key {
    fn into_string(self) -> String {
        match self {
            Key::Text(s) => s,
            Key::Number(n) => n.to_string(),
        }
    }
}

/// A group or role reference: a bare name/id or an object with one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Named {
    Bare(Key),
    Object {
        #[serde(default)]
        id: Option<Key>,
        #[serde(default)]
        name: Option<String>,
    },
}

/// A user as Periscope answers it.
#[derive(Deserialize)]
struct WireUser {
    #[serde(default)]
    id: Option<Key>,
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    groups: Vec<Named>,
    #[serde(default)]
    roles: Vec<Named>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// One user or a list holding it (single-user reads answer either way).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<WireUser>),
    Many(Vec<WireUser>),
}

#[derive(Deserialize)]
struct WireRole {
    id: Key,
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireGroup {
    name: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// A create or update body; absent fields are not sent.
#[derive(Serialize, Default)]
struct WireWrite<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invited_by_email: Option<&'a str>,
}

/// The path of one user: `/api/v2/users/{id}` (RBAC) or `/api/v1/users` (the email goes in a header).
fn user_segments<'a>(site: &PeriscopeSite, raw: &'a str) -> Vec<&'a str> {
    if site.rbac {
        vec!["api", "v2", "users", raw]
    } else {
        vec!["api", "v1", "users"]
    }
}

/// `site:raw`.
fn qualify(site: &str, raw: &str) -> String {
    format!("{site}:{raw}")
}

fn unsupported(what: impl Into<String>) -> Error {
    Error::Unsupported {
        family: PERISCOPE,
        what: what.into(),
    }
}

impl WireUser {
    fn into_user(self, site: &PeriscopeSite) -> User {
        let raw = match self.id {
            Some(id) if site.rbac => id.into_string(),
            _ => self.email.clone(),
        };
        let mut extra = self.extra;
        let roles: Vec<String> = self
            .roles
            .into_iter()
            .filter_map(|r| match r {
                Named::Bare(id) => Some(id.into_string()),
                Named::Object { id, .. } => id.map(Key::into_string),
            })
            .map(|id| qualify(&site.name, &id))
            .collect();
        if roles.len() > 1 {
            extra.insert("roles".into(), Value::from(roles.clone()));
        }
        let groups = self
            .groups
            .into_iter()
            .filter_map(|g| match g {
                Named::Bare(name) => Some(name.into_string()),
                Named::Object { name, .. } => name,
            })
            .map(|name| {
                Ref::Expanded(Group {
                    id: qualify(&site.name, &name),
                    name,
                    extra: Map::new(),
                })
            })
            .collect();
        User {
            id: qualify(&site.name, &raw),
            user_name: None,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            role_id: roles.into_iter().next(),
            role: None,
            groups,
            active: None,
            created: self.created_at,
            last_updated: None,
            last_login: None,
            last_activity: None,
            tenant_id: None,
            site: Some(site.name.clone()),
            extra,
        }
    }
}

impl SisenseClient {
    /// The Periscope sites of the credentials (none for the Sisense families).
    pub(super) fn sites(&self) -> &[PeriscopeSite] {
        match &self.inner.config.credentials {
            Credentials::Periscope { sites } => sites,
            _ => &[],
        }
    }

    /// The site an id or a new user names: `index` and the raw part of a qualified id.
    fn site_of<'a>(&self, qualified: &'a str) -> Result<(usize, &'a str), Error> {
        let (name, raw) = qualified.split_once(':').ok_or_else(|| {
            Error::Config(format!(
                "{qualified:?} is not a Periscope id (expected site:id)"
            ))
        })?;
        let index = self.site_index(name)?;
        Ok((index, raw))
    }

    fn site_index(&self, name: &str) -> Result<usize, Error> {
        self.sites()
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "site {name:?} is not among the secret's sites ({})",
                    self.site_names().join(", ")
                ))
            })
    }

    fn site_names(&self) -> Vec<String> {
        self.sites().iter().map(|s| s.name.clone()).collect()
    }

    /// The site a new user goes to: the one it names, or the only one.
    fn target_site(&self, user: &NewUser) -> Result<usize, Error> {
        match (&user.site, self.sites().len()) {
            (Some(name), _) => self.site_index(name),
            (None, 1) => Ok(0),
            (None, _) => Err(Error::Config(format!(
                "the secret names several sites ({}); say which one user {} goes to",
                self.site_names().join(", "),
                user.email
            ))),
        }
    }

    /// The call addressing one user at `segments` (from [`user_segments`]); groups sites select the user
    /// with `HTTP-X-EMAIL`.
    fn user_call<'a>(&self, index: usize, raw: &str, segments: &'a [&'a str]) -> Call<'a> {
        let call = Call::get(segments).on_site(index);
        if self.sites()[index].rbac {
            call
        } else {
            call.header(EMAIL_HEADER, raw)
        }
    }

    fn users_segments(site: &PeriscopeSite) -> &'static [&'static str] {
        if site.rbac {
            &["api", "v2", "users"]
        } else {
            &["api", "v1", "users"]
        }
    }

    /// What a Periscope directory can tell and do.
    pub(super) fn periscope_capabilities(&self) -> Capabilities {
        Capabilities {
            family: PERISCOPE,
            sites: self
                .sites()
                .iter()
                .map(|s| Site {
                    name: s.name.clone(),
                    rbac: s.rbac,
                })
                .collect(),
            last_login: false,
            deactivate: false,
            server_dry_run: true,
        }
    }

    async fn periscope_site_users(&self, index: usize) -> Result<Vec<User>, Error> {
        let site = &self.sites()[index];
        let wire: Vec<WireUser> = self
            .json(&Call::get(Self::users_segments(site)).on_site(index))
            .await?;
        Ok(wire.into_iter().map(|u| u.into_user(site)).collect())
    }

    /// Every user of every site, site by site (Periscope lists a site's users in one answer).
    pub(super) fn periscope_users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        // Periscope has no active flag: everyone counts as active.
        let wanted = query.active.unwrap_or(true);
        stream::iter(0..self.sites().len())
            .then(move |index| async move {
                match self.periscope_site_users(index).await {
                    Ok(users) if wanted => users.into_iter().map(Ok).collect(),
                    Ok(_) => Vec::new(),
                    Err(e) => vec![Err(e)],
                }
            })
            .flat_map(stream::iter)
            .boxed()
    }

    pub(super) async fn periscope_get_user(&self, id: &str) -> Result<Option<User>, Error> {
        let (index, raw) = self.site_of(id)?;
        let site = &self.sites()[index];
        let segments = user_segments(site, raw);
        let call = self.user_call(index, raw, &segments);
        match self.json::<OneOrMany>(&call).await {
            Ok(OneOrMany::One(user)) => Ok(Some(user.into_user(site))),
            Ok(OneOrMany::Many(users)) => Ok(users
                .into_iter()
                .map(|u| u.into_user(site))
                .find(|u| u.id == id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user with `email` on the site at `index`.
    pub(super) async fn periscope_find_on_site(
        &self,
        index: usize,
        email: &str,
    ) -> Result<Option<User>, Error> {
        let site = &self.sites()[index];
        if site.rbac {
            // v2 selects users by id only: look through the site's list.
            let users = self.periscope_site_users(index).await?;
            return Ok(users
                .into_iter()
                .find(|u| u.email.eq_ignore_ascii_case(email)));
        }
        self.periscope_get_user(&qualify(&site.name, email)).await
    }

    /// The first site's user with this email.
    pub(super) async fn periscope_find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<User>, Error> {
        for index in 0..self.sites().len() {
            if let Some(user) = self.periscope_find_on_site(index, email).await? {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// The raw parts of qualified role or group `ids`, each of which must belong to the site at `index`.
    fn raw_refs<'a>(
        &self,
        index: usize,
        ids: &'a [String],
        what: &str,
    ) -> Result<Vec<&'a str>, Error> {
        ids.iter()
            .map(|id| match self.site_of(id) {
                Ok((i, raw)) if i == index => Ok(raw),
                _ => Err(Error::Config(format!(
                    "{what} {id:?} is not of site {:?}",
                    self.sites()[index].name
                ))),
            })
            .collect()
    }

    fn create_body<'a>(&'a self, index: usize, user: &'a NewUser) -> Result<WireWrite<'a>, Error> {
        let site = &self.sites()[index];
        let mut body = WireWrite {
            email: Some(&user.email),
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            invited_by_email: Some(&site.invited_by_email),
            ..WireWrite::default()
        };
        if site.rbac {
            if !user.groups.is_empty() {
                return Err(unsupported(format!(
                    "groups on site {:?}, which uses roles (RBAC); give a role instead",
                    site.name
                )));
            }
            let role = user.role_id.as_ref().ok_or_else(|| {
                Error::Config(format!(
                    "site {:?} uses roles (RBAC): a role is required",
                    site.name
                ))
            })?;
            body.roles = Some(self.raw_refs(index, std::slice::from_ref(role), "role")?);
        } else {
            if user.role_id.is_some() {
                return Err(unsupported(format!(
                    "roles on site {:?}, which uses groups (no RBAC); give groups instead",
                    site.name
                )));
            }
            body.groups = Some(self.raw_refs(index, &user.groups, "group")?);
        }
        Ok(body)
    }

    fn create_call<'a>(
        &self,
        index: usize,
        user: &'a NewUser,
        test_mode: bool,
    ) -> Result<Call<'a>, Error> {
        let body = self.create_body(index, user)?;
        let call = Call::get(Self::users_segments(&self.sites()[index]))
            .on_site(index)
            .with_json(Method::POST, &body)?;
        Ok(if test_mode {
            // Nothing is applied, so it may be repeated freely.
            call.query("test_mode", "true")
        } else {
            call.safety(Safety::NoEffectOnly)
        })
    }

    /// One create on the user's site.
    pub(super) async fn periscope_post_user(&self, user: &NewUser) -> Result<User, Error> {
        let index = self.target_site(user)?;
        let created: WireUser = self.json(&self.create_call(index, user, false)?).await?;
        Ok(created.into_user(&self.sites()[index]))
    }

    /// The user on its site, for reconciling a create whose outcome is unknown.
    pub(super) async fn periscope_find_created(
        &self,
        user: &NewUser,
    ) -> Result<Option<User>, Error> {
        self.periscope_find_on_site(self.target_site(user)?, &user.email)
            .await
    }

    pub(super) async fn periscope_check_create(&self, user: &NewUser) -> Result<(), Error> {
        let index = self.target_site(user)?;
        self.send(&self.create_call(index, user, true)?)
            .await
            .map(drop)
    }

    /// The update of user `id` (on the site its id names), or `test_mode` validation of it.
    async fn put_user(&self, id: &str, patch: &UserPatch, test_mode: bool) -> Result<User, Error> {
        let (index, raw) = self.site_of(id)?;
        let site = &self.sites()[index];
        if patch.active.is_some() {
            return Err(unsupported(
                "activating or deactivating users; Periscope users can only be deleted",
            ));
        }
        let mut body = WireWrite {
            first_name: patch.first_name.as_deref(),
            last_name: patch.last_name.as_deref(),
            ..WireWrite::default()
        };
        match (site.rbac, &patch.role_id, &patch.groups) {
            (false, Some(_), _) => {
                return Err(unsupported(format!(
                    "roles on site {:?}, which uses groups (no RBAC)",
                    site.name
                )));
            }
            (true, _, Some(_)) => {
                return Err(unsupported(format!(
                    "groups on site {:?}, which uses roles (RBAC)",
                    site.name
                )));
            }
            (true, Some(role), _) => {
                body.roles = Some(self.raw_refs(index, std::slice::from_ref(role), "role")?);
            }
            (false, _, Some(groups)) => body.groups = Some(self.raw_refs(index, groups, "group")?),
            _ => {}
        }
        let segments = user_segments(site, raw);
        let mut call = self
            .user_call(index, raw, &segments)
            .with_json(Method::PUT, &body)?;
        if test_mode {
            call = call.query("test_mode", "true");
        }
        let updated: WireUser = self.json(&call).await?;
        Ok(updated.into_user(site))
    }

    pub(super) async fn periscope_update_user(
        &self,
        id: &str,
        patch: &UserPatch,
    ) -> Result<User, Error> {
        self.put_user(id, patch, false).await
    }

    pub(super) async fn periscope_check_update(
        &self,
        id: &str,
        patch: &UserPatch,
    ) -> Result<(), Error> {
        self.put_user(id, patch, true).await.map(drop)
    }

    pub(super) async fn periscope_delete_user(&self, id: &str) -> Result<(), Error> {
        let (index, raw) = self.site_of(id)?;
        let segments = user_segments(&self.sites()[index], raw);
        let mut call = self.user_call(index, raw, &segments);
        call.method = Method::DELETE;
        match self.send(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The roles of every RBAC site, ids qualified by site.
    pub(super) async fn periscope_roles(&self) -> Result<Vec<Role>, Error> {
        let mut roles = Vec::new();
        for (index, site) in self.sites().iter().enumerate() {
            if !site.rbac {
                continue;
            }
            let wire: Vec<WireRole> = self
                .json(&Call::get(&["api", "v1", "roles"]).on_site(index))
                .await?;
            roles.extend(wire.into_iter().map(|r| Role {
                id: qualify(&site.name, &r.id.into_string()),
                name: r.name,
                display_name: None,
                extra: r.extra,
            }));
        }
        Ok(roles)
    }

    /// The groups of every site without RBAC, ids qualified by site (`site:name`).
    pub(super) async fn periscope_groups(&self) -> Result<Vec<Group>, Error> {
        let mut groups = Vec::new();
        for (index, site) in self.sites().iter().enumerate() {
            if site.rbac {
                continue;
            }
            let wire: Vec<WireGroup> = self
                .json(&Call::get(&["api", "v1", "groups"]).on_site(index))
                .await?;
            groups.extend(wire.into_iter().map(|g| Group {
                id: qualify(&site.name, &g.name),
                name: g.name,
                extra: g.extra,
            }));
        }
        Ok(groups)
    }
}
