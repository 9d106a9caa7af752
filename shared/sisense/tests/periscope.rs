//! The Periscope / Cloud Data Teams family against the simulator: `HTTP-X-PARTNER-AUTH` per site, RBAC sites on
//! `/api/v2/users` with role ids, groups sites on `/api/v1/users` with `HTTP-X-EMAIL`, `test_mode=true` checks,
//! several sites behind one client, and the same fault handling as the other families.

mod common;

use futures::TryStreamExt;
use serde_json::Value;
use sisense::{
    Directory, Error, Family, NewUser, RoleResolver, SisenseClient, User, UserPatch, UserQuery,
};
use sisense_sim::{Faults, Simulator};

async fn list(client: &SisenseClient) -> Result<Vec<User>, Error> {
    client.users(UserQuery::default()).try_collect().await
}

fn new_user(email: &str, role: Option<&str>, groups: &[String], site: Option<&str>) -> NewUser {
    NewUser {
        email: email.into(),
        user_name: None,
        first_name: Some("Cloud".into()),
        last_name: Some("Hire".into()),
        role_id: role.map(Into::into),
        groups: groups.iter().map(|g| g.as_str().into()).collect(),
        scope: site.map(str::to_string),
        password: None,
    }
}

/// Every request the simulator saw carried the partner header (none logged in or signed a JWT).
fn only_partner_requests(sim: &Simulator) {
    assert_eq!(sim.logins(), 0);
    assert_eq!(sim.api_key_requests(), 0);
    let accepted = sim
        .requests()
        .iter()
        .filter(|r| r.fault.is_none() && r.status != 401)
        .count() as u64;
    assert_eq!(sim.partner_requests(), accepted, "{:?}", sim.requests());
}

