//! Single sign-on end to end against a real OpenID provider process
//! (npm `oidc-provider`, configured with Entra-shaped claims), over HTTP,
//! and once in headless Chromium.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::browser::{Browser, hidden_field};
use crate::common::{TestApp, USER_URN};
use crate::oidc_provider::{self, PASSWORD, Provider, test_user};

const TENANT_GUID: &str = "7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11";

struct Setup {
    app: TestApp,
    provider: Provider,
    admin_token: String,
}

async fn setup(mode: &str) -> Setup {
    setup_with(mode, &[]).await
}

async fn setup_with(mode: &str, extra_env: &[(&str, &str)]) -> Setup {
    let app = TestApp::spawn().await;
    let callback = format!("{}/auth/st-marys/callback", app.origin);
    let signed_out = format!("{}/auth/st-marys/signed-out", app.origin);
    let provider = oidc_provider::start_with_env(
        TENANT_GUID,
        "3c9d6a1e-8f42-4b7a-a0d5-6e1f2b3c4d55",
        "dev-only-secret",
        &callback,
        &signed_out,
        extra_env,
    )
    .await;
    let (_, token) = app.store.create_admin_token(&app.tenant.id).await.unwrap();
    let setup = Setup {
        app,
        provider,
        admin_token: token.expose().to_string(),
    };
    let (status, body) = setup
        .admin(
            Method::PUT,
            "/identity-connection",
            Some(connection(&setup.provider, mode)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    setup
}

fn connection(provider: &Provider, mode: &str) -> Value {
    json!({
        "authority": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "allowed_tenants": [provider.tenant_id],
        "mode": mode,
        "role_mapping": {"app_roles": {
            "Locker.Admin": "tenant_admin",
            "Locker.FacilityManager": "facility_manager",
            "Locker.Helpdesk": "helpdesk",
            "Locker.Auditor": "auditor"
        }},
        // Nothing answers here; only the overage user needs Graph.
        "graph_base_url": "http://127.0.0.1:9"
    })
}

impl Setup {
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}/admin/v1/tenants/st-marys{path}", self.app.origin);
        let mut request = self
            .app
            .client
            .request(method, url)
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Provisions `login` over SCIM the way Entra does, with the object id
    /// as `externalId`.
    async fn provision(&self, login: &str, active: bool) -> String {
        let user = test_user(login);
        let (status, body) = self
            .app
            .post(
                "/Users",
                json!({"schemas": [USER_URN], "userName": format!("{login}@lockgate-test.example"),
                       "externalId": user.oid, "active": active}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Signs `login` in without a browser and returns the browser, after
    /// the callback answered.
    async fn sign_in(&self, login: &str, query: &str) -> (Browser, crate::browser::Page) {
        let mut browser = Browser::new(&self.app.origin);
        let start = browser.get(&format!("/auth/st-marys/login{query}")).await;
        assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
        let authorize = start.location.unwrap();
        assert!(authorize.starts_with(&self.provider.issuer), "{authorize}");
        let callback = oidc_provider::code_flow_without_browser(&authorize, login, PASSWORD).await;
        let page = browser.get(&callback).await;
        (browser, page)
    }
}

#[tokio::test]
async fn provisioned_user_signs_in_as_locker_user() {
    let setup = setup("provisioning").await;
    let user = setup.provision("user", true).await;
    let (mut browser, page) = setup.sign_in("user", "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/portal/st-marys"));
    let cookie = &page.set_cookies["lg_session"];
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax")
    );

    let portal = browser.get("/portal/st-marys").await;
    assert!(portal.body.contains("locker_user"), "{}", portal.body);
    // A locker user is below every admin role.
    let admin = browser.get("/admin/v1/tenants/st-marys/audit").await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    let records = setup
        .app
        .store
        .tenant(&setup.app.tenant.id)
        .audit_records(0, 500)
        .await
        .unwrap();
    let signed_in = records.iter().find(|r| r.action == "signed_in").unwrap();
    assert_eq!(
        signed_in.subject,
        format!("{TENANT_GUID}:{}", test_user("user").oid)
    );
    let _ = user;
}

#[tokio::test]
async fn app_roles_map_to_lockgate_roles() {
    let setup = setup("provisioning").await;
    for (login, role, allowed, refused) in [
        ("ada", "tenant_admin", "/settings", None),
        (
            "fm",
            "facility_manager",
            "/lockers",
            Some((Method::PUT, "/settings")),
        ),
        (
            "helpdesk",
            "helpdesk",
            "/outbox",
            Some((Method::POST, "/lockers/x/emptied")),
        ),
        (
            "auditor",
            "auditor",
            "/audit",
            Some((Method::GET, "/outbox")),
        ),
    ] {
        let (mut browser, page) = setup.sign_in(login, "").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{login}: {}", page.body);
        let portal = browser.get("/portal/st-marys").await;
        assert!(portal.body.contains(role), "{login}: {}", portal.body);
        let ok = browser
            .get(&format!("/admin/v1/tenants/st-marys{allowed}"))
            .await;
        assert_eq!(
            ok.status,
            StatusCode::OK,
            "{login} on {allowed}: {}",
            ok.body
        );
        if let Some((method, path)) = refused {
            let csrf = hidden_field(&portal.body, "csrf");
            let url = format!("{}/admin/v1/tenants/st-marys{path}", setup.app.origin);
            let mut request = setup
                .app
                .client
                .request(method, url)
                .header(
                    "cookie",
                    format!("lg_session={}", browser.cookies["lg_session"]),
                )
                .header("x-csrf-token", csrf);
            if path != "/outbox" {
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{login} on {path}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_and_disabled_users_are_refused() {
    let setup = setup("provisioning").await;
    let (_, page) = setup.sign_in("user", "").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("not been provisioned"), "{}", page.body);

    setup.provision("user", false).await;
    let (browser, page) = setup.sign_in("user", "").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("disabled"), "{}", page.body);
    assert!(!browser.cookies.contains_key("lg_session"));
}

#[tokio::test]
async fn callback_is_bound_to_browser_and_used_once() {
    let setup = setup("provisioning").await;
    setup.provision("user", true).await;
    let mut browser = Browser::new(&setup.app.origin);
    let start = browser.get("/auth/st-marys/login").await;
    let callback =
        oidc_provider::code_flow_without_browser(&start.location.unwrap(), "user", PASSWORD).await;

    // Another browser cannot finish this sign-in.
    let mut other = Browser::new(&setup.app.origin);
    let stolen = other.get(&callback).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    assert!(stolen.body.contains("another browser"), "{}", stolen.body);

    // The state was consumed by that attempt, so even the right browser
    // must start again; a replay never signs anyone in.
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN);
    assert!(
        replay.body.contains("expired") || replay.body.contains("already used"),
        "{}",
        replay.body
    );
}

#[tokio::test]
async fn sso_only_creates_users_and_groups_from_the_token() {
    let setup = setup("sso_only").await;
    let (status, connection) = setup.admin(Method::GET, "/identity-connection", None).await;
    assert_eq!(status, StatusCode::OK);
    let warning = connection["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("does not learn that someone left"),
        "{warning}"
    );

    let (_, page) = setup.sign_in("user", "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let expected = test_user("user");
    let (status, users) = setup
        .app
        .get(&format!("/Users?filter=externalId eq \"{}\"", expected.oid))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users["totalResults"], 1, "{users}");
    let user_id = users["Resources"][0]["id"].as_str().unwrap().to_string();
    for group in &expected.groups {
        let (_, found) = setup
            .app
            .get(&format!("/Groups?filter=externalId eq \"{group}\""))
            .await;
        let group_id = found["Resources"][0]["id"].as_str().unwrap().to_string();
        assert!(setup.app.member_ids(&group_id).await.contains(&user_id));
    }
}

#[tokio::test]
async fn overage_without_graph_fails_closed() {
    let setup = setup("hybrid").await;
    let (browser, page) = setup.sign_in("overage", "").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.to_lowercase().contains("group"), "{}", page.body);
    assert!(!browser.cookies.contains_key("lg_session"));
}

#[tokio::test]
async fn step_up_asks_for_the_auth_context() {
    let setup = setup("provisioning").await;
    setup.provision("stepup", true).await;
    let (mut plain, page) = setup.sign_in("stepup", "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let start = Browser::new(&setup.app.origin)
        .get("/auth/st-marys/login?auth_context=c1")
        .await;
    let authorize = start.location.unwrap();
    assert!(authorize.contains("claims="), "{authorize}");
    let (mut stepped, page) = setup.sign_in("stepup", "?auth_context=c1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let _ = (
        plain.get("/portal/st-marys").await,
        stepped.get("/portal/st-marys").await,
    );
    let records = setup
        .app
        .store
        .tenant(&setup.app.tenant.id)
        .audit_records(0, 500)
        .await
        .unwrap();
    let contexts: Vec<&Value> = records
        .iter()
        .filter(|r| r.action == "signed_in")
        .map(|r| &r.detail["auth_contexts"])
        .collect();
    assert_eq!(contexts, [&json!([]), &json!(["c1"])]);
}

#[tokio::test]
async fn logout_ends_session_and_visits_provider() {
    let setup = setup("provisioning").await;
    setup.provision("user", true).await;
    let (mut browser, _) = setup.sign_in("user", "").await;
    let portal = browser.get("/portal/st-marys").await;
    let csrf = hidden_field(&portal.body, "csrf");
    let out = browser
        .post_form("/auth/st-marys/logout", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let target = out.location.unwrap();
    assert!(target.starts_with(&setup.provider.issuer), "{target}");
    assert!(target.contains("post_logout_redirect_uri"), "{target}");
    let after = browser.get("/portal/st-marys").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "signed out, so sent to sign in"
    );
}

#[tokio::test]
async fn frontchannel_logout_ends_session_by_sid() {
    let setup = setup("provisioning").await;
    setup.provision("user", true).await;
    let (mut browser, _) = setup.sign_in("user", "").await;
    let session = browser.cookies["lg_session"].clone();
    let record = setup
        .app
        .store
        .session(&session, time::Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    let sid = record
        .idp_session
        .clone()
        .expect("the ID token carries sid");
    let mut frame = Browser::new(&setup.app.origin);
    let page = frame
        .get(&format!("/auth/st-marys/frontchannel-logout?sid={sid}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let after = browser.get("/admin/v1/tenants/st-marys/audit").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn chromium_clicks_through_sign_in() {
    let setup = setup("provisioning").await;
    let start = format!("{}/auth/st-marys/login", setup.app.origin);
    let result = oidc_provider::browser_login(&start, "ada", PASSWORD).await;
    assert_eq!(result["status"], 200, "{result}");
    let url = result["url"].as_str().unwrap();
    assert!(url.ends_with("/portal/st-marys"), "{result}");
    let text = result["text"].as_str().unwrap();
    assert!(text.contains("Ada Admin"), "{text}");
    assert!(text.contains("tenant_admin"), "{text}");
}

#[tokio::test]
async fn sso_only_access_lapses_without_sign_in() {
    let setup = setup("sso_only").await;
    let (_, page) = setup.sign_in("user", "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let oid = test_user("user").oid;
    let active = |users: &Value| users["Resources"][0]["active"].clone();
    let (_, users) = setup
        .app
        .get(&format!("/Users?filter=externalId eq \"{oid}\""))
        .await;
    assert_eq!(active(&users), json!(true));

    // Thirty-one days later, with the default lapse of 30 days.
    setup
        .app
        .clock
        .store(31 * 24 * 3600, std::sync::atomic::Ordering::Relaxed);
    // The test server checks for lapsed sign-ins every 200 ms. About 30
    // seconds of polling leaves room for a loaded CI machine.
    let mut lapsed = false;
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, users) = setup
            .app
            .get(&format!("/Users?filter=externalId eq \"{oid}\""))
            .await;
        if active(&users) == json!(false) {
            lapsed = true;
            break;
        }
    }
    assert!(lapsed, "the user is still active after the lapse period");
}

#[tokio::test]
async fn sessions_end_when_idle_or_old() {
    let setup = setup("provisioning").await;
    setup.provision("user", true).await;
    let (browser, _) = setup.sign_in("user", "").await;
    let cookie = browser.cookies["lg_session"].clone();
    let store = &setup.app.store;
    assert!(
        store
            .session(&cookie, time::Duration::minutes(30))
            .await
            .unwrap()
            .is_some()
    );
    // An idle limit shorter than the time since the last request ends it,
    // and it stays ended.
    assert!(
        store
            .session(&cookie, time::Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session(&cookie, time::Duration::minutes(30))
            .await
            .unwrap()
            .is_none()
    );

    // A session past its absolute end is over however recently it was used.
    let (old, _) = store
        .create_session(lockgate_store::NewSession {
            tenant_id: setup.app.tenant.id.clone(),
            principal: "tid:old".into(),
            user_id: None,
            display_name: "Old".into(),
            roles: vec!["auditor".into()],
            auth_contexts: Vec::new(),
            idp_session: None,
            logout_hint: None,
            lifetime: time::Duration::ZERO,
        })
        .await
        .unwrap();
    let found = store
        .session(old.expose(), time::Duration::minutes(30))
        .await
        .unwrap();
    assert!(found.is_none());
}

const CLIENT_CERTIFICATE: &str = include_str!("../../../sso/tests/entra/keys/client.crt");
const CLIENT_PRIVATE_KEY: &str = include_str!("../../../sso/tests/entra/keys/client.pem");

#[tokio::test]
async fn certificate_credential_signs_in_with_private_key_jwt() {
    // The provider's client accepts only client assertions signed by this
    // certificate's key, so a sign-in proves the assertion verified.
    let setup = setup_with(
        "provisioning",
        &[("CLIENT_CERTIFICATE", CLIENT_CERTIFICATE)],
    )
    .await;

    // A key of another certificate is refused, and the saved secret stays.
    let mut wrong = connection(&setup.provider, "provisioning");
    wrong["client_secret"] = Value::Null;
    wrong["client_certificate"] = json!(CLIENT_CERTIFICATE);
    wrong["client_private_key"] = json!(include_str!("../../../sso/tests/entra/keys/key-a.pem"));
    let (status, body) = setup
        .admin(Method::PUT, "/identity-connection", Some(wrong))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["detail"].as_str().unwrap_or_default();
    assert!(message.contains("client_private_key"), "{body}");
    let (_, before) = setup.admin(Method::GET, "/identity-connection", None).await;
    assert_eq!(before["client_credential"]["kind"], "secret", "{before}");

    let mut saved = connection(&setup.provider, "provisioning");
    saved["client_secret"] = Value::Null;
    saved["client_certificate"] = json!(CLIENT_CERTIFICATE);
    saved["client_private_key"] = json!(CLIENT_PRIVATE_KEY);
    let (status, body) = setup
        .admin(Method::PUT, "/identity-connection", Some(saved))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let credential = &body["client_credential"];
    assert_eq!(credential["kind"], "certificate", "{body}");
    assert_eq!(credential["thumbprint_sha256"].as_str().unwrap().len(), 43);
    assert!(
        credential["not_after"]
            .as_str()
            .unwrap()
            .starts_with("2126-")
    );
    let (_, read) = setup.admin(Method::GET, "/identity-connection", None).await;
    assert!(!read.to_string().contains("PRIVATE KEY"), "{read}");

    setup.provision("user", true).await;
    let (_, page) = setup.sign_in("user", "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/portal/st-marys"));
    assert!(page.set_cookies.contains_key("lg_session"));
}

#[tokio::test]
async fn unreadable_credential_keeps_settings_readable() {
    let setup = setup("provisioning").await;
    let (_, saved) = setup.admin(Method::GET, "/identity-connection", None).await;
    setup
        .app
        .store
        .put_identity_connection(
            &setup.app.tenant.id,
            &saved["settings"],
            &lockgate_store::Secret::from_string("not a credential document".into()),
        )
        .await
        .unwrap();

    let (status, body) = setup.admin(Method::GET, "/identity-connection", None).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["client_credential"]["kind"], "unreadable");
    assert_eq!(body["settings"], saved["settings"]);
    let warnings = body["warnings"].to_string();
    assert!(
        warnings.contains("save the identity connection again"),
        "{body}"
    );
}
