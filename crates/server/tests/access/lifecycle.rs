//! Joiner, mover, leaver and re-enable end to end: SCIM requests in, device
//! decisions out, over real HTTP.

use std::sync::atomic::Ordering;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::PATCH_URN;
use crate::fixture::{
    CLINICAL_EXTERNAL_ID, Hospital, NURSES_EXTERNAL_ID, add_member, add_members, create_group,
    create_user, remove_member, save_policy,
};

#[tokio::test]
async fn joiner_badge_opens_assigned_locker() {
    let hospital = Hospital::open().await;
    let ada = hospital.nurse("ada@st-marys.example", "B-100").await;

    let door = hospital.door_of(&ada).await;
    let allowed = hospital.tap("B-100", &door).await;
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["user"], ada.as_str());

    let other = if door == "1" { "2" } else { "1" };
    let denied = hospital.tap("B-100", other).await;
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["reason"], "not_assigned", "{denied}");

    let unknown = hospital.tap("B-999", &door).await;
    assert_eq!(unknown["reason"], "unknown_credential", "{unknown}");

    // Denials are audited in the background. An allowed open waits for its
    // own audit commit, and the single audit writer commits in queue order.
    assert_eq!(hospital.tap("B-100", &door).await["decision"], "allow");

    let outbox = hospital.outbox().await;
    assert!(
        outbox
            .iter()
            .any(|n| n["kind"] == "locker_assigned" && n["user"] == ada.as_str()),
        "{outbox:?}"
    );
    let actions = hospital.audit_actions().await;
    for expected in [
        "user_created",
        "member_added",
        "assignment_created",
        "open_allowed",
        "open_denied",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing: {actions:?}"
        );
    }

    // Each record names who made the change and through what.
    let (status, records) = hospital
        .access
        .admin(Method::GET, "/audit?limit=1000", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{records}");
    let records = records.as_array().unwrap();
    let find = |action: &str| {
        records
            .iter()
            .find(|r| r["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {records:?}"))
    };
    let opened = find("open_allowed");
    assert_eq!(opened["actor"]["type"], "device", "{opened}");
    assert_eq!(
        opened["source"],
        format!("device:ward-a:{door}"),
        "{opened}"
    );
    assert_eq!(opened["subject"], format!("ward-a-{door}"), "{opened}");
    let created = find("user_created");
    assert_eq!(created["actor"]["type"], "scim", "{created}");
    let source = created["source"].as_str().unwrap_or_default();
    assert!(source.starts_with("scim:"), "{created}");
    let assigned = find("assignment_created");
    assert_eq!(assigned["actor"]["type"], "system", "{assigned}");
    // Changes made through the admin API carry the same source whichever
    // route made them.
    for action in ["policy_created", "bank_created", "settings_changed"] {
        let record = find(action);
        assert_eq!(record["actor"]["type"], "admin", "{record}");
        assert_eq!(record["source"], "admin", "{record}");
    }
}

/// Returns the two bodies Entra sends to disable a user: its default dialect and
/// the RFC-compliant one behind the `aadOptscim062020` flag.
fn disable_bodies() -> [serde_json::Value; 2] {
    [
        json!({"schemas": [PATCH_URN], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}
        ]}),
        json!({"schemas": [PATCH_URN], "Operations": [
            {"op": "replace", "value": {"active": false}}
        ]}),
    ]
}

