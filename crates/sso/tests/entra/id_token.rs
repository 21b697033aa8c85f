//! ID token validation through `verify_id_token`, with tokens the fake signs.

use std::time::Duration;

use lockgate_sso::SsoError;
use serde_json::json;

use crate::fake::*;

fn issuer_of(fake: &FakeEntra, tid: &str) -> String {
    fake.issuer(tid)
}

#[tokio::test]
async fn valid_token_maps_claims() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token("n-1", json!({}));

    let sign_in = rp.verify_id_token(&token, "n-1").await.unwrap();

    assert_eq!(sign_in.tid, TID_A);
    assert_eq!(sign_in.oid, OID_ADA);
    assert_eq!(sign_in.sub, "Jq4c0yPairwiseExampleValue_8s");
    assert_eq!(sign_in.name.as_deref(), Some("Ada Example"));
    assert_eq!(
        sign_in.preferred_username.as_deref(),
        Some("ada.example@contoso.example")
    );
    assert_eq!(sign_in.groups, vec![GID_ADM, GID_HQ]);
    assert!(!sign_in.groups_from_graph);
    assert_eq!(sign_in.roles, vec!["Locker.Admin"]);
    assert_eq!(
        sign_in.sid.as_deref(),
        Some("5e6f7a8b-0000-4c1d-9e2f-3a4b5c6d7e8f")
    );
    assert!(sign_in.login_hint.is_some());
    assert_eq!(sign_in.id_token, token);
    assert!(sign_in.expires_at > now());
    assert!(!format!("{sign_in:?}").contains(&token));
}

#[tokio::test]
async fn o02_personal_account_rejected() {
    let fake = FakeEntra::start().await;
    let personal = json!({
        "iss": issuer_of(&fake, PERSONAL_TENANT),
        "tid": PERSONAL_TENANT,
        "oid": "00000000-0000-0000-6a1b-2c3d4e5f6a7b"
    });

    let multi = fake
        .discover(fake.multi_tenant_config("common", &[TID_A]))
        .await
        .unwrap();
    let error = multi
        .verify_id_token(&fake.id_token("n-1", personal.clone()), "n-1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, SsoError::PersonalAccountNotAllowed),
        "{error}"
    );

    let single = fake.relying_party().await;
    let error = single
        .verify_id_token(&fake.id_token("n-1", personal), "n-1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, SsoError::PersonalAccountNotAllowed),
        "{error}"
    );
}

#[tokio::test]
async fn o02_personal_account_allowed_when_listed() {
    let fake = FakeEntra::start().await;
    let rp = fake
        .discover(fake.multi_tenant_config("common", &[TID_A, PERSONAL_TENANT]))
        .await
        .unwrap();
    let personal = json!({
        "iss": issuer_of(&fake, PERSONAL_TENANT),
        "tid": PERSONAL_TENANT,
        "oid": "00000000-0000-0000-6a1b-2c3d4e5f6a7b"
    });

    let sign_in = rp
        .verify_id_token(&fake.id_token("n-1", personal), "n-1")
        .await
        .unwrap();

    assert_eq!(sign_in.tid, PERSONAL_TENANT);
}

