//! Periscope Data / Sisense for Cloud Data Teams: one or more sites, each a [`crate::Scope`] addressed with its
//! own `HTTP-X-PARTNER-AUTH: site:api-key`.
//!
//! Sites without RBAC manage users on `/api/v1/users` (one user selected with `HTTP-X-EMAIL`, groups by name,
//! `/api/v1/groups`); RBAC sites on `/api/v2/users/{id}` with role ids (`/api/v1/roles`). Every id this
//! directory hands out is qualified by its site, `site:raw`, where `raw` is the email (groups sites), the user
//! id (RBAC sites), the role id or the group name, so users, roles and groups of several sites never collide
//! and every operation finds its site again. Only this module reads that encoding. Lists are read whether they
//! come bare or wrapped (`{"users": [...]}`), and `/api/v2/users` is followed page by page (`next_page_start`
//! sent back as the query parameter `next_page_start`, the name Sisense's own script pages its dashboards with;
//! a site ignores a parameter it does not know and answers the first page again, which the repeat check stops). A site's own role id is
//! kept as [`Role::other_ids`], so people can name a role by the id the site shows them. Writes with
//! `test_mode=true` are validated by the server and not applied ([`ServerDryRun`]).

mod wire;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ClientConfig, PeriscopeSite};
use crate::create::{self, Creator, outcome};
use crate::directory::{
    Capabilities, CreateOutcome, Directory, Membership, Scope, ServerDryRun, UserQuery,
};
use crate::error::Error;
use crate::ids::UserId;
use crate::models::{Group, NewUser, Role, User, UserPatch};
use crate::retry::RetryConfig;
use crate::transport::{Authenticator, Call, Presented, Safety, Transport, absent_if_not_found};
use wire::{OneOrMany, Page, WireGroup, WireRole, WireUser, WireWrite, page};

/// The family's name in messages.
const PERISCOPE: &str = "Periscope (Sisense for Cloud Data Teams)";

const EMAIL_HEADER: &str = "http-x-email";
/// Periscope's authentication header.
static PARTNER_AUTH: HeaderName = HeaderName::from_static("http-x-partner-auth");

/// `HTTP-X-PARTNER-AUTH: <site>:<api key>`; a 401 is final (nothing can refresh a key).
struct PartnerKey(SecretString);

#[async_trait]
impl Authenticator for PartnerKey {
    async fn present(&self, _transport: &Transport) -> Result<Presented, Error> {
        Ok(Presented {
            header: PARTNER_AUTH.clone(),
            value: self.0.clone(),
            generation: 0,
        })
    }

    async fn refresh(&self, _presented: &Presented, _path: &str) -> bool {
        false
    }
}

/// One site and the key its requests carry.
struct SiteConn {
    site: PeriscopeSite,
    auth: PartnerKey,
}

/// The Periscope sites of one secret.
pub(crate) struct PeriscopeDirectory {
    transport: Transport,
    sites: Vec<SiteConn>,
    config: Arc<ClientConfig>,
}

/// The path of one user: `/api/v2/users/{id}` (RBAC) or `/api/v1/users` (the email goes in a header).
fn user_segments<'a>(site: &PeriscopeSite, raw: &'a str) -> Vec<&'a str> {
    if site.rbac {
        vec!["api", "v2", "users", raw]
    } else {
        vec!["api", "v1", "users"]
    }
}

