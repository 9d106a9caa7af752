//! Planning: what every hop resolves (names, the action's target, the transfer target), then one listing of
//! every user, each judged by every activity signal and sorted into "act" and "keep".

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sisense::{DashboardId, Directory, GroupResolver, RoleResolver, User, UserId, UserQuery};

use super::apply::{self, Action, Status};
use super::health::HealthCount;
use super::model::{Plan, Row};
use super::notice::Ledger;
use super::options::StaleOptions;
use super::policy::{Protection, Standing, standing};
use super::summary::StaleSummary;
use super::transfer;
use crate::activity::{Evidence, LastSeen, last_seen, signals};
use crate::error::JobError;
use crate::names::Names;
use crate::tenancy::Tenancy;

/// What the run needs besides the plan, resolved on every hop: role and group names, the action's ids, the
/// transfer target.
pub(crate) struct Setup {
    pub(crate) names: Names,
    pub(crate) roles: RoleResolver,
    pub(crate) groups: GroupResolver,
    pub(crate) target: apply::Target,
    pub(crate) custodian: Option<User>,
}

/// Resolves the [`Setup`]; refuses `delete` where dashboards cannot be listed.
pub(crate) async fn setup(
    directory: &dyn Directory,
    options: &StaleOptions,
) -> Result<Setup, JobError> {
    let (roles, groups) = (directory.roles(None).await?, directory.groups(None).await?);
    let names = Names::new(&roles, &groups);
    let roles = RoleResolver::new(roles);
    let target = apply::Target::new(options.action, &roles)?;
    if options.action == Action::Delete && directory.content().is_none() {
        return Err(JobError::Config(format!(
            "delete needs to see who owns dashboards (Sisense deletes a user's dashboards with the user) and {} \
             cannot list them; nothing was changed: use demote instead",
            directory.capabilities().family
        )));
    }
    let custodian = transfer::custodian(directory, options).await?;
    Ok(Setup {
        names,
        roles,
        groups: GroupResolver::new(groups),
        target,
        custodian,
    })
}

/// What the scan judges each user by.
pub(crate) struct Scan<'a> {
    pub(crate) protection: &'a Protection,
    pub(crate) target: &'a apply::Target,
    pub(crate) names: &'a Names,
    /// Dashboards per owner, where they can be listed.
    pub(crate) owned: Option<&'a HashMap<UserId, Vec<DashboardId>>>,
    /// Whether a transfer target takes the dashboards of users `delete` removes.
    pub(crate) transfer: bool,
    /// The notice ledger, when notice is on.
    pub(crate) warned: Option<&'a Ledger>,
    /// The tenants the run may act in, where the installation has tenants.
    pub(crate) tenancy: Option<&'a Tenancy>,
}

/// Lists every user once and sorts the stale ones into "act" and "keep", judging each by every activity signal.
pub(crate) async fn plan(
    directory: &dyn Directory,
    options: &StaleOptions,
    now: DateTime<Utc>,
    scan: &Scan<'_>,
    summary: &mut StaleSummary,
) -> Result<Plan, JobError> {
    let mut plan = Plan {
        act: Vec::new(),
        keep: Vec::new(),
        health: HealthCount::default(),
    };
    let evidence = Evidence {
        feed: options.feed.as_deref(),
        trust_last_login: options.trust_last_login,
    };
    options.progress.start("scanning users", None);
    let mut users = directory.users(UserQuery::default());
    while let Some(user) = users.try_next().await? {
        summary.scanned += 1;
        options.progress.advance(1);
        let seen = last_seen(&user, evidence);
        plan.health.add(
            &user,
            &seen,
            &signals(&user, evidence.feed),
            now,
            options.thresholds.inactive_days,
        );
        let standing = standing(&user, now, options.thresholds, evidence);
        judge(
            &mut plan,
            user,
            standing,
            &seen,
            scan,
            options.action,
            summary,
        );
    }
    Ok(plan)
}

