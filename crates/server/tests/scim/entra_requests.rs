//! The requests Microsoft Entra ID's provisioning service sends, in the order
//! of a provisioning cycle, replayed over HTTP in both PATCH dialects.
//!
//! Without the `aadOptscim062020` flag on the tenant URL, Entra capitalises
//! `op`, sends booleans as the strings "True" and "False" and removes a group
//! member with a value array on path `members`. With the flag it sends
//! lower-case ops, JSON booleans, `members[value eq "<id>"]` and pathless
//! `replace` ops with dotted and URN-qualified keys. Source: Microsoft Learn,
//! "Known issues and resolutions with SCIM 2.0 protocol compliance of the
//! Microsoft Entra user provisioning service". The flag does not apply to
//! provisioning on demand, so one tenant receives both dialects.

use lockgate_domain::IdentityEvent;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ENTERPRISE_URN, GROUP_URN, TestApp, USER_URN, patch_op};

pub(crate) const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The second schema URN in Microsoft's sample group POST.
pub(crate) const ADSCIM_GROUP_URN: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
/// A custom extension in the shape Entra's attribute-mapping documentation
/// requires for custom attributes: `urn:ietf:params:scim:schemas:extension:<Name>:2.0:User`.
const LOCKGATE_URN: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";
const BADGE_NUMBER: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User:badgeNumber";

/// One of Entra's two PATCH dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// No flag: `"op":"Replace"`, `"value":"False"`, member removal with a
    /// value array.
    Default,
    /// `aadOptscim062020`: RFC 7644 shapes plus pathless `replace`.
    Flag,
}

impl Dialect {
    /// Spells `op` as this dialect does: capitalised by default, lower-case with the flag.
    pub(crate) fn op(self, lower: &str) -> String {
        match self {
            Dialect::Default => {
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
            Dialect::Flag => lower.to_string(),
        }
    }

    /// Encodes a boolean as this dialect does: the strings "True" and "False"
    /// by default, JSON booleans with the flag.
    pub(crate) fn boolean(self, flag: bool) -> Value {
        match (self, flag) {
            (Dialect::Default, true) => json!("True"),
            (Dialect::Default, false) => json!("False"),
            (Dialect::Flag, flag) => json!(flag),
        }
    }

    /// Builds the operation that disables or re-enables a user.
    pub(crate) fn set_active(self, active: bool) -> Value {
        json!({"op": self.op("replace"), "path": "active", "value": self.boolean(active)})
    }

    /// Builds the operation that adds members. Entra sends `"$ref": null` in both dialects.
    pub(crate) fn add_members(self, ids: &[&str]) -> Value {
        let members: Vec<Value> = ids
            .iter()
            .map(|id| json!({"$ref": null, "value": id}))
            .collect();
        json!({"op": self.op("add"), "path": "members", "value": members})
    }

    /// Builds the operation that removes one member.
    pub(crate) fn remove_member(self, id: &str) -> Value {
        match self {
            Dialect::Default => {
                json!({"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]})
            }
            Dialect::Flag => {
                json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})
            }
        }
    }

    /// Builds the operation that renames a group. With the flag, Entra folds
    /// plain attributes into one pathless `replace`.
    pub(crate) fn rename_group(self, display_name: &str) -> Value {
        match self {
            Dialect::Default => {
                json!({"op": "Replace", "path": "displayName", "value": display_name})
            }
            Dialect::Flag => json!({"op": "replace", "value": {"displayName": display_name}}),
        }
    }

    /// Builds the manager fix-up: the extension path with the manager's id as a bare string.
    pub(crate) fn set_manager(self, manager_id: &str) -> Value {
        json!({
            "op": self.op("add"),
            "path": format!("{ENTERPRISE_URN}:manager"),
            "value": manager_id,
        })
    }

    /// Builds a mover update of work email, family name, department and
    /// userName. By default each attribute is one op with a path. With the
    /// flag, the filtered email op stays and the rest become one pathless
    /// `replace` with dotted and URN-qualified keys.
    pub(crate) fn mover_update(
        self,
        email: &str,
        family_name: &str,
        department: &str,
        user_name: &str,
    ) -> Value {
        let email_op = json!({
            "op": self.op("replace"),
            "path": "emails[type eq \"work\"].value",
            "value": email,
        });
        match self {
            Dialect::Default => json!([
                email_op,
                {"op": "Replace", "path": "name.familyName", "value": family_name},
                {"op": "Add", "path": format!("{ENTERPRISE_URN}:department"), "value": department},
                {"op": "Replace", "path": "userName", "value": user_name},
            ]),
            Dialect::Flag => json!([
                email_op,
                {"op": "replace", "value": {
                    "name.familyName": family_name,
                    format!("{ENTERPRISE_URN}:department"): department,
                    "userName": user_name,
                }},
            ]),
        }
    }
}

/// Form-encodes a filter the way Entra does: `+` for spaces, `%22` for quotes.
pub(crate) fn encode(filter: &str) -> String {
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

/// `/Users?filter=...` or `/Groups?filter=...` with the filter form-encoded.
pub(crate) fn filter_path(endpoint: &str, filter: &str) -> String {
    format!("/{endpoint}?filter={}", encode(filter))
}

/// Collects the `id` of each resource in a list response.
pub(crate) fn resource_ids(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds a user body in the shape of Entra's default mappings.
pub(crate) fn entra_user(
    user_name: &str,
    external_id: &str,
    given_name: &str,
    family_name: &str,
) -> Value {
    json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "displayName": format!("{given_name} {family_name}"),
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {"givenName": given_name, "familyName": family_name, "formatted": format!("{given_name} {family_name}")},
        ENTERPRISE_URN: {"department": "Depot North"},
        "meta": {"resourceType": "User"},
        "roles": [],
    })
}

/// Lists the kinds of the tenant's identity events, oldest first.
pub(crate) async fn event_kinds(app: &TestApp) -> Vec<&'static str> {
    app.events()
        .await
        .iter()
        .map(|event| event.kind.as_str())
        .collect()
}