#[tokio::test]
async fn o03_foreign_tenant_rejected() {
    let fake = FakeEntra::start().await;
    let foreign = json!({ "iss": issuer_of(&fake, TID_B), "tid": TID_B });

    let multi = fake
        .discover(fake.multi_tenant_config("organizations", &[TID_A]))
        .await
        .unwrap();
    let error = multi
        .verify_id_token(&fake.id_token("n-1", foreign.clone()), "n-1")
        .await
        .unwrap_err();
    let SsoError::TenantNotAllowed { tid } = &error else {
        panic!("expected TenantNotAllowed, got {error}");
    };
    assert_eq!(tid, TID_B);
    assert!(error.to_string().contains(TID_B), "{error}");

    let single = fake.relying_party().await;
    let error = single
        .verify_id_token(&fake.id_token("n-1", foreign), "n-1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, SsoError::TenantNotAllowed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn o05_iss_tid_mismatch_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake
        .discover(fake.multi_tenant_config("organizations", &[TID_A, TID_B]))
        .await
        .unwrap();
    let mismatched = json!({ "iss": issuer_of(&fake, TID_A), "tid": TID_B });

    let error = rp
        .verify_id_token(&fake.id_token("n-1", mismatched), "n-1")
        .await
        .unwrap_err();

    let SsoError::IssuerMismatch { expected, found } = &error else {
        panic!("expected IssuerMismatch, got {error}");
    };
    assert_eq!(expected, &issuer_of(&fake, TID_B));
    assert_eq!(found, &issuer_of(&fake, TID_A));
}

#[tokio::test]
async fn o05_iss_tid_mismatch_single_tenant() {
    let fake = FakeEntra::start().await;
    let mut config = fake.config(TID_A);
    config.allowed_tenants = vec![TID_A.to_string(), TID_B.to_string()];
    let rp = fake.discover(config).await.unwrap();

    let error = rp
        .verify_id_token(&fake.id_token("n-1", json!({ "tid": TID_B })), "n-1")
        .await
        .unwrap_err();

    assert!(matches!(error, SsoError::IssuerMismatch { .. }), "{error}");
}

#[tokio::test]
async fn o11_email_never_links_identity() {
    let fake = FakeEntra::start().await;
    let rp = fake
        .discover(fake.multi_tenant_config("organizations", &[TID_A, TID_B]))
        .await
        .unwrap();
    let email = "ada.example@contoso.example";
    let ada = fake.id_token("n-1", json!({ "email": email }));
    let impostor = fake.id_token(
        "n-1",
        json!({
            "iss": issuer_of(&fake, TID_B),
            "tid": TID_B,
            "oid": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
            "email": email,
            "xms_edov": false
        }),
    );

    let ada = rp.verify_id_token(&ada, "n-1").await.unwrap();
    let impostor = rp.verify_id_token(&impostor, "n-1").await.unwrap();

    assert_eq!(ada.email, impostor.email);
    assert_ne!((ada.tid, ada.oid), (impostor.tid, impostor.oid));

    let single = fake.relying_party().await;
    let from_foreign_tenant = fake.id_token(
        "n-1",
        json!({ "iss": issuer_of(&fake, TID_B), "tid": TID_B, "email": email }),
    );
    let error = single
        .verify_id_token(&from_foreign_tenant, "n-1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, SsoError::TenantNotAllowed { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn o12_missing_email_verified_is_fine() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token(
        "n-1",
        json!({ "email": "ada.example@contoso.example", "email_verified": null }),
    );

    let sign_in = rp.verify_id_token(&token, "n-1").await.unwrap();

    assert_eq!(
        sign_in.email.as_deref(),
        Some("ada.example@contoso.example")
    );
    assert_eq!(
        (sign_in.tid.as_str(), sign_in.oid.as_str()),
        (TID_A, OID_ADA)
    );
}

#[tokio::test]
async fn o14_identity_is_tid_and_oid() {
    let fake = FakeEntra::start().await;
    let first = fake.relying_party().await;
    let mut second_config = fake.config(TID_A);
    second_config.client_id = OTHER_CID.to_string();
    let second = fake.discover(second_config).await.unwrap();
    let first_token = fake.id_token("n-1", json!({}));
    let second_token = fake.id_token(
        "n-1",
        json!({ "aud": OTHER_CID, "sub": "Zx91OtherAppPairwiseValue_3k" }),
    );

    let from_first = first.verify_id_token(&first_token, "n-1").await.unwrap();
    let from_second = second.verify_id_token(&second_token, "n-1").await.unwrap();

    assert_ne!(from_first.sub, from_second.sub);
    assert_eq!(
        (from_first.tid, from_first.oid),
        (from_second.tid, from_second.oid)
    );
    assert!(first.verify_id_token(&second_token, "n-1").await.is_err());
}

#[tokio::test]
async fn o15_keys_without_alg_accepted() {
    let fake = FakeEntra::start().await;
    let jwks: serde_json::Value =
        reqwest::get(format!("{}{TID_A}/discovery/v2.0/keys", fake.login))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("alg").is_none(), "{key}");
        assert_eq!(key["issuer"], json!(issuer_of(&fake, TID_A)));
    }
    let rp = fake.relying_party().await;

    let for_key_a = fake.id_token("n-1", json!({}));
    let for_key_b = fake.sign(
        &fake.header(TestKey::B),
        &fake.ada_claims("n-1"),
        TestKey::B,
    );

    assert!(rp.verify_id_token(&for_key_a, "n-1").await.is_ok());
    assert!(rp.verify_id_token(&for_key_b, "n-1").await.is_ok());
}

