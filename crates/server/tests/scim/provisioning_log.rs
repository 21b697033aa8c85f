//! The provisioning log over the admin API: one entry per SCIM request, so
//! a helpdesk can see why Entra reported an error. Entries are written by a
//! background task, so the tests poll until the expected entries appear.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, USER_URN, send_with};

/// Time the tests wait for the background writer, which collects
/// entries for 50 ms before it writes them. Most of it is for a loaded CI
/// machine.
const LOG_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `GET /admin/v1/tenants/{slug}/provisioning-log?{query}` with `token`.
async fn read_log(app: &TestApp, slug: &str, token: &str, query: &str) -> Vec<Value> {
    let url = format!(
        "{}/admin/v1/tenants/{slug}/provisioning-log?{query}",
        app.origin
    );
    let (status, body) = send_with(&app.client, Method::GET, &url, token, None).await;
    assert_eq!(status, StatusCode::OK, "provisioning log {query}: {body}");
    body.as_array().cloned().expect("a JSON array of entries")
}

/// Polls the log until `ready` accepts it, and returns the last read.
async fn poll_log(
    app: &TestApp,
    slug: &str,
    token: &str,
    query: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + LOG_TIMEOUT;
    loop {
        let entries = read_log(app, slug, token, query).await;
        if ready(&entries) || tokio::time::Instant::now() >= deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn find_status(entries: &[Value], status: u16) -> Option<&Value> {
    entries.iter().find(|e| e["status"] == status)
}

fn user(user_name: &str) -> Value {
    json!({"schemas": [USER_URN], "userName": user_name, "active": true})
}

/// Creates a user (201) and sends the same create again (409) on the first
/// tenant. Returns the user's id.
async fn create_and_conflict(app: &TestApp) -> String {
    let id = app.create_user("mira.okafor@lockers.example").await;
    let (status, body) = app
        .post("/Users", user("mira.okafor@lockers.example"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "duplicate create: {body}");
    id
}

#[tokio::test]
async fn log_lists_success_and_failure() {
    let app = TestApp::spawn().await;
    let id = create_and_conflict(&app).await;
    let entries = poll_log(&app, "st-marys", &app.token, "", |e| {
        find_status(e, 201).is_some() && find_status(e, 409).is_some()
    })
    .await;
    let log = Value::Array(entries.clone());

    let created = find_status(&entries, 201).unwrap_or_else(|| panic!("no 201 entry: {log}"));
    assert_eq!(created["operation"], "create", "create entry: {created}");
    assert_eq!(created["method"], "POST", "create entry: {created}");
    assert_eq!(created["resource_type"], "User", "create entry: {created}");
    assert_eq!(created["resource_id"], json!(id), "create entry: {created}");
    assert_eq!(created["outcome"], "success", "create entry: {created}");
    assert_eq!(created["scim_type"], Value::Null, "create entry: {created}");
    assert_eq!(created["error"], Value::Null, "create entry: {created}");
    assert!(
        created["duration_us"].as_i64().is_some_and(|d| d > 0),
        "create entry duration: {created}"
    );

    let failed = find_status(&entries, 409).unwrap_or_else(|| panic!("no 409 entry: {log}"));
    assert_eq!(failed["operation"], "create", "conflict entry: {failed}");
    assert_eq!(failed["resource_type"], "User", "conflict entry: {failed}");
    assert_eq!(failed["outcome"], "failure", "conflict entry: {failed}");
    assert_eq!(
        failed["scim_type"], "uniqueness",
        "conflict entry: {failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("mira.okafor@lockers.example")),
        "conflict entry error names the userName: {failed}"
    );
    assert!(
        failed["duration_us"].as_i64().is_some_and(|d| d > 0),
        "conflict entry duration: {failed}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["tenant_id"] == json!(app.tenant.id)),
        "every entry belongs to the tenant: {log}"
    );
    app.stop().await;
}

#[tokio::test]
async fn failures_filter_keeps_failures() {
    let app = TestApp::spawn().await;
    create_and_conflict(&app).await;
    let (status, body) = app.get("/Users/0190c0de-0000-7000-8000-000000000000").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "get of an unknown user: {body}"
    );

    let entries = poll_log(&app, "st-marys", &app.token, "failures=true", |e| {
        find_status(e, 409).is_some() && find_status(e, 404).is_some()
    })
    .await;
    let log = Value::Array(entries.clone());
    assert!(
        find_status(&entries, 409).is_some(),
        "409 entry with failures=true: {log}"
    );
    assert!(
        find_status(&entries, 404).is_some(),
        "404 entry with failures=true: {log}"
    );
    assert!(
        entries.iter().all(|e| e["outcome"] == "failure"),
        "only failures with failures=true: {log}"
    );
    assert!(
        find_status(&entries, 201).is_none(),
        "201 entry with failures=true: {log}"
    );
    app.stop().await;
}

#[tokio::test]
async fn resource_filter_keeps_resource() {
    let app = TestApp::spawn().await;
    let id = create_and_conflict(&app).await;
    let other_id = app.create_user("ivo.brandt@lockers.example").await;
    let (status, body) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "get user: {body}");

    let query = format!("resource={id}");
    let entries = poll_log(&app, "st-marys", &app.token, &query, |e| e.len() >= 2).await;
    let log = Value::Array(entries.clone());
    let operations: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        ["get", "create"],
        "operations on {id}, newest first: {log}"
    );
    assert!(
        entries.iter().all(|e| e["resource_id"] == json!(id)),
        "only entries of {id}: {log}"
    );
    assert!(
        !entries.iter().any(|e| e["resource_id"] == json!(other_id)),
        "entries of another user with resource={id}: {log}"
    );
    app.stop().await;
}

