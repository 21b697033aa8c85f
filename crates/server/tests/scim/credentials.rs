//! SCIM credentials: bearer tokens on the SCIM routes (RFC 6750), rotation
//! with a grace period, revocation, and the OAuth 2.0 client-credentials
//! token endpoint (RFC 6749 §4.4) that Entra can use instead of a
//! long-lived secret token.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lockgate_store::OAuthClient;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, USER_URN, send_with};

const GRACE: Duration = Duration::from_secs(3600);

/// Sends `GET /Users` with exactly the given Authorization header value.
async fn list_users_with(
    app: &TestApp,
    scim: &str,
    authorization: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = app.client.get(format!("{scim}/Users"));
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Returns the status of `GET /Users` on the first tenant with `token` as bearer.
async fn status_with_token(app: &TestApp, token: &str) -> StatusCode {
    send_with(
        &app.client,
        Method::GET,
        &format!("{}/Users", app.scim),
        token,
        None,
    )
    .await
    .0
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
enum ClientAuth<'a> {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret.
    Basic(&'a str, &'a str),
    /// `client_secret_post`: `client_id` and `client_secret` form fields.
    Post(&'a str, &'a str),
}

/// Posts a token request for `slug` and returns status, headers and body.
async fn request_token(
    app: &TestApp,
    slug: &str,
    grant_type: &str,
    auth: ClientAuth<'_>,
) -> (StatusCode, HeaderMap, Value) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", grant_type);
    let mut request = app
        .client
        .post(format!("{}/oauth/{slug}/token", app.origin));
    match auth {
        ClientAuth::Basic(id, secret) => {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(id), encode(secret));
            request = request.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(pair)));
        }
        ClientAuth::Post(id, secret) => {
            form.append_pair("client_id", id);
            form.append_pair("client_secret", secret);
        }
    }
    let response = request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create_client(app: &TestApp, tenant_id: &str) -> OAuthClient {
    app.store
        .create_oauth_client(tenant_id)
        .await
        .expect("create an OAuth client")
}

fn check_challenge(context: &str, status: StatusCode, headers: &HeaderMap, body: &Value) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{context}: {body}");
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        challenge.to_ascii_lowercase().starts_with("bearer"),
        "{context}: WWW-Authenticate must name the Bearer scheme (RFC 6750 §3), got {challenge:?}: {body}"
    );
    assert_eq!(
        body["status"], "401",
        "{context}: SCIM error status: {body}"
    );
}

#[tokio::test]
async fn missing_authorization_is_401() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = list_users_with(&app, &app.scim, None).await;
    check_challenge("no Authorization header", status, &headers, &body);
    app.stop().await;
}