fn users_segments(site: &PeriscopeSite) -> &'static [&'static str] {
    if site.rbac {
        &["api", "v2", "users"]
    } else {
        &["api", "v1", "users"]
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

impl PeriscopeDirectory {
    pub(crate) fn new(config: Arc<ClientConfig>, sites: &[PeriscopeSite]) -> Result<Self, Error> {
        let sites = sites
            .iter()
            .map(|site| SiteConn {
                auth: PartnerKey(SecretString::from(format!(
                    "{}:{}",
                    site.name,
                    site.api_key.expose_secret()
                ))),
                site: site.clone(),
            })
            .collect();
        Ok(PeriscopeDirectory {
            transport: Transport::new(&config)?,
            sites,
            config,
        })
    }

    fn site(&self, index: usize) -> &PeriscopeSite {
        &self.sites[index].site
    }

    /// A GET of `segments` on the site at `index`.
    fn call<'a>(&'a self, index: usize, segments: &'a [&'a str]) -> Call<'a> {
        Call::get(segments).at(self.site(index).base_url.as_ref())
    }

    async fn send(&self, index: usize, call: &Call<'_>) -> Result<crate::transport::Reply, Error> {
        self.transport.send(call, &self.sites[index].auth).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        call: &Call<'_>,
    ) -> Result<T, Error> {
        self.transport.json(call, &self.sites[index].auth).await
    }

    /// The site an id names: `index` and the raw part of a qualified id.
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
        self.sites
            .iter()
            .position(|s| s.site.name == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "site {name:?} is not among the secret's sites ({})",
                    self.site_names()
                ))
            })
    }

    fn site_names(&self) -> String {
        let names: Vec<&str> = self.sites.iter().map(|s| s.site.name.as_str()).collect();
        names.join(", ")
    }

    /// The sites a `scope` argument selects: the one it names, or all.
    fn selected(&self, scope: Option<&str>) -> Result<Vec<usize>, Error> {
        match scope {
            Some(name) => Ok(vec![self.site_index(name)?]),
            None => Ok((0..self.sites.len()).collect()),
        }
    }

    /// The site a new user goes to: the one it names, or the only one.
    fn target_site(&self, user: &NewUser) -> Result<usize, Error> {
        match (&user.scope, self.sites.len()) {
            (Some(name), _) => self.site_index(name),
            (None, 1) => Ok(0),
            (None, _) => Err(Error::Config(format!(
                "the secret names several sites ({}); say which one user {} goes to",
                self.site_names(),
                user.email
            ))),
        }
    }

    /// The call addressing one user at `segments` (from [`user_segments`]); groups sites select the user
    /// with `HTTP-X-EMAIL`.
    fn user_call<'a>(&'a self, index: usize, raw: &str, segments: &'a [&'a str]) -> Call<'a> {
        let call = self.call(index, segments);
        if self.site(index).rbac {
            call
        } else {
            call.header(EMAIL_HEADER, raw)
        }
    }

    /// One list answer of either shape (bare array or wrapped under `key`).
    async fn list_page<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        call: &Call<'_>,
        key: &str,
    ) -> Result<Page<T>, Error> {
        let body: serde_json::Value = self.json(index, call).await?;
        page(body, key).map_err(|detail| Error::Decode {
            method: call.method.to_string(),
            path: call.path(),
            detail,
            snippet: String::new(),
        })
    }

    /// Every user of the site at `index`, following `next_page_start` (sent back under the same name) until it is
    /// absent; each user once. A start answered twice is an [`Error::Paging`], not a loop.
    async fn site_users(&self, index: usize) -> Result<Vec<User>, Error> {
        let site = self.site(index);
        let segments = users_segments(site);
        let (mut users, mut ids, mut starts) = (Vec::new(), HashSet::new(), HashSet::new());
        let mut start: Option<String> = None;
        loop {
            let mut call = self.call(index, segments);
            if let Some(start) = &start {
                call = call.query("next_page_start", start.clone());
            }
            let page: Page<WireUser> = self.list_page(index, &call, "users").await?;
            for user in page.items {
                let user = user.into_user(site);
                if ids.insert(user.id.clone()) {
                    users.push(user);
                }
            }
            match page.next {
                None => return Ok(users),
                Some(next) if !starts.insert(next.clone()) => {
                    return Err(Error::Paging(format!(
                        "GET {} on site {:?} answered next_page_start {next:?} a second time; the list cannot \
                         be completed",
                        call.path(),
                        site.name
                    )));
                }
                Some(next) => start = Some(next),
            }
        }
    }

    /// The user with `email` on the site at `index`.
    async fn find_on_site(&self, index: usize, email: &str) -> Result<Option<User>, Error> {
        let site = self.site(index);
        if site.rbac {
            // v2 selects users by id only: look through the site's list.
            let users = self.site_users(index).await?;
            return Ok(users
                .into_iter()
                .find(|u| u.email.eq_ignore_ascii_case(email)));
        }
        self.get_user(&qualify(&site.name, email).into()).await
    }

    /// The raw parts of qualified role or group `ids`, each of which must belong to the site at `index`.
    fn raw_refs<'a, I: AsRef<str>>(
        &self,
        index: usize,
        ids: &'a [I],
        what: &str,
    ) -> Result<Vec<&'a str>, Error> {
        ids.iter()
            .map(|id| match self.site_of(id.as_ref()) {
                Ok((i, raw)) if i == index => Ok(raw),
                _ => Err(Error::Config(format!(
                    "{what} {:?} is not of site {:?}",
                    id.as_ref(),
                    self.site(index).name
                ))),
            })
            .collect()
    }

    fn create_body<'a>(&'a self, index: usize, user: &'a NewUser) -> Result<WireWrite<'a>, Error> {
        let site = self.site(index);
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
            // Without a role the API puts the user in the site's Everyone.
            if let Some(role) = &user.role_id {
                body.roles = Some(self.raw_refs(index, std::slice::from_ref(role), "role")?);
            }
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
        &'a self,
        index: usize,
        user: &'a NewUser,
        test_mode: bool,
    ) -> Result<Call<'a>, Error> {
        let body = self.create_body(index, user)?;
        let call = self
            .call(index, users_segments(self.site(index)))
            .with_json(Method::POST, &body)?;
        Ok(if test_mode {
            // Nothing is applied, so it may be repeated freely.
            call.query("test_mode", "true")
        } else {
            call.safety(Safety::NoEffectOnly)
        })
    }

    /// The update of user `id` (on the site its id names), or `test_mode` validation of it.
    async fn put_user(
        &self,
        id: &UserId,
        patch: &UserPatch,
        test_mode: bool,
    ) -> Result<User, Error> {
        let (index, raw) = self.site_of(id.as_str())?;
        let site = self.site(index);
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
        let updated: WireUser = self.json(index, &call).await?;
        Ok(updated.into_user(site))
    }
}

