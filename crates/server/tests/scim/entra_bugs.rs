//! Requests from Microsoft Entra ID that other SCIM servers are known to
//! mishandle, each sent over HTTP with the behaviour Entra needs asserted on
//! the status, the response body and the state read back over SCIM.
//!
//! The tests are numbered s01 to s25. Data is invented.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ENTERPRISE_URN, GROUP_URN, TestApp, USER_URN, patch_op};
use crate::entra_requests::{
    ADSCIM_GROUP_URN, LIST_RESPONSE_URN, encode, entra_user, event_kinds, filter_path, resource_ids,
};

const SCIM_MEDIA_TYPE: &str = "application/scim+json";

fn is_ok_or_no_content(status: StatusCode) -> bool {
    status == StatusCode::OK || status == StatusCode::NO_CONTENT
}

async fn get_user(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "GET /Users/{id}: {body}");
    body
}

async fn get_group(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "GET /Groups/{id}: {body}");
    body
}

/// Sends a user PATCH and checks for 200 or 204 (RFC 7644 §3.5.2).
async fn patch_user(app: &TestApp, id: &str, operations: Value) {
    let (status, body) = app
        .patch(&format!("/Users/{id}"), patch_op(operations))
        .await;
    assert!(
        is_ok_or_no_content(status),
        "PATCH /Users/{id} returned {status}: {body}"
    );
}

/// Sends a group PATCH and checks for 204 with no body.
async fn patch_group(app: &TestApp, id: &str, operations: Value) {
    let (status, body) = app
        .patch(&format!("/Groups/{id}"), patch_op(operations))
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "PATCH /Groups/{id} returned {body}"
    );
    assert_eq!(body, Value::Null, "group PATCH must have no body: {body}");
}

fn add_members(ids: &[&str]) -> Value {
    let members: Vec<Value> = ids
        .iter()
        .map(|id| json!({"$ref": null, "value": id}))
        .collect();
    json!({"op": "Add", "path": "members", "value": members})
}

/// Creates a group and adds the given members in one default-dialect PATCH.
async fn group_with(app: &TestApp, display_name: &str, members: &[&str]) -> String {
    let id = app.create_group(display_name).await;
    patch_group(app, &id, json!([add_members(members)])).await;
    id
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

/// Lists the member ids of the membership events of one kind, oldest first.
async fn membership_events(app: &TestApp, kind: &str) -> Vec<String> {
    app.events()
        .await
        .into_iter()
        .filter(|event| event.kind.as_str() == kind)
        .filter_map(|event| event.object_id)
        .collect()
}

// ---------------------------------------------------------------------------
// Raw HTTP, for requests reqwest cannot send: reqwest always adds
// `Accept: */*`, and Entra's Test Connection GET carries no Accept.

/// A response read off the socket.
struct RawResponse {
    status: u16,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Returns the media type of `Content-Type`, without parameters.
    fn media_type(&self) -> Option<String> {
        self.header("content-type")
            .and_then(|value| value.split(';').next())
            .map(|media| media.trim().to_ascii_lowercase())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone()))
    }
}

/// Sends one HTTP/1.1 request to the test server and reads the response.
/// `headers` are complete header lines. Host, Authorization and
/// Connection: close are added.
async fn send_raw(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[&str],
    body: Option<&str>,
) -> RawResponse {
    let address = app.origin.trim_start_matches("http://").to_string();
    let mut request = format!(
        "{method} /scim/v2/st-marys{path} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {}\r\nConnection: close\r\n",
        app.token
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));

    // A blocking socket on the blocking pool keeps the runtime free to serve.
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).expect("connect to the test server");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read the response");
        raw
    })
    .await
    .unwrap();
    parse_raw_response(&raw)
}