fn role_id(roles: &[sisense::Role], name: &str) -> String {
    RoleResolver::new(roles.to_vec())
        .resolve(name)
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn an_rbac_site_lists_and_writes_users_by_id_with_role_ids() {
    let sim = common::periscope_sim(120, "acme", true, Faults::default()).await;
    let client = common::periscope_client(&[&sim]);
    assert_eq!(client.family(), Family::Periscope);
    let caps = client.capabilities();
    assert!(!caps.last_login && client.server_dry_run().is_some());
    let membership = caps.membership(Some("acme"));
    assert!(membership.has_roles() && !membership.has_groups());

    let users = list(&client).await.unwrap();
    assert_eq!(users.len(), 120);
    let first = &sim.users()[0];
    let expected_id = format!("acme:{}", first["_id"].as_str().unwrap());
    assert_eq!(users[0].id, expected_id);
    assert_eq!(users[0].scope.as_deref(), Some("acme"));
    assert!(
        users
            .iter()
            .all(|u| u.last_login.is_none() && u.last_seen().is_none())
    );
    // The service account is a Sisense `super`: the site shows it as Admin, with a Periscope-style role id.
    assert_eq!(
        users[0].role_id().map(|r| r.as_str()),
        Some("acme:0000-admin-1111-id")
    );
    let pages: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2/users")
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 2, "120 users in pages of 100: {pages:?}");
    assert!(pages[1].starts_with("next_page_start="), "{pages:?}");
    let roles = client.roles(None).await.unwrap();
    assert_eq!(roles.len(), sisense_sim::PERISCOPE_ROLES.len());
    assert!(roles.iter().all(|r| r.id.as_str().starts_with("acme:")));
    assert!(
        client.groups(None).await.unwrap().is_empty(),
        "RBAC sites have no groups"
    );

    let viewer = role_id(&roles, "viewer");
    let created = client
        .create_user(&new_user("rbac.hire@example.com", Some(&viewer), &[], None))
        .await
        .unwrap();
    assert_eq!(created.role_id().map(|r| r.as_str()), Some(viewer.as_str()));
    let stored = sim.user_by_email("rbac.hire@example.com").unwrap();
    assert_eq!(
        created.id,
        format!("acme:{}", stored["_id"].as_str().unwrap())
    );
    assert_eq!(
        client
            .find_user_by_email("RBAC.HIRE@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(
        client.get_user(&created.id).await.unwrap().unwrap().email,
        created.email
    );

    let designer = role_id(&roles, "0000-editor-2222-id");
    assert_eq!(
        designer,
        role_id(&roles, "editor"),
        "by the site's id or by name"
    );
    let patch = UserPatch {
        last_name: Some("Renamed".into()),
        role_id: Some(designer.as_str().into()),
        ..UserPatch::default()
    };
    let updated = client.update_user(&created.id, &patch).await.unwrap();
    assert_eq!(
        updated.role_id().map(|r| r.as_str()),
        Some(designer.as_str())
    );
    assert_eq!(
        sim.user_by_email("rbac.hire@example.com").unwrap()["lastName"],
        "Renamed"
    );

    // No role: the API's own default, the site's Everyone.
    let everyone = client
        .create_user(&new_user("no.role@example.com", None, &[], None))
        .await
        .unwrap();
    assert_eq!(
        everyone.role_id().map(|r| r.as_str()),
        Some("acme:0000-everyone-4444-id")
    );
    client.delete_user(&everyone.id).await.unwrap();

    client.delete_user(&created.id).await.unwrap();
    client.delete_user(&created.id).await.unwrap();
    assert!(sim.user_by_email("rbac.hire@example.com").is_none());
    assert!(client.get_user(&created.id).await.unwrap().is_none());

    let writes: Vec<(String, String)> = sim
        .writes()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .filter(|(_, path)| !path.ends_with(everyone.id.as_str().trim_start_matches("acme:")))
        .collect();
    let raw = stored["_id"].as_str().unwrap();
    assert_eq!(
        writes,
        [
            ("POST".to_string(), "/api/v2/users".to_string()),
            ("PUT".into(), format!("/api/v2/users/{raw}")),
            ("POST".into(), "/api/v2/users".to_string()),
            ("DELETE".into(), format!("/api/v2/users/{raw}")),
            ("DELETE".into(), format!("/api/v2/users/{raw}")),
        ]
    );
    only_partner_requests(&sim);

    // What the API cannot do is refused by name, before any request.
    let before = sim.requests().len();
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    let err = client
        .update_user(&updated.id, &deactivate)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what, .. } if what.contains("deactivating")),
        "{err}"
    );
    let groups = vec!["acme:Sales".to_string()];
    let err = client
        .create_user(&new_user("g@example.com", Some(&viewer), &groups, None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("uses roles (RBAC)"), "{err}");
    assert_eq!(sim.requests().len(), before);
}

