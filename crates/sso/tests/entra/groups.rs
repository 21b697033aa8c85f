//! Groups and group overage through the Microsoft Graph stub.

use lockgate_sso::SsoError;
use serde_json::json;

use crate::fake::*;

/// Ada's token without `groups`, with the overage claims Entra sends above
/// 200 groups. The claim source points at the `elsewhere` host.
fn overage_token(fake: &FakeEntra, nonce: &str) -> String {
    let source = format!("{}{TID_A}/users/{OID_ADA}/getMemberObjects", fake.elsewhere);
    fake.id_token(
        nonce,
        json!({
            "groups": null,
            "_claim_names": { "groups": "src1" },
            "_claim_sources": { "src1": { "endpoint": source } }
        }),
    )
}

fn many_groups() -> Vec<String> {
    let mut ids: Vec<String> = (0..230)
        .map(|index| format!("00000000-0000-4000-8000-{index:012x}"))
        .collect();
    ids.push(GID_HQ.to_string());
    ids
}

#[tokio::test]
async fn groups_claim_used_without_graph() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let sign_in = rp
        .verify_id_token(&fake.id_token("n-1", json!({})), "n-1")
        .await
        .unwrap();

    assert_eq!(sign_in.groups, vec![GID_ADM, GID_HQ]);
    assert!(!sign_in.groups_from_graph);
    assert_eq!(fake.graph_requests(), 0);
    assert!(fake.token_requests().is_empty());
}

#[tokio::test]
async fn no_groups_claim_means_none_configured() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let token = fake.id_token("n-1", json!({ "groups": null }));
    let sign_in = rp.verify_id_token(&token, "n-1").await.unwrap();

    assert!(sign_in.groups.is_empty());
    assert!(!sign_in.groups_from_graph);
    assert_eq!(fake.graph_requests(), 0);
}

#[tokio::test]
async fn o06_overage_resolved_through_graph() {
    let fake = FakeEntra::start().await;
    fake.set_graph(GraphMode::Members {
        ids: many_groups(),
        page_size: 100,
    });
    let rp = fake.relying_party().await;

    let sign_in = rp
        .verify_id_token(&overage_token(&fake, "n-1"), "n-1")
        .await
        .unwrap();

    assert!(sign_in.groups_from_graph);
    assert_eq!(sign_in.groups, many_groups());
    assert!(sign_in.groups.iter().any(|group| group == GID_HQ));
    // Three pages of 100, all on the Graph host.
    assert_eq!(fake.graph_requests(), 3);
    assert_eq!(
        fake.graph_bodies(),
        vec![json!({ "securityEnabledOnly": false })]
    );

    let token_requests = fake.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].grant_type, "client_credentials");
    assert_eq!(token_requests[0].tenant, TID_A);
    assert_eq!(
        token_requests[0].scope.as_deref(),
        Some(format!("{}.default", fake.graph).as_str())
    );

    // The app-only token is cached for the next overage sign-in.
    rp.verify_id_token(&overage_token(&fake, "n-2"), "n-2")
        .await
        .unwrap();
    assert_eq!(fake.token_requests().len(), 1);
}

#[tokio::test]
async fn o06_graph_down_fails_closed() {
    let fake = FakeEntra::start().await;
    fake.set_graph(GraphMode::Unavailable);
    let rp = fake.relying_party().await;

    let error = rp
        .verify_id_token(&overage_token(&fake, "n-1"), "n-1")
        .await
        .unwrap_err();

    let SsoError::GroupsUnavailable { tid, oid, problem } = &error else {
        panic!("expected GroupsUnavailable, got {error}");
    };
    assert_eq!(tid, TID_A);
    assert_eq!(oid, OID_ADA);
    assert!(problem.contains("503"), "{problem}");
    assert!(
        error.to_string().contains("could not be determined"),
        "{error}"
    );
    assert!(!error.to_string().contains("eyJ"), "no token in {error}");
}

#[tokio::test]
async fn o07_claim_source_url_never_called() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    let sign_in = rp
        .verify_id_token(&overage_token(&fake, "n-1"), "n-1")
        .await
        .unwrap();

    assert!(sign_in.groups_from_graph);
    assert_eq!(fake.elsewhere_requests(), 0);
    assert_eq!(fake.graph_requests(), 1);
}

#[tokio::test]
async fn o08_hasgroups_is_overage() {
    let fake = FakeEntra::start().await;
    let rp = fake.relying_party().await;

    for flag in [json!(true), json!("true")] {
        let token = fake.id_token("n-1", json!({ "groups": null, "hasgroups": flag }));
        let sign_in = rp.verify_id_token(&token, "n-1").await.unwrap();
        assert!(sign_in.groups_from_graph, "hasgroups {flag}");
        assert_eq!(sign_in.groups, vec![GID_ADM, GID_HQ], "hasgroups {flag}");
    }
    assert_eq!(fake.graph_requests(), 2);

    fake.set_graph(GraphMode::Unavailable);
    let token = fake.id_token("n-1", json!({ "groups": null, "hasgroups": "true" }));
    let error = rp.verify_id_token(&token, "n-1").await.unwrap_err();
    assert!(
        matches!(error, SsoError::GroupsUnavailable { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn next_link_on_other_host_refused() {
    let fake = FakeEntra::start().await;
    fake.set_graph(GraphMode::NextLinkElsewhere);
    let rp = fake.relying_party().await;

    let error = rp
        .verify_id_token(&overage_token(&fake, "n-1"), "n-1")
        .await
        .unwrap_err();

    let SsoError::GroupsUnavailable { problem, .. } = &error else {
        panic!("expected GroupsUnavailable, got {error}");
    };
    assert!(problem.contains("nextLink"), "{problem}");
    assert_eq!(fake.elsewhere_requests(), 0);
}

#[tokio::test]
async fn multi_tenant_overage_uses_user_tenant() {
    let fake = FakeEntra::start().await;
    let rp = fake
        .discover(fake.multi_tenant_config("organizations", &[TID_A, TID_B]))
        .await
        .unwrap();
    let source = format!("{}{TID_B}/users/x/getMemberObjects", fake.elsewhere);
    let token = fake.id_token(
        "n-1",
        json!({
            "iss": fake.issuer(TID_B),
            "tid": TID_B,
            "groups": null,
            "_claim_names": { "groups": "src1" },
            "_claim_sources": { "src1": { "endpoint": source } }
        }),
    );

    let sign_in = rp.verify_id_token(&token, "n-1").await.unwrap();

    assert!(sign_in.groups_from_graph);
    let token_requests = fake.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].tenant, TID_B);
}