fn parse_raw_response(raw: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = if chunked {
        decode_chunked(body)
    } else {
        body.to_string()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn decode_chunked(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
            .unwrap_or_default();
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Starts a one-shot HTTP listener on 127.0.0.1 that records the request
/// head it receives, to see which headers reqwest sends.
fn capture_request_head() -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let url = format!("http://{}/probe", listener.local_addr().unwrap());
    let handle = tokio::task::spawn_blocking(move || {
        let (mut stream, _) = listener.accept().expect("accept one request");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, handle)
}

// ---------------------------------------------------------------------------

/// Entra's default dialect capitalises `op` (Add, Replace, Remove), while
/// RFC 7644 §3.5.2 names the ops in lower case, so `op` matches in any case.
#[tokio::test]
async fn s01_capitalised_op_accepted() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;

    patch_user(
        &app,
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Mira Okafor"}]),
    )
    .await;
    patch_user(
        &app,
        &id,
        json!([{"op": "ADD", "path": "title", "value": "Night supervisor"}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(read["displayName"], json!("Mira Okafor"), "{read}");
    assert_eq!(read["title"], json!("Night supervisor"), "{read}");

    patch_user(&app, &id, json!([{"op": "Remove", "path": "title"}])).await;
    let read = get_user(&app, &id).await;
    assert!(read.get("title").is_none(), "Remove kept title: {read}");

    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            patch_op(json!([{"op": "Merge", "path": "title", "value": "x"}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown op: {body}");
    assert_eq!(body["scimType"], json!("invalidSyntax"), "{body}");
}

/// Entra's default dialect sends `active` as "True" or "False". A leaver whose
/// disable is ignored keeps locker access.
#[tokio::test]
async fn s02_active_string_in_patch() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;

    for (value, expected) in [
        (json!("False"), false),
        (json!("TRUE"), true),
        (json!("false"), false),
        (json!("True"), true),
        (json!(false), false),
        (json!(true), true),
    ] {
        patch_user(
            &app,
            &id,
            json!([{"op": "Replace", "path": "active", "value": value}]),
        )
        .await;

        let read = get_user(&app, &id).await;
        assert_eq!(
            read["active"],
            json!(expected),
            "after active {value}: {read}"
        );
    }

    let kinds = event_kinds(&app).await;
    assert_eq!(
        kinds,
        [
            "user_created",
            "user_deactivated",
            "user_reactivated",
            "user_deactivated",
            "user_reactivated",
            "user_deactivated",
            "user_reactivated",
        ]
    );

    // Anything but a boolean or its string spelling is rejected, and the
    // whole PATCH is then applied or not at all (RFC 7644 §3.5.2).
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            patch_op(json!([
                {"op": "Replace", "path": "displayName", "value": "Changed"},
                {"op": "Replace", "path": "active", "value": "yes"},
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "active \"yes\": {body}");
    assert_eq!(body["scimType"], json!("invalidValue"), "{body}");
    let read = get_user(&app, &id).await;
    assert!(
        read.get("displayName").is_none(),
        "a rejected PATCH must change nothing: {read}"
    );
    assert_eq!(read["active"], json!(true), "{read}");
}

#[tokio::test]
async fn s03_active_string_in_post() {
    let app = TestApp::spawn().await;

    let (status, created) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "userName": "ivo.brandt@lockers.example", "active": "True"}),
        )
        .await;

    assert_eq!(status, StatusCode::CREATED, "POST /Users: {created}");
    assert_eq!(
        created["active"],
        json!(true),
        "active must be a JSON boolean: {created}"
    );
    let read = get_user(&app, created["id"].as_str().unwrap_or_default()).await;
    assert_eq!(read["active"], json!(true), "{read}");
}

/// `Remove` on `members` with a value array removes exactly those members.
/// Only a remove without a value empties the group.
#[tokio::test]
async fn s04_default_remove_keeps_others() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let lena = app.create_user("lena.fischer@lockers.example").await;
    let group_id = group_with(&app, "Bank B Night Shift", &[&mira, &ivo, &lena]).await;

    patch_group(
        &app,
        &group_id,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": mira}]}]),
    )
    .await;

    assert_eq!(app.member_ids(&group_id).await, sorted(&[&ivo, &lena]));
    assert_eq!(membership_events(&app, "member_removed").await, vec![mira]);
}

#[tokio::test]
async fn s05_flag_filtered_remove() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let group_id = group_with(&app, "Bank B Night Shift", &[&mira, &ivo]).await;
    let remove_mira = json!([{"op": "remove", "path": format!("members[value eq \"{mira}\"]")}]);

    patch_group(&app, &group_id, remove_mira.clone()).await;

    assert_eq!(app.member_ids(&group_id).await, vec![ivo.clone()]);

    // The same remove again matches nothing and is a no-op.
    patch_group(&app, &group_id, remove_mira).await;

    assert_eq!(app.member_ids(&group_id).await, vec![ivo]);
    assert_eq!(membership_events(&app, "member_removed").await, vec![mira]);
}

/// Entra's flag dialect sends a pathless replace whose keys are attribute
/// paths such as `name.familyName`, not only attribute names (RFC 7644 §3.5.2.3).
#[tokio::test]
async fn s06_pathless_dotted_keys() {
    let app = TestApp::spawn().await;
    let body = entra_user("mira.okafor@lockers.example", "mokafor", "Mira", "Okafor");
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    patch_user(
        &app,
        &id,
        json!([{"op": "replace", "value": {
            "displayName": "Mira Okafor-Lind",
            "name.familyName": "Okafor-Lind",
            "name.formatted": "Mira Okafor-Lind",
        }}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(read["displayName"], json!("Mira Okafor-Lind"), "{read}");
    assert_eq!(read["name"]["familyName"], json!("Okafor-Lind"), "{read}");
    assert_eq!(
        read["name"]["formatted"],
        json!("Mira Okafor-Lind"),
        "{read}"
    );
    assert_eq!(
        read["name"]["givenName"],
        json!("Mira"),
        "other name parts stay: {read}"
    );
    assert!(
        read.get("name.familyName").is_none(),
        "dotted key stored literally: {read}"
    );
}

#[tokio::test]
async fn s07_pathless_urn_keys() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let department = format!("{ENTERPRISE_URN}:department");
    let employee_number = format!("{ENTERPRISE_URN}:employeeNumber");

    patch_user(
        &app,
        &id,
        json!([{"op": "add", "value": {
            department.clone(): "Depot South",
            employee_number.clone(): "E-1042",
        }}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read[ENTERPRISE_URN]["department"],
        json!("Depot South"),
        "{read}"
    );
    assert_eq!(
        read[ENTERPRISE_URN]["employeeNumber"],
        json!("E-1042"),
        "{read}"
    );
    assert!(
        read.get(&department).is_none(),
        "URN key stored literally: {read}"
    );
    assert!(
        read["schemas"]
            .as_array()
            .is_some_and(|s| s.contains(&json!(ENTERPRISE_URN))),
        "schemas must list the enterprise extension: {read}"
    );
}

/// Entra adds a work email with a filtered path even when the user has no
/// work email yet, and expects the element to be created.
#[tokio::test]
async fn s08_filtered_add_creates_element() {
    let app = TestApp::spawn().await;
    let id = app.create_user("ivo.brandt@lockers.example").await;

    patch_user(
        &app,
        &id,
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "ivo.brandt@lockers.example"}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read["emails"],
        json!([{"type": "work", "value": "ivo.brandt@lockers.example", "primary": true}]),
        "{read}"
    );
}

#[tokio::test]
async fn s09_filtered_replace_keeps_siblings() {
    let app = TestApp::spawn().await;
    let home = json!({"type": "home", "value": "mira@home.example"});
    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_URN],
                "userName": "mira.okafor@lockers.example",
                "emails": [
                    {"type": "work", "value": "mira.okafor@lockers.example", "primary": true},
                    home.clone(),
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    patch_user(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "m.okafor@lockers.example"}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read["emails"],
        json!([
            {"type": "work", "value": "m.okafor@lockers.example", "primary": true},
            home,
        ]),
        "{read}"
    );
}

/// An email without `type` would never match Entra's `emails[type eq "work"]`
/// paths, so it is stored as a work email.
#[tokio::test]
async fn s10_missing_type_defaults_work() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_URN],
                "userName": "ivo.brandt@lockers.example",
                "emails": [{"value": "ivo.brandt@lockers.example", "primary": true}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["emails"][0]["type"], json!("work"), "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    patch_user(
        &app,
        &id,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "i.brandt@lockers.example"}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read["emails"],
        json!([{"value": "i.brandt@lockers.example", "primary": true, "type": "work"}]),
        "{read}"
    );
}

#[tokio::test]
async fn s11_manager_plain_string() {
    let app = TestApp::spawn().await;
    let manager_id = app.create_user("sana.kapoor@lockers.example").await;
    let other_manager_id = app.create_user("tomas.novak@lockers.example").await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let manager_path = format!("{ENTERPRISE_URN}:manager");

    patch_user(
        &app,
        &id,
        json!([{"op": "Add", "path": manager_path, "value": manager_id}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read[ENTERPRISE_URN]["manager"]["value"],
        json!(manager_id),
        "{read}"
    );

    // The other accepted shapes: an object and a one-element array.
    for value in [
        json!({"value": other_manager_id}),
        json!([{"value": manager_id, "$ref": format!("../Users/{manager_id}")}]),
    ] {
        patch_user(
            &app,
            &id,
            json!([{"op": "Replace", "path": manager_path, "value": value}]),
        )
        .await;
        let expected = value
            .pointer("/value")
            .or_else(|| value.pointer("/0/value"))
            .cloned();
        let read = get_user(&app, &id).await;
        assert_eq!(
            Some(read[ENTERPRISE_URN]["manager"]["value"].clone()),
            expected,
            "manager {value}: {read}"
        );
    }

    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_URN, ENTERPRISE_URN],
                "userName": "ivo.brandt@lockers.example",
                ENTERPRISE_URN: {"manager": manager_id},
            }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "POST with a string manager: {created}"
    );
    assert_eq!(
        created[ENTERPRISE_URN]["manager"]["value"],
        json!(manager_id),
        "{created}"
    );
}

#[tokio::test]
async fn s12_manager_rendered_as_object() {
    let app = TestApp::spawn().await;
    let manager_id = app.create_user("sana.kapoor@lockers.example").await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    patch_user(
        &app,
        &id,
        json!([{"op": "Add", "path": format!("{ENTERPRISE_URN}:manager"), "value": manager_id}]),
    )
    .await;
    let list_path = filter_path("Users", "userName eq \"mira.okafor@lockers.example\"");

    let read = get_user(&app, &id).await;
    let (status, list) = app.get(&list_path).await;

    assert_eq!(status, StatusCode::OK, "{list}");
    for (label, user) in [("GET", &read), ("list", &list["Resources"][0])] {
        let manager = &user[ENTERPRISE_URN]["manager"];
        assert!(
            manager.is_object(),
            "{label}: manager must be an object: {user}"
        );
        assert_eq!(manager["value"], json!(manager_id), "{label}: {user}");
    }
}

/// What a 2xx PATCH accepted must read back in the same shape; otherwise
/// Entra sends the same change again every cycle.
#[tokio::test]
async fn s13_accepted_attribute_read_back() {
    let app = TestApp::spawn().await;
    let manager_id = app.create_user("sana.kapoor@lockers.example").await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let operations = json!([
        {"op": "Add", "path": format!("{ENTERPRISE_URN}:manager"), "value": manager_id},
        {"op": "Add", "path": format!("{ENTERPRISE_URN}:employeeNumber"), "value": "E-1042"},
        {"op": "Add", "path": "title", "value": "Night supervisor"},
        {"op": "Add", "path": "preferredLanguage", "value": "en-GB"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+10000000001"},
        {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Harbourtown"},
    ]);

    patch_user(&app, &id, operations.clone()).await;

    let read = get_user(&app, &id).await;
    let expected = [
        (
            format!("/{ENTERPRISE_URN}/manager/value"),
            json!(manager_id),
        ),
        (format!("/{ENTERPRISE_URN}/employeeNumber"), json!("E-1042")),
        ("/title".to_string(), json!("Night supervisor")),
        ("/preferredLanguage".to_string(), json!("en-GB")),
        ("/phoneNumbers/0/type".to_string(), json!("mobile")),
        ("/phoneNumbers/0/value".to_string(), json!("+10000000001")),
        ("/addresses/0/type".to_string(), json!("work")),
        ("/addresses/0/locality".to_string(), json!("Harbourtown")),
    ];
    for (pointer, value) in &expected {
        assert_eq!(read.pointer(pointer), Some(value), "{pointer}: {read}");
    }

    // The next cycle's identical PATCH finds nothing to change.
    let events_before = event_kinds(&app).await.len();
    patch_user(&app, &id, operations).await;
    let events_after = event_kinds(&app).await.len();
    assert_eq!(
        events_after, events_before,
        "a repeated PATCH must not record a change"
    );
}

/// Entra's Test Connection GET has no Accept and no Content-Type, and its
/// bodies are `application/scim+json; charset=utf-8`. Every response is
/// `application/scim+json` (RFC 7644 §3.1).
#[tokio::test]
async fn s14_content_negotiation() {
    let app = TestApp::spawn().await;
    let probe = "/Users?filter=userName+eq+%22e1f7c0aa-3b2d-4c55-8d1e-77a9c1b0f3d2%22";

    let response = send_raw(&app, "GET", probe, &[], None).await;

    assert_eq!(
        response.status, 200,
        "GET without Accept: {}",
        response.body
    );
    assert_eq!(
        response.media_type().as_deref(),
        Some(SCIM_MEDIA_TYPE),
        "GET without Accept: {:?} {}",
        response.headers,
        response.body
    );
    assert_eq!(
        response.json()["totalResults"],
        json!(0),
        "{}",
        response.body
    );

    let response = send_raw(&app, "GET", probe, &["Accept: */*"], None).await;

    assert_eq!(response.status, 200, "GET with */*: {}", response.body);
    assert_eq!(
        response.media_type().as_deref(),
        Some(SCIM_MEDIA_TYPE),
        "GET with */*: {:?}",
        response.headers
    );

    let posts = [
        ("application/json", "ivo.brandt@lockers.example"),
        (
            "application/scim+json; charset=utf-8",
            "lena.fischer@lockers.example",
        ),
    ];
    for (content_type, user_name) in posts {
        let body =
            json!({"schemas": [USER_URN], "userName": user_name, "active": true}).to_string();
        let header = format!("Content-Type: {content_type}");

        let response = send_raw(&app, "POST", "/Users", &[&header], Some(&body)).await;

        assert_eq!(
            response.status, 201,
            "POST as {content_type}: {}",
            response.body
        );
        assert_eq!(
            response.media_type().as_deref(),
            Some(SCIM_MEDIA_TYPE),
            "POST as {content_type}: {:?} {}",
            response.headers,
            response.body
        );
        assert_eq!(
            response.json()["userName"],
            json!(user_name),
            "{}",
            response.body
        );
    }

    let missing = format!("/Users/{}", uuid::Uuid::new_v4());
    let response = send_raw(&app, "GET", &missing, &[], None).await;

    assert_eq!(response.status, 404, "{}", response.body);
    assert_eq!(
        response.media_type().as_deref(),
        Some(SCIM_MEDIA_TYPE),
        "errors are SCIM JSON too: {:?} {}",
        response.headers,
        response.body
    );
}

/// Entra sends no User-Agent, so authentication rests on the bearer token alone.
#[tokio::test]
async fn s15_no_user_agent() {
    let app = TestApp::spawn().await;

    // The harness client is reqwest with default settings. Check that it
    // really sends no User-Agent before relying on it.
    let (capture_url, head) = capture_request_head();
    let (status, _) = crate::common::send_with(
        &app.client,
        reqwest::Method::GET,
        &capture_url,
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let head = head.await.unwrap().to_ascii_lowercase();
    assert!(
        head.contains("\r\nauthorization: bearer "),
        "the capture listener did not see the request: {head}"
    );
    assert!(
        !head.contains("\r\nuser-agent:"),
        "the test client sent a User-Agent: {head}"
    );

    let probe = "/Users?filter=userName+eq+%2204b5a2de-6e44-4c3e-9b0c-6f1d8d2f7a11%22";
    let (status, body) = app.get(probe).await;

    assert_eq!(status, StatusCode::OK, "GET without User-Agent: {body}");
    assert_eq!(body["totalResults"], json!(0), "{body}");
    assert_eq!(body["Resources"], json!([]), "{body}");

    let response = send_raw(&app, "GET", probe, &[], None).await;

    assert_eq!(
        response.status, 200,
        "raw GET without User-Agent: {}",
        response.body
    );
}

/// A query that matches nothing is 200 with an empty ListResponse. A 404
/// here puts the Entra job into quarantine.
#[tokio::test]
async fn s16_zero_hits_200() {
    let app = TestApp::spawn().await;
    app.create_user("mira.okafor@lockers.example").await;
    app.create_group("Bank B Night Shift").await;

    for path in [
        "/Users?filter=userName+eq+%22nobody%40lockers.example%22",
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22Nobody%27s+Shift%22",
    ] {
        let (status, body) = app.get(path).await;

        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        assert_eq!(
            body["schemas"],
            json!([LIST_RESPONSE_URN]),
            "{path}: {body}"
        );
        assert_eq!(body["totalResults"], json!(0), "{path}: {body}");
        assert_eq!(body["Resources"], json!([]), "{path}: {body}");
    }
}

/// Filters arrive form-encoded (`+` for space) and need a real tokenizer:
/// quoted strings with `\"`, `and`, value paths and URN-qualified names.
/// Attribute names are case-insensitive (RFC 7644 §3.4.2.2).
#[tokio::test]
async fn s17_filter_spaces_quotes_encoding() {
    let app = TestApp::spawn().await;
    let night = app.create_group("Bank B Night Shift").await;
    app.create_group("Bank B").await;
    app.create_group("Night Shift").await;
    let quoted = app.create_group("Bank \"C\" Day Shift").await;
    let body = entra_user("mira.okafor@lockers.example", "mokafor", "Mira", "Okafor");
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mira = created["id"].as_str().unwrap().to_string();
    app.create_user("ivo.brandt@lockers.example").await;

    let cases = [
        (
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22Bank+B+Night+Shift%22"
                .to_string(),
            &night,
        ),
        (
            format!(
                "/Groups?filter={}",
                encode("DISPLAYNAME eq \"Bank B Night Shift\"")
            ),
            &night,
        ),
        (
            format!(
                "/Groups?filter={}",
                encode(&format!(
                    "{GROUP_URN}:displayName eq \"Bank B Night Shift\""
                ))
            ),
            &night,
        ),
        (
            format!(
                "/Groups?filter={}",
                encode("displayName eq \"Bank \\\"C\\\" Day Shift\"")
            ),
            &quoted,
        ),
        (
            filter_path(
                "Users",
                "userName eq \"mira.okafor@lockers.example\" and externalId eq \"mokafor\"",
            ),
            &mira,
        ),
        (
            filter_path(
                "Users",
                "emails[type eq \"work\"].value eq \"mira.okafor@lockers.example\"",
            ),
            &mira,
        ),
        (
            filter_path(
                "Users",
                &format!("{USER_URN}:userName eq \"mira.okafor@lockers.example\""),
            ),
            &mira,
        ),
    ];
    for (path, expected) in cases {
        let (status, body) = app.get(&path).await;

        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        assert_eq!(
            resource_ids(&body),
            vec![expected.clone()],
            "GET {path}: {body}"
        );
    }
}

/// `userName` is `caseExact: false` (RFC 7643 §4.1.1): matched and kept
/// unique ignoring case, stored in the case sent.
#[tokio::test]
async fn s18_username_case_insensitive() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;

    let path = "/Users?filter=userName+eq+%22Mira.Okafor%40Lockers.example%22";
    let (status, body) = app.get(path).await;

    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert_eq!(resource_ids(&body), vec![id], "GET {path}: {body}");
    assert_eq!(
        body["Resources"][0]["userName"],
        json!("mira.okafor@lockers.example"),
        "the stored case is returned: {body}"
    );

    let (status, body) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "userName": "MIRA.OKAFOR@LOCKERS.EXAMPLE"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "duplicate in other case: {body}"
    );
    assert_eq!(body["scimType"], json!("uniqueness"), "{body}");

    let (status, body) = app
        .post(
            "/Users",
            json!({"schemas": [USER_URN], "userName": "Ivo.Brandt@Lockers.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["userName"],
        json!("Ivo.Brandt@Lockers.example"),
        "{body}"
    );
}

/// The filter and the uniqueness check see the same users: a user the
/// filter cannot find must be creatable, and one that blocks a create must
/// be found. Disabled users count; deleted ones do not.
#[tokio::test]
async fn s19_filter_and_uniqueness_agree() {
    let app = TestApp::spawn().await;
    let id = app.create_user("lena.fischer@lockers.example").await;
    patch_user(
        &app,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    let path = "/Users?filter=userName+eq+%22lena.fischer%40lockers.example%22";
    let create =
        json!({"schemas": [USER_URN], "userName": "lena.fischer@lockers.example", "active": true});

    let (status, body) = app.get(path).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        resource_ids(&body),
        vec![id.clone()],
        "a disabled user is still matched: {body}"
    );
    let (status, body) = app.post("/Users", create.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], json!("uniqueness"), "{body}");

    let (status, body) = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalResults"], json!(0), "after DELETE: {body}");
    let (status, body) = app.post("/Users", create).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "no match, so the create must succeed: {body}"
    );
}

/// The core Group URN is required. An extra URN that brings no attributes,
/// such as the one in Microsoft's sample group POST, is ignored.
#[tokio::test]
async fn s20_group_extra_schema_urn() {
    let app = TestApp::spawn().await;

    let (status, created) = app
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_URN, ADSCIM_GROUP_URN],
                "externalId": "5d2c9a1e-0b7f-4c6d-8e21-3f4a5b6c7d8e",
                "displayName": "Bank C Day Shift",
                "meta": {"resourceType": "Group"},
            }),
        )
        .await;

    assert_eq!(status, StatusCode::CREATED, "POST /Groups: {created}");
    assert_eq!(
        created["displayName"],
        json!("Bank C Day Shift"),
        "{created}"
    );
    let read = get_group(&app, created["id"].as_str().unwrap_or_default()).await;
    assert_eq!(
        read["externalId"],
        json!("5d2c9a1e-0b7f-4c6d-8e21-3f4a5b6c7d8e"),
        "{read}"
    );

    let (status, body) = app
        .post(
            "/Groups",
            json!({"schemas": [ADSCIM_GROUP_URN], "displayName": "Bank D Day Shift"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a group POST without the core URN: {body}"
    );
}

/// Lockgate honours `excludedAttributes=members`, returns 204 with no body
/// for group PATCH, and treats a `replace` of `members` as the full member list.
#[tokio::test]
async fn s21_excluded_members_honoured() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let group_id = group_with(&app, "Bank B Night Shift", &[&mira, &ivo]).await;

    for path in [
        format!("/Groups/{group_id}?excludedAttributes=members"),
        "/Groups?excludedAttributes=members".to_string(),
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22Bank+B+Night+Shift%22"
            .to_string(),
    ] {
        let (status, body) = app.get(&path).await;

        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        let group = body
            .get("Resources")
            .map_or(&body, |resources| &resources[0]);
        assert_eq!(group["id"], json!(group_id), "GET {path}: {body}");
        assert!(
            group.get("members").is_none(),
            "GET {path} returned members: {body}"
        );
    }

    patch_group(
        &app,
        &group_id,
        json!([{"op": "replace", "path": "members", "value": [{"value": ivo}]}]),
    )
    .await;

    assert_eq!(app.member_ids(&group_id).await, vec![ivo]);
    assert_eq!(membership_events(&app, "member_removed").await, vec![mira]);
}

