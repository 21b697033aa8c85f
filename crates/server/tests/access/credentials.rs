//! PINs, enrolled badges, app tokens and guessing limits.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::fixture::Hospital;

async fn pin_at(hospital: &Hospital, door: &str, pin: &str) -> (StatusCode, serde_json::Value) {
    hospital
        .access
        .call(
            Method::POST,
            "/device/v1/decisions",
            &hospital.device,
            Some(
                json!({"bank": "ward-a", "door": door, "credential": {"type": "pin", "pin": pin}}),
            ),
        )
        .await
}

/// Sets `user`'s PIN as the helpdesk does.
async fn reset_pin(hospital: &Hospital, user: &str, pin: &str) -> (StatusCode, serde_json::Value) {
    hospital
        .access
        .admin(
            Method::PUT,
            &format!("/users/{user}/pin"),
            Some(json!({"pin": pin})),
        )
        .await
}

#[tokio::test]
async fn pin_opens_then_locks_after_five_misses() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("pin@st-marys.example", "B-1").await;
    let door = hospital.door_of(&user).await;

    let (status, body) = reset_pin(&hospital, &user, "4719").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (_, allowed) = pin_at(&hospital, &door, "4719").await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");

    for attempt in 1..=5 {
        let (_, denied) = pin_at(&hospital, &door, "0000").await;
        assert_eq!(denied["reason"], "wrong_pin", "attempt {attempt}: {denied}");
    }
    // Locked: even the right PIN is rejected, with the lock as the reason.
    let (_, locked) = pin_at(&hospital, &door, "4719").await;
    assert_eq!(locked["reason"], "pin_locked", "{locked}");
    // The badge still works.
    assert_eq!(hospital.tap("B-1", &door).await["decision"], "allow");

    // A helpdesk reset ends the lock.
    let (status, _) = reset_pin(&hospital, &user, "5820").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, allowed) = pin_at(&hospital, &door, "5820").await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");

    let actions = hospital.audit_actions().await;
    assert!(actions.contains(&"pin_locked".to_string()), "{actions:?}");
    assert!(!format!("{actions:?}").contains("4719"));
}

#[tokio::test]
async fn parallel_wrong_pins_still_lock() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("burst@st-marys.example", "B-2").await;
    let door = hospital.door_of(&user).await;
    let (status, body) = reset_pin(&hospital, &user, "4719").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Thirty guesses sent at once: each argon2 check takes long enough
    // for all of them to arrive before the first has failed.
    let guesses = (0..30).map(|_| pin_at(&hospital, &door, "0000"));
    let answers = futures::future::join_all(guesses).await;
    let summary: Vec<String> = answers
        .iter()
        .map(|(status, body)| format!("{status} {}", body["reason"]))
        .collect();
    let count = |wanted: &str| {
        answers
            .iter()
            .filter(|(status, body)| match wanted {
                "rate_limited" => *status == StatusCode::TOO_MANY_REQUESTS,
                reason => body["reason"] == reason,
            })
            .count()
    };
    let (wrong, locked, limited) = (
        count("wrong_pin"),
        count("pin_locked"),
        count("rate_limited"),
    );
    assert_eq!(wrong + locked + limited, 30, "{summary:?}");
    // Each check read the count the previous one stored, so the lock came
    // after exactly five wrong PINs.
    assert_eq!(wrong, 5, "{summary:?}");
    // Checks still running held places of the bank's guessing limit.
    assert!(limited > 0, "{summary:?}");

    let (_, after) = pin_at(&hospital, &door, "4719").await;
    assert_eq!(after["reason"], "pin_locked", "{after}");
}

#[tokio::test]
async fn weak_pins_rejected() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("weak@st-marys.example", "B-2").await;
    for pin in ["123", "1234", "0000", "12ab", "123456789"] {
        let (status, body) = reset_pin(&hospital, &user, pin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pin}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("PIN"), "{body}");
    }
    let (_, summary) = hospital
        .access
        .admin(Method::GET, &format!("/users/{user}/access"), None)
        .await;
    assert_eq!(summary["pin_set"], false);
}

