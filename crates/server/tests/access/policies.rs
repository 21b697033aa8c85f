//! Policy versions, previews and retirement.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixture::{Hospital, NURSES_EXTERNAL_ID};

fn ward_policy(kinds: &[&str]) -> Value {
    json!({
        "who": {"groups": [NURSES_EXTERNAL_ID]},
        "what": {"banks": ["ward-a"], "kinds": kinds},
        "how": {"mode": "fixed"}
    })
}

#[tokio::test]
async fn policy_type_error_names_field() {
    let hospital = Hospital::open().await;
    let mut policy = ward_policy(&["personal"]);
    policy["quota"] = json!("one");
    let (status, body) = hospital
        .access
        .admin(Method::PUT, "/policies/p2", Some(json!({"policy": policy})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body.to_string();
    assert!(message.contains("quota: invalid type"), "{message}");
    assert!(message.contains("whole number"), "{message}");
    assert!(!message.contains("u32"), "{message}");

    policy["quota"] = json!(5_000_000_000u64);
    let (status, body) = hospital
        .access
        .admin(Method::PUT, "/policies/p2", Some(json!({"policy": policy})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("from 0 to 4294967295"), "{body}");

    let (status, body) = hospital.access.admin(Method::GET, "/policies", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.to_string().contains("\"p2\""),
        "nothing saved: {body}"
    );
}

#[tokio::test]
async fn preview_warns_like_save() {
    let hospital = Hospital::open().await;
    let policy = json!({"policy": ward_policy_on("ward-z")});

    let (status, report) = hospital
        .access
        .admin(Method::POST, "/policies/p3/preview", Some(policy.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("ward-z"), "{report}");

    let (status, saved) = hospital
        .access
        .admin(Method::PUT, "/policies/p3", Some(policy))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["warnings"], report["warnings"], "{saved}");

    // Previewing a retirement proposes no document, so nothing to warn of.
    let (status, report) = hospital
        .access
        .admin(Method::POST, "/policies/p3/preview", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["warnings"], json!([]), "{report}");
}

fn ward_policy_on(bank: &str) -> Value {
    let mut policy = ward_policy(&["personal"]);
    policy["what"]["banks"] = json!([bank]);
    policy
}

#[tokio::test]
async fn stale_policy_save_conflicts() {
    let hospital = Hospital::open().await;
    let access = &hospital.access;
    let (status, body) = access
        .admin(
            Method::PUT,
            "/policies/ward-lockers",
            Some(json!({"base_version": 1, "policy": ward_policy(&["personal"])})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);

    // Saving again on top of version 1 would overwrite version 2 unseen.
    let (status, body) = access
        .admin(
            Method::PUT,
            "/policies/ward-lockers",
            Some(json!({"base_version": 1, "policy": ward_policy(&["shared"])})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("version 2"),
        "{body}"
    );

    // A policy that names a bank without lockers is saved with a warning.
    let typo =
        json!({"who": {"groups": ["g"]}, "what": {"banks": ["ward-b"]}, "how": {"mode": "fixed"}});
    let (status, body) = access
        .admin(Method::PUT, "/policies/typo", Some(json!({"policy": typo})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["warnings"][0].as_str().unwrap().contains("ward-b"),
        "{body}"
    );

    let (_, versions) = access
        .admin(Method::GET, "/policies/ward-lockers", None)
        .await;
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    let created_by = &versions[0]["created_by"];
    assert_eq!(
        created_by["type"], "admin",
        "an object, as in audit records: {versions}"
    );
    assert!(created_by["id"].is_string(), "{versions}");
    let actions = hospital.audit_actions().await;
    assert!(actions.contains(&"policy_created".to_string()));
    assert!(actions.contains(&"policy_changed".to_string()));
}

#[tokio::test]
async fn preview_counts_without_writing() {
    let hospital = Hospital::open().await;
    let mut users = Vec::new();
    for n in 0..3 {
        users.push(
            hospital
                .nurse(&format!("n{n}@st-marys.example"), &format!("P-{n}"))
                .await,
        );
    }
    let before = hospital
        .access
        .admin(Method::GET, "/assignments", None)
        .await
        .1;
    assert_eq!(before.as_array().unwrap().len(), 3);

    // Giving the policy to another group takes every nurse's locker away.
    let (status, report) = hospital
        .access
        .admin(
            Method::POST,
            "/policies/ward-lockers/preview",
            Some(json!({"policy": {
                "who": {"groups": ["someone-else"]},
                "what": {"banks": ["ward-a"]},
                "how": {"mode": "fixed"}
            }})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["users_losing_access"], 3, "{report}");
    assert_eq!(report["grace_periods_started"], 3, "{report}");
    assert_eq!(report["lockers_assigned"], 0, "{report}");
    assert_eq!(report["losing_examples"].as_array().unwrap().len(), 3);

    let after = hospital
        .access
        .admin(Method::GET, "/assignments", None)
        .await
        .1;
    assert_eq!(before, after);
    let (_, versions) = hospital
        .access
        .admin(Method::GET, "/policies/ward-lockers", None)
        .await;
    assert_eq!(versions.as_array().unwrap().len(), 1);

    // A preview of a policy that adds people counts the new lockers.
    let (_, report) = hospital
        .access
        .admin(
            Method::POST,
            "/policies/porters/preview",
            Some(json!({"policy": {
                "who": {"attributes": [{"name": "department", "equals": "Cardiology"}]},
                "what": {"banks": ["ward-a"], "kinds": ["personal"]},
                "how": {"mode": "fixed"}
            }})),
        )
        .await;
    assert_eq!(report["users_gaining_access"], 3, "{report}");
    // One personal locker is left for three users who already hold one each.
    assert_eq!(report["lockers_assigned"], 1, "{report}");
}

#[tokio::test]
async fn retired_policy_makes_movers() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("retire@st-marys.example", "R-1").await;
    assert_eq!(hospital.lockers_of(&user).await.len(), 1);
    let (status, body) = hospital
        .access
        .admin(
            Method::POST,
            "/policies/ward-lockers/retire",
            Some(json!({"base_version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retired"], true);
    let held = hospital.lockers_of(&user).await;
    assert!(held[0]["grace_until"].is_string(), "{held:?}");
}

/// The first condition on `department` makes every user be read again,
/// and those it leaves out must still get the grace period the preview
/// promised, not lose their lockers at once.
#[tokio::test]
async fn new_attribute_condition_starts_grace() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("cardio@st-marys.example", "C-1").await;
    let door = hospital.door_of(&user).await;
    let oncology_only = json!({
        "who": {
            "groups": [NURSES_EXTERNAL_ID],
            "attributes": [{"name": "department", "equals": "Oncology"}]
        },
        "what": {"banks": ["ward-a"], "kinds": ["personal"]},
        "how": {"mode": "fixed", "auto_assign": true},
        "lifecycle": {"mover_grace_days": 7, "leaver_action": "clear_out"}
    });

    let (status, report) = hospital
        .access
        .admin(
            Method::POST,
            "/policies/ward-lockers/preview",
            Some(json!({"policy": oncology_only})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["grace_periods_started"], 1, "{report}");
    assert_eq!(report["lockers_to_clear_out"], 0, "{report}");

    crate::fixture::save_policy(&hospital.access, "ward-lockers", oncology_only).await;
    let assignments = hospital.lockers_of(&user).await;
    assert_eq!(assignments.len(), 1, "{assignments:?}");
    assert!(assignments[0]["grace_until"].is_string(), "{assignments:?}");
    let locker = format!("ward-a-{door}");
    assert_eq!(hospital.locker_state(&locker).await, "assigned");
    assert_eq!(hospital.tap("C-1", &door).await["decision"], "allow");
    let outbox = hospital.outbox().await;
    let kinds: Vec<&str> = outbox.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert!(kinds.contains(&"grace_started"), "{kinds:?}");
}

#[tokio::test]
async fn explain_names_reason() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("why@st-marys.example", "W-1").await;
    let door = hospital.door_of(&user).await;
    let other = if door == "1" { "ward-a-2" } else { "ward-a-1" };
    let (status, body) = hospital
        .access
        .admin(
            Method::GET,
            &format!("/explain?user=why@st-marys.example&locker={other}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "deny");
    assert_eq!(body["reason"], "not_assigned");
    assert!(body["explanation"].as_str().unwrap().len() > 20);
    assert_eq!(body["policies"], json!(["ward-lockers"]));
    let actions = hospital.audit_actions().await;
    assert!(
        !actions.iter().any(|a| a.starts_with("open_")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn unknown_retire_and_empty_what_are_named() {
    let hospital = Hospital::open().await;
    let (status, body) = hospital
        .access
        .admin(
            Method::POST,
            "/policies/no-such-policy/retire",
            Some(json!({"base_version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("\"no-such-policy\" not found"), "{body}");

    let everywhere = json!({
        "who": {"groups": [NURSES_EXTERNAL_ID]},
        "how": {"mode": "fixed"}
    });
    let body = crate::fixture::save_policy(&hospital.access, "everywhere", everywhere).await;
    let warning = body["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("covers every locker"), "{body}");

    // Kinds alone do not narrow a policy to any bank.
    let personal = json!({
        "who": {"groups": [NURSES_EXTERNAL_ID]},
        "what": {"kinds": ["personal"]},
        "how": {"mode": "fixed"}
    });
    let body = crate::fixture::save_policy(&hospital.access, "personal", personal).await;
    let warning = body["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("what names no banks and no zones"),
        "{body}"
    );
    assert!(
        warning.contains("lockers of its kinds in every bank"),
        "{body}"
    );
}

#[tokio::test]
async fn parallel_saves_of_one_version_conflict() {
    parallel_saves(Hospital::open().await).await;
}

/// On PostgreSQL the saves run in transactions of their own at once, so
/// the later inserts of the same version break the primary key.
#[tokio::test]
async fn parallel_saves_of_one_version_conflict_postgres() {
    if let Some(hospital) = Hospital::on_postgres().await {
        parallel_saves(hospital).await;
    }
}

/// Saves version 2 of the ward policy ten times at once and checks that one
/// save wins and every other gets 409 naming base_version, never a 500.
async fn parallel_saves(hospital: Hospital) {
    let body = json!({"base_version": 1, "policy": ward_policy(&["personal", "flex"])});
    let saves = (0..10).map(|_| {
        hospital
            .access
            .admin(Method::PUT, "/policies/ward-lockers", Some(body.clone()))
    });
    let answers = futures::future::join_all(saves).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
    let saved = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = answers
        .iter()
        .filter(|(status, body)| {
            *status == StatusCode::CONFLICT
                && body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("base_version")
        })
        .count();
    assert_eq!(saved, 1, "{answers:?}");
    assert_eq!(conflicts, 9, "{answers:?}");
}