/// Lists the events about one subject, oldest first.
async fn events_about(app: &TestApp, subject_id: &str) -> Vec<IdentityEvent> {
    app.events()
        .await
        .into_iter()
        .filter(|event| event.subject_id == subject_id)
        .collect()
}

fn is_ok_or_no_content(status: StatusCode) -> bool {
    status == StatusCode::OK || status == StatusCode::NO_CONTENT
}

/// Sends a user PATCH and checks for 200 or 204, the two success statuses of
/// RFC 7644 §3.5.2.
pub(crate) async fn patch_user(app: &TestApp, id: &str, operations: Value) {
    let (status, body) = app
        .patch(&format!("/Users/{id}"), patch_op(operations))
        .await;
    assert!(
        is_ok_or_no_content(status),
        "PATCH /Users/{id} returned {status}: {body}"
    );
}

/// Sends a group PATCH and checks the 204 with no body that Entra expects.
pub(crate) async fn patch_group(app: &TestApp, id: &str, operations: Value) {
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

async fn get_user(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "GET /Users/{id}: {body}");
    body
}

/// Finds the first null in a JSON value and returns its JSON pointer.
fn find_null(value: &Value, pointer: String) -> Option<String> {
    match value {
        Value::Null => Some(pointer),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_null(item, format!("{pointer}/{i}"))),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| find_null(item, format!("{pointer}/{key}"))),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Discovery and the Test Connection probe