#[tokio::test]
async fn enrolled_badge_works_until_removed() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("enrol@st-marys.example", "B-3").await;
    let door = hospital.door_of(&user).await;

    let (status, body) = hospital
        .access
        .admin(
            Method::POST,
            &format!("/users/{user}/badges"),
            Some(json!({"badge": "SPARE-7"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(hospital.tap("SPARE-7", &door).await["decision"], "allow");

    // The same badge cannot be given to someone else.
    let other = hospital.nurse("other@st-marys.example", "B-4").await;
    let (status, body) = hospital
        .access
        .admin(
            Method::POST,
            &format!("/users/{other}/badges"),
            Some(json!({"badge": "SPARE-7"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, _) = hospital
        .access
        .admin(Method::DELETE, "/badges/SPARE-7", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        hospital.tap("SPARE-7", &door).await["reason"],
        "unknown_credential"
    );
}

#[tokio::test]
async fn badge_follows_scim_attribute() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("renumber@st-marys.example", "OLD-1").await;
    let door = hospital.door_of(&user).await;
    let patch = json!({"schemas": [crate::common::PATCH_URN], "Operations": [{
        "op": "Replace",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "value": "NEW-1"
    }]});
    let (status, body) = hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), patch)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Reading assignments waits for the engine to apply the change.
    hospital.lockers_of(&user).await;
    assert_eq!(hospital.tap("NEW-1", &door).await["decision"], "allow");
    assert_eq!(
        hospital.tap("OLD-1", &door).await["reason"],
        "unknown_credential"
    );

    let (status, records) = hospital
        .access
        .admin(Method::GET, "/audit?limit=1000", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{records}");
    let renumbered = records.as_array().unwrap().iter().any(|record| {
        record["action"] == "scim_badge_changed"
            && record["subject"] == user.as_str()
            && record["detail"] == json!({"badge": "NEW-1", "previous": "OLD-1"})
    });
    assert!(renumbered, "{records}");
}

#[tokio::test]
async fn settings_change_warns_and_is_audited() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("settings@st-marys.example", "S-1").await;
    let door = hospital.door_of(&user).await;

    let misspelt = json!({"badge_attribute": "employeNumber"});
    let (status, body) = hospital
        .access
        .admin(Method::PUT, "/settings", Some(misspelt))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let warning = body["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("\"employeNumber\""), "{body}");
    // Reading assignments waits for the engine to move the badges.
    hospital.lockers_of(&user).await;
    assert_eq!(
        hospital.tap("S-1", &door).await["reason"],
        "unknown_credential"
    );

    let fixed = json!({"badge_attribute": "employeeNumber"});
    let (status, body) = hospital
        .access
        .admin(Method::PUT, "/settings", Some(fixed))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["warnings"], json!([]), "{body}");
    hospital.lockers_of(&user).await;
    assert_eq!(hospital.tap("S-1", &door).await["decision"], "allow");

    let actions = hospital.audit_actions().await;
    let changes = actions.iter().filter(|a| *a == "settings_changed").count();
    // The fixture's own setting and the two above.
    assert_eq!(changes, 3, "{actions:?}");
}

#[tokio::test]
async fn unknown_badges_rate_limited() {
    let hospital = Hospital::open().await;
    let mut limited = None;
    for attempt in 0..40 {
        let (status, body) = hospital
            .access
            .call(
                Method::POST,
                "/device/v1/decisions",
                &hospital.device,
                Some(json!({"bank": "ward-a", "door": "1", "credential": {"type": "badge", "id": format!("guess-{attempt}")}})),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                body["detail"].as_str().unwrap().contains("try again"),
                "{body}"
            );
            limited = Some(attempt);
            break;
        }
        assert_eq!(body["reason"], "unknown_credential");
    }
    assert_eq!(limited, Some(20));
}

#[tokio::test]
async fn app_token_ends_with_leaver() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("app@st-marys.example", "B-5").await;
    let door = hospital.door_of(&user).await;
    let (status, body) = hospital
        .access
        .admin(Method::POST, &format!("/users/{user}/app-tokens"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_string();

    let open = |locker: String| json!({"locker": locker});
    let (status, body) = hospital
        .access
        .call(
            Method::POST,
            "/app/v1/st-marys/opens",
            &token,
            Some(open(format!("ward-a-{door}"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "allow", "{body}");

    let disable = json!({"schemas": [crate::common::PATCH_URN], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}
    ]});
    hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), disable)
        .await;
    let (status, body) = hospital
        .access
        .call(
            Method::POST,
            "/app/v1/st-marys/opens",
            &token,
            Some(open(format!("ward-a-{door}"))),
        )
        .await;
    // Either the token is already revoked or the decision denies; never an open.
    assert!(
        status == StatusCode::UNAUTHORIZED || body["reason"] == "inactive_user",
        "{status}: {body}"
    );
    hospital.lockers_of(&user).await;
    let (status, _) = hospital
        .access
        .call(Method::GET, "/app/v1/st-marys/me", &token, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