/// A stale user's case, once its standing says it may be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    days_inactive: i64,
    /// A pending invitation (only `delete` removes those).
    pending: bool,
    /// An account deactivated since it was used.
    deactivated: bool,
}

/// Sorts one listed user into the plan.
pub(crate) fn judge(
    plan: &mut Plan,
    user: User,
    standing: Standing,
    seen: &LastSeen,
    scan: &Scan<'_>,
    action: Action,
    summary: &mut StaleSummary,
) {
    let was_warned = scan.warned.is_some_and(|l| l.contains(user.id.as_str()));
    let role_name = scan.names.role(&user).to_string();
    let mut row = Row::new(user, role_name, seen.at, 0);
    row.source = seen.source;
    if let Some(tenancy) = scan.tenancy
        && !tenancy.allows(&row.user)
    {
        other_tenant(plan, row, standing, tenancy, was_warned, summary);
        return;
    }
    let Some(case) = case(plan, &mut row, standing, was_warned, summary) else {
        return;
    };
    row.days_inactive = case.days_inactive;
    row.action = Some(action);
    row.dashboards = scan
        .owned
        .map(|owned| owned.get(&row.user.id).cloned().unwrap_or_default());
    sort_stale(plan, row, case, scan, was_warned, summary);
}

/// A user of a tenant outside `TENANTS`: reported when it would otherwise be acted on, never changed.
fn other_tenant(
    plan: &mut Plan,
    row: Row,
    standing: Standing,
    tenancy: &Tenancy,
    was_warned: bool,
    summary: &mut StaleSummary,
) {
    let actionable = matches!(
        standing,
        Standing::Stale { .. }
            | Standing::Pending { stale: true, .. }
            | Standing::Deactivated { stale: true, .. }
    );
    if actionable {
        let message = format!(
            "in tenant {}, outside TENANTS ({}): never changed",
            tenancy.name_of(&row.user),
            tenancy.allowed_names()
        );
        if plan.leave(row, Status::OtherTenant, message, was_warned) {
            summary.other_tenant += 1;
        }
    }
}

/// Counts the user by its standing; the [`Case`] of a stale one, `None` (with the row reported where it must
/// be) for the rest.
fn case(
    plan: &mut Plan,
    row: &mut Row,
    standing: Standing,
    was_warned: bool,
    summary: &mut StaleSummary,
) -> Option<Case> {
    let cleared = |plan: &mut Plan, row: &Row, why: &str| {
        if was_warned {
            plan.leave(row.clone(), Status::Cleared, why.into(), true);
        }
    };
    match standing {
        Standing::Current => {
            summary.active += 1;
            cleared(plan, row, "seen since the warning");
            None
        }
        Standing::Pending { stale: false, .. } => {
            summary.pending_invitations += 1;
            cleared(plan, row, "no longer stale");
            None
        }
        Standing::Deactivated { stale: false, .. } => {
            summary.deactivated += 1;
            cleared(plan, row, "seen since the warning");
            None
        }
        Standing::Unknown { days_inactive, .. } => {
            summary.active += 1;
            summary.activity_unknown += 1;
            row.days_inactive = days_inactive;
            let message = unknown_message(&row.user, row.last_seen);
            plan.leave(row.clone(), Status::ActivityUnknown, message, was_warned);
            None
        }
        Standing::Pending {
            days_since_created,
            stale: true,
        } => {
            summary.pending_invitations += 1;
            Some(Case {
                days_inactive: days_since_created,
                pending: true,
                deactivated: false,
            })
        }
        Standing::Deactivated {
            days_inactive,
            stale: true,
            ..
        } => {
            summary.deactivated += 1;
            Some(Case {
                days_inactive,
                pending: false,
                deactivated: true,
            })
        }
        Standing::Stale { days_inactive, .. } => {
            summary.active += 1;
            Some(Case {
                days_inactive,
                pending: false,
                deactivated: false,
            })
        }
    }
}