#[tokio::test]
async fn schemas_list_without_nulls() {
    let app = TestApp::spawn().await;

    let (status, body) = app.get("/Schemas").await;

    assert_eq!(status, StatusCode::OK, "GET /Schemas: {body}");
    assert_eq!(body["schemas"], json!([LIST_RESPONSE_URN]), "{body}");
    let ids: Vec<&str> = body["Resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|s| s["id"].as_str()).collect())
        .unwrap_or_default();
    for urn in [USER_URN, ENTERPRISE_URN, GROUP_URN] {
        assert!(ids.contains(&urn), "/Schemas lacks {urn}: {body}");
    }
    assert_eq!(
        find_null(&body, String::new()),
        None,
        "the validator rejects null in /Schemas: {body}"
    );
}

/// Test Connection queries users and groups with a random GUID as the
/// matching value and expects 200 with an empty list.
#[tokio::test]
async fn probe_random_guid_empty_list() {
    let app = TestApp::spawn().await;
    app.create_user("mira.okafor@lockers.example").await;
    app.create_group("Bank B Night Shift").await;
    let guid = uuid::Uuid::new_v4();
    let paths = [
        format!("/Users?filter=userName+eq+%22{guid}%22"),
        format!("/Groups?excludedAttributes=members&filter=displayName+eq+%22{guid}%22"),
    ];

    for path in paths {
        let (status, body) = app.get(&path).await;

        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        assert_eq!(
            body["schemas"],
            json!([LIST_RESPONSE_URN]),
            "{path}: {body}"
        );
        assert_eq!(body["totalResults"], json!(0), "{path}: {body}");
        assert_eq!(body["Resources"], json!([]), "{path}: {body}");
        assert_eq!(body["startIndex"], json!(1), "{path}: {body}");
        assert_eq!(body["itemsPerPage"], json!(0), "{path}: {body}");
    }
}

// ---------------------------------------------------------------------------
// Matching a user

async fn check_user_match(filter: &str) {
    let app = TestApp::spawn().await;
    let body = entra_user(
        "mira.okafor@lockers.example",
        "a3c1f0e2-5b7d-4e8f-9a10-2b3c4d5e6f70",
        "Mira",
        "Okafor",
    );
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    app.create_user("ivo.brandt@lockers.example").await;
    let path = filter_path("Users", filter);

    let (status, body) = app.get(&path).await;

    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert_eq!(body["totalResults"], json!(1), "GET {path}: {body}");
    assert_eq!(
        resource_ids(&body),
        vec![created["id"].as_str().unwrap().to_string()],
        "GET {path}: {body}"
    );
}

#[tokio::test]
async fn match_user_by_user_name() {
    check_user_match("userName eq \"mira.okafor@lockers.example\"").await;
}

#[tokio::test]
async fn match_user_by_external_id() {
    check_user_match("externalId eq \"a3c1f0e2-5b7d-4e8f-9a10-2b3c4d5e6f70\"").await;
}

#[tokio::test]
async fn match_user_by_work_email() {
    check_user_match("emails[type eq \"work\"].value eq \"mira.okafor@lockers.example\"").await;
}

// ---------------------------------------------------------------------------
// Creating and reading users

/// POSTs a user with every one of Entra's 22 default user mappings, plus the
/// `meta` and empty `roles` Entra adds, and reads each attribute back.
#[tokio::test]
async fn create_user_full_entra_body() {
    let app = TestApp::spawn().await;
    let manager_id = app.create_user("sana.kapoor@lockers.example").await;
    let emails = json!([{"primary": true, "type": "work", "value": "mira.okafor@lockers.example"}]);
    let name = json!({"givenName": "Mira", "familyName": "Okafor", "formatted": "Mira Okafor"});
    let addresses = json!([{
        "type": "work",
        "formatted": "Depot North, Bay 4",
        "streetAddress": "12 Quay Road",
        "locality": "Harbourtown",
        "region": "North Coast",
        "postalCode": "NC1 2AB",
        "country": "GB",
    }]);
    let phone_numbers = json!([
        {"type": "work", "value": "+10000000002"},
        {"type": "mobile", "value": "+10000000001"},
        {"type": "fax", "value": "+10000000003"},
    ]);
    let request = json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": "mokafor",
        "userName": "mira.okafor@lockers.example",
        "active": true,
        "displayName": "Mira Okafor",
        "title": "Night supervisor",
        "preferredLanguage": "en-GB",
        "emails": emails,
        "name": name,
        "addresses": addresses,
        "phoneNumbers": phone_numbers,
        ENTERPRISE_URN: {
            "employeeNumber": "E-1042",
            "department": "Depot North",
            "manager": manager_id,
        },
        "meta": {"resourceType": "User"},
        "roles": [],
    });

    let (status, created) = app.post("/Users", request).await;

    assert_eq!(status, StatusCode::CREATED, "POST /Users: {created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "201 without id: {created}");
    let read = get_user(&app, &id).await;
    let expected = [
        ("/userName", json!("mira.okafor@lockers.example")),
        ("/externalId", json!("mokafor")),
        ("/active", json!(true)),
        ("/displayName", json!("Mira Okafor")),
        ("/title", json!("Night supervisor")),
        ("/preferredLanguage", json!("en-GB")),
        ("/emails", emails),
        ("/name", name),
        ("/addresses", addresses),
        ("/phoneNumbers", phone_numbers),
        ("/meta/resourceType", json!("User")),
    ];
    for (label, body) in [("POST response", &created), ("GET", &read)] {
        for (pointer, value) in &expected {
            assert_eq!(
                body.pointer(pointer),
                Some(value),
                "{label} {pointer}: {body}"
            );
        }
        let enterprise = &body[ENTERPRISE_URN];
        assert_eq!(
            enterprise["employeeNumber"],
            json!("E-1042"),
            "{label}: {body}"
        );
        assert_eq!(
            enterprise["department"],
            json!("Depot North"),
            "{label}: {body}"
        );
        assert_eq!(
            enterprise["manager"]["value"],
            json!(manager_id),
            "{label}: manager must be an object with the id: {body}"
        );
        assert!(
            body.get("roles").is_none(),
            "{label}: empty roles should be ignored, not echoed: {body}"
        );
        assert!(
            body["schemas"]
                .as_array()
                .is_some_and(|s| s.contains(&json!(ENTERPRISE_URN))),
            "{label}: schemas must list the enterprise extension: {body}"
        );
    }
    assert_eq!(
        read["meta"]["location"],
        json!(format!("{}/Users/{id}", app.scim)),
        "{read}"
    );

    let events = events_about(&app, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind.as_str(), "user_created", "{events:?}");
}