#[tokio::test]
async fn wrong_token_is_401() {
    let app = TestApp::spawn().await;
    for token in ["lgs_not-a-real-token", "", &format!("{}x", app.token)] {
        let header = format!("Bearer {token}");
        let (status, headers, body) = list_users_with(&app, &app.scim, Some(&header)).await;
        check_challenge(
            &format!("Authorization {header:?}"),
            status,
            &headers,
            &body,
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn other_scheme_is_401() {
    let app = TestApp::spawn().await;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("st-marys:{}", app.token))
    );
    for header in [basic, format!("Token {}", app.token), app.token.clone()] {
        let (status, headers, body) = list_users_with(&app, &app.scim, Some(&header)).await;
        check_challenge(
            &format!("Authorization {header:?}"),
            status,
            &headers,
            &body,
        );
    }
    app.stop().await;
}

/// After a rotation both tokens work, so the IdP can switch without a gap;
/// a second rotation revokes the oldest, so at most two are valid.
#[tokio::test]
async fn rotation_keeps_two_tokens() {
    let app = TestApp::spawn().await;
    let first = app.token.clone();
    let (_, second) = app
        .store
        .rotate_scim_token(&app.tenant.id, GRACE)
        .await
        .expect("first rotation");
    let second = second.expose().to_string();
    assert_eq!(
        status_with_token(&app, &first).await,
        StatusCode::OK,
        "original token after one rotation"
    );
    assert_eq!(
        status_with_token(&app, &second).await,
        StatusCode::OK,
        "new token after one rotation"
    );

    let (_, third) = app
        .store
        .rotate_scim_token(&app.tenant.id, GRACE)
        .await
        .expect("second rotation");
    let third = third.expose().to_string();
    assert_eq!(
        status_with_token(&app, &first).await,
        StatusCode::UNAUTHORIZED,
        "original token after two rotations"
    );
    assert_eq!(
        status_with_token(&app, &second).await,
        StatusCode::OK,
        "second token after two rotations"
    );
    assert_eq!(
        status_with_token(&app, &third).await,
        StatusCode::OK,
        "newest token after two rotations"
    );
    app.stop().await;
}

#[tokio::test]
async fn revoked_token_fails_at_once() {
    let app = TestApp::spawn().await;
    let (info, token) = app
        .store
        .create_scim_token(&app.tenant.id)
        .await
        .expect("create a second token");
    let token = token.expose().to_string();
    assert_eq!(
        status_with_token(&app, &token).await,
        StatusCode::OK,
        "token before revocation"
    );

    app.store
        .revoke_credential(&app.tenant.id, &info.id)
        .await
        .expect("revoke the token");
    assert_eq!(
        status_with_token(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "token right after revocation"
    );
    assert_eq!(
        status_with_token(&app, &app.token).await,
        StatusCode::OK,
        "the other token after revoking one"
    );
    app.stop().await;
}

/// Checks a successful token response (RFC 6749 §5.1) and returns the token.
fn check_token_response(
    context: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
) -> String {
    assert_eq!(status, StatusCode::OK, "{context}: {body}");
    assert_eq!(
        body["token_type"], "Bearer",
        "{context}: token_type: {body}"
    );
    assert_eq!(body["expires_in"], 3600, "{context}: expires_in: {body}");
    assert_eq!(
        headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{context}: Cache-Control (RFC 6749 §5.1): {body}"
    );
    let token = body["access_token"].as_str().unwrap_or_default();
    assert!(!token.is_empty(), "{context}: access_token: {body}");
    token.to_string()
}

#[tokio::test]
async fn client_secret_basic_issues_token() {
    let app = TestApp::spawn().await;
    let client = create_client(&app, &app.tenant.id).await;
    let (status, headers, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Basic(&client.client_id, client.client_secret.expose()),
    )
    .await;
    let token = check_token_response("client_secret_basic", status, &headers, &body);
    assert_eq!(
        status_with_token(&app, &token).await,
        StatusCode::OK,
        "SCIM request with the access token"
    );
    app.stop().await;
}

#[tokio::test]
async fn client_secret_post_issues_token() {
    let app = TestApp::spawn().await;
    let client = create_client(&app, &app.tenant.id).await;
    let (status, headers, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Post(&client.client_id, client.client_secret.expose()),
    )
    .await;
    let token = check_token_response("client_secret_post", status, &headers, &body);
    assert_eq!(
        status_with_token(&app, &token).await,
        StatusCode::OK,
        "SCIM request with the access token"
    );
    let user = json!({"schemas": [USER_URN], "userName": "token.user@lockers.example"});
    let url = format!("{}/Users", app.scim);
    let (status, created) = send_with(&app.client, Method::POST, &url, &token, Some(user)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "POST /Users with the access token: {created}"
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_invalid_client() {
    let app = TestApp::spawn().await;
    let client = create_client(&app, &app.tenant.id).await;
    let wrong = format!("{}x", client.client_secret.expose());

    let (status, headers, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Basic(&client.client_id, &wrong),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "wrong secret over Basic: {body}"
    );
    assert_eq!(
        body["error"], "invalid_client",
        "wrong secret over Basic: {body}"
    );
    assert!(
        headers.contains_key(WWW_AUTHENTICATE),
        "wrong secret over Basic needs WWW-Authenticate (RFC 6749 §5.2): {body}"
    );

    let (status, _, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Post(&client.client_id, &wrong),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "wrong secret in the form: {body}"
    );
    assert_eq!(
        body["error"], "invalid_client",
        "wrong secret in the form: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_grant_type_rejected() {
    let app = TestApp::spawn().await;
    let client = create_client(&app, &app.tenant.id).await;
    let (status, _, body) = request_token(
        &app,
        "st-marys",
        "password",
        ClientAuth::Post(&client.client_id, client.client_secret.expose()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "grant_type=password: {body}"
    );
    assert_eq!(
        body["error"], "unsupported_grant_type",
        "grant_type=password: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn revoked_client_ends_tokens() {
    let app = TestApp::spawn().await;
    let client = create_client(&app, &app.tenant.id).await;
    let secret = client.client_secret.expose();
    let (status, headers, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Post(&client.client_id, secret),
    )
    .await;
    let token = check_token_response("token before revocation", status, &headers, &body);
    assert_eq!(
        status_with_token(&app, &token).await,
        StatusCode::OK,
        "access token before revocation"
    );

    app.store
        .revoke_credential(&app.tenant.id, &client.info.id)
        .await
        .expect("revoke the client");
    assert_eq!(
        status_with_token(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "access token after its client was revoked"
    );
    let (status, _, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Post(&client.client_id, secret),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "token request of a revoked client: {body}"
    );
    assert_eq!(
        body["error"], "invalid_client",
        "token request of a revoked client: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn foreign_client_gets_no_token() {
    let app = TestApp::spawn().await;
    let (_, _, other) = app.add_tenant("bank-b").await;
    let client = create_client(&app, &other.id).await;
    let secret = client.client_secret.expose();
    for auth in [
        ClientAuth::Basic(&client.client_id, secret),
        ClientAuth::Post(&client.client_id, secret),
    ] {
        let (status, _, body) = request_token(&app, "st-marys", "client_credentials", auth).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "another tenant's client at this tenant's token endpoint: {body}"
        );
        assert_eq!(
            body["error"], "invalid_client",
            "another tenant's client: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn access_token_bound_to_tenant() {
    let app = TestApp::spawn().await;
    let (other_scim, other_token, _) = app.add_tenant("bank-b").await;
    let client = create_client(&app, &app.tenant.id).await;
    let (status, headers, body) = request_token(
        &app,
        "st-marys",
        "client_credentials",
        ClientAuth::Basic(&client.client_id, client.client_secret.expose()),
    )
    .await;
    let token = check_token_response("token of tenant A", status, &headers, &body);

    let (status, headers, body) =
        list_users_with(&app, &other_scim, Some(&format!("Bearer {token}"))).await;
    check_challenge(
        "tenant A's access token on tenant B",
        status,
        &headers,
        &body,
    );
    let (status, _, body) =
        list_users_with(&app, &other_scim, Some(&format!("Bearer {other_token}"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "tenant B's own token on tenant B: {body}"
    );
    app.stop().await;
}