#[tokio::test]
async fn leaver_denied_right_after_disable() {
    let hospital = Hospital::open().await;
    for round in 0..6 {
        let name = format!("leaver{round}@st-marys.example");
        let badge = format!("B-2{round:02}");
        let user = hospital.nurse(&name, &badge).await;
        let door = hospital.door_of(&user).await;
        assert_eq!(hospital.tap(&badge, &door).await["decision"], "allow");

        let body = disable_bodies()[round % 2].clone();
        let (status, reply) = hospital
            .access
            .app
            .patch(&format!("/Users/{user}"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        // No wait and no settling: the very next decision must deny.
        let decision = hospital.tap(&badge, &door).await;
        assert_eq!(decision["decision"], "deny", "round {round}: {decision}");
        assert_eq!(
            decision["reason"], "inactive_user",
            "round {round}: {decision}"
        );

        assert!(hospital.lockers_of(&user).await.is_empty());
        let locker = format!("ward-a-{door}");
        assert_eq!(hospital.locker_state(&locker).await, "clear_out");
        // Back into service, as a facility manager records it emptied.
        let (status, reply) = hospital
            .access
            .admin(
                Method::POST,
                &format!("/lockers/{locker}/emptied"),
                Some(json!({})),
            )
            .await;
        assert!(status.is_success(), "{reply}");
    }
    let outbox = hospital.outbox().await;
    let kinds: Vec<&str> = outbox.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert!(kinds.contains(&"access_ended"), "{kinds:?}");
    assert!(kinds.contains(&"clear_out_needed"), "{kinds:?}");
}

/// Some identity providers disable a user by replacing the whole resource
/// with PUT rather than by PATCH.
#[tokio::test]
async fn leaver_denied_right_after_put() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("replaced@st-marys.example", "B-250").await;
    let door = hospital.door_of(&user).await;
    assert_eq!(hospital.tap("B-250", &door).await["decision"], "allow");

    let (status, mut document) = hospital.access.app.get(&format!("/Users/{user}")).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    document["active"] = json!(false);
    let (status, reply) = hospital
        .access
        .app
        .put(&format!("/Users/{user}"), document)
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let decision = hospital.tap("B-250", &door).await;
    assert_eq!(decision["reason"], "inactive_user", "{decision}");
}

#[tokio::test]
async fn deleted_user_denied_and_locker_cleared() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("gone@st-marys.example", "B-300").await;
    let door = hospital.door_of(&user).await;

    let (status, _) = hospital.access.app.delete(&format!("/Users/{user}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let decision = hospital.tap("B-300", &door).await;
    assert_eq!(decision["reason"], "inactive_user", "{decision}");

    assert!(hospital.lockers_of(&user).await.is_empty());
    let locker = format!("ward-a-{door}");
    assert_eq!(hospital.locker_state(&locker).await, "clear_out");

    // Deleting the locker and creating it again would skip the clear-out.
    let path = format!("/lockers/{locker}");
    let (status, body) = hospital.access.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("record it emptied"),
        "{body}"
    );
    assert_eq!(hospital.locker_state(&locker).await, "clear_out");
    let emptied = format!("{path}/emptied");
    let (status, body) = hospital
        .access
        .admin(Method::POST, &emptied, Some(json!({})))
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = hospital.access.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let actions = hospital.audit_actions().await;
    assert!(actions.contains(&"user_deleted".to_string()), "{actions:?}");
    assert!(
        actions.contains(&"locker_clear_out".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn reenabled_user_regains_access() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("back@st-marys.example", "B-400").await;
    let first = hospital.door_of(&user).await;

    let [disable, _] = disable_bodies();
    let (status, _) = hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), disable)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(hospital.lockers_of(&user).await.is_empty());

    let enable = json!({"schemas": [PATCH_URN], "Operations": [
        {"op": "Replace", "path": "active", "value": "True"}
    ]});
    let (status, _) = hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), enable)
        .await;
    assert_eq!(status, StatusCode::OK);

    // The old locker waits for clear-out, so a different one is assigned.
    let door = hospital.door_of(&user).await;
    assert_ne!(door, first);
    assert_eq!(hospital.tap("B-400", &door).await["decision"], "allow");
}

