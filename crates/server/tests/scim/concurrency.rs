//! Concurrent and repeated writes. Vendors report that Entra sometimes sends
//! one membership PATCH per member, several in flight at once, and sends
//! changes that are already in place, such as adding an existing member.
//! Membership changes must therefore be row-level and idempotent, and
//! RFC 7644 §3.5.2.1 makes adding a value that is already there a success.
//!
//! Each scenario takes the `TestApp` it runs on, so `postgres.rs` runs the
//! same scenarios against PostgreSQL.

use futures::future::join_all;
use lockgate_domain::{IdentityEvent, IdentityEventKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{GROUP_URN, TestApp, USER_URN, patch_op};

/// How many PATCH requests each scenario has in flight at once.
const PARALLEL_REQUESTS: usize = 50;

/// Creates `count` users named `{prefix}-{n}@lockers.example` concurrently
/// and returns their ids, sorted.
async fn create_users(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let creates = (0..count).map(|n| {
        let user_name = format!("{prefix}-{n}@lockers.example");
        async move { app.create_user(&user_name).await }
    });
    let mut ids = join_all(creates).await;
    ids.sort();
    ids
}

/// Counts events of `kind` whose subject is `subject_id`.
fn count_events(events: &[IdentityEvent], kind: IdentityEventKind, subject_id: &str) -> usize {
    events
        .iter()
        .filter(|e| e.kind == kind && e.subject_id == subject_id)
        .count()
}

/// Entra's default-dialect member add: capitalised `op` and `"$ref": null`.
fn add_member_body(user_id: &str) -> Value {
    patch_op(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": user_id}]}]))
}

/// Entra's default-dialect member removal: path `members` with a value list.
fn remove_member_body(user_id: &str) -> Value {
    patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": user_id}]}]))
}

/// Sends 50 single-member adds to one group at once and checks that all land.
pub(crate) async fn concurrent_member_adds(app: TestApp) {
    let group_id = app.create_group("Bank B Night Shift").await;
    let user_ids = create_users(&app, "adder", PARALLEL_REQUESTS).await;
    let group_path = format!("/Groups/{group_id}");

    let patches = user_ids
        .iter()
        .map(|id| app.patch(&group_path, add_member_body(id)));
    let responses = join_all(patches).await;

    for (id, (status, body)) in user_ids.iter().zip(&responses) {
        assert_eq!(
            *status,
            StatusCode::NO_CONTENT,
            "PATCH adding member {id} returned {status}: {body}"
        );
    }
    let members = app.member_ids(&group_id).await;
    assert_eq!(
        members.len(),
        PARALLEL_REQUESTS,
        "member count after {PARALLEL_REQUESTS} concurrent adds; members: {members:?}"
    );
    assert_eq!(members, user_ids, "members after concurrent adds");
    let events = app.events().await;
    assert_eq!(
        count_events(&events, IdentityEventKind::MemberAdded, &group_id),
        PARALLEL_REQUESTS,
        "member_added events after concurrent adds"
    );
    app.stop().await;
}

/// Sends 50 single-member removes to a group of 50 at once and checks that
/// the group ends empty.
pub(crate) async fn concurrent_member_removes(app: TestApp) {
    let user_ids = create_users(&app, "leaver", PARALLEL_REQUESTS).await;
    let members: Vec<Value> = user_ids.iter().map(|id| json!({"value": id})).collect();
    let (status, body) = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_URN], "displayName": "Bank C Day Shift", "members": members}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "create group: {body}");
    let group_id = body["id"].as_str().expect("group id").to_string();
    let group_path = format!("/Groups/{group_id}");
    assert_eq!(
        app.member_ids(&group_id).await.len(),
        PARALLEL_REQUESTS,
        "members before the removes"
    );

    let patches = user_ids
        .iter()
        .map(|id| app.patch(&group_path, remove_member_body(id)));
    let responses = join_all(patches).await;

    for (id, (status, body)) in user_ids.iter().zip(&responses) {
        assert_eq!(
            *status,
            StatusCode::NO_CONTENT,
            "PATCH removing member {id} returned {status}: {body}"
        );
    }
    let left = app.member_ids(&group_id).await;
    assert!(
        left.is_empty(),
        "members left after concurrent removes: {left:?}"
    );
    let events = app.events().await;
    assert_eq!(
        count_events(&events, IdentityEventKind::MemberRemoved, &group_id),
        PARALLEL_REQUESTS,
        "member_removed events after concurrent removes"
    );
    app.stop().await;
}

