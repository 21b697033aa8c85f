//! Tenant isolation: one tenant's credentials never read or change another
//! tenant's data, whether they are sent to the other tenant's URL or carry
//! the other tenant's resource ids to their own URL.

use lockgate_store::Tenant;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{GROUP_URN, TestApp, USER_URN, patch_op, send_with};

const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const OTHER_SLUG: &str = "bank-b";

/// The second tenant, with one user and one group that has the user as a
/// member.
struct OtherTenant {
    scim: String,
    token: String,
    tenant: Tenant,
    user_id: String,
    group_id: String,
}

impl OtherTenant {
    async fn send(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.scim);
        send_with(&app.client, method, &url, &self.token, body).await
    }

    /// Everything of this tenant that a write could change: users and groups
    /// as SCIM returns them, and the identity event count.
    async fn snapshot(&self, app: &TestApp) -> (Value, Value, usize) {
        let (status, users) = self.send(app, Method::GET, "/Users", None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "list the other tenant's users: {users}"
        );
        let (status, groups) = self.send(app, Method::GET, "/Groups", None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "list the other tenant's groups: {groups}"
        );
        let events = app
            .store
            .tenant(&self.tenant.id)
            .events_after(0, 100_000)
            .await
            .expect("read the other tenant's events");
        (users, groups, events.len())
    }
}

async fn add_other_tenant(app: &TestApp) -> OtherTenant {
    let (scim, token, tenant) = app.add_tenant(OTHER_SLUG).await;
    let mut other = OtherTenant {
        scim,
        token,
        tenant,
        user_id: String::new(),
        group_id: String::new(),
    };
    let (status, user) = other
        .send(
            app,
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": [USER_URN],
                "userName": "lena.fischer@bank-b.example",
                "externalId": "b-ext-lena",
                "displayName": "Lena Fischer",
                "active": true
            })),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create the other tenant's user: {user}"
    );
    other.user_id = user["id"].as_str().expect("user id").to_string();
    let (status, group) = other
        .send(
            app,
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP_URN],
                "displayName": "Bank B Night Shift",
                "members": [{"value": other.user_id}]
            })),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create the other tenant's group: {group}"
    );
    other.group_id = group["id"].as_str().expect("group id").to_string();
    other
}

/// Every route of tenant B, called with tenant A's token, gets 401 and
/// changes nothing in B.
#[tokio::test]
async fn foreign_token_rejected_everywhere() {
    let app = TestApp::spawn().await;
    let other = add_other_tenant(&app).await;
    let before = other.snapshot(&app).await;

    let user = json!({"schemas": [USER_URN], "userName": "intruder@lockers.example"});
    let group = json!({"schemas": [GROUP_URN], "displayName": "Intruders"});
    let user_patch = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    let group_patch = patch_op(json!([{"op": "remove", "path": "members"}]));
    let user_path = format!("/Users/{}", other.user_id);
    let group_path = format!("/Groups/{}", other.group_id);
    let schema_path = format!("/Schemas/{USER_URN}");
    let routes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/Users", None),
        (Method::POST, "/Users", Some(user.clone())),
        (Method::GET, &user_path, None),
        (Method::PUT, &user_path, Some(user)),
        (Method::PATCH, &user_path, Some(user_patch)),
        (Method::DELETE, &user_path, None),
        (Method::GET, "/Groups", None),
        (Method::POST, "/Groups", Some(group.clone())),
        (Method::GET, &group_path, None),
        (Method::PUT, &group_path, Some(group)),
        (Method::PATCH, &group_path, Some(group_patch)),
        (Method::DELETE, &group_path, None),
        (Method::GET, "/Schemas", None),
        (Method::GET, &schema_path, None),
        (Method::GET, "/ResourceTypes", None),
        (Method::GET, "/ResourceTypes/User", None),
        (Method::GET, "/ServiceProviderConfig", None),
    ];
    for (method, path, body) in routes {
        let url = format!("{}{path}", other.scim);
        let (status, response) =
            send_with(&app.client, method.clone(), &url, &app.token, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with another tenant's token: {response}"
        );
        assert_eq!(
            response["schemas"],
            json!([ERROR_URN]),
            "{method} {path}: error body schemas: {response}"
        );
        assert_eq!(
            response["status"], "401",
            "{method} {path}: error body status: {response}"
        );
    }

    let log_url = format!(
        "{}/admin/v1/tenants/{OTHER_SLUG}/provisioning-log",
        app.origin
    );
    let (status, response) = send_with(&app.client, Method::GET, &log_url, &app.token, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "provisioning log with another tenant's token: {response}"
    );

    let after = other.snapshot(&app).await;
    assert_eq!(after.0, before.0, "the other tenant's users");
    assert_eq!(after.1, before.1, "the other tenant's groups");
    assert_eq!(after.2, before.2, "the other tenant's identity event count");
    app.stop().await;
}

