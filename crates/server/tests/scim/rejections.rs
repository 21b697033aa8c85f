//! Malformed, invalid and oversized requests. Each gets a 4xx RFC 7644
//! §3.12 error whose `detail` names the offending value, never a 500, and
//! none changes any stored user, group or identity event.

use reqwest::header::{ALLOW, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{GROUP_URN, TestApp, USER_URN, patch_op};

const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Maximum request body the server accepts, in bytes.
const MAX_PAYLOAD_BYTES: usize = 1_048_576;

/// Sends `body` as raw bytes, so the tests can send what is not valid JSON.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.scim))
        .bearer_auth(&app.token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json; charset=utf-8")
            .body(body);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, value)
}

/// Users and groups as SCIM lists them, and the identity event count.
async fn snapshot(app: &TestApp) -> (Value, Value, usize) {
    let (status, users) = app.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "list users: {users}");
    let (status, groups) = app.get("/Groups").await;
    assert_eq!(status, StatusCode::OK, "list groups: {groups}");
    (users, groups, app.events().await.len())
}

async fn assert_unchanged(app: &TestApp, before: &(Value, Value, usize), context: &str) {
    let after = snapshot(app).await;
    assert_eq!(after.0, before.0, "users after {context}");
    assert_eq!(after.1, before.1, "groups after {context}");
    assert_eq!(after.2, before.2, "identity event count after {context}");
}

/// Checks an RFC 7644 §3.12 error response: the HTTP status, the error
/// schema, `status` as a string equal to the HTTP status, the `scimType`
/// when one is expected, and a `detail` that contains `mentions`.
fn assert_scim_error(
    context: &str,
    (status, body): (StatusCode, &Value),
    expected: StatusCode,
    scim_type: Option<&str>,
    mentions: &str,
) {
    assert_eq!(status, expected, "{context}: {body}");
    let has_error_schema = body["schemas"]
        .as_array()
        .is_some_and(|schemas| schemas.iter().any(|s| s == ERROR_URN));
    assert!(
        has_error_schema,
        "{context}: schemas lacks {ERROR_URN}: {body}"
    );
    assert_eq!(
        body["status"],
        json!(expected.as_u16().to_string()),
        "{context}: status must be the HTTP status as a string: {body}"
    );
    if let Some(scim_type) = scim_type {
        assert_eq!(body["scimType"], scim_type, "{context}: scimType: {body}");
    }
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(mentions),
        "{context}: detail should name {mentions:?}: {body}"
    );
}

/// Creates a user with a display name for the PATCH tests and returns its id.
async fn seed_user(app: &TestApp) -> String {
    let (status, body) = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_URN],
                "userName": "mira.okafor@lockers.example",
                "displayName": "Mira Okafor",
                "active": true
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "create user: {body}");
    body["id"].as_str().expect("user id").to_string()
}

#[tokio::test]
async fn invalid_json_rejected() {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    let before = snapshot(&app).await;
    let broken = br#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "#;

    let (status, _, body) = send_raw(&app, Method::POST, "/Users", Some(broken.to_vec())).await;
    assert_scim_error(
        "POST with invalid JSON",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
        "not valid JSON",
    );
    let path = format!("/Users/{id}");
    let (status, _, body) = send_raw(
        &app,
        Method::PATCH,
        &path,
        Some(b"{\"Operations\": [".to_vec()),
    )
    .await;
    assert_scim_error(
        "PATCH with invalid JSON",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
        "not valid JSON",
    );
    assert_unchanged(&app, &before, "invalid JSON").await;
    app.stop().await;
}

#[tokio::test]
async fn json_array_body_rejected() {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    let before = snapshot(&app).await;

    let (status, body) = app
        .post(
            "/Users",
            json!([{"schemas": [USER_URN], "userName": "ivo.brandt@lockers.example"}]),
        )
        .await;
    assert_scim_error(
        "POST with an array body",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
        "array",
    );
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_scim_error(
        "PATCH with an array body",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
        "array",
    );
    assert_unchanged(&app, &before, "array bodies").await;
    app.stop().await;
}