#[tokio::test]
async fn o15_hs256_and_none_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let claims = fake.ada_claims("n-1");

    // HS256 keyed with the client secret, which anyone with the secret can forge.
    let hs_header = json!({ "typ": "JWT", "alg": "HS256", "kid": TestKey::A.kid() });
    let input = format!("{}.{}", encode_segment(&hs_header), encode_segment(&claims));
    let mac = hmac_sha256(CLIENT_SECRET.as_bytes(), input.as_bytes());
    let hs256 = format!("{input}.{}", base64_url(&mac));
    let error = rp.verify_id_token(&hs256, "n-1").await.unwrap_err();
    let SsoError::UnsupportedAlgorithm { alg } = &error else {
        panic!("expected UnsupportedAlgorithm, got {error}");
    };
    assert_eq!(alg, "HS256");

    let none_header = json!({ "typ": "JWT", "alg": "none" });
    let unsigned = format!(
        "{}.{}.",
        encode_segment(&none_header),
        encode_segment(&claims)
    );
    let error = rp.verify_id_token(&unsigned, "n-1").await.unwrap_err();
    let SsoError::UnsupportedAlgorithm { alg } = &error else {
        panic!("expected UnsupportedAlgorithm, got {error}");
    };
    assert_eq!(alg, "none");

    let rs512 = fake.sign(
        &json!({ "typ": "JWT", "alg": "RS512", "kid": TestKey::A.kid() }),
        &claims,
        TestKey::A,
    );
    let error = rp.verify_id_token(&rs512, "n-1").await.unwrap_err();
    assert!(
        matches!(error, SsoError::UnsupportedAlgorithm { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn o18_graph_token_rejected_as_id_token() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let header = json!({ "typ": "JWT", "nonce": "graph-header-nonce", "alg": "RS256", "kid": TestKey::A.kid() });
    let mut claims = fake.ada_claims("n-1");
    apply_changes(
        &mut claims,
        &json!({ "aud": "https://graph.microsoft.com", "idtyp": "user", "scp": "User.Read" }),
    );
    let graph_token = fake.sign(&header, &claims, TestKey::A);

    let error = rp.verify_id_token(&graph_token, "n-1").await.unwrap_err();

    let SsoError::AudienceMismatch { expected, found } = &error else {
        panic!("expected AudienceMismatch, got {error}");
    };
    assert_eq!(expected, CID);
    assert_eq!(found, &vec!["https://graph.microsoft.com".to_string()]);
}

#[tokio::test]
async fn o20_backdated_iat_and_skew() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let now = now();

    let backdated = fake.id_token(
        "n-1",
        json!({ "iat": now - 330, "nbf": now - 330, "exp": now + 3570 }),
    );
    assert!(rp.verify_id_token(&backdated, "n-1").await.is_ok());

    // No freshness window on iat beyond exp: a token issued 50 minutes ago is still valid.
    let old_iat = fake.id_token("n-1", json!({ "iat": now - 3000, "nbf": now - 3000 }));
    assert!(rp.verify_id_token(&old_iat, "n-1").await.is_ok());

    // The RP clock runs two minutes behind Entra's.
    let early = fake.id_token("n-1", json!({ "nbf": now + 120, "iat": now + 120 }));
    assert!(rp.verify_id_token(&early, "n-1").await.is_ok());

    let mut strict_config = fake.config(TID_A);
    strict_config.clock_skew = Duration::ZERO;
    let strict = fake.discover(strict_config).await.unwrap();
    let error = strict.verify_id_token(&early, "n-1").await.unwrap_err();
    let SsoError::NotYetValid {
        not_before,
        skew_seconds,
        ..
    } = &error
    else {
        panic!("expected NotYetValid, got {error}");
    };
    assert_eq!(*not_before, now + 120);
    assert_eq!(*skew_seconds, 0);
}

#[tokio::test]
async fn expired_token_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let now = now();

    let within_skew = fake.id_token("n-1", json!({ "exp": now - 100 }));
    assert!(rp.verify_id_token(&within_skew, "n-1").await.is_ok());

    let expired = fake.id_token("n-1", json!({ "exp": now - 400 }));
    let error = rp.verify_id_token(&expired, "n-1").await.unwrap_err();
    let SsoError::Expired {
        expires_at,
        skew_seconds,
        ..
    } = &error
    else {
        panic!("expected Expired, got {error}");
    };
    assert_eq!(*expires_at, now - 400);
    assert_eq!(*skew_seconds, 300);
}