/// Entra may send one PATCH per member, concurrently, and every add must land.
#[tokio::test]
async fn s22_concurrent_member_patches() {
    let app = TestApp::spawn().await;
    let group_id = app.create_group("Bank B Night Shift").await;
    let mut user_ids = Vec::new();
    for i in 0..12 {
        user_ids.push(
            app.create_user(&format!("night{i:02}@lockers.example"))
                .await,
        );
    }
    let path = format!("/Groups/{group_id}");

    let responses = join_all(
        user_ids
            .iter()
            .map(|id| app.patch(&path, patch_op(json!([add_members(&[id])])))),
    )
    .await;

    for (status, body) in &responses {
        assert_eq!(
            *status,
            StatusCode::NO_CONTENT,
            "concurrent member add: {body}"
        );
    }
    let expected: Vec<&str> = user_ids.iter().map(String::as_str).collect();
    assert_eq!(app.member_ids(&group_id).await, sorted(&expected));
    let mut added = membership_events(&app, "member_added").await;
    added.sort();
    assert_eq!(added, sorted(&expected), "one member_added per user");
}

/// Adding an existing member succeeds and changes nothing (RFC 7644 §3.5.2.1).
#[tokio::test]
async fn s23_readd_member_noop() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;
    let add_mira = json!([add_members(&[&mira])]);

    patch_group(&app, &group_id, add_mira.clone()).await;
    patch_group(&app, &group_id, add_mira).await;
    patch_group(&app, &group_id, json!([add_members(&[&mira, &ivo])])).await;

    assert_eq!(app.member_ids(&group_id).await, sorted(&[&mira, &ivo]));
    assert_eq!(
        membership_events(&app, "member_added").await,
        vec![mira, ivo]
    );
}

