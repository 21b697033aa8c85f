//! Device tokens over the admin API: listed by bank and revoked, after
//! which the bank's controller is refused at once.

use lockgate_domain::audit::Actor;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::fixture::Hospital;

#[tokio::test]
async fn device_tokens_listed_and_revoked() {
    let hospital = Hospital::open().await;
    let access = &hospital.access;
    let store = &access.app.store;
    let tenant = &access.app.tenant.id;
    let (flex, _) = store.create_device_token(tenant, "flex-b").await.unwrap();
    let (scim, scim_token) = store.create_scim_token(tenant).await.unwrap();

    let (status, list) = access.admin(Method::GET, "/device-tokens", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut banks: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|token| token["scope"].as_str().unwrap())
        .collect();
    banks.sort_unstable();
    assert_eq!(banks, ["flex-b", "ward-a"], "device tokens only: {list}");
    let (_, list) = access
        .admin(Method::GET, "/device-tokens?bank=ward-a", None)
        .await;
    let ward = list.as_array().unwrap();
    assert_eq!(ward.len(), 1, "{list}");
    let ward_token = ward[0]["id"].as_str().unwrap().to_string();

    let decision =
        json!({"bank": "ward-a", "door": "1", "credential": {"type": "badge", "id": "R-404"}});
    let ask = || {
        access.call(
            Method::POST,
            "/device/v1/decisions",
            &hospital.device,
            Some(decision.clone()),
        )
    };
    let (status, body) = ask().await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let path = format!("/device-tokens/{ward_token}");
    let (status, body) = access.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = ask().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("a revoked token is refused too"), "{body}");

    let (_, records) = access.admin(Method::GET, "/audit?limit=1000", None).await;
    let revoked = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "credential_revoked" && r["subject"] == ward_token.as_str())
        .cloned()
        .expect("a credential_revoked record");
    assert_eq!(revoked["detail"]["kind"], "device_token", "{revoked}");
    assert_eq!(revoked["detail"]["scope"], "ward-a", "{revoked}");
    assert_eq!(revoked["source"], "admin", "{revoked}");
    let actor: Actor = serde_json::from_value(revoked["actor"].clone()).unwrap();
    assert!(matches!(actor, Actor::Admin(_)), "{revoked}");

    // Revoked once; a SCIM token is no device token; neither changes.
    let (status, body) = access.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let path = format!("/device-tokens/{}", scim.id);
    let (status, body) = access.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("GET /device-tokens lists them"), "{body}");
    let users = format!("{}/Users", access.app.scim);
    let response = access
        .app
        .client
        .get(&users)
        .bearer_auth(scim_token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The other bank's token is untouched.
    let (_, list) = access
        .admin(Method::GET, "/device-tokens?bank=flex-b", None)
        .await;
    assert_eq!(list[0]["id"], flex.id.as_str(), "{list}");
    assert!(list[0]["revoked_at"].is_null(), "{list}");

    let (status, body) = access
        .admin(Method::GET, "/device-tokens?bnak=x", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