#[async_trait]
impl Creator for PeriscopeDirectory {
    /// One create on the user's site.
    async fn post_user(&self, user: &NewUser) -> Result<User, Error> {
        let index = self.target_site(user)?;
        let created: WireUser = self
            .json(index, &self.create_call(index, user, false)?)
            .await?;
        Ok(created.into_user(self.site(index)))
    }

    /// The user on its site, for reconciling a create whose outcome is unknown.
    async fn find_created(&self, user: &NewUser) -> Result<Option<User>, Error> {
        self.find_on_site(self.target_site(user)?, &user.email)
            .await
    }

    fn retry(&self) -> &RetryConfig {
        &self.config.retry
    }
}

#[async_trait]
impl Directory for PeriscopeDirectory {
    /// Every site is a scope; there are no last logins.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            family: PERISCOPE,
            scopes: self
                .sites
                .iter()
                .map(|s| Scope {
                    name: s.site.name.clone(),
                    membership: if s.site.rbac {
                        Membership::Roles
                    } else {
                        Membership::Groups
                    },
                })
                .collect(),
            last_login: false,
        }
    }

    /// Every user of every site, site by site (Periscope lists a site's users in one answer).
    fn users(&self, query: UserQuery) -> BoxStream<'_, Result<User, Error>> {
        // Periscope has no active flag: everyone counts as active.
        let wanted = query.active.unwrap_or(true);
        stream::iter(0..self.sites.len())
            .then(move |index| async move {
                match self.site_users(index).await {
                    Ok(users) if wanted => users.into_iter().map(Ok).collect(),
                    Ok(_) => Vec::new(),
                    Err(e) => vec![Err(e)],
                }
            })
            .flat_map(stream::iter)
            .boxed()
    }

    #[tracing::instrument(skip_all, fields(family = "periscope", user_id = %id))]
    async fn get_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let (index, raw) = self.site_of(id.as_str())?;
        let site = self.site(index);
        let segments = user_segments(site, raw);
        let call = self.user_call(index, raw, &segments);
        match absent_if_not_found(self.json::<OneOrMany>(index, &call).await)? {
            Some(OneOrMany::One(user)) => Ok(Some(user.into_user(site))),
            Some(OneOrMany::Many(users)) => Ok(users
                .into_iter()
                .map(|u| u.into_user(site))
                .find(|u| u.id == *id)),
            None => Ok(None),
        }
    }

    /// The first site's user with this email.
    #[tracing::instrument(skip_all, fields(family = "periscope"))]
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        for index in 0..self.sites.len() {
            if let Some(user) = self.find_on_site(index, email).await? {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    #[tracing::instrument(skip_all, fields(family = "periscope"))]
    async fn create_user(&self, user: &NewUser) -> Result<User, Error> {
        create::create_user(self, user).await
    }

    /// Periscope has no bulk create: one create (reconciled when unsure) per user.
    #[tracing::instrument(skip_all, fields(family = "periscope", users = users.len()))]
    async fn create_users(&self, users: &[NewUser]) -> Vec<CreateOutcome> {
        let mut outcomes = Vec::with_capacity(users.len());
        for user in users {
            outcomes.push(outcome(user, self.create_user(user).await, false));
        }
        outcomes
    }

    #[tracing::instrument(skip_all, fields(family = "periscope", user_id = %id))]
    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User, Error> {
        self.put_user(id, patch, false).await
    }

    #[tracing::instrument(skip_all, fields(family = "periscope", user_id = %id))]
    async fn delete_user(&self, id: &UserId) -> Result<(), Error> {
        let (index, raw) = self.site_of(id.as_str())?;
        let segments = user_segments(self.site(index), raw);
        let mut call = self.user_call(index, raw, &segments);
        call.method = Method::DELETE;
        absent_if_not_found(self.send(index, &call).await).map(drop)
    }

    /// The roles of the selected RBAC sites, ids qualified by site.
    async fn roles(&self, scope: Option<&str>) -> Result<Vec<Role>, Error> {
        let mut roles = Vec::new();
        for index in self.selected(scope)? {
            let site = self.site(index);
            if !site.rbac {
                continue;
            }
            let call = self.call(index, &["api", "v1", "roles"]);
            let wire: Page<WireRole> = self.list_page(index, &call, "roles").await?;
            roles.extend(wire.items.into_iter().map(|r| {
                let raw = r.id.into_string();
                Role {
                    id: qualify(&site.name, &raw).into(),
                    name: r.name,
                    display_name: None,
                    other_ids: vec![raw],
                    extra: r.extra,
                }
            }));
        }
        Ok(roles)
    }

    /// The groups of the selected sites without RBAC, ids qualified by site (`site:name`).
    async fn groups(&self, scope: Option<&str>) -> Result<Vec<Group>, Error> {
        let mut groups = Vec::new();
        for index in self.selected(scope)? {
            let site = self.site(index);
            if site.rbac {
                continue;
            }
            let call = self.call(index, &["api", "v1", "groups"]);
            let wire: Page<WireGroup> = self.list_page(index, &call, "groups").await?;
            groups.extend(wire.items.into_iter().map(|g| Group {
                id: qualify(&site.name, &g.name).into(),
                name: g.name,
                extra: g.extra,
            }));
        }
        Ok(groups)
    }

    fn server_dry_run(&self) -> Option<&dyn ServerDryRun> {
        Some(self)
    }
}

#[async_trait]
impl ServerDryRun for PeriscopeDirectory {
    async fn check_create(&self, user: &NewUser) -> Result<(), Error> {
        let index = self.target_site(user)?;
        self.send(index, &self.create_call(index, user, true)?)
            .await
            .map(drop)
    }

    async fn check_update(&self, id: &UserId, patch: &UserPatch) -> Result<(), Error> {
        self.put_user(id, patch, true).await.map(drop)
    }
}
