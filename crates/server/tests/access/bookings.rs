//! Flex bookings under contention.

use std::collections::HashSet;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::fixture::{Hospital, create_group, create_locker, save_policy};
use crate::support::AccessApp;

/// Creates the Doctors group and a policy that lets its members book flex
/// lockers in bank flex-b for up to 12 hours, with the fields of `extra`
/// (such as `quota` or `lifecycle`) added. Returns the group's id.
async fn doctors_may_book_flex_b(access: &AccessApp, extra: serde_json::Value) -> String {
    let doctors = create_group(access, "Doctors", "d0c70r5").await;
    let mut policy = json!({
        "who": {"groups": ["d0c70r5"]},
        "what": {"banks": ["flex-b"], "kinds": ["flex"]},
        "how": {"mode": "flex", "max_booking_hours": 12}
    });
    for (field, value) in extra.as_object().expect("extra policy fields") {
        policy[field] = value.clone();
    }
    save_policy(access, "flex-desks", policy).await;
    doctors
}

/// Creates the doctor dr@st-marys.example with badge DR-1 in `doctors`,
/// waits for the engine and issues the doctor an app token. Returns the
/// doctor's id and the token.
async fn new_doctor(hospital: &Hospital, doctors: &str) -> (String, String) {
    let access = &hospital.access;
    let doctor = crate::fixture::create_user(access, "dr@st-marys.example", "DR-1").await;
    crate::fixture::add_member(access, doctors, &doctor).await;
    hospital.lockers_of(&doctor).await;

    let (status, body) = access
        .admin(Method::POST, &format!("/users/{doctor}/app-tokens"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    (doctor, token)
}

/// Creates flex lockers `flex-b-1` to `flex-b-{count}` in bank `flex-b`.
async fn create_flex_b_lockers(access: &AccessApp, count: usize) {
    for door in 1..=count {
        let id = format!("flex-b-{door}");
        create_locker(access, &id, "flex-b", &door.to_string(), "flex").await;
    }
}

#[tokio::test]
async fn thousand_bookings_ten_lockers() {
    book_ten_of_a_thousand(Hospital::open().await).await;
}

/// On PostgreSQL the bookings run on many connections at once, so only the
/// partial unique index keeps two requests from booking one locker.
#[tokio::test]
async fn thousand_bookings_ten_lockers_postgres() {
    if let Some(hospital) = Hospital::on_postgres().await {
        book_ten_of_a_thousand(hospital).await;
    }
}

async fn book_ten_of_a_thousand(hospital: Hospital) {
    let access = &hospital.access;
    create_flex_b_lockers(access, 10).await;
    let doctors = doctors_may_book_flex_b(access, json!({})).await;

    // 1,000 doctors, each with an app token; created through the store to
    // keep the set-up short, then added to the group over SCIM.
    let store = access.app.store.tenant(&access.app.tenant.id);
    let mut users = Vec::new();
    for n in 0..1000 {
        let document = json!({"schemas": [crate::common::USER_URN], "userName": format!("dr{n}@st-marys.example"), "active": true});
        let stored = store
            .create_user(&lockgate_store::WriteContext::default(), document)
            .await
            .unwrap();
        users.push(stored.id);
    }
    crate::fixture::add_members(access, &doctors, &users).await;
    hospital.lockers_of(&users[0]).await;
    let mut tokens = Vec::new();
    for user in &users {
        let (status, body) = access
            .admin(Method::POST, &format!("/users/{user}/app-tokens"), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_string());
    }

    let requests = tokens.iter().map(|token| {
        access.call(
            Method::POST,
            "/app/v1/st-marys/bookings",
            token,
            Some(json!({"hours": 4, "bank": "flex-b"})),
        )
    });
    let results = join_all(requests).await;

    let mut lockers = HashSet::new();
    let mut conflicts = 0;
    for (status, body) in &results {
        match *status {
            StatusCode::CREATED => {
                assert!(
                    lockers.insert(body["locker"].as_str().unwrap().to_string()),
                    "double booking: {body}"
                );
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"], "no_free_locker", "{body}");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(lockers.len(), 10);
    assert_eq!(conflicts, 990);

    let (_, rows) = access.admin(Method::GET, "/assignments", None).await;
    let booked: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["locker_id"].as_str().unwrap().starts_with("flex-b-"))
        .collect();
    assert_eq!(booked.len(), 10);
    // Listed in door order, not text order (which puts flex-b-10 second).
    let listed: Vec<&str> = booked
        .iter()
        .map(|row| row["locker_id"].as_str().unwrap())
        .collect();
    let doors: Vec<String> = (1..=10).map(|door| format!("flex-b-{door}")).collect();
    assert_eq!(listed, doors);
}

#[tokio::test]
async fn booking_holds_locker_until_it_ends() {
    let hospital = Hospital::open().await;
    let access = &hospital.access;
    create_locker(access, "flex-b-1", "flex-b", "1", "flex").await;
    let doctors = doctors_may_book_flex_b(access, json!({})).await;
    let (doctor, token) = new_doctor(&hospital, &doctors).await;
    let flex_device = access.device_token("flex-b").await;
    let tap = || async {
        access
            .call(
                Method::POST,
                "/device/v1/decisions",
                &flex_device,
                Some(json!({"bank": "flex-b", "door": "1", "credential": {"type": "badge", "id": "DR-1"}})),
            )
            .await
            .1
    };

    let too_long = json!({"hours": 13});
    let (status, body) = access
        .call(
            Method::POST,
            "/app/v1/st-marys/bookings",
            &token,
            Some(too_long),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("1 to 12 hours"),
        "{body}"
    );

    let (status, body) = access
        .call(
            Method::POST,
            "/app/v1/st-marys/bookings",
            &token,
            Some(json!({"hours": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["locker"], "flex-b-1");
    assert_eq!(hospital.locker_state("flex-b-1").await, "assigned");
    assert_eq!(tap().await["decision"], "allow");

    // Five hours later the booking is over.
    access
        .app
        .clock
        .store(5 * 3600, std::sync::atomic::Ordering::Relaxed);
    assert!(hospital.lockers_of(&doctor).await.is_empty());
    assert_eq!(hospital.locker_state("flex-b-1").await, "available");
    assert_eq!(tap().await["reason"], "not_assigned");
}

/// A reload that read before a booking committed must not drop the booking
/// from the index, or the holder's badge is denied at the locker just booked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_survives_concurrent_reloads() {
    let hospital = Hospital::open().await;
    let access = &hospital.access;
    const BOOKINGS: usize = 30;
    create_flex_b_lockers(access, BOOKINGS).await;
    let doctors = doctors_may_book_flex_b(access, json!({})).await;
    let mut doctors_with_tokens = Vec::new();
    for n in 0..BOOKINGS {
        let badge = format!("DR-{n}");
        let user_name = format!("dr{n}@st-marys.example");
        let doctor = crate::fixture::create_user(access, &user_name, &badge).await;
        crate::fixture::add_member(access, &doctors, &doctor).await;
        hospital.lockers_of(&doctor).await;
        let (status, body) = access
            .admin(Method::POST, &format!("/users/{doctor}/app-tokens"), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        doctors_with_tokens.push((badge, body["token"].as_str().unwrap().to_string()));
    }
    let flex_device = access.device_token("flex-b").await;

    let done = std::sync::atomic::AtomicBool::new(false);
    let reloads = async {
        let mut door = 100;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            door += 1;
            let id = format!("ward-a-{door}");
            create_locker(access, &id, "ward-a", &door.to_string(), "personal").await;
        }
    };
    let bookings = async {
        let mut denied = Vec::new();
        for (badge, token) in &doctors_with_tokens {
            let (status, body) = access
                .call(
                    Method::POST,
                    "/app/v1/st-marys/bookings",
                    token,
                    Some(json!({"hours": 4})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let locker = body["locker"].as_str().unwrap();
            let door = locker.strip_prefix("flex-b-").unwrap();
            let (_, decision) = access
                .call(
                    Method::POST,
                    "/device/v1/decisions",
                    &flex_device,
                    Some(json!({"bank": "flex-b", "door": door, "credential": {"type": "badge", "id": badge}})),
                )
                .await;
            if decision["decision"] != "allow" {
                denied.push(format!("{badge} at {locker}: {decision}"));
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        denied
    };
    let ((), denied) = tokio::join!(reloads, bookings);
    assert!(denied.is_empty(), "booked lockers denied: {denied:?}");
}

/// Lets Doctors book flex-b with `grace_days` for movers, and has a new
/// doctor book its only locker, flex-b-1, for four hours. Returns the
/// doctor, the Doctors group and the doctor's app token.
async fn doctor_with_booking(hospital: &Hospital, grace_days: u32) -> (String, String, String) {
    let access = &hospital.access;
    create_locker(access, "flex-b-1", "flex-b", "1", "flex").await;
    let lifecycle = json!({"mover_grace_days": grace_days, "leaver_action": "clear_out"});
    let doctors = doctors_may_book_flex_b(access, json!({"lifecycle": lifecycle})).await;
    let (doctor, token) = new_doctor(hospital, &doctors).await;

    let (status, body) = access
        .call(
            Method::POST,
            "/app/v1/st-marys/bookings",
            &token,
            Some(json!({"hours": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["locker"], "flex-b-1");
    (doctor, doctors, token)
}

/// Taps badge DR-1 at door 1 of flex-b.
async fn tap_flex(access: &AccessApp) -> serde_json::Value {
    let device = access.device_token("flex-b").await;
    let (status, body) = access
        .call(
            Method::POST,
            "/device/v1/decisions",
            &device,
            Some(json!({"bank": "flex-b", "door": "1", "credential": {"type": "badge", "id": "DR-1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn leaver_booking_goes_to_clear_out() {
    let hospital = Hospital::open().await;
    let (doctor, _, _) = doctor_with_booking(&hospital, 0).await;
    assert_eq!(tap_flex(&hospital.access).await["decision"], "allow");
    let (_, records) = hospital
        .access
        .admin(Method::GET, "/audit?limit=1000", None)
        .await;
    let booked = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "booking_created")
        .unwrap_or_else(|| panic!("{records}"));
    // The doctor booked for themselves through the app.
    assert_eq!(
        booked["actor"],
        json!({"type": "user", "id": doctor}),
        "{booked}"
    );

    let disable = json!({"schemas": [crate::common::PATCH_URN], "Operations": [
        {"op": "replace", "value": {"active": false}}
    ]});
    let (status, body) = hospital
        .access
        .app
        .patch(&format!("/Users/{doctor}"), disable)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(tap_flex(&hospital.access).await["reason"], "inactive_user");
    // The booking ends with the leaver, not hours later, and the locker
    // waits for clear-out instead of going back to the pool.
    assert!(hospital.lockers_of(&doctor).await.is_empty());
    assert_eq!(hospital.locker_state("flex-b-1").await, "clear_out");
    let actions = hospital.audit_actions().await;
    assert!(
        actions.contains(&"locker_clear_out".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn mover_booking_enters_grace() {
    let hospital = Hospital::open().await;
    let (doctor, doctors, _) = doctor_with_booking(&hospital, 2).await;

    crate::fixture::remove_member(&hospital.access, &doctors, &doctor).await;
    let bookings = hospital.lockers_of(&doctor).await;
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert!(bookings[0]["grace_until"].is_string(), "{bookings:?}");
    // The mover may still take their things out of the booked locker.
    assert_eq!(tap_flex(&hospital.access).await["decision"], "allow");

    // The booking ends at its own time, inside the grace period.
    hospital
        .access
        .app
        .clock
        .store(5 * 3600, std::sync::atomic::Ordering::Relaxed);
    assert!(hospital.lockers_of(&doctor).await.is_empty());
    assert_eq!(hospital.locker_state("flex-b-1").await, "available");
    assert_eq!(tap_flex(&hospital.access).await["reason"], "not_entitled");
}

#[tokio::test]
async fn parallel_bookings_keep_quota() {
    parallel_bookings_of_one_user(Hospital::open().await).await;
}

/// PostgreSQL runs the requests in transactions of their own at once, so
/// only a lock per user keeps them from counting the same open bookings.
#[tokio::test]
async fn parallel_bookings_keep_quota_postgres() {
    if let Some(hospital) = Hospital::on_postgres().await {
        parallel_bookings_of_one_user(hospital).await;
    }
}

/// Sends ten bookings at once for one doctor whose policy allows two
/// lockers at a time, with five lockers free.
async fn parallel_bookings_of_one_user(hospital: Hospital) {
    let access = &hospital.access;
    create_flex_b_lockers(access, 5).await;
    let doctors = doctors_may_book_flex_b(access, json!({"quota": 2})).await;
    let (doctor, token) = new_doctor(&hospital, &doctors).await;

    let requests = (0..10).map(|_| {
        access.call(
            Method::POST,
            "/app/v1/st-marys/bookings",
            &token,
            Some(json!({"hours": 2})),
        )
    });
    let answers = join_all(requests).await;
    let booked = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    let over_quota = answers
        .iter()
        .filter(|(status, body)| {
            *status == StatusCode::CONFLICT && body["error"] == "quota_reached"
        })
        .count();
    assert_eq!(booked, 2, "{answers:?}");
    assert_eq!(over_quota, 8, "{answers:?}");
    assert_eq!(hospital.lockers_of(&doctor).await.len(), 2);
}

#[tokio::test]
async fn booking_names_unknown_or_uncovered_place() {
    let hospital = Hospital::open().await;
    let (doctor, _, token) = doctor_with_booking(&hospital, 0).await;
    let access = &hospital.access;

    let cases = [
        (
            json!({"hours": 2, "bank": "flex-x"}),
            StatusCode::NOT_FOUND,
            "bank \"flex-x\" not found",
        ),
        (
            json!({"hours": 2, "zone": "roof"}),
            StatusCode::NOT_FOUND,
            "zone \"roof\" not found",
        ),
        (
            json!({"hours": 2, "bank": "ward-a"}),
            StatusCode::FORBIDDEN,
            "in bank \"ward-a\"",
        ),
    ];
    for (request, status, detail) in cases {
        let (got, body) = access
            .call(
                Method::POST,
                "/app/v1/st-marys/bookings",
                &token,
                Some(request.clone()),
            )
            .await;
        assert_eq!(got, status, "{request}: {body}");
        let text = body["detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{request}: {body}");
    }
    // Only the booking made at the start exists.
    assert_eq!(hospital.lockers_of(&doctor).await.len(), 1);
}