#[tokio::test]
async fn a_groups_site_selects_users_by_email_header_and_sends_group_names() {
    let sim = common::periscope_sim(60, "legacy-co", false, Faults::default()).await;
    let client = common::periscope_client(&[&sim]);
    let users = list(&client).await.unwrap();
    assert_eq!(users.len(), 60);
    let svc = users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(sim.username()))
        .unwrap();
    assert_eq!(
        svc.id,
        format!("legacy-co:{}", svc.email),
        "groups sites key users by email"
    );
    assert!(
        client.roles(None).await.unwrap().is_empty(),
        "groups sites have no roles"
    );
    let groups = client.groups(None).await.unwrap();
    assert_eq!(
        groups.len(),
        sim.groups().len() - sisense_sim::BUILT_IN_GROUPS.len(),
        "Sisense's built-in groups are not Periscope groups"
    );
    let sales = groups.iter().find(|g| g.name == "Sales").unwrap();
    assert_eq!(sales.id, "legacy-co:Sales");

    let created = client
        .create_user(&new_user(
            "grp.hire@example.com",
            None,
            &[sales.id.to_string()],
            None,
        ))
        .await
        .unwrap();
    assert_eq!(created.id, "legacy-co:grp.hire@example.com");
    assert_eq!(created.group_ids().collect::<Vec<_>>(), ["legacy-co:Sales"]);
    let stored = sim.user_by_email("grp.hire@example.com").unwrap();
    let sales_id = sim.groups().iter().find(|g| g["name"] == "Sales").unwrap()["_id"].clone();
    assert_eq!(stored["groups"], Value::Array(vec![sales_id]));

    let patch = UserPatch {
        first_name: Some("Renamed".into()),
        groups: Some(vec![]),
        ..UserPatch::default()
    };
    let updated = client.update_user(&created.id, &patch).await.unwrap();
    assert_eq!(updated.groups.len(), 0);
    assert_eq!(
        sim.user_by_email("grp.hire@example.com").unwrap()["firstName"],
        "Renamed"
    );
    assert_eq!(
        client
            .get_user(&created.id)
            .await
            .unwrap()
            .unwrap()
            .first_name
            .as_deref(),
        Some("Renamed")
    );
    client.delete_user(&created.id).await.unwrap();
    assert!(sim.user_by_email("grp.hire@example.com").is_none());
    assert!(client.get_user(&created.id).await.unwrap().is_none());
    let writes: Vec<String> = sim
        .writes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        [
            "POST /api/v1/users",
            "PUT /api/v1/users",
            "DELETE /api/v1/users"
        ]
    );
    only_partner_requests(&sim);

    let err = client
        .create_user(&new_user("r@example.com", Some("legacy-co:abc"), &[], None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("uses groups (no RBAC)"), "{err}");
}

