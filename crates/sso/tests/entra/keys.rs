//! Signing key rollover: refresh on unknown `kid`, merging, rate limit, and
//! keeping the last good keys.

use lockgate_sso::SsoError;
use serde_json::json;

use crate::fake::*;

#[tokio::test]
async fn o16_unknown_kid_refreshes_once_and_merges() {
    let fake = FakeEntra::start().await;
    // The startup fetch returns only key A, the next fetch only key B, the
    // one after that only key A again.
    fake.plan_jwks(&[&[TestKey::A], &[TestKey::B], &[TestKey::A]]);
    let rp = fake.relying_party().await;
    assert_eq!(fake.jwks_fetches(), 1);

    let signed_with_b = fake.sign(
        &fake.header(TestKey::B),
        &fake.ada_claims("n-1"),
        TestKey::B,
    );
    let sign_in = rp.verify_id_token(&signed_with_b, "n-1").await.unwrap();
    assert_eq!(sign_in.oid, OID_ADA);
    assert_eq!(fake.jwks_fetches(), 2);

    // Key A is still cached although the last fetch omitted it.
    let signed_with_a = fake.id_token("n-1", json!({}));
    assert!(rp.verify_id_token(&signed_with_a, "n-1").await.is_ok());
    assert!(rp.verify_id_token(&signed_with_b, "n-1").await.is_ok());
    assert_eq!(fake.jwks_fetches(), 2);

    // Within five minutes of that refresh another unknown kid causes no fetch.
    let bogus = fake.sign(
        &json!({ "typ": "JWT", "alg": "RS256", "kid": "kid-nobody-published" }),
        &fake.ada_claims("n-1"),
        TestKey::Forged,
    );
    let error = rp.verify_id_token(&bogus, "n-1").await.unwrap_err();
    assert!(
        matches!(error, SsoError::UnknownSigningKey { .. }),
        "{error}"
    );
    assert_eq!(fake.jwks_fetches(), 2);
}

#[tokio::test]
async fn o16_burst_of_unknown_kids_fetches_once() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    assert_eq!(fake.jwks_fetches(), 1);
    let bogus = fake.sign(
        &json!({ "typ": "JWT", "alg": "RS256", "kid": "kid-nobody-published" }),
        &fake.ada_claims("n-1"),
        TestKey::Forged,
    );

    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let rp = rp.clone();
            let token = bogus.clone();
            tokio::spawn(async move { rp.verify_id_token(&token, "n-1").await })
        })
        .collect();
    for attempt in attempts {
        let error = attempt.await.unwrap().unwrap_err();
        let SsoError::UnknownSigningKey { kid, .. } = &error else {
            panic!("expected UnknownSigningKey, got {error}");
        };
        assert_eq!(kid, "kid-nobody-published");
    }

    assert_eq!(fake.jwks_fetches(), 2);
}

#[tokio::test]
async fn jwks_failure_keeps_last_good_keys() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    fake.set_jwks_failing(true);

    let bogus = fake.sign(
        &json!({ "typ": "JWT", "alg": "RS256", "kid": "kid-nobody-published" }),
        &fake.ada_claims("n-1"),
        TestKey::Forged,
    );
    let error = rp.verify_id_token(&bogus, "n-1").await.unwrap_err();
    assert!(
        matches!(error, SsoError::UnknownSigningKey { .. }),
        "{error}"
    );
    assert_eq!(fake.jwks_fetches(), 2);

    let genuine = fake.id_token("n-1", json!({}));
    assert!(rp.verify_id_token(&genuine, "n-1").await.is_ok());
}

#[tokio::test]
async fn startup_fails_without_keys() {
    let fake = FakeEntra::start().await;
    fake.set_jwks_failing(true);

    let error = fake.discover(fake.config(TID_A)).await.err().unwrap();

    let SsoError::Http { status, host, .. } = &error else {
        panic!("expected Http, got {error}");
    };
    assert_eq!(*status, Some(500));
    assert_eq!(host, &format!("127.0.0.1:{}", fake.login.port().unwrap()));
}

#[tokio::test]
async fn token_without_kid_rejected() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;
    let token = fake.sign(
        &json!({ "typ": "JWT", "alg": "RS256" }),
        &fake.ada_claims("n-1"),
        TestKey::A,
    );

    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();

    assert!(matches!(error, SsoError::MissingKeyId), "{error}");
}