#[tokio::test]
async fn empty_body_rejected() {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    let before = snapshot(&app).await;

    for (method, path) in [
        (Method::POST, "/Users".to_string()),
        (Method::PUT, format!("/Users/{id}")),
        (Method::PATCH, format!("/Users/{id}")),
    ] {
        let (status, _, body) = send_raw(&app, method.clone(), &path, Some(Vec::new())).await;
        assert_scim_error(
            &format!("{method} {path} with an empty body"),
            (status, &body),
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "empty",
        );
    }
    assert_unchanged(&app, &before, "empty bodies").await;
    app.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = TestApp::spawn().await;
    let before = snapshot(&app).await;
    let padding = "x".repeat(MAX_PAYLOAD_BYTES);
    let body = json!({
        "schemas": [USER_URN],
        "userName": "big.body@lockers.example",
        "displayName": padding
    });

    let (status, _, body) = send_raw(
        &app,
        Method::POST,
        "/Users",
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert_scim_error(
        "POST over 1 MiB",
        (status, &body),
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        &MAX_PAYLOAD_BYTES.to_string(),
    );
    assert_unchanged(&app, &before, "an oversized body").await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_attribute_rejected() {
    let app = TestApp::spawn().await;
    let before = snapshot(&app).await;
    let (status, body) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "userName": "ivo.brandt@lockers.example", "shoeSize": "44"}),
        )
        .await;
    assert_scim_error(
        "POST with an unknown attribute",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "shoeSize",
    );
    assert_unchanged(&app, &before, "an unknown attribute").await;
    app.stop().await;
}

#[tokio::test]
async fn missing_user_name_rejected() {
    let app = TestApp::spawn().await;
    let before = snapshot(&app).await;
    let (status, body) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "displayName": "No Name", "active": true}),
        )
        .await;
    assert_scim_error(
        "POST without userName",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "userName",
    );
    assert_unchanged(&app, &before, "a missing userName").await;
    app.stop().await;
}

#[tokio::test]
async fn non_boolean_active_rejected() {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    let before = snapshot(&app).await;

    let (status, body) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "userName": "ivo.brandt@lockers.example", "active": "maybe"}),
        )
        .await;
    assert_scim_error(
        "POST with active \"maybe\"",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "maybe",
    );
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            patch_op(json!([{"op": "Replace", "path": "active", "value": "maybe"}])),
        )
        .await;
    assert_scim_error(
        "PATCH with active \"maybe\"",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "maybe",
    );
    assert_unchanged(&app, &before, "a non-boolean active").await;
    app.stop().await;
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn bad_filter_syntax_rejected() {
    let app = TestApp::spawn().await;
    seed_user(&app).await;
    for filter in [
        "userName eq",
        "userName xx \"mira\"",
        "(userName eq \"mira\"",
        "userName eq \"mira\" and",
    ] {
        let (status, body) = app.get(&format!("/Users?filter={}", encode(filter))).await;
        assert_scim_error(
            &format!("filter {filter}"),
            (status, &body),
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
            "userName",
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_filter_attribute_rejected() {
    let app = TestApp::spawn().await;
    seed_user(&app).await;
    for (path, filter) in [
        ("/Users", "shoeSize eq \"44\""),
        ("/Users", "name.nickname eq \"Mira\""),
        ("/Groups", "shoeSize pr"),
    ] {
        let (status, body) = app.get(&format!("{path}?filter={}", encode(filter))).await;
        let offending = filter.split(' ').next().unwrap_or_default();
        let name = offending.rsplit('.').next().unwrap_or(offending);
        assert_scim_error(
            &format!("{path} filter {filter}"),
            (status, &body),
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
            name,
        );
    }
    app.stop().await;
}

/// Sends one PATCH to the seeded user and checks the error and that the
/// user is unchanged.
async fn check_rejected_user_patch(
    operations: Value,
    scim_type: &str,
    mentions: &str,
    context: &str,
) {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    let before = snapshot(&app).await;
    let (status, body) = app
        .patch(&format!("/Users/{id}"), patch_op(operations))
        .await;
    assert_scim_error(
        context,
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some(scim_type),
        mentions,
    );
    assert_unchanged(&app, &before, context).await;
    app.stop().await;
}

#[tokio::test]
async fn bad_patch_op_rejected() {
    check_rejected_user_patch(
        json!([{"op": "Merge", "path": "displayName", "value": "Mira O."}]),
        "invalidSyntax",
        "Merge",
        "PATCH op Merge",
    )
    .await;
}

#[tokio::test]
async fn bad_patch_path_rejected() {
    check_rejected_user_patch(
        json!([{"op": "replace", "path": "shoeSize", "value": "44"}]),
        "invalidPath",
        "shoeSize",
        "PATCH path shoeSize",
    )
    .await;
    check_rejected_user_patch(
        json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "a@x.example"}]),
        "invalidPath",
        "emails[type eq",
        "PATCH path with an unclosed filter",
    )
    .await;
}

#[tokio::test]
async fn remove_without_path_rejected() {
    check_rejected_user_patch(
        json!([{"op": "remove"}]),
        "noTarget",
        "path",
        "PATCH remove without path",
    )
    .await;
}

