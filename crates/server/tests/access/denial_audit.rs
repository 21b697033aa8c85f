//! A denied decision gets its response before its audit record is
//! written, so a failed write must not lose the record. It is written
//! again later, with the time of the decision, and allowed opens are not
//! held up meanwhile.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;

use crate::fixture::Hospital;

async fn denial_records(hospital: &Hospital) -> Vec<Value> {
    let (status, body) = hospital
        .access
        .admin(Method::GET, "/audit?limit=1000", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = body.as_array().unwrap();
    records
        .iter()
        .filter(|record| record["action"] == "open_denied")
        .cloned()
        .collect()
}

#[tokio::test]
async fn denial_records_written_after_failure() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("kept@st-marys.example", "R-70").await;
    let door = hospital.door_of(&user).await;
    let other_door = if door == "1" { "2" } else { "1" };

    // A trigger in the database file makes every denial record fail.
    let file = hospital.access.app.data_dir().unwrap().join("lockgate.db");
    let mut sqlite = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_denials BEFORE INSERT ON audit_log \
         WHEN NEW.action = 'open_denied' BEGIN SELECT RAISE(ABORT, 'disk trouble'); END",
    )
    .execute(&mut sqlite)
    .await
    .unwrap();
    for _ in 0..3 {
        let body = hospital.tap("R-70", other_door).await;
        assert_eq!(body["decision"], "deny", "{body}");
        assert_eq!(body["reason"], "not_assigned", "{body}");
    }
    // Let the three failed writes finish, so the open below is not in
    // their group commit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = hospital.tap("R-70", &door).await;
    assert_eq!(
        body["decision"], "allow",
        "kept denials do not block opens: {body}"
    );
    assert!(denial_records(&hospital).await.is_empty());

    sqlx::query("DROP TRIGGER fail_denials")
        .execute(&mut sqlite)
        .await
        .unwrap();
    // Opens keep arriving, as at a busy bank; the kept records are
    // written all the same.
    let mut kept = Vec::new();
    for _ in 0..50 {
        assert_eq!(hospital.tap("R-70", &door).await["decision"], "allow");
        kept = denial_records(&hospital).await;
        if kept.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for record in &kept {
        let decided = record["detail"]["decided_at"].as_str().expect("decided_at");
        let at = record["at"].as_str().unwrap();
        assert!(decided < at, "decided {decided}, written {at}");
        assert_eq!(record["detail"]["reason"], "not_assigned", "{record}");
    }

    let (status, body) = hospital
        .access
        .admin(Method::GET, "/audit/verify", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], true, "{body}");
}