/// Sends the same POST /Users twice at once. One user is created, and the
/// other request gets 409 `uniqueness`, which Entra handles by matching the
/// existing user.
pub(crate) async fn concurrent_duplicate_create(app: TestApp) {
    let user_name = "lena.fischer@lockers.example";
    let body = json!({
        "schemas": [USER_URN],
        "userName": user_name,
        "externalId": "6c1f0a2e-lena",
        "active": true
    });
    let (first, second) = tokio::join!(
        app.post("/Users", body.clone()),
        app.post("/Users", body.clone())
    );

    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "statuses of two identical concurrent creates; bodies: {} / {}",
        first.1,
        second.1
    );
    let conflict = if first.0 == StatusCode::CONFLICT {
        &first.1
    } else {
        &second.1
    };
    assert_eq!(
        conflict["scimType"], "uniqueness",
        "scimType of the rejected create: {conflict}"
    );

    let filter = format!("/Users?filter=userName+eq+%22{user_name}%22");
    let (status, list) = app.get(&filter).await;
    assert_eq!(status, StatusCode::OK, "filter by userName: {list}");
    assert_eq!(
        list["totalResults"], 1,
        "users matching {user_name}: {list}"
    );
    let created = app
        .events()
        .await
        .iter()
        .filter(|e| e.kind == IdentityEventKind::UserCreated)
        .count();
    assert_eq!(created, 1, "user_created events after two creates");
    app.stop().await;
}

/// Sends the same user PATCH twice. The second leaves `meta.version` as it
/// was and appends no identity event.
pub(crate) async fn repeated_user_patch_is_noop(app: TestApp) {
    let user_id = app.create_user("mira.okafor@lockers.example").await;
    let path = format!("/Users/{user_id}");
    let body = patch_op(json!([
        {"op": "Replace", "path": "displayName", "value": "Mira Okafor"},
        {"op": "Replace", "path": "active", "value": "False"}
    ]));

    let (status, first) = app.patch(&path, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "first PATCH: {first}");
    let events_after_first = app.events().await.len();

    let (status, second) = app.patch(&path, body).await;
    assert_eq!(status, StatusCode::OK, "repeated PATCH: {second}");
    assert_eq!(
        second["meta"]["version"], first["meta"]["version"],
        "meta.version after the repeated PATCH: {second}"
    );
    assert_eq!(
        second["meta"]["lastModified"], first["meta"]["lastModified"],
        "meta.lastModified after the repeated PATCH: {second}"
    );
    assert_eq!(
        app.events().await.len(),
        events_after_first,
        "identity events after the repeated PATCH"
    );
    let (_, read_back) = app.get(&path).await;
    assert_eq!(read_back, second, "user read back after the repeated PATCH");
    app.stop().await;
}

/// Adds a member twice. The second add succeeds with 204 and changes nothing
/// (RFC 7644 §3.5.2.1).
pub(crate) async fn repeated_member_add_is_noop(app: TestApp) {
    let group_id = app.create_group("Bank A Weekend").await;
    let user_id = app.create_user("ivo.brandt@lockers.example").await;
    let path = format!("/Groups/{group_id}");

    let (status, body) = app.patch(&path, add_member_body(&user_id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "first add: {body}");
    let (_, before) = app.get(&path).await;
    let events_before = app.events().await.len();

    let (status, body) = app.patch(&path, add_member_body(&user_id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "repeated add: {body}");
    let (_, after) = app.get(&path).await;
    assert_eq!(
        after["meta"]["version"], before["meta"]["version"],
        "group meta.version after the repeated add: {after}"
    );
    assert_eq!(after, before, "group read back after the repeated add");
    assert_eq!(
        app.events().await.len(),
        events_before,
        "identity events after the repeated add"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_adds_all_land() {
    concurrent_member_adds(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_removes_empty_group() {
    concurrent_member_removes(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_create_makes_one() {
    concurrent_duplicate_create(TestApp::spawn().await).await;
}

#[tokio::test]
async fn repeated_user_patch_changes_nothing() {
    repeated_user_patch_is_noop(TestApp::spawn().await).await;
}

#[tokio::test]
async fn repeated_member_add_changes_nothing() {
    repeated_member_add_is_noop(TestApp::spawn().await).await;
}
