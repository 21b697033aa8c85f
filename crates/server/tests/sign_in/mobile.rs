//! The mobile app's sign-in (RFC 8252): authorize with PKCE, code for
//! tokens, refresh rotation with reuse detection, and access that ends
//! when the user is disabled.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lockgate_store::NewSession;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::browser::Browser;
use crate::common::{PATCH_URN, TestApp};

const VERIFIER: &str = "a-verifier-of-sufficient-length-0123456789-abcdefghijklmnop";
const REDIRECT: &str = "http://127.0.0.1:49152/callback";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn authorize_path(extra: &str) -> String {
    format!(
        "/oauth/st-marys/authorize?response_type=code&client_id=lockgate-app&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=xyz{extra}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        challenge()
    )
}

/// A browser signed in as a locker user, by a session made in the store.
async fn signed_in(app: &TestApp, user: &str) -> Browser {
    let (cookie, _) = app
        .store
        .create_session(NewSession {
            tenant_id: app.tenant.id.clone(),
            principal: format!("tid:{user}"),
            user_id: Some(user.to_string()),
            display_name: "Nurse".into(),
            roles: vec!["locker_user".into()],
            auth_contexts: Vec::new(),
            idp_session: None,
            logout_hint: None,
            lifetime: time::Duration::hours(1),
        })
        .await
        .unwrap();
    let mut browser = Browser::new(&app.origin);
    browser
        .cookies
        .insert("lg_session".into(), cookie.expose().to_string());
    browser
}

async fn token(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/oauth/st-marys/token", app.origin))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn code_for(app: &TestApp, browser: &mut Browser) -> String {
    let page = browser.get(&authorize_path("")).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let location = page.location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "xyz");
    let _ = app;
    query["code"].clone()
}

async fn refresh_with(app: &TestApp, refresh: &str) -> (StatusCode, Value) {
    token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "lockgate-app"),
            ("refresh_token", refresh),
        ],
    )
    .await
}

async fn me(app: &TestApp, access_token: &str) -> StatusCode {
    app.client
        .get(format!("{}/app/v1/st-marys/me", app.origin))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn app_signs_in_with_pkce_and_rotates_refresh_tokens() {
    let app = TestApp::spawn().await;
    let user = app.create_user("app-user@st-marys.example").await;
    let mut browser = signed_in(&app, &user).await;

    let code = code_for(&app, &mut browser).await;
    let (status, wrong) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "lockgate-app"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "not-the-verifier-not-the-verifier-not-the-verifier",
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    // The failed attempt used the code up.
    let code = code_for(&app, &mut browser).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("client_id", "lockgate-app"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = token(&app, &exchange).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(me(&app, &access).await, StatusCode::OK);

    // The same code again is refused.
    let (status, replay) = token(&app, &exchange).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Refresh rotates; the old refresh token then revokes the family.
    let (status, rotated) = refresh_with(&app, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, refresh);
    let (status, reused) = refresh_with(&app, &refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reused["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{reused}"
    );
    let (status, _) = refresh_with(&app, &second).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the whole family is revoked"
    );
}

#[tokio::test]
async fn app_access_ends_when_user_is_disabled() {
    let app = TestApp::spawn().await;
    let user = app.create_user("leaving@st-marys.example").await;
    let mut browser = signed_in(&app, &user).await;
    let code = code_for(&app, &mut browser).await;
    let (_, tokens) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "lockgate-app"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(me(&app, &access).await, StatusCode::OK);

    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/Users/{user}"),
            Some(json!({"schemas": [PATCH_URN],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // At once, without waiting for the lifecycle engine.
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED);
    let (status, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "lockgate-app"),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn app_authorize_rejects_bad_requests() {
    let app = TestApp::spawn().await;
    let user = app.create_user("checks@st-marys.example").await;
    let mut browser = signed_in(&app, &user).await;
    let cases = [
        authorize_path("").replace("client_id=lockgate-app", "client_id=other"),
        authorize_path("").replace("127.0.0.1%3A49152", "evil.example"),
        authorize_path("").replace("code_challenge_method=S256", "code_challenge_method=plain"),
        authorize_path("").replace(&challenge(), "short"),
    ];
    for path in cases {
        let page = browser.get(&path).await;
        // Never redirected to an unchecked redirect URI.
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
        assert!(page.location.is_none());
    }
    // Without a session the browser is sent to sign in first.
    let mut anonymous = Browser::new(&app.origin);
    let page = anonymous.get(&authorize_path("")).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(
        page.location
            .unwrap()
            .starts_with("/auth/st-marys/login?return_to=")
    );
}
