//! A whole Entra provisioning run against one server: Test Connection, the
//! initial cycle (match, create, manager fix-up, groups, members) and an
//! incremental cycle with a mover, a leaver, a returner, a member removal, a
//! group rename and a hard delete. The order follows Microsoft Learn, "How
//! Application Provisioning works in Microsoft Entra ID". Each dialect runs
//! the same cycle, and the final users, flags, memberships and identity
//! events are checked.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ENTERPRISE_URN, GROUP_URN, TestApp};
use crate::entra_requests::{
    ADSCIM_GROUP_URN, Dialect, encode, entra_user, event_kinds, filter_path, patch_group,
    patch_user, resource_ids,
};

/// A user as Entra stores it: UPN, objectId and name.
struct Person {
    user_name: &'static str,
    object_id: &'static str,
    given_name: &'static str,
    family_name: &'static str,
}

const MIRA: Person = Person {
    user_name: "mira.okafor@lockers.example",
    object_id: "a3c1f0e2-5b7d-4e8f-9a10-2b3c4d5e6f70",
    given_name: "Mira",
    family_name: "Okafor",
};
const IVO: Person = Person {
    user_name: "ivo.brandt@lockers.example",
    object_id: "b4d2a1f3-6c8e-4f90-8b21-3c4d5e6f7a81",
    given_name: "Ivo",
    family_name: "Brandt",
};
const LENA: Person = Person {
    user_name: "lena.fischer@lockers.example",
    object_id: "c5e3b2a4-7d9f-4a01-9c32-4d5e6f7a8b92",
    given_name: "Lena",
    family_name: "Fischer",
};
const TOMAS: Person = Person {
    user_name: "tomas.novak@lockers.example",
    object_id: "d6f4c3b5-8e0a-4b12-8d43-5e6f7a8b9ca3",
    given_name: "Tomas",
    family_name: "Novak",
};
const ANA: Person = Person {
    user_name: "ana.silva@lockers.example",
    object_id: "e7a5d4c6-9f1b-4c23-9e54-6f7a8b9cadb4",
    given_name: "Ana",
    family_name: "Silva",
};

const NIGHT_SHIFT: &str = "Bank B Night Shift";
const DAY_SHIFT: &str = "Bank C Day Shift";
const NIGHT_SHIFT_RENAMED: &str = "Bank B Late Shift";
const IVO_NEW_USER_NAME: &str = "i.brandt@lockers.example";

/// Matches a user by userName, Entra's default matching attribute, and
/// returns the ids found.
async fn match_user(app: &TestApp, user_name: &str) -> Vec<String> {
    let path = filter_path("Users", &format!("userName eq \"{user_name}\""));
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    resource_ids(&body)
}

/// Matches a group the way Entra does: by displayName, without members.
async fn match_group(app: &TestApp, display_name: &str) -> Value {
    let path = format!(
        "/Groups?excludedAttributes=members&filter={}",
        encode(&format!("displayName eq \"{display_name}\""))
    );
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert!(
        body["Resources"]
            .as_array()
            .is_some_and(|groups| groups.iter().all(|g| g.get("members").is_none())),
        "GET {path} returned members: {body}"
    );
    body
}

/// Matches then creates one user, as the initial cycle does for each
/// assigned user. Without the flag, `active` arrives as the string "True".
async fn provision_user(app: &TestApp, dialect: Dialect, person: &Person) -> String {
    let found = match_user(app, person.user_name).await;
    assert_eq!(
        found,
        Vec::<String>::new(),
        "{} matched before create",
        person.user_name
    );

    let mut body = entra_user(
        person.user_name,
        person.object_id,
        person.given_name,
        person.family_name,
    );
    body["active"] = dialect.boolean(true);
    let (status, created) = app.post("/Users", body).await;

    assert_eq!(status, StatusCode::CREATED, "POST /Users: {created}");
    assert_eq!(created["active"], json!(true), "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn provision_group(app: &TestApp, display_name: &str, object_id: &str) -> String {
    let found = match_group(app, display_name).await;
    assert_eq!(found["totalResults"], json!(0), "{found}");

    let (status, created) = app
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_URN, ADSCIM_GROUP_URN],
                "externalId": object_id,
                "displayName": display_name,
                "meta": {"resourceType": "Group"},
            }),
        )
        .await;

    assert_eq!(status, StatusCode::CREATED, "POST /Groups: {created}");
    created["id"].as_str().unwrap().to_string()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

