//! Tenants (multitenancy, L2022 and later): a system-tenant admin lists the users of every tenant, so a run must
//! know which tenants it may act in (`TENANTS`: by default the service account's own, a list of names, or `*`).

use std::collections::{BTreeMap, BTreeSet};

use sisense::{Directory, User};

use crate::error::JobError;

/// `TENANTS` value for every tenant.
pub const ALL_TENANTS: &str = "*";

/// The installation's tenants and the ones a run may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    /// Tenant names by id.
    names: BTreeMap<String, String>,
    /// The system tenant's id (users without `tenantId` are counted in it).
    system: String,
    /// The ids a run may act in; `None`: all.
    allowed: Option<BTreeSet<String>>,
    /// The service account's tenant id, where it is known: the tenant new users are created in.
    own: Option<String>,
}

impl Tenancy {
    /// The tenants `directory` reports, with the ones `wanted` names allowed (`None`: the tenant of
    /// `service_account`; `["*"]`: all). `None` when the installation reports no tenants; naming tenants there is
    /// a `Config` error (a typo must not pass for "everyone"), as is an unknown name or a service account whose
    /// tenant cannot be told.
    pub async fn resolve(
        directory: &dyn Directory,
        wanted: Option<&[String]>,
        service_account: Option<&str>,
    ) -> Result<Option<Tenancy>, JobError> {
        let all = wanted.is_some_and(|w| w.iter().any(|t| t.trim() == ALL_TENANTS));
        let Some(tenants) = directory.tenants().await? else {
            return match wanted {
                Some(names) if !all && !names.is_empty() => Err(JobError::Config(format!(
                    "TENANTS names {} but this installation reports no tenants; leave TENANTS unset",
                    names.join(", ")
                ))),
                _ => Ok(None),
            };
        };
        let names: BTreeMap<String, String> = tenants.into_iter().map(|t| (t.id, t.name)).collect();
        let system = names
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case("system"))
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let by_name = |name: &str| {
            names
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
                .map(|(id, _)| id.clone())
        };
        let own = match service_account {
            Some(account) => Some(
                directory
                    .find_user_by_email(account)
                    .await?
                    .and_then(|u| u.tenant_id)
                    .unwrap_or_else(|| system.clone()),
            ),
            None => None,
        };
        let allowed = match wanted {
            _ if all => None,
            Some(list) if !list.is_empty() => Some(
                list.iter()
                    .map(|name| {
                        by_name(name).ok_or_else(|| {
                            JobError::Config(format!(
                                "TENANTS names {name:?}, which is not a tenant of this installation (tenants: {})",
                                names.values().cloned().collect::<Vec<_>>().join(", ")
                            ))
                        })
                    })
                    .collect::<Result<BTreeSet<String>, JobError>>()?,
            ),
            _ => {
                let tenant = own.clone().ok_or_else(|| {
                    JobError::Config("set TENANTS: the service account is not known, so neither is its tenant".into())
                })?;
                Some(BTreeSet::from([tenant]))
            }
        };
        Ok(Some(Tenancy {
            names,
            system,
            allowed,
            own,
        }))
    }

    /// The tenant id of `user` (the system tenant's when the user carries none).
    fn id_of<'a>(&'a self, user: &'a User) -> &'a str {
        user.tenant_id.as_deref().unwrap_or(&self.system)
    }

    /// The tenant name of `user` (its id when the name is unknown).
    pub fn name_of<'a>(&'a self, user: &'a User) -> &'a str {
        let id = self.id_of(user);
        self.names.get(id).map_or(id, String::as_str)
    }

    /// Whether a run may act on `user`.
    pub fn allows(&self, user: &User) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|ids| ids.contains(self.id_of(user)))
    }

    /// Whether a run may act in the tenant named `name` (case-insensitive).
    pub fn allows_name(&self, name: &str) -> bool {
        self.names
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
            .is_some_and(|(id, _)| self.allowed.as_ref().is_none_or(|ids| ids.contains(id)))
    }

    /// The name of the tenant new users are created in (the service account's), where it is known.
    pub fn own_name(&self) -> Option<&str> {
        let id = self.own.as_deref()?;
        Some(self.names.get(id).map_or(id, String::as_str))
    }

    /// The tenants a run may act in, for messages (`*` for all).
    pub fn allowed_names(&self) -> String {
        match &self.allowed {
            None => ALL_TENANTS.into(),
            Some(ids) => ids
                .iter()
                .map(|id| self.names.get(id).map_or(id.as_str(), String::as_str))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}