#[tokio::test]
async fn patch_of_id_rejected() {
    check_rejected_user_patch(
        json!([{"op": "replace", "path": "id", "value": "my-own-id"}]),
        "mutability",
        "\"id\"",
        "PATCH of id",
    )
    .await;
}

/// A PATCH is atomic (RFC 7644 §3.5.2), so when a later operation fails the
/// earlier ones are not applied either.
#[tokio::test]
async fn failed_patch_applies_nothing() {
    check_rejected_user_patch(
        json!([
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "replace", "path": "active", "value": "maybe"}
        ]),
        "invalidValue",
        "maybe",
        "user PATCH whose second operation is invalid",
    )
    .await;

    // On a group the first operation inserts a member row, which the store
    // has already run when the last operation fails.
    let app = TestApp::spawn().await;
    let group_id = app.create_group("Bank B Night Shift").await;
    let user_id = app.create_user("ivo.brandt@lockers.example").await;
    let missing = "0190c0de-0000-7000-8000-000000000000";
    let before = snapshot(&app).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{group_id}"),
            patch_op(json!([
                {"op": "Add", "path": "members", "value": [{"value": user_id}]},
                {"op": "Replace", "path": "displayName", "value": "Renamed"},
                {"op": "Add", "path": "members", "value": [{"value": missing}]}
            ])),
        )
        .await;
    assert_scim_error(
        "group PATCH whose third operation adds an unknown member",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        missing,
    );
    let members = app.member_ids(&group_id).await;
    assert!(
        members.is_empty(),
        "members after the failed PATCH: {members:?}"
    );
    assert_unchanged(&app, &before, "a group PATCH that failed part way").await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_member_rejected() {
    let app = TestApp::spawn().await;
    let group_id = app.create_group("Bank B Night Shift").await;
    let missing = "0190c0de-0000-7000-8000-00000000abcd";
    let before = snapshot(&app).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{group_id}"),
            patch_op(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": missing}]}])),
        )
        .await;
    assert_scim_error(
        "adding a member that does not exist",
        (status, &body),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        missing,
    );
    assert_unchanged(&app, &before, "adding an unknown member").await;
    app.stop().await;
}

/// userName is `caseExact: false` with server uniqueness (RFC 7643 §4.1.1),
/// so a name that differs only in case is taken.
#[tokio::test]
async fn user_name_case_duplicate_rejected() {
    let app = TestApp::spawn().await;
    seed_user(&app).await;
    let other_id = app.create_user("ivo.brandt@lockers.example").await;
    let before = snapshot(&app).await;

    let (status, body) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "userName": "MIRA.Okafor@Lockers.Example"}),
        )
        .await;
    assert_scim_error(
        "POST with a userName differing only in case",
        (status, &body),
        StatusCode::CONFLICT,
        Some("uniqueness"),
        "MIRA.Okafor@Lockers.Example",
    );
    let (status, body) = app
        .patch(
            &format!("/Users/{other_id}"),
            patch_op(json!([{"op": "replace", "path": "userName", "value": "Mira.Okafor@lockers.example"}])),
        )
        .await;
    assert_scim_error(
        "PATCH renaming to a userName differing only in case",
        (status, &body),
        StatusCode::CONFLICT,
        Some("uniqueness"),
        "Mira.Okafor@lockers.example",
    );
    assert_unchanged(&app, &before, "case-insensitive duplicates").await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_route_is_scim_404() {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    for path in ["/Lockers".to_string(), format!("/Users/{id}/Lockers")] {
        let (status, body) = app.get(&path).await;
        assert_scim_error(
            &format!("GET {path}"),
            (status, &body),
            StatusCode::NOT_FOUND,
            None,
            &path,
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn unsupported_method_rejected() {
    let app = TestApp::spawn().await;
    let id = seed_user(&app).await;
    let before = snapshot(&app).await;
    let user_path = format!("/Users/{id}");
    for (method, path, body) in [
        (Method::DELETE, "/Users", None),
        (
            Method::POST,
            user_path.as_str(),
            Some(json!({"schemas": [USER_URN], "userName": "x@lockers.example"})),
        ),
        (
            Method::PUT,
            "/Groups",
            Some(json!({"schemas": [GROUP_URN], "displayName": "All"})),
        ),
        (Method::DELETE, "/ServiceProviderConfig", None),
    ] {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, headers, response) = send_raw(&app, method.clone(), path, bytes).await;
        let context = format!("{method} {path}");
        assert_scim_error(
            &context,
            (status, &response),
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            method.as_str(),
        );
        assert!(
            headers.contains_key(ALLOW),
            "{context}: a 405 lists the allowed methods in Allow (RFC 9110 §15.5.6): {headers:?}"
        );
    }
    assert_unchanged(&app, &before, "unsupported methods").await;
    app.stop().await;
}
