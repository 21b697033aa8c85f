//! The physical model over the admin API: creating and reading sites,
//! zones, banks and lockers, the rules that reject bad input without
//! changing anything, locker state changes, tenant isolation and imports.

use lockgate_domain::audit::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::support::AccessApp;

/// Creates site `main`, zone `w3`, bank `w3-a` and lockers `w3-a-1` (door
/// 1, personal) and `w3-a-2` (door 2, flex).
pub(crate) async fn create_ward(access: &AccessApp) {
    let requests = [
        ("/sites", json!({"id": "main", "name": "Main campus"})),
        (
            "/zones",
            json!({"id": "w3", "site": "main", "name": "Ward 3"}),
        ),
        (
            "/banks",
            json!({"id": "w3-a", "zone": "w3", "name": "Staff room A"}),
        ),
        (
            "/lockers",
            json!({"id": "w3-a-1", "bank": "w3-a", "door": "1", "kind": "personal", "size": "medium"}),
        ),
        (
            "/lockers",
            json!({"id": "w3-a-2", "bank": "w3-a", "door": "2", "kind": "flex", "size": "large"}),
        ),
    ];
    post_all(access, requests).await;
}

/// Sends each `POST` in turn and checks that it created its record.
pub(crate) async fn post_all(
    access: &AccessApp,
    requests: impl IntoIterator<Item = (&str, Value)>,
) {
    for (path, body) in requests {
        let (status, response) = access.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {response}");
    }
}

