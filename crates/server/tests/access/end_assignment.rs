//! A facility manager ends an assignment by hand: the locker waits for
//! clear-out, the holder and facilities are notified, and a holder still
//! entitled gets another locker.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::fixture::Hospital;

async fn end(hospital: &Hospital, assignment: &str) -> (StatusCode, Value) {
    let path = format!("/assignments/{assignment}/end");
    hospital.access.admin(Method::POST, &path, None).await
}

async fn ended_by_hand(hospital: Hospital) {
    let user = hospital.nurse("moved@st-marys.example", "R-80").await;
    let held = hospital.lockers_of(&user).await;
    assert_eq!(held.len(), 1, "{held:?}");
    let assignment = held[0]["id"].as_str().unwrap().to_string();
    let old_locker = held[0]["locker_id"].as_str().unwrap().to_string();
    let old_door = hospital.door_of(&user).await;

    let (status, locker) = end(&hospital, &assignment).await;
    assert_eq!(status, StatusCode::OK, "{locker}");
    assert_eq!(locker["id"], old_locker.as_str(), "{locker}");
    assert_eq!(locker["state"], "clear_out", "{locker}");

    // Still a nurse, so the engine gives another locker on the ward.
    let held = hospital.lockers_of(&user).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_ne!(held[0]["locker_id"], old_locker.as_str(), "{held:?}");
    let new_door = hospital.door_of(&user).await;
    assert_eq!(hospital.tap("R-80", &new_door).await["decision"], "allow");
    let old = hospital.tap("R-80", &old_door).await;
    assert_eq!(old["decision"], "deny", "{old}");

    let (status, body) = hospital
        .access
        .admin(Method::GET, "/audit?limit=1000", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ended = body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "assignment_ended" && r["subject"] == old_locker.as_str())
        .cloned()
        .expect("an assignment_ended record");
    assert_eq!(ended["detail"]["reason"], "ended_by_admin", "{ended}");
    assert_eq!(
        ended["detail"]["assignment"],
        assignment.as_str(),
        "{ended}"
    );
    assert_eq!(ended["source"], "admin", "{ended}");

    let outbox = hospital.outbox().await;
    let about = |kind: &str, recipient: &str| {
        outbox.iter().any(|entry| {
            entry["kind"] == kind
                && entry["recipient"] == recipient
                && entry["detail"]["locker"] == old_locker.as_str()
        })
    };
    assert!(about("access_ended", "owner"), "{outbox:?}");
    assert!(about("clear_out_needed", "facilities"), "{outbox:?}");

    // Ended once: a second request gets a 409 with the time, and changes
    // nothing. An unknown id is not found.
    let (status, body) = end(&hospital, &assignment).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("assignment \"{assignment}\" already ended at ")),
        "{body}"
    );
    assert!(detail.contains("(ended_by_admin)"), "{body}");
    let (status, body) = end(&hospital, "no-such-assignment").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let missing = "open assignment \"no-such-assignment\" not found";
    assert!(body["detail"].as_str().unwrap().contains(missing), "{body}");
    assert_eq!(hospital.locker_state(&old_locker).await, "clear_out");

    // Emptied into `blocked`, the engine cannot give it to anyone before
    // it is deleted.
    let path = format!("/lockers/{old_locker}/emptied");
    let body = serde_json::json!({"note": "bag to security", "state": "blocked"});
    let (status, body) = hospital.access.admin(Method::POST, &path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "blocked", "{body}");
    let path = format!("/lockers/{old_locker}");
    let (status, body) = hospital.access.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn assignment_ended_by_hand_sqlite() {
    ended_by_hand(Hospital::open().await).await;
}

#[tokio::test]
async fn assignment_ended_by_hand_postgres() {
    if let Some(hospital) = Hospital::on_postgres().await {
        ended_by_hand(hospital).await;
    }
}