#[tokio::test]
async fn other_tenant_entries_hidden() {
    let app = TestApp::spawn().await;
    let own_id = create_and_conflict(&app).await;
    let (other_scim, other_token, _) = app.add_tenant("bank-b").await;
    let url = format!("{other_scim}/Users");
    let (status, created) = send_with(
        &app.client,
        Method::POST,
        &url,
        &other_token,
        Some(user("lena.fischer@bank-b.example")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create in the other tenant: {created}"
    );
    let other_id = created["id"].as_str().expect("user id").to_string();
    let (status, body) = send_with(
        &app.client,
        Method::POST,
        &url,
        &other_token,
        Some(user("lena.fischer@bank-b.example")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "duplicate in the other tenant: {body}"
    );

    // Wait until the other tenant's entries are written, so their absence
    // from the first tenant's log means something.
    let other_entries = poll_log(&app, "bank-b", &other_token, "", |e| {
        find_status(e, 201).is_some() && find_status(e, 409).is_some()
    })
    .await;
    assert_eq!(
        other_entries.len(),
        2,
        "the other tenant's log: {}",
        Value::Array(other_entries.clone())
    );

    let entries = poll_log(&app, "st-marys", &app.token, "", |e| e.len() >= 2).await;
    let log = Value::Array(entries.clone());
    assert!(
        entries
            .iter()
            .all(|e| e["tenant_id"] == json!(app.tenant.id)),
        "entries of another tenant in the log: {log}"
    );
    assert!(
        !entries.iter().any(|e| e["resource_id"] == json!(other_id)),
        "the other tenant's user in the log: {log}"
    );
    assert!(
        entries.iter().any(|e| e["resource_id"] == json!(own_id)),
        "the tenant's own user in the log: {log}"
    );
    let filtered = read_log(
        &app,
        "st-marys",
        &app.token,
        &format!("resource={other_id}"),
    )
    .await;
    assert!(
        filtered.is_empty(),
        "resource filter with another tenant's id: {}",
        Value::Array(filtered.clone())
    );
    let failures = read_log(&app, "st-marys", &app.token, "failures=true").await;
    assert_eq!(
        failures.len(),
        1,
        "failures of the tenant, without the other tenant's 409: {}",
        Value::Array(failures.clone())
    );
    app.stop().await;
}