#[tokio::test]
async fn mover_keeps_locker_until_grace_ends() {
    let hospital = Hospital::with_grace(7).await;
    let user = hospital.nurse("mover@st-marys.example", "B-500").await;
    let door = hospital.door_of(&user).await;

    remove_member(&hospital.access, &hospital.nurses, &user).await;
    let held = hospital.lockers_of(&user).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0]["grace_until"].is_string(), "{held:?}");
    // Inside grace the mover may still take their things out.
    assert_eq!(hospital.tap("B-500", &door).await["decision"], "allow");

    // Eight days later the grace period is over.
    hospital
        .access
        .app
        .clock
        .store(8 * 24 * 3600, Ordering::Relaxed);
    let decision = hospital.tap("B-500", &door).await;
    assert_eq!(decision["decision"], "deny", "{decision}");
    // The engine ended the assignment and sent the locker to clear-out.
    assert!(
        ["grace_expired", "locker_in_clear_out"].contains(&decision["reason"].as_str().unwrap()),
        "{decision}"
    );
    assert!(hospital.lockers_of(&user).await.is_empty());
    assert_eq!(
        hospital.locker_state(&format!("ward-a-{door}")).await,
        "clear_out"
    );
}

#[tokio::test]
async fn returning_mover_keeps_same_locker() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("returner@st-marys.example", "B-600").await;
    let door = hospital.door_of(&user).await;

    remove_member(&hospital.access, &hospital.nurses, &user).await;
    assert!(hospital.lockers_of(&user).await[0]["grace_until"].is_string());
    add_member(&hospital.access, &hospital.nurses, &user).await;

    let held = hospital.lockers_of(&user).await;
    assert_eq!(held.len(), 1);
    assert!(held[0]["grace_until"].is_null(), "{held:?}");
    assert_eq!(hospital.door_of(&user).await, door);
}

#[tokio::test]
async fn group_rename_keeps_access() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("stays@st-marys.example", "B-700").await;
    let door = hospital.door_of(&user).await;

    let rename = json!({"schemas": [PATCH_URN], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Registered nurses"}
    ]});
    let (status, _) = hospital
        .access
        .app
        .patch(&format!("/Groups/{}", hospital.nurses), rename)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert_eq!(hospital.door_of(&user).await, door);
    assert_eq!(hospital.tap("B-700", &door).await["decision"], "allow");
}

#[tokio::test]
async fn nested_group_membership_grants_access() {
    let hospital = Hospital::open().await;
    let clinical = create_group(&hospital.access, "Clinical staff", CLINICAL_EXTERNAL_ID).await;
    add_member(&hospital.access, &clinical, &hospital.nurses).await;
    save_policy(
        &hospital.access,
        "ward-lockers",
        json!({
            "who": {"groups": [CLINICAL_EXTERNAL_ID]},
            "what": {"banks": ["ward-a"], "kinds": ["personal"]},
            "how": {"mode": "fixed"}
        }),
    )
    .await;

    // In `nurses` only; `nurses` is a member of `clinical`.
    let user = hospital.nurse("nested@st-marys.example", "B-800").await;
    let door = hospital.door_of(&user).await;
    assert_eq!(hospital.tap("B-800", &door).await["decision"], "allow");

    // Taking `nurses` out of `clinical` makes the user a mover.
    remove_member(&hospital.access, &clinical, &hospital.nurses).await;
    let held = hospital.lockers_of(&user).await;
    assert!(held[0]["grace_until"].is_string(), "{held:?}");
    assert_ne!(NURSES_EXTERNAL_ID, CLINICAL_EXTERNAL_ID);
}

#[tokio::test]
async fn unentitled_user_gets_nothing() {
    let hospital = Hospital::open().await;
    let user = create_user(&hospital.access, "porter@st-marys.example", "B-900").await;
    assert!(hospital.lockers_of(&user).await.is_empty());
    let decision = hospital.tap("B-900", "1").await;
    assert_eq!(decision["decision"], "deny");
    assert_eq!(decision["reason"], "not_entitled", "{decision}");
}

