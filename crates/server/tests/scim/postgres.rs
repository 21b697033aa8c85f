//! The same scenarios on PostgreSQL. SQLite serializes writes on one
//! connection, so concurrency bugs that depend on parallel transactions show
//! up only here. Each test returns early when `LOCKGATE_TEST_POSTGRES_URL`
//! is unset, which `TestApp::spawn_postgres` allows outside CI only.

use lockgate_domain::IdentityEventKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{ENTERPRISE_URN, TestApp, USER_URN, patch_op};
use crate::{concurrency, filters};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_member_adds() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    concurrency::concurrent_member_adds(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_member_removes() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    concurrency::concurrent_member_removes(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_duplicate_create() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    concurrency::concurrent_duplicate_create(app).await;
}

#[tokio::test]
async fn postgres_repeated_user_patch() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    concurrency::repeated_user_patch_is_noop(app).await;
}

#[tokio::test]
async fn postgres_repeated_member_add() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    concurrency::repeated_member_add_is_noop(app).await;
}

#[tokio::test]
async fn postgres_comparison_filters() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    filters::comparison_operators(app).await;
}

#[tokio::test]
async fn postgres_filter_case_rules() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    filters::case_sensitivity(app).await;
}

#[tokio::test]
async fn postgres_value_path_filters() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    filters::value_path_filters(app).await;
}

#[tokio::test]
async fn postgres_sort_by() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    filters::sort_by_and_order(app).await;
}

/// Create, read, PATCH (Entra's default dialect), filter and DELETE one user.
#[tokio::test]
async fn postgres_user_round_trip() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_URN, ENTERPRISE_URN],
                "userName": "mira.okafor@lockers.example",
                "externalId": "0a3c9e1d-mira",
                "displayName": "Mira Okafor",
                "name": {"givenName": "Mira", "familyName": "Okafor"},
                "emails": [{"value": "mira.okafor@lockers.example", "type": "work", "primary": true}],
                "active": true,
                ENTERPRISE_URN: {"department": "Depot North", "employeeNumber": "4711"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "create: {created}");
    let id = created["id"].as_str().expect("id").to_string();
    let path = format!("/Users/{id}");

    let (status, read) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "get after create: {read}");
    assert_eq!(read, created, "user read back after create");

    let (status, patched) = app
        .patch(
            &path,
            patch_op(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "name.familyName", "value": "Okafor-Hale"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Depot South"}
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "patch: {patched}");
    assert_eq!(patched["active"], false, "active after patch: {patched}");
    assert_eq!(
        patched["name"]["familyName"], "Okafor-Hale",
        "name.familyName after patch: {patched}"
    );
    assert_eq!(
        patched[ENTERPRISE_URN]["department"], "Depot South",
        "department after patch: {patched}"
    );
    assert_ne!(
        patched["meta"]["version"], created["meta"]["version"],
        "meta.version after patch: {patched}"
    );

    let (status, list) = app
        .get("/Users?filter=externalId+eq+%220a3c9e1d-mira%22+and+active+eq+false")
        .await;
    assert_eq!(status, StatusCode::OK, "filter after patch: {list}");
    assert_eq!(
        list["totalResults"], 1,
        "users matching externalId and active false: {list}"
    );

    let (status, body) = app.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "delete: {body}");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "get after delete: {body}");

    let kinds: Vec<IdentityEventKind> = app
        .events()
        .await
        .iter()
        .filter(|e| e.subject_id == id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            IdentityEventKind::UserCreated,
            IdentityEventKind::UserDeactivated,
            IdentityEventKind::UserDeleted
        ],
        "identity events of the round trip"
    );
    app.stop().await;
}