#[tokio::test]
async fn test_mode_validates_writes_on_the_server_without_applying_them() {
    let sim = common::periscope_sim(30, "acme", true, Faults::default()).await;
    let client = common::periscope_client(&[&sim]);
    let viewer = role_id(&client.roles(None).await.unwrap(), "viewer");
    let before = sim.users();
    let server = client
        .server_dry_run()
        .expect("Periscope validates in test mode");
    server
        .check_create(&new_user("maybe@example.com", Some(&viewer), &[], None))
        .await
        .unwrap();
    let err = server
        .check_create(&new_user(
            "nobody@example.com",
            Some("acme:ffffffffffffffffffffffff"),
            &[],
            None,
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Role"), "{err}");
    let existing = list(&client).await.unwrap().remove(3);
    let patch = UserPatch {
        first_name: Some("Never".into()),
        ..UserPatch::default()
    };
    server.check_update(&existing.id, &patch).await.unwrap();
    assert_eq!(sim.users(), before, "test mode changed nothing");
    let writes = sim.writes();
    assert_eq!(writes.len(), 3);
    assert!(
        writes
            .iter()
            .all(|w| w.query.as_deref() == Some("test_mode=true")),
        "{writes:?}"
    );

    // The inviter must be a user of the site: a wrong invitedByEmail is the server's refusal, named.
    let mut config = common::config(&sim);
    let mut site = common::periscope_site(&sim);
    site.invited_by_email = "gone@example.com".into();
    config.credentials = sisense::Credentials::periscope(vec![site]).unwrap();
    let wrong_inviter = SisenseClient::new(config).unwrap();
    let err = wrong_inviter
        .server_dry_run()
        .expect("Periscope validates in test mode")
        .check_create(&new_user("maybe@example.com", Some(&viewer), &[], None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invited_by_email"), "{err}");
}

#[tokio::test]
async fn several_sites_behind_one_client_keep_their_users_roles_and_groups_apart() {
    let east = common::periscope_sim(40, "east", true, Faults::default()).await;
    let west = common::periscope_sim(25, "west", false, Faults::default()).await;
    let client = common::periscope_client(&[&east, &west]);
    let users = list(&client).await.unwrap();
    assert_eq!(users.len(), 65);
    assert_eq!(
        users
            .iter()
            .filter(|u| u.scope.as_deref() == Some("east"))
            .count(),
        40
    );
    assert_eq!(
        users
            .iter()
            .filter(|u| u.scope.as_deref() == Some("west"))
            .count(),
        25
    );
    let svc: Vec<&User> = users
        .iter()
        .filter(|u| u.email.eq_ignore_ascii_case(east.username()))
        .collect();
    assert_eq!(svc.len(), 2, "the same person on both sites is two users");
    assert_ne!(svc[0].id, svc[1].id);
    assert!(
        client
            .roles(None)
            .await
            .unwrap()
            .iter()
            .all(|r| r.id.as_str().starts_with("east:"))
    );
    assert!(
        client
            .groups(None)
            .await
            .unwrap()
            .iter()
            .all(|g| g.id.as_str().starts_with("west:"))
    );

    let err = client
        .create_user(&new_user("where@example.com", None, &[], None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("east, west"), "{err}");
    let created = client
        .create_user(&new_user("west.hire@example.com", None, &[], Some("west")))
        .await
        .unwrap();
    assert_eq!(created.scope.as_deref(), Some("west"));
    assert!(west.user_by_email("west.hire@example.com").is_some());
    assert!(east.user_by_email("west.hire@example.com").is_none());
    let err = client
        .get_user(&"north:someone@example.com".into())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not among the secret's sites"),
        "{err}"
    );
    only_partner_requests(&east);
    only_partner_requests(&west);
}

#[tokio::test]
async fn a_refused_api_key_is_final_and_named() {
    let sim = common::periscope_sim(10, "acme", true, Faults::default()).await;
    let mut config = common::config(&sim);
    let mut site = common::periscope_site(&sim);
    site.api_key = "wrong-key".to_string().into();
    config.credentials = sisense::Credentials::periscope(vec![site]).unwrap();
    let client = SisenseClient::new(config).unwrap();
    let err = list(&client).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unauthorized { message, .. } if message.contains("partner")),
        "{err}"
    );
    assert_eq!(sim.requests().len(), 1, "an API key is not retried");
}

#[tokio::test]
async fn storms_and_lost_write_responses_create_each_user_once_on_both_kinds_of_site() {
    let faults = Faults {
        rate_429: 0.1,
        rate_5xx: 0.1,
        rate_drop: 0.05,
        lose_write_response_rate: 0.3,
        ..Faults::default()
    };
    for rbac in [true, false] {
        let sim = common::periscope_sim(200, "stormy", rbac, faults.clone()).await;
        let client = common::periscope_client(&[&sim]);
        assert_eq!(list(&client).await.unwrap().len(), 200);
        let roles = client.roles(None).await.unwrap();
        let viewer = rbac.then(|| role_id(&roles, "viewer"));
        let batch: Vec<NewUser> = (0..30)
            .map(|i| {
                new_user(
                    &format!("storm{i}@example.com"),
                    viewer.as_deref(),
                    &[],
                    None,
                )
            })
            .collect();
        let outcomes = client.create_users(&batch).await;
        assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
        let stored = sim
            .users()
            .into_iter()
            .filter(|u| u["email"].as_str().unwrap().starts_with("storm"))
            .count();
        assert_eq!(stored, 30, "each user exactly once (rbac={rbac})");
        let faults: Vec<_> = sim.requests().iter().filter_map(|r| r.fault).collect();
        assert!(faults.contains(&"lost-response"), "{faults:?}");
    }
}

#[tokio::test]
async fn a_continuation_answered_twice_is_an_error_not_a_loop() {
    let sim = common::periscope_sim(250, "acme", true, Faults::default()).await;
    sim.set_faults(Faults {
        ignore_page_start: true,
        ..Faults::default()
    });
    let err = list(&common::periscope_client(&[&sim])).await.unwrap_err();
    assert!(
        matches!(&err, Error::Paging(m) if m.contains("next_page_start") && m.contains("second time")),
        "{err}"
    );
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/users")
        .count();
    assert_eq!(pages, 2, "stops at the first repeat");
}