/// The manager Entra sends in the enterprise extension hears that their
/// report's access ended, as does the owner.
#[tokio::test]
async fn leaver_manager_is_notified() {
    let hospital = Hospital::open().await;
    let manager = create_user(&hospital.access, "head@st-marys.example", "M-1").await;
    let user = hospital.nurse("report@st-marys.example", "B-950").await;
    hospital.door_of(&user).await;
    let set_manager = json!({"schemas": [PATCH_URN], "Operations": [{
        "op": "Add",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": manager
    }]});
    let (status, body) = hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), set_manager)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    hospital.lockers_of(&user).await;

    let (status, body) = hospital
        .access
        .app
        .patch(&format!("/Users/{user}"), disable_bodies()[0].clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outbox = hospital.outbox().await;
    let ended_for = |recipient: &str| {
        outbox.iter().find(|n| {
            n["kind"] == "access_ended" && n["user"] == user.as_str() && n["recipient"] == recipient
        })
    };
    let to_manager = ended_for("manager").unwrap_or_else(|| panic!("{outbox:?}"));
    assert_eq!(
        to_manager["detail"]["manager"],
        manager.as_str(),
        "{to_manager}"
    );
    assert!(ended_for("owner").is_some(), "{outbox:?}");
}

#[tokio::test]
async fn waiting_joiner_gets_a_new_locker() {
    let hospital = Hospital::open().await;
    // The ward bank has four personal lockers.
    for n in 0..5 {
        hospital
            .nurse(&format!("w{n}@st-marys.example"), &format!("WJ-{n}"))
            .await;
    }
    let fifth = hospital.nurse("w5@st-marys.example", "WJ-5").await;
    assert!(hospital.lockers_of(&fifth).await.is_empty());
    let waiting: Vec<_> = hospital
        .outbox()
        .await
        .into_iter()
        .filter(|n| n["kind"] == "no_free_locker")
        .collect();
    assert_eq!(waiting.len(), 2, "{waiting:?}");

    // Two new lockers, one for each waiting nurse.
    for door in ["5", "6"] {
        let id = format!("ward-a-{door}");
        crate::fixture::create_locker(&hospital.access, &id, "ward-a", door, "personal").await;
    }
    assert_eq!(hospital.lockers_of(&fifth).await.len(), 1);
    let again = hospital
        .outbox()
        .await
        .into_iter()
        .filter(|n| n["kind"] == "no_free_locker")
        .count();
    assert_eq!(again, 2, "re-planning must not notify facilities again");
}

#[tokio::test]
async fn shared_locker_follows_time_window() {
    let hospital = Hospital::open().await;
    let porters = create_group(&hospital.access, "Porters", "p0r7e75").await;
    // A one-hour window that starts two whole hours from now, every day.
    let now = time::OffsetDateTime::now_utc();
    let start_hour = (now.hour() + 2) % 24;
    let end_hour = (start_hour + 1) % 24;
    save_policy(
        &hospital.access,
        "porter-team",
        json!({
            "who": {"groups": ["p0r7e75"]},
            "what": {"banks": ["ward-a"], "kinds": ["shared"]},
            "how": {"mode": "shared"},
            "when": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                      "start": format!("{start_hour:02}:00"), "end": format!("{end_hour:02}:00")}]
        }),
    )
    .await;
    let porter = create_user(&hospital.access, "porter@st-marys.example", "T-1").await;
    add_member(&hospital.access, &porters, &porter).await;
    hospital.lockers_of(&porter).await;

    let outside = hospital.tap("T-1", "9").await;
    assert_eq!(outside["reason"], "outside_time_window", "{outside}");

    // Thirty minutes into the window.
    let until_start = (120 - i64::from(now.minute())) * 60 + 30 * 60;
    hospital
        .access
        .app
        .clock
        .store(until_start, Ordering::Relaxed);
    let inside = hospital.tap("T-1", "9").await;
    assert_eq!(inside["decision"], "allow", "{inside}");

    // A nurse is not in the team.
    let nurse = hospital.nurse("not-a-porter@st-marys.example", "T-2").await;
    hospital.lockers_of(&nurse).await;
    assert_eq!(hospital.tap("T-2", "9").await["reason"], "not_entitled");
}