#[tokio::test]
async fn get_user_by_id_and_missing() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;

    let (status, body) = app.get(&format!("/Users/{id}")).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], json!(id), "{body}");
    assert_eq!(
        body["userName"],
        json!("mira.okafor@lockers.example"),
        "{body}"
    );

    let missing = uuid::Uuid::new_v4();
    let (status, body) = app.get(&format!("/Users/{missing}")).await;

    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["schemas"], json!([ERROR_URN]), "{body}");
    assert_eq!(body["status"], json!("404"), "{body}");
}

/// Only some gallery connectors send PUT. It replaces the resource and keeps
/// its id (RFC 7644 §3.5.1).
#[tokio::test]
async fn replace_user_with_put() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let mut body = entra_user("mira.okafor@lockers.example", "mokafor", "Mira", "Okafor");
    body["title"] = json!("Shift lead");

    let (status, replaced) = app.put(&format!("/Users/{id}"), body).await;

    assert_eq!(status, StatusCode::OK, "PUT /Users/{id}: {replaced}");
    assert_eq!(replaced["id"], json!(id), "{replaced}");
    let read = get_user(&app, &id).await;
    assert_eq!(read["title"], json!("Shift lead"), "{read}");
    assert_eq!(read["externalId"], json!("mokafor"), "{read}");
}

// ---------------------------------------------------------------------------
// Updating users

async fn check_mover_update(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let body = entra_user("mira.okafor@lockers.example", "mokafor", "Mira", "Okafor");
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let operations = dialect.mover_update(
        "m.okafor@lockers.example",
        "Okafor-Lind",
        "Depot South",
        "m.okafor@lockers.example",
    );
    patch_user(&app, &id, operations).await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read["emails"],
        json!([{"primary": true, "type": "work", "value": "m.okafor@lockers.example"}]),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        read["name"]["familyName"],
        json!("Okafor-Lind"),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        read["name"]["givenName"],
        json!("Mira"),
        "{dialect:?}: a sub-attribute update keeps its siblings: {read}"
    );
    assert_eq!(
        read[ENTERPRISE_URN]["department"],
        json!("Depot South"),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        read["userName"],
        json!("m.okafor@lockers.example"),
        "{dialect:?}: {read}"
    );
    assert!(
        read.get("name.familyName").is_none(),
        "{dialect:?}: a dotted key must not be stored literally: {read}"
    );

    let path = filter_path("Users", "userName eq \"m.okafor@lockers.example\"");
    let (status, found) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        resource_ids(&found),
        vec![id.clone()],
        "{dialect:?}: {found}"
    );

    let events = events_about(&app, &id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["user_created", "user_updated"], "{events:?}");
}

#[tokio::test]
async fn update_user_default_dialect() {
    check_mover_update(Dialect::Default).await;
}

#[tokio::test]
async fn update_user_flag_dialect() {
    check_mover_update(Dialect::Flag).await;
}

