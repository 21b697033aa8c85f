//! The access flows on PostgreSQL, where several connections write at once
//! and the audit chain is ordered by an advisory lock.

use std::collections::HashSet;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::PATCH_URN;
use crate::fixture::Hospital;

#[tokio::test]
async fn joiner_and_leaver_on_postgres() {
    let Some(hospital) = Hospital::on_postgres().await else {
        return;
    };
    let user = hospital.nurse("pg@st-marys.example", "PG-1").await;
    let door = hospital.door_of(&user).await;
    assert_eq!(hospital.tap("PG-1", &door).await["decision"], "allow");

    let disable = json!({"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "value": {"active": false}}
    ]});
    let (status, _) = hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), disable)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hospital.tap("PG-1", &door).await["reason"], "inactive_user");
    assert!(hospital.lockers_of(&user).await.is_empty());
    assert_eq!(
        hospital.locker_state(&format!("ward-a-{door}")).await,
        "clear_out"
    );
}

#[tokio::test]
async fn concurrent_decisions_chain_intact_postgres() {
    let Some(hospital) = Hospital::on_postgres().await else {
        return;
    };
    let mut users = Vec::new();
    for n in 0..3 {
        let user = hospital
            .nurse(&format!("pg{n}@st-marys.example"), &format!("PGC-{n}"))
            .await;
        users.push((format!("PGC-{n}"), hospital.door_of(&user).await));
    }
    let taps = (0..200).map(|i| {
        let (badge, door) = &users[i % users.len()];
        hospital.tap(badge, door)
    });
    let decisions = join_all(taps).await;
    assert!(decisions.iter().all(|d| d["decision"] == "allow"));

    let (status, verify) = hospital
        .access
        .admin(Method::GET, "/audit/verify", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verify["intact"], true, "{verify}");
    let (_, records) = hospital
        .access
        .admin(Method::GET, "/audit?limit=1000", None)
        .await;
    let opens = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "open_allowed")
        .count();
    assert_eq!(opens, 200);
    let seqs: HashSet<i64> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), records.as_array().unwrap().len());
}