#[tokio::test]
async fn leaver_without_locker_is_notified() {
    let hospital = Hospital::open().await;
    let team = create_group(&hospital.access, "Porters", "p0r7e75").await;
    save_policy(
        &hospital.access,
        "porter-team",
        json!({
            "who": {"groups": ["p0r7e75"]},
            "what": {"banks": ["ward-a"], "kinds": ["shared"]},
            "how": {"mode": "shared"}
        }),
    )
    .await;
    for round in 0..4 {
        let porter = create_user(
            &hospital.access,
            &format!("p{round}@st-marys.example"),
            &format!("PN-{round}"),
        )
        .await;
        add_member(&hospital.access, &team, &porter).await;
        hospital.lockers_of(&porter).await;
        let body = disable_bodies()[round % 2].clone();
        let (status, _) = hospital
            .access
            .app
            .patch(&format!("/Users/{porter}"), body)
            .await;
        assert_eq!(status, StatusCode::OK);
        let notified = hospital
            .outbox()
            .await
            .into_iter()
            .any(|n| n["kind"] == "access_ended" && n["user"] == porter.as_str());
        assert!(notified, "round {round}: no access_ended for {porter}");
    }
}

#[tokio::test]
async fn audit_survives_another_writer() {
    let hospital = Hospital::open().await;
    let user = hospital.nurse("shared-file@st-marys.example", "SF-1").await;
    let door = hospital.door_of(&user).await;
    assert_eq!(hospital.tap("SF-1", &door).await["decision"], "allow");

    // A CLI command on the same database file appends to the chain behind
    // the server's back, as `lockgate import` does.
    let dir = hospital.access.app.data_dir().unwrap();
    let other = lockgate_store::Store::connect(&lockgate_store::StoreOptions::sqlite_in_dir(dir))
        .await
        .unwrap();
    let draft = lockgate_store::AuditDraft {
        actor: lockgate_domain::audit::Actor::Admin("cli".into()),
        source: Some("cli".into()),
        action: "test_append".into(),
        subject: "cli".into(),
        detail: json!({}),
    };
    other
        .tenant(&hospital.access.app.tenant.id)
        .append_audit(vec![draft])
        .await
        .unwrap();
    other.close().await;

    assert_eq!(hospital.tap("SF-1", &door).await["decision"], "allow");
    let (_, verify) = hospital
        .access
        .admin(Method::GET, "/audit/verify", None)
        .await;
    assert_eq!(verify["intact"], true, "{verify}");
    let actions = hospital.audit_actions().await;
    let opens = actions.iter().filter(|a| *a == "open_allowed").count();
    assert_eq!(opens, 2, "{actions:?}");
}

#[tokio::test]
async fn lockers_imported_elsewhere_are_used() {
    let hospital = Hospital::open().await;
    for n in 0..4 {
        hospital
            .nurse(&format!("f{n}@st-marys.example"), &format!("FI-{n}"))
            .await;
    }
    let waiting = hospital.nurse("waiting@st-marys.example", "FI-9").await;
    assert!(hospital.lockers_of(&waiting).await.is_empty());

    // `lockgate import` writes the same database from another process.
    let dir = hospital.access.app.data_dir().unwrap();
    let other = lockgate_store::Store::connect(&lockgate_store::StoreOptions::sqlite_in_dir(dir))
        .await
        .unwrap();
    let locker = lockgate_store::NewLocker {
        id: "ward-a-7".into(),
        bank: "ward-a".into(),
        door: "7".into(),
        kind: "personal".into(),
        size: "medium".into(),
    };
    other
        .tenant(&hospital.access.app.tenant.id)
        .create_locker(lockgate_domain::audit::Actor::Admin("cli".into()), locker)
        .await
        .unwrap();
    other.close().await;

    // The engine looks for lockers written by another process once a
    // second. About 30 seconds of polling leaves room for a loaded CI machine.
    let mut assigned = Vec::new();
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assigned = hospital.lockers_of(&waiting).await;
        if !assigned.is_empty() {
            break;
        }
    }
    assert_eq!(assigned.len(), 1, "the new locker was not handed out");
    assert_eq!(hospital.tap("FI-9", "7").await["decision"], "allow");
}

