//! Every admin route refuses the roles below the one it names.

use lockgate_domain::role::Role;
use lockgate_store::NewSession;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixture::Hospital;

/// Each admin route with a request that reaches its handler, and the least
/// role it needs.
fn routes(user: &str) -> Vec<(Method, String, Option<Value>, Role)> {
    use Role::*;
    let body = |v: Value| Some(v);
    vec![
        (Method::GET, "/audit".into(), None, Auditor),
        (Method::GET, "/provisioning-log".into(), None, Auditor),
        (Method::GET, "/audit/verify".into(), None, Auditor),
        (Method::GET, "/sites".into(), None, Helpdesk),
        (Method::GET, "/zones".into(), None, Helpdesk),
        (Method::GET, "/banks".into(), None, Helpdesk),
        (Method::GET, "/lockers".into(), None, Helpdesk),
        (Method::GET, "/lockers/ward-a-1".into(), None, Helpdesk),
        (Method::GET, "/policies".into(), None, Helpdesk),
        (Method::GET, "/policies/ward-lockers".into(), None, Helpdesk),
        (Method::GET, format!("/users/{user}/access"), None, Helpdesk),
        (
            Method::GET,
            format!("/explain?user={user}&locker=ward-a-1"),
            None,
            Helpdesk,
        ),
        (Method::GET, "/assignments".into(), None, Helpdesk),
        (Method::GET, "/device-tokens".into(), None, FacilityManager),
        (
            Method::DELETE,
            "/device-tokens/no-such-token".into(),
            None,
            FacilityManager,
        ),
        (
            Method::POST,
            "/assignments/no-such-assignment/end".into(),
            None,
            FacilityManager,
        ),
        (Method::GET, "/outbox".into(), None, Helpdesk),
        (Method::GET, "/settings".into(), None, Helpdesk),
        (
            Method::POST,
            format!("/users/{user}/badges"),
            body(json!({"badge": "R-9"})),
            Helpdesk,
        ),
        (Method::DELETE, "/badges/R-9".into(), None, Helpdesk),
        (
            Method::PUT,
            format!("/users/{user}/pin"),
            body(json!({"pin": "4719"})),
            Helpdesk,
        ),
        (
            Method::POST,
            format!("/users/{user}/app-tokens"),
            None,
            Helpdesk,
        ),
        (
            Method::POST,
            "/sites".into(),
            body(json!({"id": "annex", "name": "Annex"})),
            FacilityManager,
        ),
        (
            Method::POST,
            "/zones".into(),
            body(json!({"id": "z9", "site": "main", "name": "Z9"})),
            FacilityManager,
        ),
        (
            Method::POST,
            "/banks".into(),
            body(json!({"id": "b9", "zone": "ward-3", "name": "B9"})),
            FacilityManager,
        ),
        (
            Method::POST,
            "/lockers".into(),
            body(
                json!({"id": "b9-1", "bank": "ward-a", "door": "77", "kind": "personal", "size": "small"}),
            ),
            FacilityManager,
        ),
        (
            Method::PATCH,
            "/lockers/ward-a-4".into(),
            body(json!({"state": "maintenance"})),
            FacilityManager,
        ),
        (
            Method::POST,
            "/lockers/ward-a-4/emptied".into(),
            body(json!({})),
            FacilityManager,
        ),
        (
            Method::DELETE,
            "/lockers/b9-1".into(),
            None,
            FacilityManager,
        ),
        (
            Method::PATCH,
            "/banks/b9".into(),
            body(json!({"name": "B9 east"})),
            FacilityManager,
        ),
        (Method::DELETE, "/banks/b9".into(), None, FacilityManager),
        (
            Method::POST,
            "/import".into(),
            body(json!({"sites": []})),
            FacilityManager,
        ),
        (
            Method::PUT,
            "/settings".into(),
            body(json!({"badge_attribute": "employeeNumber"})),
            TenantAdmin,
        ),
        (
            Method::PUT,
            "/policies/extra".into(),
            body(json!({"policy": {"who": {"groups": ["x"]}, "how": {"mode": "shared"}}})),
            TenantAdmin,
        ),
        (
            Method::POST,
            "/policies/extra/preview".into(),
            body(json!({})),
            TenantAdmin,
        ),
        (
            Method::POST,
            "/policies/extra/retire".into(),
            body(json!({"base_version": 1})),
            TenantAdmin,
        ),
    ]
}

struct Browser {
    cookie: String,
    csrf: String,
}

async fn session(hospital: &Hospital, role: Role) -> Browser {
    let (cookie, record) = hospital
        .access
        .app
        .store
        .create_session(NewSession {
            tenant_id: hospital.access.app.tenant.id.clone(),
            principal: format!("tid:oid-{role}"),
            user_id: None,
            display_name: format!("A {role}"),
            roles: vec![role.as_str().to_string()],
            auth_contexts: Vec::new(),
            idp_session: None,
            logout_hint: None,
            lifetime: time::Duration::hours(1),
        })
        .await
        .unwrap();
    Browser {
        cookie: cookie.expose().to_string(),
        csrf: record.csrf_token,
    }
}

async fn send(
    hospital: &Hospital,
    browser: &Browser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = format!("{}{path}", hospital.access.admin_base());
    let mut request = hospital
        .access
        .app
        .client
        .request(method, url)
        .header("cookie", format!("lg_session={}", browser.cookie))
        .header("x-csrf-token", &browser.csrf);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn routes_refuse_lower_roles() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("role-target@st-marys.example", "R-1").await;
    let mut browsers = Vec::new();
    for role in Role::ALL {
        browsers.push((role, session(&hospital, role).await));
    }
    for (method, path, body, needed) in routes(&user) {
        for (role, browser) in &browsers {
            let (status, reply) =
                send(&hospital, browser, method.clone(), &path, body.clone()).await;
            if *role < needed {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} on {method} {path}: {reply}"
                );
                let detail = reply["detail"].as_str().unwrap();
                assert!(detail.contains(needed.as_str()), "{detail}");
            } else {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role} on {method} {path}: {status} {reply}"
                );
            }
        }
    }
}

#[tokio::test]
async fn session_writes_need_csrf_token() {
    let hospital = Hospital::open().await;
    let mut admin = session(&hospital, Role::TenantAdmin).await;
    let (status, _) = send(&hospital, &admin, Method::GET, "/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    admin.csrf = "wrong".to_string();
    let (status, reply) = send(
        &hospital,
        &admin,
        Method::PUT,
        "/settings",
        Some(json!({"badge_attribute": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_eq!(reply["error"], "csrf");
    let (_, settings) = hospital.access.admin(Method::GET, "/settings", None).await;
    assert_eq!(settings["badge_attribute"], "employeeNumber");
}

#[tokio::test]
async fn session_of_other_tenant_is_rejected() {
    let hospital = Hospital::open().await;
    let (_, _, other) = hospital.access.app.add_tenant("elsewhere").await;
    let (cookie, record) = hospital
        .access
        .app
        .store
        .create_session(NewSession {
            tenant_id: other.id.clone(),
            principal: "tid:oid-foreign".into(),
            user_id: None,
            display_name: "Foreign admin".into(),
            roles: vec!["tenant_admin".into()],
            auth_contexts: Vec::new(),
            idp_session: None,
            logout_hint: None,
            lifetime: time::Duration::hours(1),
        })
        .await
        .unwrap();
    let browser = Browser {
        cookie: cookie.expose().to_string(),
        csrf: record.csrf_token,
    };
    let (status, _) = send(&hospital, &browser, Method::GET, "/policies", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
