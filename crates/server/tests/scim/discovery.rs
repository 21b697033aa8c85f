//! Discovery endpoints (RFC 7644 §4) over HTTP. The documents are a
//! contract committed under `crates/scim/contract/`, so each response must
//! equal the committed document with `meta.location` added for the tenant.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::common::{ENTERPRISE_URN, GROUP_URN, TestApp, USER_URN};

const SERVICE_PROVIDER_CONFIG: &str =
    include_str!("../../../scim/contract/service_provider_config.json");
const SCHEMAS: &str = include_str!("../../../scim/contract/schemas.json");
const RESOURCE_TYPES: &str = include_str!("../../../scim/contract/resource_types.json");

fn contract(text: &str) -> Value {
    serde_json::from_str(text).expect("committed contract file is JSON")
}

/// Sets `meta.location` of one discovery resource to `location`.
fn with_location(mut resource: Value, location: String) -> Value {
    resource["meta"]["location"] = Value::String(location);
    resource
}

/// Adds `{scim}/{endpoint}/{id}` as `meta.location` to each resource of a
/// committed list response.
fn list_with_locations(mut list: Value, scim: &str, endpoint: &str) -> Value {
    for resource in list["Resources"].as_array_mut().expect("Resources") {
        let id = resource["id"].as_str().expect("resource id").to_string();
        resource["meta"]["location"] = Value::String(format!("{scim}/{endpoint}/{id}"));
    }
    list
}

/// Sends GET `path`, checks for 200 and the `application/scim+json` media
/// type, and returns the body.
async fn get_document(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(format!("{}{path}", app.scim))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    assert_eq!(
        media_type, "application/scim+json",
        "GET {path}: Content-Type {content_type:?}: {body}"
    );
    body
}

#[tokio::test]
async fn service_provider_config_matches_contract() {
    let app = TestApp::spawn().await;
    let body = get_document(&app, "/ServiceProviderConfig").await;
    let expected = with_location(
        contract(SERVICE_PROVIDER_CONFIG),
        format!("{}/ServiceProviderConfig", app.scim),
    );
    assert_eq!(body, expected, "GET /ServiceProviderConfig: {body}");
    app.stop().await;
}

#[tokio::test]
async fn schemas_match_contract() {
    let app = TestApp::spawn().await;
    let body = get_document(&app, "/Schemas").await;
    let expected = list_with_locations(contract(SCHEMAS), &app.scim, "Schemas");
    assert_eq!(body, expected, "GET /Schemas: {body}");
    app.stop().await;
}

#[tokio::test]
async fn schema_by_urn_matches_contract() {
    let app = TestApp::spawn().await;
    let expected = list_with_locations(contract(SCHEMAS), &app.scim, "Schemas");
    for urn in [USER_URN, ENTERPRISE_URN, GROUP_URN] {
        let body = get_document(&app, &format!("/Schemas/{urn}")).await;
        let committed = expected["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .find(|r| r["id"] == urn)
            .unwrap_or_else(|| panic!("{urn} is in the committed schemas"));
        assert_eq!(&body, committed, "GET /Schemas/{urn}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn resource_types_match_contract() {
    let app = TestApp::spawn().await;
    let body = get_document(&app, "/ResourceTypes").await;
    let expected = list_with_locations(contract(RESOURCE_TYPES), &app.scim, "ResourceTypes");
    assert_eq!(body, expected, "GET /ResourceTypes: {body}");
    app.stop().await;
}

#[tokio::test]
async fn resource_type_by_name_matches() {
    let app = TestApp::spawn().await;
    let expected = list_with_locations(contract(RESOURCE_TYPES), &app.scim, "ResourceTypes");
    for name in ["User", "Group"] {
        let body = get_document(&app, &format!("/ResourceTypes/{name}")).await;
        let committed = expected["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .find(|r| r["id"] == name)
            .unwrap_or_else(|| panic!("{name} is in the committed resource types"));
        assert_eq!(&body, committed, "GET /ResourceTypes/{name}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_schema_is_404() {
    let app = TestApp::spawn().await;
    let urn = "urn:example:lockgate:unknown:1.0:Locker";
    let (status, body) = app.get(&format!("/Schemas/{urn}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "GET /Schemas/{urn}: {body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "GET /Schemas/{urn}: {body}"
    );
    assert_eq!(body["status"], "404", "GET /Schemas/{urn}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains(urn)),
        "detail names the schema id: {body}"
    );

    let (status, body) = app.get("/ResourceTypes/Locker").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "GET /ResourceTypes/Locker: {body}"
    );
    app.stop().await;
}

const BADGE_URN: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";

/// A tenant's custom extension appears in discovery once its users carry it,
/// with the attribute name as the identity provider spelled it.
#[tokio::test]
async fn custom_extension_is_advertised() {
    let app = TestApp::spawn().await;
    let body = json!({
        "schemas": [USER_URN],
        "userName": "ivo.brandt@lockers.example",
        BADGE_URN: {"badgeNumber": "04A1B2C3"},
    });
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let schemas = get_document(&app, "/Schemas").await;
    assert_eq!(schemas["totalResults"], 4, "{schemas}");
    let custom = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == BADGE_URN)
        .unwrap_or_else(|| panic!("custom schema missing: {schemas}"));
    assert_eq!(custom["attributes"][0]["name"], "badgeNumber", "{custom}");
    assert_eq!(custom["attributes"][0]["multiValued"], false, "{custom}");

    let single = get_document(&app, &format!("/Schemas/{BADGE_URN}")).await;
    assert_eq!(single["id"], BADGE_URN, "{single}");

    let user_type = get_document(&app, "/ResourceTypes/User").await;
    let extensions: Vec<&Value> = user_type["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["schema"])
        .collect();
    assert!(extensions.contains(&&json!(BADGE_URN)), "{user_type}");
    assert!(extensions.contains(&&json!(ENTERPRISE_URN)), "{user_type}");
    app.stop().await;
}