/// The engine re-plans at most 2,000 users per pass. A policy change that
/// covers more users than that still gives each of them exactly one
/// locker, and no locker goes to two users across passes.
#[tokio::test]
async fn policy_change_reaches_over_two_thousand_users() {
    const USERS: usize = 2_050;
    let hospital = Hospital::open().await;
    let access = &hospital.access;
    // A bank has at most 1,000 doors, so the depot has three.
    let banks: Vec<_> = (1..=3)
        .map(|n| {
            json!({"id": format!("depot-{n}"), "name": format!("Depot {n}"),
                   "doors": "1-700", "kind": "personal", "size": "small"})
        })
        .collect();
    let depot = json!({"sites": [{"id": "main", "zones": [{"id": "ward-3", "banks": banks}]}]});
    let (status, body) = access.admin(Method::POST, "/import", Some(depot)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let staff = create_group(access, "Depot staff", "depot-staff").await;
    let mut users = Vec::with_capacity(USERS);
    for n in 0..USERS {
        users.push(
            create_user(
                access,
                &format!("porter{n}@depot.example"),
                &format!("D-{n}"),
            )
            .await,
        );
    }
    add_members(access, &staff, &users).await;

    save_policy(
        access,
        "depot-lockers",
        json!({
            "name": "A personal locker at the depot",
            "who": {"groups": ["depot-staff"]},
            "what": {"banks": ["depot-1", "depot-2", "depot-3"], "kinds": ["personal"]},
            "how": {"mode": "fixed", "auto_assign": true},
            "lifecycle": {"mover_grace_days": 7, "leaver_action": "clear_out"}
        }),
    )
    .await;

    let (status, body) = access.admin(Method::GET, "/assignments", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let depot_rows: Vec<&serde_json::Value> = body
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["policy_id"] == "depot-lockers")
        .collect();
    let holders: std::collections::HashSet<&str> = depot_rows
        .iter()
        .map(|row| row["user_id"].as_str().unwrap())
        .collect();
    let lockers: std::collections::HashSet<&str> = depot_rows
        .iter()
        .map(|row| row["locker_id"].as_str().unwrap())
        .collect();
    assert_eq!(depot_rows.len(), USERS, "one depot locker for each user");
    for row in &depot_rows {
        let n = users
            .iter()
            .position(|id| row["user_id"] == id.as_str())
            .unwrap();
        let expected = format!("porter{n}@depot.example");
        assert_eq!(row["user_name"], expected.as_str(), "{row}");
    }
    assert_eq!(holders.len(), USERS, "every user holds one");
    assert_eq!(lockers.len(), USERS, "no locker is held twice");
}

/// Lists open assignments with `query`.
async fn assignments_where(hospital: &Hospital, query: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("/assignments?{query}");
    hospital.access.admin(Method::GET, &path, None).await
}

#[tokio::test]
async fn assignments_filtered_by_query() {
    let hospital = Hospital::open().await;
    let first = hospital.nurse("first@st-marys.example", "R-91").await;
    let second = hospital.nurse("second@st-marys.example", "R-92").await;
    let first_locker = hospital.lockers_of(&first).await[0]["locker_id"].clone();
    assert_eq!(hospital.lockers_of(&second).await.len(), 1);

    let (status, body) = assignments_where(&hospital, "user=FIRST@st-marys.example").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!(rows[0]["user_id"], first.as_str());

    let query = format!("locker={}", first_locker.as_str().unwrap());
    let (status, body) = assignments_where(&hospital, &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1, "{body}");

    let (_, body) = assignments_where(&hospital, "bank=ward-a").await;
    assert_eq!(body.as_array().unwrap().len(), 2, "{body}");
    let (_, body) = assignments_where(&hospital, "bank=flex-b").await;
    assert!(body.as_array().unwrap().is_empty(), "{body}");

    let (status, body) = assignments_where(&hospital, "bnak=ward-a").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"bnak\" is not known; use locker, bank, user"),
        "{body}"
    );
}