/// Entra links managers after the users exist, sending the manager's id as a
/// bare string, but parses responses only when `manager` is an object.
async fn check_manager_fix_up(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let manager_id = app.create_user("sana.kapoor@lockers.example").await;
    let id = app.create_user("mira.okafor@lockers.example").await;

    patch_user(&app, &id, json!([dialect.set_manager(&manager_id)])).await;

    let read = get_user(&app, &id).await;
    let manager = &read[ENTERPRISE_URN]["manager"];
    assert!(
        manager.is_object(),
        "{dialect:?}: manager must be rendered as an object: {read}"
    );
    assert_eq!(manager["value"], json!(manager_id), "{dialect:?}: {read}");
    assert_eq!(
        manager["$ref"],
        json!(format!("{}/Users/{manager_id}", app.scim)),
        "{dialect:?}: {read}"
    );

    let path = filter_path("Users", "userName eq \"mira.okafor@lockers.example\"");
    let (_, found) = app.get(&path).await;
    assert_eq!(
        found["Resources"][0][ENTERPRISE_URN]["manager"]["value"],
        json!(manager_id),
        "{dialect:?}: list responses render manager as an object too: {found}"
    );
}

#[tokio::test]
async fn manager_string_default_dialect() {
    check_manager_fix_up(Dialect::Default).await;
}

#[tokio::test]
async fn manager_string_flag_dialect() {
    check_manager_fix_up(Dialect::Flag).await;
}

/// The older shape in Microsoft's documentation: path `manager` without the
/// URN and a value array with `$ref`.
#[tokio::test]
async fn manager_classic_array_shape() {
    let app = TestApp::spawn().await;
    let manager_id = app.create_user("sana.kapoor@lockers.example").await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let reference = format!("../Users/{manager_id}");

    patch_user(
        &app,
        &id,
        json!([{"op": "Add", "path": "manager", "value": [{"$ref": reference, "value": manager_id}]}]),
    )
    .await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read[ENTERPRISE_URN]["manager"]["value"],
        json!(manager_id),
        "{read}"
    );
}

// ---------------------------------------------------------------------------
// Leavers and returners

/// Checks that a disabled user stays readable, filterable and in its groups.
/// Entra does not restore group memberships when it re-enables a user.
async fn check_disable(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;
    patch_group(&app, &group_id, json!([dialect.add_members(&[&id])])).await;

    patch_user(&app, &id, json!([dialect.set_active(false)])).await;

    let read = get_user(&app, &id).await;
    assert_eq!(read["active"], json!(false), "{dialect:?}: {read}");
    for filter in [
        "userName eq \"mira.okafor@lockers.example\"",
        "active eq false",
    ] {
        let path = filter_path("Users", filter);
        let (status, found) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {found}");
        assert_eq!(
            resource_ids(&found),
            vec![id.clone()],
            "{dialect:?} GET {path}: {found}"
        );
        assert_eq!(
            found["Resources"][0]["active"],
            json!(false),
            "{dialect:?} GET {path}: {found}"
        );
    }
    assert_eq!(
        app.member_ids(&group_id).await,
        vec![id.clone()],
        "{dialect:?}: a disabled user keeps its memberships"
    );

    let events = events_about(&app, &id).await;
    let last = events.last().map(|e| e.kind.as_str());
    assert_eq!(last, Some("user_deactivated"), "{events:?}");
}

#[tokio::test]
async fn disable_user_default_dialect() {
    check_disable(Dialect::Default).await;
}

#[tokio::test]
async fn disable_user_flag_dialect() {
    check_disable(Dialect::Flag).await;
}

async fn check_reenable(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    patch_user(&app, &id, json!([dialect.set_active(false)])).await;

    patch_user(&app, &id, json!([dialect.set_active(true)])).await;

    let read = get_user(&app, &id).await;
    assert_eq!(read["active"], json!(true), "{dialect:?}: {read}");
    let events = events_about(&app, &id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["user_created", "user_deactivated", "user_reactivated"],
        "{dialect:?}"
    );
}

#[tokio::test]
async fn reenable_user_default_dialect() {
    check_reenable(Dialect::Default).await;
}

#[tokio::test]
async fn reenable_user_flag_dialect() {
    check_reenable(Dialect::Flag).await;
}