/// Sorts a stale user: protected, an invitation only `delete` removes, already done, a dashboard owner `delete`
/// must leave alone, or to be acted on.
fn sort_stale(
    plan: &mut Plan,
    row: Row,
    case: Case,
    scan: &Scan<'_>,
    was_warned: bool,
    summary: &mut StaleSummary,
) {
    let action = scan.target.action();
    let days = case.days_inactive;
    if let Some(reason) = scan.protection.reason(&row.user) {
        if plan.leave(row, Status::Protected, reason, was_warned) {
            summary.protected += 1;
        }
    } else if case.pending && action != Action::Delete {
        let message = format!(
            "invitation never accepted (created {days} days ago); only the delete action removes invitations"
        );
        plan.leave(row, Status::PendingInvitation, message, was_warned);
    } else if case.deactivated && action == Action::Deactivate {
        summary.already_done += 1;
        let message = format!("already deactivated (active: false; last seen {days} days ago)");
        plan.leave(row, Status::AlreadyDone, message, was_warned);
    } else if action == Action::Delete && row.owned() > 0 && !scan.transfer {
        let message = format!(
            "owns {} dashboards, which Sisense deletes with the user: left alone (set transferDashboardsTo to \
             hand them to another user first)",
            row.owned()
        );
        if plan.leave(row, Status::ProtectedOwner, message, was_warned) {
            summary.protected_owners += 1;
        }
    } else if scan.target.is_done(&row.user, scan.names) {
        summary.already_done += 1;
        if was_warned {
            plan.leave(row, Status::Cleared, "already done".into(), true);
        }
    } else {
        // Only a user still to be acted on keeps its warning.
        summary.stale += 1;
        plan.act.push(row);
    }
}