#[tokio::test]
async fn wrong_key_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    // Signed with an unpublished key but claiming a published kid.
    let forged = fake.sign(
        &fake.header(TestKey::A),
        &fake.ada_claims("n-1"),
        TestKey::Forged,
    );

    let error = rp.verify_id_token(&forged, "n-1").await.unwrap_err();

    let SsoError::InvalidSignature { kid } = &error else {
        panic!("expected InvalidSignature, got {error}");
    };
    assert_eq!(kid, TestKey::A.kid());
}

#[tokio::test]
async fn tampered_claims_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let genuine = fake.id_token("n-1", json!({}));
    let mut claims = fake.ada_claims("n-1");
    apply_changes(
        &mut claims,
        &json!({ "roles": ["Locker.Admin", "Locker.Auditor"] }),
    );
    let parts: Vec<&str> = genuine.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], encode_segment(&claims), parts[2]);

    let error = rp.verify_id_token(&tampered, "n-1").await.unwrap_err();

    assert!(
        matches!(error, SsoError::InvalidSignature { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_audience_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token("n-1", json!({ "aud": OTHER_CID }));

    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();

    let SsoError::AudienceMismatch { found, .. } = &error else {
        panic!("expected AudienceMismatch, got {error}");
    };
    assert_eq!(found, &vec![OTHER_CID.to_string()]);
}

#[tokio::test]
async fn several_audiences_need_azp() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let without_azp = fake.id_token("n-1", json!({ "aud": [CID, OTHER_CID] }));
    let error = rp.verify_id_token(&without_azp, "n-1").await.unwrap_err();
    assert!(
        matches!(error, SsoError::AuthorizedPartyMismatch { found: None, .. }),
        "{error}"
    );

    let other_azp = fake.id_token("n-1", json!({ "aud": [CID, OTHER_CID], "azp": OTHER_CID }));
    let error = rp.verify_id_token(&other_azp, "n-1").await.unwrap_err();
    assert!(
        matches!(error, SsoError::AuthorizedPartyMismatch { .. }),
        "{error}"
    );

    let our_azp = fake.id_token("n-1", json!({ "aud": [CID, OTHER_CID], "azp": CID }));
    assert!(rp.verify_id_token(&our_azp, "n-1").await.is_ok());

    let single_in_array = fake.id_token("n-1", json!({ "aud": [CID] }));
    assert!(rp.verify_id_token(&single_in_array, "n-1").await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token(
        "n-1",
        json!({ "iss": format!("https://login.example.invalid/{TID_A}/v2.0") }),
    );

    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();

    let SsoError::IssuerMismatch { expected, .. } = &error else {
        panic!("expected IssuerMismatch, got {error}");
    };
    assert_eq!(expected, &issuer_of(&fake, TID_A));
}

#[tokio::test]
async fn v1_token_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token(
        "n-1",
        json!({ "ver": "1.0", "iss": format!("https://sts.windows.net/{TID_A}/") }),
    );

    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();

    assert!(
        matches!(error, SsoError::UnsupportedTokenVersion { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_nonce_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token("nonce-of-another-sign-in", json!({}));

    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();
    assert!(matches!(error, SsoError::NonceMismatch), "{error}");
    assert!(
        !error.to_string().contains("nonce-of-another-sign-in"),
        "{error}"
    );

    let without_nonce = fake.id_token("n-1", json!({ "nonce": null }));
    let error = rp.verify_id_token(&without_nonce, "n-1").await.unwrap_err();
    assert!(matches!(error, SsoError::NonceMismatch), "{error}");
}

#[tokio::test]
async fn missing_oid_or_tid_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    for claim in ["oid", "tid"] {
        let token = fake.id_token("n-1", json!({ claim: null }));
        let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();
        let SsoError::MissingClaim { claim: missing, .. } = &error else {
            panic!("expected MissingClaim for {claim}, got {error}");
        };
        assert_eq!(*missing, claim);
    }
}

#[tokio::test]
async fn tid_must_be_a_guid() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.id_token("n-1", json!({ "tid": "contoso.example" }));

    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();

    assert!(
        matches!(error, SsoError::InvalidClaim { claim: "tid", .. }),
        "{error}"
    );
}

#[tokio::test]
async fn malformed_token_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    for garbage in ["", "abc", "a.b", "a.b.c.d.e", "!!.??.**"] {
        let error = rp.verify_id_token(garbage, "n-1").await.unwrap_err();
        assert!(
            matches!(error, SsoError::MalformedIdToken { .. }),
            "{garbage}: {error}"
        );
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
