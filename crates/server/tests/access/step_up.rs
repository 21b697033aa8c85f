//! A policy that demands a stronger sign-in for opens from the app.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lockgate_store::NewSession;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::fixture::{Hospital, NURSES_EXTERNAL_ID, save_policy};

const VERIFIER: &str = "step-up-verifier-0123456789-0123456789-abcdefghijklmnopqrstuv";
const REDIRECT: &str = "http://127.0.0.1:49153/cb";

/// Runs the app sign-in with a browser session whose sign-in satisfied
/// `contexts`, and returns the app's access token.
async fn app_token(hospital: &Hospital, user: &str, contexts: &[&str]) -> String {
    let app = &hospital.access.app;
    let (cookie, _) = app
        .store
        .create_session(NewSession {
            tenant_id: app.tenant.id.clone(),
            principal: format!("tid:{user}"),
            user_id: Some(user.to_string()),
            display_name: "Nurse".into(),
            roles: vec!["locker_user".into()],
            auth_contexts: contexts.iter().map(|c| c.to_string()).collect(),
            idp_session: None,
            logout_hint: None,
            lifetime: time::Duration::hours(1),
        })
        .await
        .unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let authorize = format!(
        "{}/oauth/st-marys/authorize?response_type=code&client_id=lockgate-app&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=S256&auth_context=c1",
        app.origin
    );
    let response = no_redirects
        .get(&authorize)
        .header("cookie", format!("lg_session={}", cookie.expose()))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    if !location.starts_with(REDIRECT) {
        // The session lacks c1: the browser is sent to sign in with it.
        assert!(location.contains("auth_context=c1"), "{location}");
        return String::new();
    }
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let tokens: serde_json::Value = app
        .client
        .post(format!("{}/oauth/st-marys/token", app.origin))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "lockgate-app"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn remote_open_requires_step_up() {
    let hospital = Hospital::open().await;
    save_policy(
        &hospital.access,
        "ward-lockers",
        json!({
            "who": {"groups": [NURSES_EXTERNAL_ID]},
            "what": {"banks": ["ward-a"], "kinds": ["personal"]},
            "how": {"mode": "fixed"},
            "remote_open_auth_context": "c1"
        }),
    )
    .await;
    let user = hospital.nurse("cabinet@st-marys.example", "MC-1").await;
    let door = hospital.door_of(&user).await;
    let locker = format!("ward-a-{door}");

    // At the door, a badge needs no step-up.
    assert_eq!(hospital.tap("MC-1", &door).await["decision"], "allow");

    // From the app with a plain sign-in: denied, and told what to ask for.
    let (_, helpdesk) = hospital
        .access
        .admin(Method::POST, &format!("/users/{user}/app-tokens"), None)
        .await;
    let plain = helpdesk["token"].as_str().unwrap();
    let open = json!({"locker": locker});
    let (status, body) = hospital
        .access
        .call(
            Method::POST,
            "/app/v1/st-marys/opens",
            plain,
            Some(open.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["reason"], "step_up_required", "{body}");
    assert_eq!(body["auth_context"], "c1");

    // Authorize for c1 with a session that lacks it goes back to sign-in.
    assert_eq!(app_token(&hospital, &user, &[]).await, "");

    // A sign-in that satisfied c1 opens the locker.
    let stepped = app_token(&hospital, &user, &["c1"]).await;
    let (_, body) = hospital
        .access
        .call(Method::POST, "/app/v1/st-marys/opens", &stepped, Some(open))
        .await;
    assert_eq!(body["decision"], "allow", "{body}");
}