/// Why an SSO user's activity is unknown, in words.
fn unknown_message(user: &User, last_login: Option<DateTime<Utc>>) -> String {
    let how = user.created_sso().map_or_else(
        || "an SSO user".to_string(),
        |s| format!("an SSO user ({s})"),
    );
    let login = last_login.map_or_else(
        || "no login recorded".to_string(),
        |t| format!("lastLogin {}", t.format("%Y-%m-%d")),
    );
    format!(
        "activity unknown: {how} with {login}; SSO sign-ins do not write lastLogin, so it says nothing. Left \
         alone: give an activity feed that covers this user, or set TRUST_LAST_LOGIN=true"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Evidence;
    use crate::stale::policy::Thresholds;
    use chrono::TimeZone;
    use serde_json::{Value, json};
    use sisense::{Group, Role};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap()
    }

    fn ago(days: i64) -> String {
        (now() - chrono::Duration::days(days)).to_rfc3339()
    }

    fn parsed<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    /// Judges `users` as a demote run would, with the `admin` role protected; returns the plan and the counts.
    fn judge_all(users: Vec<Value>, action: Action) -> (Plan, StaleSummary) {
        let roles: Vec<Role> = parsed(json!([
            {"_id": "r-admin", "name": "admin"}, {"_id": "r-viewer", "name": "consumer"},
            {"_id": "r-designer", "name": "contributor"}
        ]));
        let groups: Vec<Group> = parsed(json!([{"_id": "g-sales", "name": "Sales"}]));
        let names = Names::new(&roles, &groups);
        let roles = RoleResolver::new(roles);
        let groups = GroupResolver::new(groups);
        let protection = Protection::resolve(
            &roles,
            &groups,
            &["admin".into()],
            &["svc@x.io".into()],
            &[],
        )
        .unwrap();
        let target = apply::Target::new(action, &roles).unwrap();
        let scan = Scan {
            protection: &protection,
            target: &target,
            names: &names,
            owned: None,
            transfer: false,
            warned: None,
            tenancy: None,
        };
        let (mut plan, mut summary) = (Plan::default(), StaleSummary::default());
        let evidence = Evidence {
            feed: None,
            trust_last_login: false,
        };
        for user in users {
            let user: User = parsed(user);
            let seen = crate::activity::last_seen(&user, evidence);
            let standing = standing(&user, now(), Thresholds::new(90, None), evidence);
            judge(
                &mut plan,
                user,
                standing,
                &seen,
                &scan,
                action,
                &mut summary,
            );
        }
        (plan, summary)
    }

    fn statuses(plan: &Plan) -> Vec<(String, &'static str)> {
        let mut all: Vec<(String, &'static str)> = plan
            .act
            .iter()
            .map(|r| (r.user.id.to_string(), "act"))
            .chain(
                plan.keep
                    .iter()
                    .map(|r| (r.user.id.to_string(), r.status.as_str())),
            )
            .collect();
        all.sort();
        all
    }

    #[test]
    fn the_planner_acts_on_the_stale_and_says_why_it_leaves_each_other_user_alone() {
        let user = |id: &str, extra: Value| {
            let mut u = json!({"_id": id, "email": format!("{id}@x.io"), "roleId": "r-designer",
                "groups": ["g-sales"], "active": true, "created": ago(400)});
            u.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            u
        };
        let users = vec![
            user("stale", json!({"lastLogin": ago(120)})),
            user("recent", json!({"lastLogin": ago(3)})),
            user("admin", json!({"lastLogin": ago(200), "roleId": "r-admin"})),
            user("svc", json!({"lastLogin": ago(200), "email": "svc@x.io"})),
            user("invited", json!({"active": false})),
            user("sso", json!({"lastLogin": ago(300), "createdSso": "saml"})),
            user(
                "jwt",
                json!({"lastLogin": ago(300), "createdSso": "jwt", "ssoTokenIat": (now() - chrono::Duration::days(2)).timestamp()}),
            ),
            user(
                "viewer",
                json!({"lastLogin": ago(150), "roleId": "r-viewer", "groups": []}),
            ),
        ];
        let (plan, summary) = judge_all(users, Action::Demote);
        assert_eq!(
            statuses(&plan),
            [
                ("admin".to_string(), "protected"),
                ("invited".to_string(), "pending_invitation"),
                ("sso".to_string(), "activity_unknown"),
                ("stale".to_string(), "act"),
                ("svc".to_string(), "protected"),
            ],
            "recent, the JWT user seen 2 days ago and the viewer already demoted are not reported"
        );
        assert_eq!(
            (
                summary.stale,
                summary.protected,
                summary.already_done,
                summary.activity_unknown
            ),
            (1, 2, 1, 1)
        );
        assert_eq!(
            summary.active, 7,
            "every activated user, the invitation apart"
        );
        let unknown = plan
            .keep
            .iter()
            .find(|r| r.user.id.as_str() == "sso")
            .unwrap();
        assert!(
            unknown
                .message
                .contains("SSO sign-ins do not write lastLogin"),
            "{}",
            unknown.message
        );
        let stale = &plan.act[0];
        assert_eq!(
            (stale.days_inactive, stale.action),
            (120, Some(Action::Demote))
        );
    }

    #[test]
    fn only_delete_takes_invitations_and_deactivate_counts_a_deactivated_account_as_done() {
        let invited = json!({"_id": "inv", "email": "inv@x.io", "roleId": "r-designer", "active": false,
            "created": ago(200)});
        let (plan, _) = judge_all(vec![invited.clone()], Action::Delete);
        assert_eq!(statuses(&plan), [("inv".to_string(), "act")]);
        let gone = json!({"_id": "gone", "email": "gone@x.io", "roleId": "r-designer", "active": false,
            "created": ago(400), "lastLogin": ago(200)});
        let (plan, summary) = judge_all(vec![gone], Action::Deactivate);
        assert_eq!(statuses(&plan), [("gone".to_string(), "already_done")]);
        assert_eq!((summary.deactivated, summary.already_done), (1, 1));
    }
}