pub(crate) async fn get_ok(access: &AccessApp, path: &str) -> Value {
    let (status, body) = access.admin(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

pub(crate) fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

async fn hierarchy_round_trip(access: &AccessApp) {
    create_ward(access).await;

    let sites = get_ok(access, "/sites").await;
    assert_eq!(ids(&sites), ["main"]);
    assert_eq!(sites[0]["name"], "Main campus");
    let zones = get_ok(access, "/zones").await;
    assert_eq!(zones[0]["site"], "main");
    assert_eq!(ids(&get_ok(access, "/zones?site=main").await), ["w3"]);
    assert!(ids(&get_ok(access, "/zones?site=other").await).is_empty());
    let banks = get_ok(access, "/banks?zone=w3").await;
    assert_eq!(ids(&banks), ["w3-a"]);
    assert_eq!(banks[0]["zone"], "w3");

    let locker = get_ok(access, "/lockers/w3-a-1").await;
    assert_eq!(locker["bank"], "w3-a");
    assert_eq!(locker["zone"], "w3");
    assert_eq!(locker["site"], "main");
    assert_eq!(locker["door"], "1");
    assert_eq!(locker["kind"], "personal");
    assert_eq!(locker["size"], "medium");
    assert_eq!(locker["state"], "available");

    let all = get_ok(access, "/lockers").await;
    assert_eq!(ids(&all), ["w3-a-1", "w3-a-2"]);
    let by_bank = get_ok(access, "/lockers?bank=w3-a").await;
    assert_eq!(ids(&by_bank), ["w3-a-1", "w3-a-2"]);
    let (status, body) = access
        .admin(Method::GET, "/lockers?zone=elsewhere", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such zone: {body}");

    let (status, body) = access
        .admin(
            Method::PATCH,
            "/lockers/w3-a-2",
            Some(json!({"state": "blocked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "blocked");
    let blocked = get_ok(access, "/lockers?state=blocked").await;
    assert_eq!(ids(&blocked), ["w3-a-2"]);
    let available = get_ok(access, "/lockers?state=available&zone=w3").await;
    assert_eq!(ids(&available), ["w3-a-1"]);
}

#[tokio::test]
async fn hierarchy_round_trip_sqlite() {
    hierarchy_round_trip(&AccessApp::spawn().await).await;
}

#[tokio::test]
async fn hierarchy_round_trip_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    hierarchy_round_trip(&AccessApp::with(app).await).await;
}

async fn places_are_renamed(access: &AccessApp) {
    create_ward(access).await;

    let (status, bank) = access
        .admin(
            Method::PATCH,
            "/banks/w3-a",
            Some(json!({"name": " Staff room B "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bank}");
    assert_eq!(bank["name"], "Staff room B", "{bank}");
    assert_eq!(bank["zone"], "w3", "{bank}");
    for (path, name) in [
        ("/sites/main", "North campus"),
        ("/zones/w3", "Ward 3 east"),
    ] {
        let (status, body) = access
            .admin(Method::PATCH, path, Some(json!({"name": name})))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["name"], name, "{path}: {body}");
    }
    assert_eq!(get_ok(access, "/banks").await[0]["name"], "Staff room B");
    assert_eq!(get_ok(access, "/sites").await[0]["name"], "North campus");
    // Lockers keep their bank, since only the name changed.
    assert_eq!(
        ids(&get_ok(access, "/lockers?bank=w3-a").await),
        ["w3-a-1", "w3-a-2"]
    );

    // The same name again changes nothing and writes no record.
    let (status, body) = access
        .admin(
            Method::PATCH,
            "/banks/w3-a",
            Some(json!({"name": "Staff room B"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = get_ok(access, "/audit?limit=1000").await;
    let renames: Vec<&Value> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| {
            record["action"]
                .as_str()
                .unwrap_or("")
                .ends_with("_renamed")
        })
        .collect();
    assert_eq!(renames.len(), 3, "{renames:?}");
    let bank_renamed = renames
        .iter()
        .find(|record| record["action"] == "bank_renamed")
        .unwrap();
    assert_eq!(bank_renamed["subject"], "w3-a");
    assert_eq!(bank_renamed["detail"]["from"], "Staff room A");
    assert_eq!(bank_renamed["detail"]["to"], "Staff room B");
    assert_eq!(bank_renamed["source"], "admin");

    // Bad input is rejected and changes nothing.
    let cases = [
        ("/banks/w3-z", json!({"name": "X"}), StatusCode::NOT_FOUND),
        ("/zones/w3", json!({"name": "  "}), StatusCode::BAD_REQUEST),
        (
            "/zones/w3",
            json!({"name": "Ward\n3"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/sites/main",
            json!({"name": "X", "id": "other"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, response) = access.admin(Method::PATCH, path, Some(body)).await;
        assert_eq!(status, expected, "{path}: {response}");
    }
    assert_eq!(get_ok(access, "/zones").await[0]["name"], "Ward 3 east");
    assert_eq!(get_ok(access, "/sites").await[0]["name"], "North campus");
}

/// Renames one bank ten times at once. Each audit record must start
/// from the name the one before it left, whatever order they ran in.
async fn parallel_renames_chain(access: &AccessApp) {
    create_ward(access).await;
    let renames = (0..10).map(|n| {
        access.admin(
            Method::PATCH,
            "/banks/w3-a",
            Some(json!({"name": format!("Room {n}")})),
        )
    });
    for (status, body) in futures::future::join_all(renames).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let records = get_ok(access, "/audit?limit=1000").await;
    let mut expected_from = "Staff room A".to_string();
    let mut count = 0;
    for record in records.as_array().unwrap() {
        if record["action"] != "bank_renamed" {
            continue;
        }
        assert_eq!(record["detail"]["from"], expected_from.as_str(), "{record}");
        expected_from = record["detail"]["to"].as_str().unwrap().to_string();
        count += 1;
    }
    assert_eq!(count, 10);
    assert_eq!(
        get_ok(access, "/banks").await[0]["name"],
        expected_from.as_str()
    );
}

#[tokio::test]
async fn places_are_renamed_sqlite() {
    places_are_renamed(&AccessApp::spawn().await).await;
    parallel_renames_chain(&AccessApp::spawn().await).await;
}

#[tokio::test]
async fn places_are_renamed_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    places_are_renamed(&AccessApp::with(app).await).await;
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    parallel_renames_chain(&AccessApp::with(app).await).await;
}

#[tokio::test]
async fn duplicates_are_conflicts() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;

    let cases = [
        ("/sites", json!({"id": "main", "name": "Again"}), "\"main\""),
        (
            "/zones",
            json!({"id": "w3", "site": "main", "name": "Again"}),
            "\"w3\"",
        ),
        (
            "/banks",
            json!({"id": "w3-a", "zone": "w3", "name": "Again"}),
            "\"w3-a\"",
        ),
        (
            "/lockers",
            json!({"id": "w3-a-1", "bank": "w3-a", "door": "9", "kind": "flex", "size": "small"}),
            "\"w3-a-1\"",
        ),
        (
            "/lockers",
            json!({"id": "w3-a-9", "bank": "w3-a", "door": "1", "kind": "flex", "size": "small"}),
            "door \"1\"",
        ),
    ];
    for (path, body, named) in cases {
        let (status, response) = access.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "POST {path}: {response}");
        assert_eq!(response["error"], "conflict");
        let detail = response["detail"].as_str().unwrap();
        assert!(detail.contains(named), "POST {path}: {detail}");
    }
    assert_eq!(
        ids(&get_ok(&access, "/lockers").await),
        ["w3-a-1", "w3-a-2"]
    );
}

#[tokio::test]
async fn unknown_parent_is_named() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;

    let cases = [
        (
            "/zones",
            json!({"id": "w9", "site": "nowhere", "name": "Ward 9"}),
            "\"nowhere\"",
        ),
        (
            "/banks",
            json!({"id": "b9", "zone": "no-zone", "name": "Bank 9"}),
            "\"no-zone\"",
        ),
        (
            "/lockers",
            json!({"id": "l9", "bank": "ghost", "door": "1", "kind": "flex", "size": "small"}),
            "\"ghost\"",
        ),
    ];
    for (path, body, named) in cases {
        let (status, response) = access.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "POST {path}: {response}");
        let detail = response["detail"].as_str().unwrap();
        assert!(detail.contains(named), "POST {path}: {detail}");
        assert!(detail.contains("does not exist"), "POST {path}: {detail}");
    }
    assert_eq!(ids(&get_ok(&access, "/zones").await), ["w3"]);
    assert_eq!(ids(&get_ok(&access, "/banks").await), ["w3-a"]);
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;
    let lockers_before = get_ok(&access, "/lockers").await;
    let sites_before = get_ok(&access, "/sites").await;

    // The store's rules return 400. A body that does not fit the request
    // type (an unknown field, a missing one, a state that is no state) is
    // rejected while it is read, with 422 like every admin route.
    let bad = StatusCode::BAD_REQUEST;
    let unfit = StatusCode::UNPROCESSABLE_ENTITY;
    let posts = [
        (
            "/lockers",
            json!({"id": "x1", "bank": "w3-a", "door": "7", "kind": "gigantic", "size": "small"}),
            bad,
            "\"gigantic\"",
        ),
        (
            "/lockers",
            json!({"id": "x1", "bank": "w3-a", "door": "7", "kind": "flex", "size": "huge"}),
            bad,
            "\"huge\"",
        ),
        (
            "/lockers",
            json!({"id": "x 1", "bank": "w3-a", "door": "7", "kind": "flex", "size": "small"}),
            bad,
            "\"x 1\"",
        ),
        (
            "/lockers",
            json!({"id": "x1", "bank": "w3-a", "door": "7", "kind": "flex", "size": "small", "colour": "red"}),
            unfit,
            "colour",
        ),
        (
            "/lockers",
            json!({"id": "x1", "bank": "w3-a"}),
            unfit,
            "door",
        ),
        (
            "/sites",
            json!({"id": "north", "name": "  "}),
            bad,
            "empty name",
        ),
        (
            "/sites",
            json!({"id": "north", "name": "North", "city": "Leeds"}),
            unfit,
            "city",
        ),
    ];
    for (path, body, expected, named) in posts {
        let (status, response) = access.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, expected, "POST {path}: {response}");
        let detail = response["detail"].as_str().unwrap();
        assert!(detail.contains(named), "POST {path}: {detail}");
    }

    let patches = [
        (json!({"state": "broken"}), "broken"),
        (json!({"state": "blocked", "reason": "door"}), "reason"),
        (json!({}), "state"),
    ];
    for (body, named) in patches {
        let (status, response) = access
            .admin(Method::PATCH, "/lockers/w3-a-1", Some(body))
            .await;
        assert_eq!(status, unfit, "{response}");
        let detail = response["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{detail}");
    }

    let queries = ["/lockers?stat=blocked", "/lockers?state=broken"];
    for path in queries {
        let (status, response) = access.admin(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "GET {path}: {response}");
    }

    assert_eq!(get_ok(&access, "/lockers").await, lockers_before);
    assert_eq!(get_ok(&access, "/sites").await, sites_before);
}

#[tokio::test]
async fn engine_states_rejected_by_hand() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;
    let before = get_ok(&access, "/lockers/w3-a-1").await;

    for state in ["assigned", "clear_out"] {
        let (status, body) = access
            .admin(
                Method::PATCH,
                "/lockers/w3-a-1",
                Some(json!({"state": state})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{state}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("lifecycle engine"), "{state}: {detail}");
        assert!(detail.contains("\"w3-a-1\""), "{state}: {detail}");
    }
    assert_eq!(get_ok(&access, "/lockers/w3-a-1").await, before);
}

async fn clear_out_returns_only_when_emptied(access: &AccessApp) {
    create_ward(access).await;

    let (status, body) = access
        .admin(Method::POST, "/lockers/w3-a-1/emptied", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not clear_out"),
        "{body}"
    );

    // The lifecycle engine starts clear-outs; no admin route does.
    let tenant = access.app.store.tenant(&access.app.tenant.id);
    tenant
        .begin_clear_out(Actor::System, "w3-a-1")
        .await
        .unwrap();
    assert_eq!(
        get_ok(access, "/lockers/w3-a-1").await["state"],
        "clear_out"
    );

    for state in ["available", "blocked"] {
        let (status, body) = access
            .admin(
                Method::PATCH,
                "/lockers/w3-a-1",
                Some(json!({"state": state})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{state}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("record it emptied"), "{state}: {detail}");
    }
    assert_eq!(
        get_ok(access, "/lockers/w3-a-1").await["state"],
        "clear_out"
    );

    let (status, body) = access
        .admin(
            Method::POST,
            "/lockers/w3-a-1/emptied",
            Some(json!({"note": "two bags to security"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "available");
    assert_eq!(
        get_ok(access, "/lockers/w3-a-1").await["state"],
        "available"
    );

    let records = tenant.audit_records(0, 1_000).await.unwrap();
    let emptied = records
        .iter()
        .find(|r| r.action == "locker_emptied")
        .expect("an emptied record");
    assert_eq!(emptied.subject, "w3-a-1");
    assert_eq!(emptied.detail["note"], "two bags to security");
    assert!(matches!(emptied.actor, Actor::Admin(_)));
}

#[tokio::test]
async fn clear_out_returns_only_when_emptied_sqlite() {
    clear_out_returns_only_when_emptied(&AccessApp::spawn().await).await;
}

#[tokio::test]
async fn clear_out_returns_only_when_emptied_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    clear_out_returns_only_when_emptied(&AccessApp::with(app).await).await;
}

#[tokio::test]
async fn unknown_locker_is_not_found() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;
    let requests = [
        (Method::GET, "/lockers/w3-a-404", None),
        (
            Method::PATCH,
            "/lockers/w3-a-404",
            Some(json!({"state": "blocked"})),
        ),
        (Method::POST, "/lockers/w3-a-404/emptied", Some(json!({}))),
        (Method::DELETE, "/lockers/w3-a-404", None),
    ];
    for (method, path, body) in requests {
        let (status, response) = access.admin(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {response}");
        let detail = response["detail"].as_str().unwrap();
        assert!(detail.contains("\"w3-a-404\""), "{method} {path}: {detail}");
    }
}

#[tokio::test]
async fn lockers_list_in_door_order_by_page() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;
    for door in 3..=12 {
        let body = json!({"id": format!("w3-a-{door}"), "bank": "w3-a", "door": door.to_string(),
                          "kind": "personal", "size": "small"});
        let (status, response) = access.admin(Method::POST, "/lockers", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{response}");
    }
    let door_ids = |range: std::ops::RangeInclusive<u32>| -> Vec<String> {
        range.map(|door| format!("w3-a-{door}")).collect()
    };

    let all = get_ok(&access, "/lockers").await;
    assert_eq!(ids(&all), door_ids(1..=12));
    let first = get_ok(&access, "/lockers?limit=5").await;
    assert_eq!(ids(&first), door_ids(1..=5));
    let second = get_ok(&access, "/lockers?after=w3-a-5&limit=5").await;
    assert_eq!(ids(&second), door_ids(6..=10));
    let last = get_ok(&access, "/lockers?after=w3-a-10&limit=5").await;
    assert_eq!(ids(&last), door_ids(11..=12));

    let (status, body) = access.admin(Method::GET, "/lockers?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = access
        .admin(Method::GET, "/lockers?after=w3-z-1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn lockers_filter_names_unknown_place() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;

    let (status, body) = access.admin(Method::GET, "/lockers?bank=w3-z", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("w3-z"), "{body}");
    let (status, body) = access.admin(Method::GET, "/lockers?zone=w9", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("w9"), "{body}");

    // A known bank with no match is an empty list, not an error.
    let none = get_ok(&access, "/lockers?bank=w3-a&state=clear_out").await;
    assert!(ids(&none).is_empty(), "{none}");
    let both = get_ok(&access, "/lockers?zone=w3").await;
    assert_eq!(ids(&both), ["w3-a-1", "w3-a-2"]);
}

#[tokio::test]
async fn delete_removes_locker() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;
    let (status, body) = access.admin(Method::DELETE, "/lockers/w3-a-2", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(ids(&get_ok(&access, "/lockers").await), ["w3-a-1"]);
    // The door is free again.
    let (status, body) = access
        .admin(
            Method::POST,
            "/lockers",
            Some(json!({"id": "w3-a-2b", "bank": "w3-a", "door": "2", "kind": "flex", "size": "small"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn tenants_are_isolated() {
    let access = AccessApp::spawn().await;
    create_ward(&access).await;
    let (_, _, other) = access.app.add_tenant("north-clinic").await;
    let (_, other_token) = access
        .app
        .store
        .create_admin_token(&other.id)
        .await
        .unwrap();
    let other_token = other_token.expose().to_string();
    let first = "/admin/v1/tenants/st-marys";
    let second = "/admin/v1/tenants/north-clinic";

    // The other tenant's token on this tenant's routes.
    let requests = [
        (Method::GET, format!("{first}/lockers"), None),
        (Method::GET, format!("{first}/lockers/w3-a-1"), None),
        (Method::GET, format!("{first}/sites"), None),
        (
            Method::POST,
            format!("{first}/sites"),
            Some(json!({"id": "intruder", "name": "Intruder"})),
        ),
        (
            Method::PATCH,
            format!("{first}/lockers/w3-a-1"),
            Some(json!({"state": "blocked"})),
        ),
        (
            Method::POST,
            format!("{first}/import"),
            Some(json!({"sites": []})),
        ),
    ];
    for (method, path, body) in requests {
        let (status, response) = access.call(method.clone(), &path, &other_token, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {response}"
        );
    }
    assert_eq!(ids(&get_ok(&access, "/sites").await), ["main"]);
    assert_eq!(
        get_ok(&access, "/lockers/w3-a-1").await["state"],
        "available"
    );

    // The other tenant builds its own model, reusing an id of this one.
    let import = json!({"sites": [{"id": "main", "name": "Clinic", "zones": [
        {"id": "reception", "name": "Reception", "banks": [
            {"id": "r1", "name": "Reception bank", "doors": "1-3", "kind": "delivery", "size": "small"}
        ]}
    ]}]});
    let (status, body) = access
        .call(
            Method::POST,
            &format!("{second}/import"),
            &other_token,
            Some(import),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // This tenant's token cannot read them, and its own lists leave them out.
    let (status, _) = access
        .call(
            Method::GET,
            &format!("{second}/lockers"),
            &access.admin_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = access.admin(Method::GET, "/lockers/r1-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        ids(&get_ok(&access, "/lockers").await),
        ["w3-a-1", "w3-a-2"]
    );
    let sites = get_ok(&access, "/sites").await;
    assert_eq!(sites[0]["name"], "Main campus");
}

fn hospital_document(extra_lockers: Value) -> Value {
    json!({"sites": [{"id": "main", "name": "Main campus", "zones": [
        {"id": "w3", "name": "Ward 3", "banks": [
            {"id": "w3-a", "name": "Staff room A", "doors": "1-10", "kind": "personal", "size": "medium",
             "lockers": extra_lockers}
        ]},
        {"id": "er", "name": "Emergency", "banks": [
            {"id": "er-a", "name": "Changing room", "doors": "1-6", "kind": "flex", "size": "small"}
        ]}
    ]}]})
}

async fn import_is_all_or_nothing(access: &AccessApp) {
    let bad = hospital_document(json!([
        {"id": "w3-a-big", "door": "11", "size": "large"},
        {"id": "w3-a-odd", "door": "12", "kind": "gigantic"},
        {"id": "w3-a-dup", "door": "3"}
    ]));
    let (status, body) = access.admin(Method::POST, "/import", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let problems = body["problems"].as_array().expect("a problem list");
    let rows: Vec<&str> = problems
        .iter()
        .map(|p| p["row"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "sites[0].zones[0].banks[0].lockers[1]",
            "sites[0].zones[0].banks[0].lockers[2]",
        ],
        "{body}"
    );
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("\"gigantic\"")
    );
    assert!(
        problems[1]["message"]
            .as_str()
            .unwrap()
            .contains("door \"3\"")
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was imported")
    );
    assert_eq!(get_ok(access, "/sites").await, json!([]));
    assert_eq!(get_ok(access, "/lockers").await, json!([]));

    let good = hospital_document(json!([{"id": "w3-a-big", "door": "11", "size": "large"}]));
    let (status, body) = access
        .admin(Method::POST, "/import", Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"sites": 1, "zones": 2, "banks": 2, "lockers": 17})
    );
    let lockers = get_ok(access, "/lockers?zone=er").await;
    assert_eq!(lockers.as_array().unwrap().len(), 6);
    assert_eq!(lockers[0]["kind"], "flex");
    let big = get_ok(access, "/lockers/w3-a-big").await;
    assert_eq!(big["kind"], "personal");
    assert_eq!(big["size"], "large");

    // The same document again only repeats ids, so it is a conflict.
    let (status, body) = access.admin(Method::POST, "/import", Some(good)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // One site, two zones, two banks, and the id and door of 17 lockers.
    assert_eq!(body["problems"].as_array().unwrap().len(), 39, "{body}");
    let lockers = get_ok(access, "/lockers").await;
    assert_eq!(lockers.as_array().unwrap().len(), 17);
}

#[tokio::test]
async fn import_is_all_or_nothing_sqlite() {
    import_is_all_or_nothing(&AccessApp::spawn().await).await;
}

#[tokio::test]
async fn import_is_all_or_nothing_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    import_is_all_or_nothing(&AccessApp::with(app).await).await;
}

#[tokio::test]
async fn import_rejects_unknown_fields() {
    let access = AccessApp::spawn().await;
    let document = json!({"sites": [{"id": "main", "name": "Main", "zones": [
        {"id": "w3", "name": "Ward 3", "floor": 3}
    ]}]});
    let (status, body) = access.admin(Method::POST, "/import", Some(document)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("floor"), "{body}");
    assert_eq!(get_ok(&access, "/sites").await, json!([]));
}