/// Removing a member that is already gone succeeds, but an unknown group is 404.
#[tokio::test]
async fn s24_remove_missing_member() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let group_id = group_with(&app, "Bank B Night Shift", &[&mira]).await;

    for operation in [
        json!({"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u-already-gone"}]}),
        json!({"op": "Remove", "path": "members", "value": [{"$ref": null, "value": ivo}]}),
        json!({"op": "remove", "path": "members[value eq \"u-already-gone\"]"}),
    ] {
        patch_group(&app, &group_id, json!([operation])).await;
    }

    assert_eq!(app.member_ids(&group_id).await, vec![mira.clone()]);
    assert_eq!(
        membership_events(&app, "member_removed").await,
        Vec::<String>::new()
    );

    let unknown = uuid::Uuid::new_v4();
    let (status, body) = app
        .patch(
            &format!("/Groups/{unknown}"),
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": mira}]}])),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown group: {body}");
}

/// A PATCH that does not name `members` leaves them alone.
#[tokio::test]
async fn s25_rename_keeps_members() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let group_id = group_with(&app, "Bank B Night Shift", &[&mira, &ivo]).await;

    patch_group(
        &app,
        &group_id,
        json!([{"op": "replace", "value": {"displayName": "Bank B Night Shift (old)"}}]),
    )
    .await;

    let read = get_group(&app, &group_id).await;
    assert_eq!(
        read["displayName"],
        json!("Bank B Night Shift (old)"),
        "{read}"
    );
    assert_eq!(app.member_ids(&group_id).await, sorted(&[&mira, &ivo]));
    assert_eq!(
        membership_events(&app, "member_removed").await,
        Vec::<String>::new()
    );
}
