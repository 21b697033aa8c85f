//! The audit routes of the admin API: records in chain order, the chain
//! check, and which tokens may read them.

use lockgate_domain::audit::{Actor, AuditRecord};
use lockgate_store::AuditDraft;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::AccessApp;

/// Returns how many records the first tenant's chain has, such as those of
/// the credentials its set-up created.
async fn record_count(access: &AccessApp) -> i64 {
    let tenant = access.app.store.tenant(&access.app.tenant.id);
    tenant.audit_records(0, 1_000).await.unwrap().len() as i64
}

/// Appends `count` records to the first tenant's chain and returns the
/// whole chain.
async fn append_records(access: &AccessApp, count: usize) -> Vec<AuditRecord> {
    let tenant = access.app.store.tenant(&access.app.tenant.id);
    let drafts = (0..count)
        .map(|i| AuditDraft {
            actor: Actor::Admin("cred-1".into()),
            source: Some(format!("req-{i}")),
            action: "locker_assigned".into(),
            subject: format!("locker-{i}"),
            detail: json!({"user": format!("user-{i}")}),
        })
        .collect();
    tenant.append_audit(drafts).await.unwrap();
    tenant.audit_records(0, 1_000).await.unwrap()
}

fn seqs(body: &Value) -> Vec<i64> {
    body.as_array()
        .expect("a JSON array")
        .iter()
        .map(|record| record["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn audit_lists_records_in_order() {
    let access = AccessApp::spawn().await;
    let base = record_count(&access).await;
    let records = append_records(&access, 4).await;

    let (status, body) = access.admin(Method::GET, "/audit", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all: Vec<i64> = (1..=base + 4).collect();
    assert_eq!(seqs(&body), all);
    let first: AuditRecord = serde_json::from_value(body[0].clone()).unwrap();
    assert_eq!(first, records[0]);

    let path = format!("/audit?after={}&limit=2", base + 1);
    let (status, body) = access.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(seqs(&body), [base + 2, base + 3]);

    let path = format!("/audit?after={}", base + 4);
    let (status, body) = access.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn audit_rejects_invalid_paging() {
    let access = AccessApp::spawn().await;
    let cases = [
        ("/audit?limit=0", "limit 0 is out of range. Use 1 to 1000."),
        (
            "/audit?limit=1001",
            "limit 1001 is out of range. Use 1 to 1000.",
        ),
        ("/audit?limit=ten", "limit \"ten\" is not an integer"),
        ("/audit?after=-1", "after -1 is negative"),
        ("/audit/verify?expected_head=abc", "is not a SHA-256 hash"),
        (
            "/audit/verify?after_hash=abc&after_seq=1",
            "after_hash \"abc\" is not a SHA-256",
        ),
        (
            "/audit/verify?after_seq=2",
            "after_seq 2 is missing its after_hash",
        ),
        (
            "/audit/verify?after_hash=00000000000000000000000000000000000000000000000000000000000000ab",
            "after_hash is missing its after_seq",
        ),
        (
            "/audit/verify?after_seq=0&after_hash=00000000000000000000000000000000000000000000000000000000000000ab",
            "after_seq 0 is not a record",
        ),
        (
            "/audit/verify?limit=0",
            "limit 0 is out of range. Use 1 to 1000000",
        ),
        (
            "/audit/verify?limit=1000001",
            "limit 1000001 is out of range",
        ),
    ];
    for (path, detail) in cases {
        let (status, body) = access.admin(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        let text = body["detail"].as_str().unwrap();
        assert!(text.contains(detail), "{path}: {body}");
    }
}

#[tokio::test]
async fn verify_reports_intact_chain() {
    let access = AccessApp::spawn().await;
    let base = record_count(&access).await;
    let (status, body) = access.admin(Method::GET, "/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], true, "the set-up's chain is intact: {body}");
    assert_eq!(body["records"], base);

    let records = append_records(&access, 3).await;
    let (status, body) = access.admin(Method::GET, "/audit/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "intact": true,
            "complete": true,
            "records": base + 3,
            "last_seq": base + 3,
            "head": records.last().unwrap().hash,
        })
    );

    let second_last = &records[records.len() - 2];
    let path = format!("/audit/verify?expected_head={}", second_last.hash);
    let (status, body) = access.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], true, "{body}");
    assert_eq!(body["expected_head_seq"], base + 2, "{body}");
}

#[tokio::test]
async fn verify_resumes_where_a_part_ended() {
    let access = AccessApp::spawn().await;
    let base = record_count(&access).await;
    let records = append_records(&access, 5).await;

    let (status, first) = access
        .admin(Method::GET, "/audit/verify?limit=2", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["intact"], true, "{first}");
    assert_eq!(first["complete"], false, "{first}");
    assert_eq!(first["last_seq"], 2, "{first}");
    assert_eq!(first["head"], records[1].hash.as_str(), "{first}");
    let next = format!("after_seq=2&after_hash={}", records[1].hash);
    assert_eq!(first["next"], next.as_str(), "{first}");

    let path = format!(
        "/audit/verify?after_seq=2&after_hash={}&expected_head={}",
        records[1].hash, records[4].hash
    );
    let (status, rest) = access.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(rest["intact"], true, "{rest}");
    assert_eq!(rest["complete"], true, "{rest}");
    assert_eq!(rest["records"], base + 3, "{rest}");
    assert_eq!(rest["last_seq"], base + 5, "{rest}");
    assert_eq!(rest["expected_head_seq"], 5, "{rest}");
    assert!(
        rest.get("next").is_none(),
        "a complete check has no next part: {rest}"
    );

    let wrong = format!("/audit/verify?after_seq=2&after_hash={}", records[0].hash);
    let (status, body) = access.admin(Method::GET, &wrong, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], false, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("audit record 2, where the check was asked to resume"),
        "{error}"
    );
}

#[tokio::test]
async fn verify_reports_missing_head() {
    let access = AccessApp::spawn().await;
    let base = record_count(&access).await;
    let records = append_records(&access, 2).await;
    let unknown = "ab".repeat(32);
    let path = format!("/audit/verify?expected_head={unknown}");
    let (status, body) = access.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], false, "{body}");
    assert_eq!(body["records"], base + 2, "{body}");
    let head = records.last().unwrap();
    assert_eq!(body["head"], head.hash.as_str(), "{body}");
    assert_eq!(body["error_code"], "head_mismatch", "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(&unknown), "{error}");
    let end = format!("ends at record {}", base + 2);
    assert!(error.contains(&end), "{error}");
}

#[tokio::test]
async fn audit_rejects_other_tokens() {
    let access = AccessApp::spawn().await;
    append_records(&access, 1).await;
    let (_, _, other) = access.app.add_tenant("depot").await;
    let (_, other_admin) = access
        .app
        .store
        .create_admin_token(&other.id)
        .await
        .unwrap();
    let base = "/admin/v1/tenants/st-marys";
    let scim_token = access.app.token.clone();
    let device_token = access.device_token("bank-a").await;

    for route in ["/audit", "/audit/verify"] {
        let path = format!("{base}{route}");
        let tokens = [
            ("admin token of another tenant", other_admin.expose()),
            ("SCIM token of this tenant", scim_token.as_str()),
            ("device token of this tenant", device_token.as_str()),
        ];
        for (name, token) in tokens {
            let (status, body) = access.call(Method::GET, &path, token, None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{name} on {route}: {body}"
            );
            assert_eq!(body["error"], "unauthorized", "{name} on {route}: {body}");
        }
        let url = format!("{}{path}", access.app.origin);
        let response = access.app.client.get(&url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "no token on {route}"
        );
    }
}
