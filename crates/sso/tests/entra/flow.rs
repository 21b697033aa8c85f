//! The authorization code flow end to end: authorize URL, browser redirect,
//! code redemption with PKCE, step-up and logout.

use lockgate_sso::{AuthorizeOptions, SsoError};
use serde_json::json;

use crate::fake::*;

#[tokio::test]
async fn sign_in_round_trip() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let (result, pending, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;
    let sign_in = result.unwrap();

    assert_eq!(
        (sign_in.tid.as_str(), sign_in.oid.as_str()),
        (TID_A, OID_ADA)
    );
    assert_eq!(sign_in.groups, vec![GID_ADM, GID_HQ]);
    assert!(!format!("{pending:?}").contains(&pending.nonce));
    let token_requests = fake.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].grant_type, "authorization_code");
    assert_eq!(token_requests[0].client_auth, "client_secret_post");
}

#[tokio::test]
async fn authorize_url_parameters() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let (url, pending) = rp.authorize(AuthorizeOptions {
        login_hint: Some("ada.example@contoso.example".to_string()),
        required_auth_context: None,
        prompt_login: true,
    });
    let (second_url, second) = rp.authorize(AuthorizeOptions::default());

    assert!(
        url.as_str()
            .starts_with(&format!("{}{TID_A}/oauth2/v2.0/authorize?", fake.login))
    );
    let parameters = pairs(&url);
    assert_eq!(parameters["response_type"], "code");
    assert_eq!(parameters["client_id"], CID);
    assert_eq!(
        parameters["redirect_uri"],
        format!("{}app/callback", fake.login)
    );
    assert_eq!(parameters["scope"], "openid profile email");
    assert_eq!(parameters["state"], pending.state.as_str());
    assert_eq!(parameters["nonce"], pending.nonce.as_str());
    assert_eq!(parameters["login_hint"], "ada.example@contoso.example");
    assert_eq!(parameters["prompt"], "login");
    assert!(!parameters.contains_key("claims"));
    assert_eq!(pending.state.len(), 43);
    assert_eq!(pending.nonce.len(), 43);

    assert_ne!(pending.state, second.state);
    assert_ne!(pending.nonce, second.nonce);
    assert_ne!(pending.pkce_verifier, second.pkce_verifier);
    assert!(!pairs(&second_url).contains_key("prompt"));
    assert!(!pairs(&second_url).contains_key("login_hint"));
}

#[tokio::test]
async fn o19_pkce_s256_sent_without_metadata() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let (result, pending, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;
    result.unwrap();

    let authorize = &fake.authorize_requests()[0];
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert_eq!(authorize["code_challenge"].len(), 43);
    assert_ne!(authorize["code_challenge"], pending.pkce_verifier);
    let token_request = &fake.token_requests()[0];
    assert_eq!(
        token_request.code_verifier.as_deref(),
        Some(pending.pkce_verifier.as_str())
    );
}

#[tokio::test]
async fn wrong_pkce_verifier_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let (url, mut pending) = rp.authorize(AuthorizeOptions::default());
    let callback = fake.follow_authorize(&url).await;
    let code = query_value(&callback, "code").unwrap();
    pending.pkce_verifier = "a-verifier-from-another-sign-in-0000000000000".to_string();

    let error = rp.complete(&code, &pending).await.unwrap_err();

    let SsoError::CodeRejected {
        error: code,
        description,
    } = &error
    else {
        panic!("expected CodeRejected, got {error}");
    };
    assert_eq!(code, "invalid_grant");
    assert!(
        description
            .as_deref()
            .unwrap_or("")
            .contains("AADSTS501481"),
        "{error}"
    );
}

#[tokio::test]
async fn replayed_code_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let (result, pending, code) = fake.sign_in(&rp, AuthorizeOptions::default()).await;
    result.unwrap();

    let error = rp.complete(&code, &pending).await.unwrap_err();

    let SsoError::CodeRejected {
        error: code,
        description,
    } = &error
    else {
        panic!("expected CodeRejected, got {error}");
    };
    assert_eq!(code, "invalid_grant");
    assert!(
        description.as_deref().unwrap_or("").contains("AADSTS54005"),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("already redeemed"), "{message}");
    assert!(message.contains("start a new sign-in"), "{message}");
    assert!(!message.contains(CLIENT_SECRET), "{message}");
}

#[tokio::test]
async fn wrong_client_secret_reported_as_client_error() {
    let fake = FakeEntra::start().await;
    let mut config = fake.config(TID_A);
    config.credential = lockgate_sso::ClientSecret::new("an-expired-secret").into();
    let rp = fake.discover(config).await.unwrap();

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    let error = result.unwrap_err();
    let SsoError::ClientRejected { error: code, .. } = &error else {
        panic!("expected ClientRejected, got {error}");
    };
    assert_eq!(code, "invalid_client");
    assert!(error.to_string().contains("client_secret"), "{error}");
    assert!(!error.to_string().contains("an-expired-secret"), "{error}");
}