#[tokio::test]
async fn delete_user_then_gone() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    let other_id = app.create_user("ivo.brandt@lockers.example").await;

    let (status, body) = app.delete(&format!("/Users/{id}")).await;

    assert_eq!(status, StatusCode::NO_CONTENT, "DELETE /Users/{id}: {body}");
    assert_eq!(body, Value::Null, "DELETE must have no body: {body}");
    let (status, body) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "GET after DELETE: {body}");
    let path = filter_path("Users", "userName eq \"mira.okafor@lockers.example\"");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalResults"], json!(0), "GET {path}: {body}");
    let (_, body) = app.get("/Users").await;
    assert_eq!(resource_ids(&body), vec![other_id], "GET /Users: {body}");
    let (status, body) = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "second DELETE: {body}");

    let kinds: Vec<&str> = events_about(&app, &id)
        .await
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["user_created", "user_deleted"]);
}

// ---------------------------------------------------------------------------
// Groups

#[tokio::test]
async fn match_group_excluding_members() {
    let app = TestApp::spawn().await;
    let user_id = app.create_user("mira.okafor@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;
    app.create_group("Bank C Day Shift").await;
    patch_group(
        &app,
        &group_id,
        json!([Dialect::Default.add_members(&[&user_id])]),
    )
    .await;
    let path = "/Groups?excludedAttributes=members&filter=displayName+eq+%22Bank+B+Night+Shift%22";

    let (status, body) = app.get(path).await;

    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert_eq!(resource_ids(&body), vec![group_id.clone()], "{body}");
    assert_eq!(
        body["Resources"][0]["displayName"],
        json!("Bank B Night Shift"),
        "{body}"
    );
    assert!(
        body["Resources"][0].get("members").is_none(),
        "excludedAttributes=members must drop members: {body}"
    );

    let path = format!("/Groups/{group_id}?excludedAttributes=members");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert!(
        body.get("members").is_none(),
        "excludedAttributes=members must drop members: {body}"
    );
}

#[tokio::test]
async fn create_group_with_microsoft_schema() {
    let app = TestApp::spawn().await;
    let request = json!({
        "schemas": [GROUP_URN, ADSCIM_GROUP_URN],
        "externalId": "5d2c9a1e-0b7f-4c6d-8e21-3f4a5b6c7d8e",
        "displayName": "Bank B Night Shift",
        "meta": {"resourceType": "Group"},
    });

    let (status, created) = app.post("/Groups", request).await;

    assert_eq!(status, StatusCode::CREATED, "POST /Groups: {created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "201 without id: {created}");
    assert_eq!(
        created["displayName"],
        json!("Bank B Night Shift"),
        "{created}"
    );
    assert_eq!(
        created["externalId"],
        json!("5d2c9a1e-0b7f-4c6d-8e21-3f4a5b6c7d8e"),
        "{created}"
    );
    assert!(
        created.get("members").is_none(),
        "Entra creates groups empty: {created}"
    );
    let path = filter_path(
        "Groups",
        "externalId eq \"5d2c9a1e-0b7f-4c6d-8e21-3f4a5b6c7d8e\"",
    );
    let (_, found) = app.get(&path).await;
    assert_eq!(
        resource_ids(&found),
        vec![id.clone()],
        "GET {path}: {found}"
    );

    let kinds: Vec<&str> = events_about(&app, &id)
        .await
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["group_created"]);
}

async fn check_member_add(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let lena = app.create_user("lena.fischer@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;

    patch_group(
        &app,
        &group_id,
        json!([dialect.add_members(&[&mira, &ivo])]),
    )
    .await;
    patch_group(&app, &group_id, json!([dialect.add_members(&[&lena])])).await;

    let mut expected = vec![mira.clone(), ivo.clone(), lena.clone()];
    expected.sort();
    assert_eq!(app.member_ids(&group_id).await, expected, "{dialect:?}");
    let added: Vec<(String, Option<String>)> = events_about(&app, &group_id)
        .await
        .into_iter()
        .filter(|e| e.kind.as_str() == "member_added")
        .map(|e| (e.subject_id, e.object_id))
        .collect();
    assert_eq!(
        added,
        vec![
            (group_id.clone(), Some(mira)),
            (group_id.clone(), Some(ivo)),
            (group_id.clone(), Some(lena)),
        ],
        "{dialect:?}"
    );
}

#[tokio::test]
async fn add_members_default_dialect() {
    check_member_add(Dialect::Default).await;
}

#[tokio::test]
async fn add_members_flag_dialect() {
    check_member_add(Dialect::Flag).await;
}

async fn check_member_remove(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let ivo = app.create_user("ivo.brandt@lockers.example").await;
    let lena = app.create_user("lena.fischer@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;
    patch_group(
        &app,
        &group_id,
        json!([dialect.add_members(&[&mira, &ivo, &lena])]),
    )
    .await;

    patch_group(&app, &group_id, json!([dialect.remove_member(&ivo)])).await;

    let mut expected = vec![mira.clone(), lena.clone()];
    expected.sort();
    assert_eq!(
        app.member_ids(&group_id).await,
        expected,
        "{dialect:?}: only the named member goes"
    );
    let removed: Vec<Option<String>> = events_about(&app, &group_id)
        .await
        .into_iter()
        .filter(|e| e.kind.as_str() == "member_removed")
        .map(|e| e.object_id)
        .collect();
    assert_eq!(removed, vec![Some(ivo.clone())], "{dialect:?}");
    let read = get_user(&app, &ivo).await;
    assert_eq!(
        read["active"],
        json!(true),
        "{dialect:?}: leaving a group does not disable: {read}"
    );
}

#[tokio::test]
async fn remove_member_default_dialect() {
    check_member_remove(Dialect::Default).await;
}

#[tokio::test]
async fn remove_member_flag_dialect() {
    check_member_remove(Dialect::Flag).await;
}

async fn check_group_rename(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;
    patch_group(&app, &group_id, json!([dialect.add_members(&[&mira])])).await;

    patch_group(
        &app,
        &group_id,
        json!([dialect.rename_group("Bank B Late Shift")]),
    )
    .await;

    let (status, read) = app.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        read["displayName"],
        json!("Bank B Late Shift"),
        "{dialect:?}: {read}"
    );
    assert_eq!(
        app.member_ids(&group_id).await,
        vec![mira.clone()],
        "{dialect:?}: a rename keeps the members"
    );
    let path = filter_path("Groups", "displayName eq \"Bank B Late Shift\"");
    let (_, found) = app.get(&path).await;
    assert_eq!(
        resource_ids(&found),
        vec![group_id.clone()],
        "{dialect:?} GET {path}: {found}"
    );
    let path = filter_path("Groups", "displayName eq \"Bank B Night Shift\"");
    let (_, found) = app.get(&path).await;
    assert_eq!(
        found["totalResults"],
        json!(0),
        "{dialect:?} GET {path}: {found}"
    );

    let events = events_about(&app, &group_id).await;
    let last = events.last().map(|e| e.kind.as_str());
    assert_eq!(last, Some("group_updated"), "{events:?}");
}

#[tokio::test]
async fn rename_group_default_dialect() {
    check_group_rename(Dialect::Default).await;
}

#[tokio::test]
async fn rename_group_flag_dialect() {
    check_group_rename(Dialect::Flag).await;
}

#[tokio::test]
async fn delete_group_then_gone() {
    let app = TestApp::spawn().await;
    let mira = app.create_user("mira.okafor@lockers.example").await;
    let group_id = app.create_group("Bank B Night Shift").await;
    patch_group(
        &app,
        &group_id,
        json!([Dialect::Default.add_members(&[&mira])]),
    )
    .await;

    let (status, body) = app.delete(&format!("/Groups/{group_id}")).await;

    assert_eq!(status, StatusCode::NO_CONTENT, "DELETE /Groups: {body}");
    assert_eq!(body, Value::Null, "DELETE must have no body: {body}");
    let (status, body) = app.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "GET after DELETE: {body}");
    let path = "/Groups?excludedAttributes=members&filter=displayName+eq+%22Bank+B+Night+Shift%22";
    let (_, body) = app.get(path).await;
    assert_eq!(body["totalResults"], json!(0), "GET {path}: {body}");
    let read = get_user(&app, &mira).await;
    assert_eq!(
        read["active"],
        json!(true),
        "deleting a group keeps its members: {read}"
    );

    let kinds: Vec<&str> = events_about(&app, &group_id)
        .await
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "group_created",
            "member_added",
            "member_removed",
            "group_deleted"
        ]
    );
}

