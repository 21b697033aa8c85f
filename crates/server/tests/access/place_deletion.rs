//! Deleting sites, zones and banks over the admin API: rejected with every
//! reference still in the way, then allowed bottom-up once they are gone.

use lockgate_domain::audit::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::physical::{create_ward, get_ok, ids, post_all};
use crate::support::AccessApp;

/// Creates the ward of the physical tests (site `main`, zone `w3`, bank
/// `w3-a` with two lockers), a policy naming the bank, one naming the
/// zone, and a device token for the bank. Returns the device token's
/// credential id.
async fn ward_with_references(access: &AccessApp) -> String {
    create_ward(access).await;
    for (id, what) in [
        ("by-bank", json!({"banks": ["w3-a", "w3-b"]})),
        ("by-zone", json!({"zones": ["w3"], "kinds": ["personal"]})),
    ] {
        let policy = json!({"who": {"groups": ["nurses"]}, "what": what, "how": {"mode": "fixed"}});
        let path = format!("/policies/{id}");
        let (status, body) = access
            .admin(Method::PUT, &path, Some(json!({"policy": policy})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (token, _) = access
        .app
        .store
        .create_device_token(&access.app.tenant.id, "w3-a")
        .await
        .unwrap();
    token.id
}

async fn delete(access: &AccessApp, path: &str) -> (StatusCode, String) {
    let (status, body) = access.admin(Method::DELETE, path, None).await;
    let detail = body["detail"].as_str().map(str::to_string);
    (status, detail.unwrap_or_else(|| body.to_string()))
}

async fn deletion_records(access: &AccessApp) -> Vec<Value> {
    let body = get_ok(access, "/audit?limit=1000").await;
    let records = body.as_array().unwrap().iter();
    records
        .filter(|record| record["action"].as_str().unwrap().ends_with("_deleted"))
        .filter(|record| record["action"] != "locker_deleted")
        .cloned()
        .collect()
}

async fn rejected_while_referenced(access: &AccessApp) {
    let token = ward_with_references(access).await;

    let (status, detail) = delete(access, "/sites/main").await;
    assert_eq!(status, StatusCode::CONFLICT, "{detail}");
    assert!(
        detail.contains("site \"main\" cannot be deleted"),
        "{detail}"
    );
    assert!(
        detail.contains("it has 1 zone: w3 (delete it with DELETE /zones/{id} first)"),
        "{detail}"
    );

    let (status, detail) = delete(access, "/zones/w3").await;
    assert_eq!(status, StatusCode::CONFLICT, "{detail}");
    assert!(detail.contains("it has 1 bank: w3-a ("), "{detail}");
    assert!(
        detail.contains("policy \"by-zone\" names it in what.zones (retire the policy: saved without it, the policy would name no bank or zone and cover every bank)"),
        "{detail}"
    );
    assert!(!detail.contains("by-bank"), "{detail}");

    let (status, detail) = delete(access, "/banks/w3-a").await;
    assert_eq!(status, StatusCode::CONFLICT, "{detail}");
    assert!(
        detail.contains("it has 2 lockers: w3-a-1, w3-a-2 ("),
        "{detail}"
    );
    assert!(
        detail.contains(
            "(delete each with DELETE /lockers/{id} first; an assigned locker needs its \
             assignment ended first, with POST /assignments/{id}/end)"
        ),
        "{detail}"
    );
    assert!(
        detail.contains(
            "policy \"by-bank\" names it in what.banks (save the policy without it, or retire the policy)"
        ),
        "{detail}"
    );
    let tokens = format!(
        "1 device token of the bank is not revoked: {token} \
         (revoke each with DELETE /device-tokens/{{id}} or `lockgate device-token revoke TENANT ID`)"
    );
    assert!(detail.contains(&tokens), "{detail}");

    let (status, detail) = delete(access, "/banks/w3-z").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{detail}");
    assert!(detail.contains("bank \"w3-z\""), "{detail}");

    // Nothing changed and nothing was recorded.
    assert_eq!(ids(&get_ok(access, "/sites").await), ["main"]);
    assert_eq!(ids(&get_ok(access, "/zones").await), ["w3"]);
    assert_eq!(ids(&get_ok(access, "/banks").await), ["w3-a"]);
    assert_eq!(ids(&get_ok(access, "/lockers").await), ["w3-a-1", "w3-a-2"]);
    assert!(deletion_records(access).await.is_empty());
}

async fn deleted_once_unreferenced(access: &AccessApp) {
    let token = ward_with_references(access).await;

    for locker in ["/lockers/w3-a-1", "/lockers/w3-a-2"] {
        assert_eq!(delete(access, locker).await.0, StatusCode::NO_CONTENT);
    }
    let (status, body) = access
        .admin(
            Method::POST,
            "/policies/by-bank/retire",
            Some(json!({"base_version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let policy = json!({"who": {"groups": ["nurses"]}, "what": {"kinds": ["personal"]}, "how": {"mode": "fixed"}});
    let (status, body) = access
        .admin(
            Method::PUT,
            "/policies/by-zone",
            Some(json!({"policy": policy, "base_version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The bank's device token is the last reference.
    let (status, detail) = delete(access, "/banks/w3-a").await;
    assert_eq!(status, StatusCode::CONFLICT, "{detail}");
    assert!(!detail.contains("lockers"), "{detail}");
    assert!(!detail.contains("policy"), "{detail}");
    let (status, detail) = delete(access, &format!("/device-tokens/{token}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{detail}");

    for path in ["/banks/w3-a", "/zones/w3", "/sites/main"] {
        let (status, detail) = delete(access, path).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {detail}");
    }
    assert!(ids(&get_ok(access, "/sites").await).is_empty());
    assert!(ids(&get_ok(access, "/zones").await).is_empty());
    assert!(ids(&get_ok(access, "/banks").await).is_empty());
    let (status, _) = delete(access, "/sites/main").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let records = deletion_records(access).await;
    let summary: Vec<(&str, &str, &Value)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["subject"].as_str().unwrap(),
                &r["detail"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "bank_deleted",
                "w3-a",
                &json!({"name": "Staff room A", "zone": "w3"})
            ),
            (
                "zone_deleted",
                "w3",
                &json!({"name": "Ward 3", "site": "main"})
            ),
            ("site_deleted", "main", &json!({"name": "Main campus"})),
        ]
    );
    for record in &records {
        assert_eq!(record["source"], "admin", "{record}");
        let actor: Actor = serde_json::from_value(record["actor"].clone()).unwrap();
        assert!(matches!(actor, Actor::Admin(_)), "{record}");
    }

    // The id can be used again for a new bank, which starts empty.
    post_all(
        access,
        [
            ("/sites", json!({"id": "main", "name": "Main campus"})),
            (
                "/zones",
                json!({"id": "w3", "site": "main", "name": "Ward 3"}),
            ),
            (
                "/banks",
                json!({"id": "w3-a", "zone": "w3", "name": "New room"}),
            ),
        ],
    )
    .await;
    assert!(ids(&get_ok(access, "/lockers?bank=w3-a").await).is_empty());
}

#[tokio::test]
async fn place_deletion_sqlite() {
    rejected_while_referenced(&AccessApp::spawn().await).await;
    deleted_once_unreferenced(&AccessApp::spawn().await).await;
}

#[tokio::test]
async fn place_deletion_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    rejected_while_referenced(&AccessApp::with(app).await).await;
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    deleted_once_unreferenced(&AccessApp::with(app).await).await;
}

/// Adds a locker to a new bank while deleting the bank, twenty times. One
/// of the two wins each time, the other gets a 4xx, and no locker is left
/// in a bank that does not exist.
async fn locker_added_during_deletion(access: &AccessApp) {
    post_all(
        access,
        [
            ("/sites", json!({"id": "main", "name": "Main campus"})),
            (
                "/zones",
                json!({"id": "w3", "site": "main", "name": "Ward 3"}),
            ),
        ],
    )
    .await;
    for round in 0..20 {
        let bank = format!("b{round}");
        let body = json!({"id": bank, "zone": "w3", "name": format!("Bank {round}")});
        let (status, response) = access.admin(Method::POST, "/banks", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{response}");

        let locker = json!({"id": format!("{bank}-1"), "bank": bank, "door": "1", "kind": "personal", "size": "small"});
        let path = format!("/banks/{bank}");
        let (added, deleted) = tokio::join!(
            access.admin(Method::POST, "/lockers", Some(locker)),
            delete(access, &path),
        );
        let outcome = (added.0, deleted.0);
        let expected = [
            (StatusCode::CREATED, StatusCode::CONFLICT),
            (StatusCode::BAD_REQUEST, StatusCode::NO_CONTENT),
            (StatusCode::CONFLICT, StatusCode::NO_CONTENT),
        ];
        assert!(
            expected.contains(&outcome),
            "round {round}: locker {added:?}, bank {deleted:?}"
        );
    }
    let banks = get_ok(access, "/banks").await;
    let banks = ids(&banks);
    let lockers = get_ok(access, "/lockers").await;
    for locker in lockers.as_array().unwrap() {
        let bank = locker["bank"].as_str().unwrap();
        assert!(banks.contains(&bank), "{locker} is in a deleted bank");
    }
}

#[tokio::test]
async fn locker_added_during_deletion_sqlite() {
    locker_added_during_deletion(&AccessApp::spawn().await).await;
}

#[tokio::test]
async fn locker_added_during_deletion_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    locker_added_during_deletion(&AccessApp::with(app).await).await;
}