#[tokio::test]
async fn o22_step_up_requires_acrs() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let step_up = AuthorizeOptions {
        required_auth_context: Some("c1".to_string()),
        ..AuthorizeOptions::default()
    };

    let (url, pending) = rp.authorize(step_up.clone());
    let claims: serde_json::Value =
        serde_json::from_str(pairs(&url)["claims"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims,
        json!({ "id_token": { "acrs": { "essential": true, "value": "c1" } } })
    );
    assert_eq!(pending.required_auth_context.as_deref(), Some("c1"));

    let (result, _, _) = fake.sign_in(&rp, step_up.clone()).await;
    let sign_in = result.unwrap();
    assert_eq!(sign_in.auth_contexts, vec!["c1"]);
    assert!(sign_in.has_auth_context("c1"));

    // Conditional Access did not grant c1, and v2 tokens carry no amr to fall back on.
    fake.set_satisfy_auth_context(false);
    let (result, _, _) = fake.sign_in(&rp, step_up).await;
    let error = result.unwrap_err();
    let SsoError::AuthContextMissing { required, found } = &error else {
        panic!("expected AuthContextMissing, got {error}");
    };
    assert_eq!(required, "c1");
    assert!(found.is_empty());
}

#[tokio::test]
async fn o22_acrs_not_required_without_step_up() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    assert!(result.unwrap().auth_contexts.is_empty());
}

#[tokio::test]
async fn o29_response_mode_query() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let (url, _) = rp.authorize(AuthorizeOptions::default());
    assert_eq!(pairs(&url)["response_mode"], "query");

    let callback = fake.follow_authorize(&url).await;
    assert_eq!(fake.authorize_requests()[0]["response_mode"], "query");
    assert!(query_value(&callback, "code").is_some());
    assert!(
        callback
            .as_str()
            .starts_with(&format!("{}app/callback?", fake.login))
    );
}

#[tokio::test]
async fn callback_state_checked() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let (url, pending) = rp.authorize(AuthorizeOptions::default());
    let (_, other) = rp.authorize(AuthorizeOptions::default());
    let callback = fake.follow_authorize(&url).await;
    let state = query_value(&callback, "state").unwrap();

    assert!(pending.check_state(&state).is_ok());
    let error = other.check_state(&state).unwrap_err();
    assert!(matches!(error, SsoError::StateMismatch), "{error}");
}

#[tokio::test]
async fn complete_verifies_the_issued_token() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    fake.change_issued_id_tokens(json!({ "iss": fake.issuer(TID_B), "tid": TID_B }));

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    let error = result.unwrap_err();
    assert!(
        matches!(error, SsoError::TenantNotAllowed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn client_secret_basic_when_post_not_advertised() {
    let fake = FakeEntra::start().await;
    fake.change_discovery(json!({
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"]
    }));
    let rp = fake.relying_party().await;

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    result.unwrap();
    assert_eq!(fake.token_requests()[0].client_auth, "client_secret_basic");
}

#[tokio::test]
async fn overage_resolved_during_complete() {
    let fake = FakeEntra::start().await;
    fake.change_issued_id_tokens(json!({ "groups": null, "hasgroups": true }));
    let rp = fake.relying_party().await;

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    let sign_in = result.unwrap();
    assert!(sign_in.groups_from_graph);
    assert_eq!(fake.graph_requests(), 1);
    let grants: Vec<String> = fake
        .token_requests()
        .into_iter()
        .map(|request| request.grant_type)
        .collect();
    assert_eq!(grants, vec!["authorization_code", "client_credentials"]);
}

#[tokio::test]
async fn end_session_url_carries_hints() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let after = url::Url::parse("https://lockers.example/signed-out").unwrap();

    let url = rp
        .end_session_url(Some("id.token.hint"), Some("O.login-hint"), Some(&after))
        .unwrap();

    assert!(
        url.as_str()
            .starts_with(&format!("{}{TID_A}/oauth2/v2.0/logout?", fake.login))
    );
    let parameters = pairs(&url);
    assert_eq!(parameters["id_token_hint"], "id.token.hint");
    assert_eq!(parameters["logout_hint"], "O.login-hint");
    assert_eq!(
        parameters["post_logout_redirect_uri"],
        "https://lockers.example/signed-out"
    );
    assert_eq!(parameters["client_id"], CID);

    let bare = rp.end_session_url(None, None, None).unwrap();
    assert_eq!(
        bare.as_str(),
        format!("{}{TID_A}/oauth2/v2.0/logout", fake.login)
    );
}

#[tokio::test]
async fn end_session_url_absent_without_endpoint() {
    let fake = FakeEntra::start().await;
    fake.change_discovery(json!({ "end_session_endpoint": null }));
    let rp = fake.relying_party().await;

    assert!(
        rp.end_session_url(Some("id.token.hint"), None, None)
            .is_none()
    );
}