async fn run_cycle(dialect: Dialect) {
    let app = TestApp::spawn().await;

    // Test Connection: a random GUID as the matching value.
    let probe = uuid::Uuid::new_v4().to_string();
    assert_eq!(match_user(&app, &probe).await, Vec::<String>::new());
    let found = match_group(&app, &probe).await;
    assert_eq!(found["totalResults"], json!(0), "{found}");

    // Initial cycle: match and create each user, then link managers.
    let mira = provision_user(&app, dialect, &MIRA).await;
    let ivo = provision_user(&app, dialect, &IVO).await;
    let lena = provision_user(&app, dialect, &LENA).await;
    let tomas = provision_user(&app, dialect, &TOMAS).await;
    let ana = provision_user(&app, dialect, &ANA).await;
    for report in [&ivo, &lena] {
        patch_user(&app, report, json!([dialect.set_manager(&mira)])).await;
    }

    // Entra creates groups empty and then adds members by PATCH, here once
    // as one multi-member PATCH and once as one PATCH per member.
    let night = provision_group(&app, NIGHT_SHIFT, "5d2c9a1e-0b7f-4c6d-8e21-3f4a5b6c7d8e").await;
    let day = provision_group(&app, DAY_SHIFT, "6e3dab2f-1c80-4d7e-9f32-405b6c7d8e9f").await;
    patch_group(
        &app,
        &night,
        json!([dialect.add_members(&[&mira, &ivo, &lena, &ana])]),
    )
    .await;
    for member in [&ivo, &tomas, &ana] {
        patch_group(&app, &day, json!([dialect.add_members(&[member])])).await;
    }

    // Incremental cycle, mover: Ivo changes name, email, department and UPN.
    assert_eq!(match_user(&app, IVO.user_name).await, vec![ivo.clone()]);
    patch_user(
        &app,
        &ivo,
        dialect.mover_update(
            IVO_NEW_USER_NAME,
            "Brandt-Ahl",
            "Depot South",
            IVO_NEW_USER_NAME,
        ),
    )
    .await;

    // Leaver: Tomas is unassigned, which Entra sends as active=false.
    patch_user(&app, &tomas, json!([dialect.set_active(false)])).await;

    // Returner: Lena is disabled and then re-enabled.
    patch_user(&app, &lena, json!([dialect.set_active(false)])).await;
    patch_user(&app, &lena, json!([dialect.set_active(true)])).await;

    patch_group(&app, &day, json!([dialect.remove_member(&ivo)])).await;
    patch_group(
        &app,
        &night,
        json!([dialect.rename_group(NIGHT_SHIFT_RENAMED)]),
    )
    .await;

    // Ana is soft-deleted in Entra (disable), then hard-deleted (DELETE).
    patch_user(&app, &ana, json!([dialect.set_active(false)])).await;
    let (status, body) = app.delete(&format!("/Users/{ana}")).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "DELETE /Users/{ana}: {body}"
    );

    // Final state: users and their active flags.
    let (status, users) = app.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let active: BTreeMap<String, Value> = users["Resources"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|u| (u["id"].as_str().unwrap().to_string(), u["active"].clone()))
                .collect()
        })
        .unwrap_or_default();
    let expected: BTreeMap<String, Value> = [
        (mira.clone(), json!(true)),
        (ivo.clone(), json!(true)),
        (lena.clone(), json!(true)),
        (tomas.clone(), json!(false)),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        active, expected,
        "{dialect:?} users and active flags: {users}"
    );
    let (status, body) = app.get(&format!("/Users/{ana}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{dialect:?} deleted user: {body}"
    );

    let (_, read) = app.get(&format!("/Users/{ivo}")).await;
    assert_eq!(
        read["userName"],
        json!(IVO_NEW_USER_NAME),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        read["name"]["familyName"],
        json!("Brandt-Ahl"),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        read["emails"][0]["value"],
        json!(IVO_NEW_USER_NAME),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        read[ENTERPRISE_URN]["department"],
        json!("Depot South"),
        "{dialect:?}: {read}"
    );
    for report in [&ivo, &lena] {
        let (_, read) = app.get(&format!("/Users/{report}")).await;
        assert_eq!(
            read[ENTERPRISE_URN]["manager"]["value"],
            json!(mira),
            "{dialect:?}: {read}"
        );
    }

    // Final state: groups and memberships. Disabled users keep theirs.
    let (status, groups) = app.get("/Groups?excludedAttributes=members").await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let names: BTreeMap<String, Value> = groups["Resources"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|g| {
                    (
                        g["id"].as_str().unwrap().to_string(),
                        g["displayName"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let expected: BTreeMap<String, Value> = [
        (night.clone(), json!(NIGHT_SHIFT_RENAMED)),
        (day.clone(), json!(DAY_SHIFT)),
    ]
    .into_iter()
    .collect();
    assert_eq!(names, expected, "{dialect:?} groups: {groups}");
    assert_eq!(
        app.member_ids(&night).await,
        sorted(&[&mira, &ivo, &lena]),
        "{dialect:?}: {NIGHT_SHIFT_RENAMED} members"
    );
    assert_eq!(
        app.member_ids(&day).await,
        vec![tomas.clone()],
        "{dialect:?}: {DAY_SHIFT} members"
    );

    let kinds = event_kinds(&app).await;
    let mut expected = vec!["user_created"; 5];
    expected.extend(["user_updated"; 2]);
    expected.extend(["group_created"; 2]);
    expected.extend(["member_added"; 7]);
    expected.extend([
        "user_updated",
        "user_deactivated",
        "user_deactivated",
        "user_reactivated",
        "member_removed",
        "group_updated",
        "user_deactivated",
        "member_removed",
        "member_removed",
        "user_deleted",
    ]);
    assert_eq!(kinds, expected, "{dialect:?} identity events");

    // The hard delete removed Ana from both groups before deleting her.
    let events = app.events().await;
    let mut ana_removed_from: Vec<String> = events
        .iter()
        .filter(|e| e.kind.as_str() == "member_removed" && e.object_id.as_deref() == Some(&ana))
        .map(|e| e.subject_id.clone())
        .collect();
    ana_removed_from.sort();
    assert_eq!(ana_removed_from, sorted(&[&night, &day]), "{dialect:?}");
}

#[tokio::test]
async fn cycle_default_dialect() {
    run_cycle(Dialect::Default).await;
}

#[tokio::test]
async fn cycle_flag_dialect() {
    run_cycle(Dialect::Flag).await;
}