/// Tenant A's own URL with tenant B's resource ids finds nothing: 404 for
/// every read and write, and B's resources stay as they were.
#[tokio::test]
async fn foreign_ids_not_found() {
    let app = TestApp::spawn().await;
    let other = add_other_tenant(&app).await;
    let before = other.snapshot(&app).await;

    let user_path = format!("/Users/{}", other.user_id);
    let group_path = format!("/Groups/{}", other.group_id);
    let requests: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, &user_path, None),
        (
            Method::PATCH,
            &user_path,
            Some(patch_op(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        ),
        (
            Method::PUT,
            &user_path,
            Some(
                json!({"schemas": [USER_URN], "userName": "lena.fischer@bank-b.example", "active": false}),
            ),
        ),
        (Method::DELETE, &user_path, None),
        (Method::GET, &group_path, None),
        (
            Method::PATCH,
            &group_path,
            Some(patch_op(
                json!([{"op": "replace", "value": {"displayName": "Renamed"}}]),
            )),
        ),
        (
            Method::PUT,
            &group_path,
            Some(json!({"schemas": [GROUP_URN], "displayName": "Renamed"})),
        ),
        (Method::DELETE, &group_path, None),
    ];
    for (method, path, body) in requests {
        let (status, response) = app.send(method.clone(), path, body).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} on the own tenant URL with another tenant's id: {response}"
        );
        assert_eq!(
            response["schemas"],
            json!([ERROR_URN]),
            "{method} {path}: error body schemas: {response}"
        );
    }

    let after = other.snapshot(&app).await;
    assert_eq!(after.0, before.0, "the other tenant's users");
    assert_eq!(after.1, before.1, "the other tenant's groups");
    assert_eq!(after.2, before.2, "the other tenant's identity event count");
    app.stop().await;
}

/// A group of tenant A cannot take tenant B's user as a member, by PATCH or
/// by POST.
#[tokio::test]
async fn foreign_user_not_addable() {
    let app = TestApp::spawn().await;
    let other = add_other_tenant(&app).await;
    let before = other.snapshot(&app).await;
    let group_id = app.create_group("Bank A Weekend").await;
    let events_before = app.events().await.len();

    let (status, body) = app
        .patch(
            &format!("/Groups/{group_id}"),
            patch_op(
                json!([{"op": "Add", "path": "members", "value": [{"value": other.user_id}]}]),
            ),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "PATCH adding another tenant's user: {body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&other.user_id)),
        "detail names the rejected member: {body}"
    );
    let members = app.member_ids(&group_id).await;
    assert!(
        members.is_empty(),
        "members after the rejected add: {members:?}"
    );

    let (status, body) = app
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_URN],
                "displayName": "Bank A Night Shift",
                "members": [{"value": other.user_id}]
            }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "POST a group with another tenant's user: {body}"
    );
    let (_, groups) = app.get("/Groups").await;
    assert_eq!(groups["totalResults"], 1, "groups of tenant A: {groups}");
    assert_eq!(
        app.events().await.len(),
        events_before,
        "tenant A's identity events after the rejected writes"
    );

    let after = other.snapshot(&app).await;
    assert_eq!(after.0, before.0, "the other tenant's users");
    assert_eq!(after.1, before.1, "the other tenant's groups");
    app.stop().await;
}

/// Filters in tenant A never match tenant B's users or groups, even when
/// both tenants have a user with the same userName.
#[tokio::test]
async fn filters_stay_in_tenant() {
    let app = TestApp::spawn().await;
    let other = add_other_tenant(&app).await;
    let own_id = app.create_user("shared.name@lockers.example").await;
    let (status, body) = other
        .send(
            &app,
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_URN], "userName": "shared.name@lockers.example"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "same userName in the other tenant: {body}"
    );

    let cases = [
        ("userName eq \"lena.fischer@bank-b.example\"".to_string(), 0),
        ("userName ew \"@bank-b.example\"".to_string(), 0),
        ("externalId eq \"b-ext-lena\"".to_string(), 0),
        (format!("id eq \"{}\"", other.user_id), 0),
        ("displayName pr".to_string(), 0),
        ("userName pr".to_string(), 1),
        ("userName eq \"shared.name@lockers.example\"".to_string(), 1),
    ];
    for (filter, expected) in cases {
        let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let (status, body) = app.get(&format!("/Users?filter={encoded}")).await;
        assert_eq!(status, StatusCode::OK, "filter {filter}: {body}");
        assert_eq!(
            body["totalResults"], expected,
            "tenant A's users matching {filter}: {body}"
        );
        let foreign = body["Resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["id"] != json!(own_id));
        assert!(
            !foreign,
            "filter {filter} returned a user of another tenant: {body}"
        );
    }

    let (status, list) = app.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "list users: {list}");
    assert_eq!(
        list["totalResults"], 1,
        "tenant A's users without a filter: {list}"
    );

    for filter in [
        "displayName eq \"Bank B Night Shift\"".to_string(),
        format!("members[value eq \"{}\"]", other.user_id),
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let (status, body) = app.get(&format!("/Groups?filter={encoded}")).await;
        assert_eq!(status, StatusCode::OK, "group filter {filter}: {body}");
        assert_eq!(
            body["totalResults"], 0,
            "tenant A's groups matching {filter}: {body}"
        );
    }
    app.stop().await;
}
