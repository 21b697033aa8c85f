//! Discovery: issuer rules of single- and multi-tenant mode, endpoint
//! pinning and redirects.

use lockgate_sso::SsoError;
use serde_json::json;

use crate::fake::*;

#[tokio::test]
async fn o01_common_template_rejected_in_single_tenant_mode() {
    let fake = FakeEntra::start().await;

    for tenant in ["organizations", "common"] {
        let error = fake.discover(fake.config(tenant)).await.err().unwrap();

        let SsoError::TemplatedIssuer { issuer, .. } = &error else {
            panic!("expected TemplatedIssuer for {tenant}, got {error}");
        };
        assert_eq!(
            issuer,
            &format!(
                "{}/{{tenantid}}/v2.0",
                fake.login.as_str().trim_end_matches('/')
            )
        );
        assert!(error.to_string().contains("tenant-guid"), "{error}");
        assert!(error.to_string().contains("multi_tenant"), "{error}");
    }
}

#[tokio::test]
async fn o01_template_accepted_with_tid_rule_in_multi_tenant_mode() {
    let fake = FakeEntra::start().await;
    let rp = fake
        .discover(fake.multi_tenant_config("organizations", &[TID_A]))
        .await
        .unwrap();

    let sign_in = rp
        .verify_id_token(&fake.id_token("n-1", json!({})), "n-1")
        .await
        .unwrap();

    assert_eq!(sign_in.tid, TID_A);
    assert_eq!(sign_in.oid, OID_ADA);
}

#[tokio::test]
async fn single_tenant_issuer_must_equal_authority() {
    let fake = FakeEntra::start().await;
    // Entra resolves a domain authority to the tenant GUID, so its issuer
    // differs from the configured authority.
    let error = fake
        .discover(fake.config("contoso.example"))
        .await
        .err()
        .unwrap();

    let SsoError::DiscoveryIssuerMismatch { expected, found } = &error else {
        panic!("expected DiscoveryIssuerMismatch, got {error}");
    };
    assert!(expected.ends_with("/contoso.example/v2.0"), "{expected}");
    assert_eq!(found, &fake.issuer(TID_A));
}

#[tokio::test]
async fn authority_tenant_must_be_allowed() {
    let fake = FakeEntra::start().await;
    let mut config = fake.config(TID_A);
    config.allowed_tenants = vec![TID_B.to_string()];

    let error = fake.discover(config).await.err().unwrap();

    assert!(
        matches!(
            error,
            SsoError::InvalidConfig {
                field: "allowed_tenants",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(TID_A), "{error}");
}

#[tokio::test]
async fn empty_allowed_tenants_rejected() {
    let fake = FakeEntra::start().await;
    let config = fake.multi_tenant_config("organizations", &[]);

    let error = fake.discover(config).await.err().unwrap();

    assert!(
        matches!(
            error,
            SsoError::InvalidConfig {
                field: "allowed_tenants",
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn endpoint_on_another_host_rejected() {
    let fake = FakeEntra::start().await;
    let elsewhere = format!("{}token", fake.elsewhere);
    fake.change_discovery(json!({ "token_endpoint": elsewhere }));

    let error = fake.discover(fake.config(TID_A)).await.err().unwrap();

    let SsoError::InvalidDiscovery { problem, .. } = &error else {
        panic!("expected InvalidDiscovery, got {error}");
    };
    assert!(problem.contains("token_endpoint"), "{problem}");
    assert_eq!(fake.elsewhere_requests(), 0);
}

#[tokio::test]
async fn redirect_to_another_host_not_followed() {
    let fake = FakeEntra::start().await;
    fake.redirect_discovery_elsewhere();

    let error = fake.discover(fake.config(TID_A)).await.err().unwrap();

    let SsoError::Http {
        status, problem, ..
    } = &error
    else {
        panic!("expected Http, got {error}");
    };
    assert_eq!(*status, Some(302));
    assert!(problem.contains("redirect"), "{problem}");
    assert_eq!(fake.elsewhere_requests(), 0);
}

#[tokio::test]
async fn redirect_followed_by_caller_client_reported() {
    let fake = FakeEntra::start().await;
    fake.redirect_discovery_elsewhere();

    // reqwest's default client follows redirects, so the response of the
    // other host must be rejected after the fact.
    let result =
        lockgate_sso::RelyingParty::discover(fake.config(TID_A), reqwest::Client::new()).await;

    let error = result.err().unwrap();
    let SsoError::Http { problem, .. } = &error else {
        panic!("expected Http, got {error}");
    };
    assert!(problem.contains("redirected to"), "{problem}");
    assert!(
        problem.contains(&fake.elsewhere.port().unwrap().to_string()),
        "{problem}"
    );
}

#[tokio::test]
async fn unreachable_provider_names_host() {
    let fake = FakeEntra::start().await;
    // A port this test bound and released, so nothing listens on it.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = fake.config(TID_A);
    config.authority = url::Url::parse(&format!("http://127.0.0.1:{port}/{TID_A}/v2.0")).unwrap();

    let error = fake.discover(config).await.err().unwrap();

    let SsoError::Http { host, status, .. } = &error else {
        panic!("expected Http, got {error}");
    };
    assert_eq!(host, &format!("127.0.0.1:{port}"));
    assert_eq!(*status, None);
}

#[tokio::test]
async fn o19_discovery_has_no_pkce_metadata() {
    let fake = FakeEntra::start().await;
    let document: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        fake.authority(TID_A)
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();

    assert!(document.get("code_challenge_methods_supported").is_none());
    assert!(fake.discover(fake.config(TID_A)).await.is_ok());
}

#[tokio::test]
async fn missing_rs256_support_rejected() {
    let fake = FakeEntra::start().await;
    fake.change_discovery(json!({ "id_token_signing_alg_values_supported": ["HS256"] }));

    let error = fake.discover(fake.config(TID_A)).await.err().unwrap();

    assert!(
        matches!(error, SsoError::InvalidDiscovery { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("RS256"), "{error}");
}
