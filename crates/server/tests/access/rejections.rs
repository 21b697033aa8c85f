//! Bad input at the access routes: a clear 4xx that names the problem, and
//! no change to any state.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixture::Hospital;

/// Everything a rejected request must leave as it was.
async fn snapshot(hospital: &Hospital) -> Vec<Value> {
    let mut out = Vec::new();
    // `/assignments` first: it waits for the engine, so the audit count
    // after it is settled.
    for path in [
        "/assignments",
        "/audit/verify",
        "/policies",
        "/lockers",
        "/outbox",
        "/settings",
    ] {
        let (status, body) = hospital.access.admin(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        out.push(body);
    }
    out
}

#[tokio::test]
async fn malformed_requests_change_nothing() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("steady@st-marys.example", "S-1").await;
    let before = snapshot(&hospital).await;

    let admin_cases: Vec<(Method, String, Value, StatusCode)> = vec![
        (
            Method::PUT,
            "/policies/bad id".into(),
            json!({"policy": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/policies/p2".into(),
            json!({"policy": {"who": {}, "how": {"mode": "fixed"}}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/policies/p2".into(),
            json!({"policy": {"who": {"groups": ["g"]}, "how": {"mode": "teleport"}}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/policies/p2".into(),
            json!({"policy": {"who": {"groups": ["g"]}, "how": {"mode": "fixed"}, "quota": -1}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/policies/p2".into(),
            json!({"polcy": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/policies/ward-lockers".into(),
            json!({"base_version": 7, "policy": {"who": {"groups": ["g"]}, "how": {"mode": "fixed"}}}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/policies/nope/retire".into(),
            json!({"base_version": 1}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/users/{user}/badges"),
            json!({"badge": ""}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/users/nobody/badges".into(),
            json!({"badge": "X"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            format!("/users/{user}/pin"),
            json!({"pin": 1234}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/settings".into(),
            json!({"badge_attribute": ""}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/settings".into(),
            json!({"badge_attr": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/settings".into(),
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::DELETE,
            "/badges/never-enrolled".into(),
            Value::Null,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, expected) in admin_cases {
        let body = (!body.is_null()).then_some(body);
        let (status, reply) = hospital.access.admin(method.clone(), &path, body).await;
        assert_eq!(status, expected, "{method} {path}: {reply}");
        let detail = reply["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.is_empty(),
            "{method} {path}: no explanation in {reply}"
        );
    }

    let device_cases: Vec<(Value, StatusCode)> = vec![
        (
            json!({"bank": "ward-a", "door": "1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"bank": "ward-a", "door": "1", "credential": {"type": "iris"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"bank": "ward-a", "door": "1", "credential": {"type": "badge", "id": " "}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"bank": "ward-a", "door": "77", "credential": {"type": "badge", "id": "S-1"}}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"bank": "flex-b", "door": "1", "credential": {"type": "badge", "id": "S-1"}}),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (body, expected) in device_cases {
        let (status, reply) = hospital
            .access
            .call(
                Method::POST,
                "/device/v1/decisions",
                &hospital.device,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, expected, "{body}: {reply}");
        assert!(
            reply["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{reply}"
        );
    }

    assert_eq!(snapshot(&hospital).await, before);
}

#[tokio::test]
async fn foreign_credentials_rejected() {
    let hospital = Hospital::open().await;
    hospital.nurse("mine@st-marys.example", "M-1").await;
    let app = &hospital.access.app;
    let (_, other_scim_token, other) = app.add_tenant("elsewhere").await;
    let (_, other_admin) = app.store.create_admin_token(&other.id).await.unwrap();
    let (_, other_device) = app
        .store
        .create_device_token(&other.id, "ward-a")
        .await
        .unwrap();

    // Tenant B's admin token on tenant A's routes.
    for path in [
        "/policies",
        "/assignments",
        "/outbox",
        "/explain?user=x&locker=y",
    ] {
        let url = format!("{}/admin/v1/tenants/st-marys{path}", app.origin);
        let (status, _) =
            crate::support::send_json(&app.client, Method::GET, &url, other_admin.expose(), None)
                .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // Tenant A's SCIM token is no admin token, and no device token either.
    let (status, _) = hospital
        .access
        .call(
            Method::GET,
            "/admin/v1/tenants/st-marys/policies",
            &app.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let badge =
        json!({"bank": "ward-a", "door": "1", "credential": {"type": "badge", "id": "M-1"}});
    let (status, _) = hospital
        .access
        .call(
            Method::POST,
            "/device/v1/decisions",
            &app.token,
            Some(badge.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hospital
        .access
        .call(
            Method::POST,
            "/device/v1/decisions",
            &other_scim_token,
            Some(badge.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Tenant B's controller of a bank with the same id finds none of tenant
    // A's doors or badges.
    let (status, body) = hospital
        .access
        .call(
            Method::POST,
            "/device/v1/decisions",
            other_device.expose(),
            Some(badge),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Bad query strings and unknown paths get JSON errors that name the
/// parameter or the path, like bad bodies do.
#[tokio::test]
async fn bad_queries_and_paths_get_json_errors() {
    let hospital = Hospital::open().await;
    let cases = [
        (
            "/admin/v1/tenants/st-marys/explain?user=x",
            StatusCode::BAD_REQUEST,
            "locker",
        ),
        (
            "/admin/v1/tenants/st-marys/outbox?limit=many",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "/admin/v1/tenants/st-marys/lockerz",
            StatusCode::NOT_FOUND,
            "/admin/v1/tenants/st-marys/lockerz",
        ),
        (
            "/device/v1/decision",
            StatusCode::NOT_FOUND,
            "docs/access.md",
        ),
    ];
    for (path, status, named) in cases {
        let (got, body) = hospital
            .access
            .call(Method::GET, path, &hospital.access.admin_token, None)
            .await;
        assert_eq!(got, status, "{path}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(named), "{path}: {body}");
    }
}
