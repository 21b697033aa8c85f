//! Certificate credentials: the app authenticates at the token endpoint
//! with a `private_key_jwt` client assertion instead of a client secret.

use lockgate_sso::{AuthorizeOptions, ClientCertificate, SsoError};
use serde_json::json;

use crate::fake::*;

#[tokio::test]
async fn certificate_credential_redeems_the_code() {
    let fake = FakeEntra::start().await;
    let rp = fake.discover(fake.certificate_config(TID_A)).await.unwrap();

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    let sign_in = result.expect("the sign-in with a certificate succeeds");
    assert_eq!(sign_in.oid, OID_ADA);
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].grant_type, "authorization_code");
    assert_eq!(requests[0].client_auth, "private_key_jwt");
    assert!(requests[0].code_verifier.is_some());
}

#[tokio::test]
async fn certificate_credential_gets_the_graph_token() {
    let fake = FakeEntra::start().await;
    let rp = fake.discover(fake.certificate_config(TID_A)).await.unwrap();
    let source = format!("{}{TID_A}/users/{OID_ADA}/getMemberObjects", fake.elsewhere);
    let token = fake.id_token(
        "n-1",
        json!({
            "groups": null,
            "_claim_names": { "groups": "src1" },
            "_claim_sources": { "src1": { "endpoint": source } }
        }),
    );

    let sign_in = rp.verify_id_token(&token, "n-1").await.unwrap();

    assert!(sign_in.groups_from_graph);
    assert_eq!(sign_in.groups, vec![GID_ADM, GID_HQ]);
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].grant_type, "client_credentials");
    assert_eq!(requests[0].client_auth, "private_key_jwt");
}

#[tokio::test]
async fn every_token_request_signs_a_new_assertion() {
    let fake = FakeEntra::start().await;
    let rp = fake.discover(fake.certificate_config(TID_A)).await.unwrap();

    // The fake refuses a `jti` it has seen, so the second sign-in passes
    // only with a fresh assertion.
    for _ in 0..2 {
        let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;
        result.expect("each sign-in succeeds");
    }
    assert_eq!(fake.token_requests().len(), 2);
}

#[tokio::test]
async fn unregistered_certificate_is_reported_as_client_error() {
    let fake = FakeEntra::start().await;
    let mut config = fake.config(TID_A);
    // A valid certificate and key, but not the one registered with the app.
    config.credential = ClientCertificate::from_pem(
        include_str!("keys/key-a.crt"),
        include_str!("keys/key-a.pem"),
    )
    .unwrap()
    .into();
    let rp = fake.discover(config).await.unwrap();

    let (result, _, _) = fake.sign_in(&rp, AuthorizeOptions::default()).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, SsoError::ClientRejected { error, .. } if error == "invalid_client"),
        "{error}"
    );
    assert!(error.to_string().contains("certificate"), "{error}");
}

#[tokio::test]
async fn discovery_without_private_key_jwt() {
    let fake = FakeEntra::start().await;
    fake.change_discovery(json!({
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"]
    }));

    let Err(error) = fake.discover(fake.certificate_config(TID_A)).await else {
        panic!("discovery must fail without private_key_jwt");
    };

    assert!(
        matches!(error, SsoError::InvalidDiscovery { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("private_key_jwt"), "{error}");
}