// ---------------------------------------------------------------------------
// Pagination

/// Account discovery and Microsoft's SCIM validator page through users with
/// 1-based `startIndex` and `count` (RFC 7644 §3.4.2.4). The validator also
/// checks that `startIndex` is echoed.
#[tokio::test]
async fn paginate_users_by_five() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..12 {
        created.push(
            app.create_user(&format!("user{i:02}@lockers.example"))
                .await,
        );
    }

    let mut seen = Vec::new();
    for (start_index, expected_count) in [(1, 5), (6, 5), (11, 2), (16, 0)] {
        let path = format!("/Users?startIndex={start_index}&count=5");
        let (status, body) = app.get(&path).await;

        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        assert_eq!(body["totalResults"], json!(12), "GET {path}: {body}");
        assert_eq!(body["startIndex"], json!(start_index), "GET {path}: {body}");
        assert_eq!(
            body["itemsPerPage"],
            json!(expected_count),
            "GET {path}: {body}"
        );
        let ids = resource_ids(&body);
        assert_eq!(ids.len(), expected_count, "GET {path}: {body}");
        seen.extend(ids);
    }
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "the pages together list every user once");
}

// ---------------------------------------------------------------------------
// Custom extension attributes

/// Entra names custom attributes
/// `urn:ietf:params:scim:schemas:extension:<Name>:2.0:User:<attr>` and does
/// not add the extension URN to `schemas`, as its attribute-mapping
/// documentation describes.
async fn check_badge_number_post(body: Value) {
    let app = TestApp::spawn().await;

    let (status, created) = app.post("/Users", body).await;

    assert_eq!(status, StatusCode::CREATED, "POST /Users: {created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let read = get_user(&app, &id).await;
    for (label, body) in [("POST response", &created), ("GET", &read)] {
        assert_eq!(
            body[LOCKGATE_URN]["badgeNumber"],
            json!("B-0042"),
            "{label}: {body}"
        );
        assert!(
            body["schemas"]
                .as_array()
                .is_some_and(|s| s.contains(&json!(LOCKGATE_URN))),
            "{label}: schemas must list the extension (RFC 7643 §3): {body}"
        );
    }

    let path = filter_path("Users", &format!("{BADGE_NUMBER} eq \"B-0042\""));
    let (status, found) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {found}");
    assert_eq!(resource_ids(&found), vec![id], "GET {path}: {found}");
}

#[tokio::test]
async fn badge_number_nested_post() {
    let mut body = entra_user("mira.okafor@lockers.example", "mokafor", "Mira", "Okafor");
    body[LOCKGATE_URN] = json!({"badgeNumber": "B-0042"});
    check_badge_number_post(body).await;
}

#[tokio::test]
async fn badge_number_flat_post() {
    let mut body = entra_user("mira.okafor@lockers.example", "mokafor", "Mira", "Okafor");
    body[BADGE_NUMBER] = json!("B-0042");
    check_badge_number_post(body).await;
}

async fn check_badge_number_patch(dialect: Dialect) {
    let app = TestApp::spawn().await;
    let id = app.create_user("mira.okafor@lockers.example").await;
    app.create_user("ivo.brandt@lockers.example").await;
    let operation = match dialect {
        Dialect::Default => json!({"op": "Add", "path": BADGE_NUMBER, "value": "B-0077"}),
        Dialect::Flag => json!({"op": "replace", "value": {BADGE_NUMBER: "B-0077"}}),
    };

    patch_user(&app, &id, json!([operation])).await;

    let read = get_user(&app, &id).await;
    assert_eq!(
        read[LOCKGATE_URN]["badgeNumber"],
        json!("B-0077"),
        "{dialect:?}: {read}"
    );
    assert!(
        read.get(BADGE_NUMBER).is_none(),
        "{dialect:?}: the flat key must not be stored literally: {read}"
    );
    let path = filter_path("Users", &format!("{BADGE_NUMBER} eq \"B-0077\""));
    let (status, found) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {found}");
    assert_eq!(
        resource_ids(&found),
        vec![id.clone()],
        "{dialect:?} GET {path}: {found}"
    );
    let events = events_about(&app, &id).await;
    let last = events.last().map(|e| e.kind.as_str());
    assert_eq!(last, Some("user_updated"), "{events:?}");
}

#[tokio::test]
async fn badge_number_patch_default_dialect() {
    check_badge_number_patch(Dialect::Default).await;
}

#[tokio::test]
async fn badge_number_patch_flag_dialect() {
    check_badge_number_patch(Dialect::Flag).await;
}
