//! Filtering, sorting and attribute projection over HTTP (RFC 7644 §3.4.2).
//!
//! Every scenario seeds the same four users, so each case can name its
//! expected result by the users' short names. Scenarios take the `TestApp`
//! they run on, so `postgres.rs` runs them against PostgreSQL too.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ENTERPRISE_URN, GROUP_URN, TestApp, USER_URN};

const ADA: &str = "ada.lovelace@lockers.example";
/// Mixed case on purpose: userName is `caseExact: false`.
const BOB: &str = "Bob.Stone@Lockers.example";
const CLEO: &str = "cleo.park@lockers.example";
const DEV: &str = "dev.rao@other.example";

/// Ids of the seeded users, and a `meta.lastModified` value that Ada and
/// Bob are at or before and Cleo and Dev are after.
pub(crate) struct People {
    pub ada: String,
    pub bob: String,
    pub cleo: String,
    pub dev: String,
    pub cutoff: String,
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, StatusCode::CREATED, "create user: {created}");
    created
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("resource id").to_string()
}

/// Creates Ada and Bob, waits so that later writes get a later millisecond
/// timestamp, then creates Cleo and Dev.
pub(crate) async fn seed_people(app: &TestApp) -> People {
    let ada = create(
        app,
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": ADA,
            "displayName": "Ada Lovelace",
            "externalId": "ext-ada",
            "title": "Engineer",
            "active": true,
            "emails": [
                {"value": "ada@x.example", "type": "work", "primary": true},
                {"value": "ada@home.example", "type": "home"}
            ],
            ENTERPRISE_URN: {"department": "Depot North"}
        }),
    )
    .await;

    let bob = create(
        app,
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": BOB,
            "displayName": "Bob Stone",
            "externalId": "ext-bob",
            "title": "Courier",
            "active": true,
            "emails": [{"value": "BOB@X.example", "type": "work"}],
            ENTERPRISE_URN: {"department": "Depot South"}
        }),
    )
    .await;

    let cutoff = bob["meta"]["lastModified"]
        .as_str()
        .expect("meta.lastModified")
        .to_string();

    // Timestamps have millisecond precision.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cleo = create(
        app,
        json!({
            "schemas": [USER_URN],
            "userName": CLEO,
            "displayName": "Cleo Park",
            "externalId": "EXT-CLEO",
            "active": false,
            "emails": [
                {"value": "cleo@y.example", "type": "work"},
                {"value": "cleo@x.example", "type": "home"}
            ]
        }),
    )
    .await;

    let dev = create(
        app,
        json!({
            "schemas": [USER_URN],
            "userName": DEV,
            "externalId": "ext-dev",
            "title": "Courier",
            "active": true
        }),
    )
    .await;

    People {
        ada: id_of(&ada),
        bob: id_of(&bob),
        cleo: id_of(&cleo),
        dev: id_of(&dev),
        cutoff,
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Runs `GET /Users?filter=...` and returns the matching userNames, sorted,
/// with the response body for assertion messages.
async fn user_names_matching(app: &TestApp, filter: &str) -> (Vec<String>, Value) {
    let (status, body) = app.get(&format!("/Users?filter={}", encode(filter))).await;
    assert_eq!(status, StatusCode::OK, "filter {filter}: {body}");
    let mut names: Vec<String> = body["Resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .map(|r| r["userName"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert_eq!(
        body["totalResults"],
        names.len(),
        "totalResults for filter {filter}: {body}"
    );
    (names, body)
}

/// Checks each `(filter, expected userNames)` case.
async fn check_cases(app: &TestApp, cases: &[(String, Vec<&str>)]) {
    for (filter, expected) in cases {
        let (names, body) = user_names_matching(app, filter).await;
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected, "filter {filter}: {body}");
    }
}

fn case(filter: impl Into<String>, expected: &[&'static str]) -> (String, Vec<&'static str>) {
    (filter.into(), expected.to_vec())
}

/// eq, ne, co, sw, ew, pr, gt, ge, lt and le. String comparisons on
/// userName and displayName ignore case, and so does ordering
/// (RFC 7644 §3.4.2.2).
pub(crate) async fn comparison_operators(app: TestApp) {
    seed_people(&app).await;
    let cases = [
        case(format!("userName eq \"{ADA}\""), &[ADA]),
        case(format!("userName ne \"{ADA}\""), &[BOB, CLEO, DEV]),
        case("displayName co \"love\"", &[ADA]),
        case("userName sw \"bob.\"", &[BOB]),
        case("userName ew \"@other.example\"", &[DEV]),
        case("title pr", &[ADA, BOB, DEV]),
        case("displayName pr", &[ADA, BOB, CLEO]),
        case("userName gt \"BOB.STONE@LOCKERS.EXAMPLE\"", &[CLEO, DEV]),
        case(
            "userName ge \"BOB.STONE@LOCKERS.EXAMPLE\"",
            &[BOB, CLEO, DEV],
        ),
        case("userName lt \"BOB.STONE@LOCKERS.EXAMPLE\"", &[ADA]),
        case("userName le \"BOB.STONE@LOCKERS.EXAMPLE\"", &[ADA, BOB]),
        case("active eq false", &[CLEO]),
        case(
            format!("{ENTERPRISE_URN}:department eq \"Depot North\""),
            &[ADA],
        ),
        case("userName eq \"nobody@lockers.example\"", &[]),
    ];
    check_cases(&app, &cases).await;
    app.stop().await;
}

/// and, or, not and parentheses.
pub(crate) async fn logical_operators(app: TestApp) {
    seed_people(&app).await;
    let cases = [
        case("title eq \"Courier\" and active eq true", &[BOB, DEV]),
        case("userName sw \"ada\" or userName sw \"cleo\"", &[ADA, CLEO]),
        case("not (title pr)", &[CLEO]),
        case(
            "(title eq \"Courier\" or title eq \"Engineer\") and not (userName sw \"dev\")",
            &[ADA, BOB],
        ),
        case(
            "title eq \"Courier\" or title eq \"Engineer\" and active eq false",
            &[BOB, DEV],
        ),
    ];
    check_cases(&app, &cases).await;
    app.stop().await;
}

/// Value paths test each element on its own: Cleo has a work address and
/// an address at x.example, but not one element with both.
pub(crate) async fn value_path_filters(app: TestApp) {
    seed_people(&app).await;
    let cases = [
        case("emails[type eq \"work\" and value co \"@x\"]", &[ADA, BOB]),
        case("emails[type eq \"home\"]", &[ADA, CLEO]),
        case("emails[primary eq true]", &[ADA]),
        case("emails.value co \"@x.example\"", &[ADA, BOB, CLEO]),
        case("emails pr", &[ADA, BOB, CLEO]),
    ];
    check_cases(&app, &cases).await;
    app.stop().await;
}

/// userName and emails.value are `caseExact: false` in the User schema that
/// GET /Schemas returns. id and externalId are `caseExact: true` (RFC 7643 §3.1).
pub(crate) async fn case_sensitivity(app: TestApp) {
    let people = seed_people(&app).await;
    let cases = [
        case("userName eq \"BOB.STONE@LOCKERS.EXAMPLE\"", &[BOB]),
        case("emails.value eq \"bob@x.example\"", &[BOB]),
        case("emails[value eq \"ADA@X.EXAMPLE\"]", &[ADA]),
        case("externalId eq \"ext-cleo\"", &[]),
        case("externalId eq \"EXT-CLEO\"", &[CLEO]),
        case(format!("id eq \"{}\"", people.ada), &[ADA]),
        case(
            format!("id eq \"{}\"", people.ada.to_ascii_uppercase()),
            &[],
        ),
    ];
    check_cases(&app, &cases).await;
    app.stop().await;
}

/// `meta.lastModified` compares as a time, including an offset other than Z.
pub(crate) async fn last_modified_filter(app: TestApp) {
    let people = seed_people(&app).await;
    let cutoff = &people.cutoff;
    let shifted = shift_to_plus_two(cutoff);
    let cases = [
        case(format!("meta.lastModified gt \"{cutoff}\""), &[CLEO, DEV]),
        case(format!("meta.lastModified le \"{cutoff}\""), &[ADA, BOB]),
        case(format!("meta.lastModified gt \"{shifted}\""), &[CLEO, DEV]),
    ];
    check_cases(&app, &cases).await;
    app.stop().await;
}

/// Writes `2026-01-31T08:00:00.123Z` as `2026-01-31T10:00:00.123+02:00`.
fn shift_to_plus_two(timestamp: &str) -> String {
    let format = time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(timestamp, &format).expect("RFC 3339 timestamp");
    let offset = time::UtcOffset::from_hms(2, 0, 0).unwrap();
    at.to_offset(offset).format(&format).unwrap()
}

async fn user_names_in_order(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/Users?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `sortBy` on userName sorts ignoring case because userName is
/// `caseExact: false` (RFC 7644 §3.4.2.3). `sortOrder` defaults to ascending.
pub(crate) async fn sort_by_and_order(app: TestApp) {
    seed_people(&app).await;
    let ascending = user_names_in_order(&app, "sortBy=userName").await;
    assert_eq!(ascending, [ADA, BOB, CLEO, DEV], "sortBy=userName");
    let descending = user_names_in_order(&app, "sortBy=userName&sortOrder=descending").await;
    assert_eq!(
        descending,
        [DEV, CLEO, BOB, ADA],
        "sortBy=userName&sortOrder=descending"
    );
    let by_title =
        user_names_in_order(&app, "filter=title+pr&sortBy=title&sortOrder=ascending").await;
    assert_eq!(
        by_title.last().map(String::as_str),
        Some(ADA),
        "sortBy=title puts Engineer after Courier: {by_title:?}"
    );
    app.stop().await;
}

/// `attributes` and `excludedAttributes` shape the response, but `id` is
/// `returned: always`, so it appears whatever they request (RFC 7643 §7).
pub(crate) async fn projection(app: TestApp) {
    let people = seed_people(&app).await;

    let (status, body) = app.get("/Users?attributes=userName").await;
    assert_eq!(status, StatusCode::OK, "attributes=userName: {body}");
    for resource in body["Resources"].as_array().expect("Resources") {
        assert!(
            resource["id"].is_string(),
            "id with attributes=userName: {resource}"
        );
        assert!(
            resource["userName"].is_string(),
            "userName with attributes=userName: {resource}"
        );
        assert!(
            resource.get("displayName").is_none(),
            "displayName with attributes=userName: {resource}"
        );
        assert!(
            resource.get("emails").is_none(),
            "emails with attributes=userName: {resource}"
        );
    }

    let (status, ada) = app
        .get(&format!("/Users/{}?attributes=emails.value", people.ada))
        .await;
    assert_eq!(status, StatusCode::OK, "attributes=emails.value: {ada}");
    assert_eq!(
        ada["emails"],
        json!([{"value": "ada@x.example"}, {"value": "ada@home.example"}]),
        "emails with attributes=emails.value: {ada}"
    );
    assert!(
        ada["id"].is_string(),
        "id with attributes=emails.value: {ada}"
    );

    let (status, ada) = app
        .get(&format!(
            "/Users/{}?excludedAttributes=emails,displayName",
            people.ada
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "excludedAttributes: {ada}");
    assert!(ada.get("emails").is_none(), "emails when excluded: {ada}");
    assert!(
        ada.get("displayName").is_none(),
        "displayName when excluded: {ada}"
    );
    assert_eq!(ada["userName"], ADA, "userName when not excluded: {ada}");

    let (status, body) = app.get("/Users?excludedAttributes=id").await;
    assert_eq!(status, StatusCode::OK, "excludedAttributes=id: {body}");
    for resource in body["Resources"].as_array().expect("Resources") {
        assert!(
            resource["id"].is_string(),
            "id with excludedAttributes=id: {resource}"
        );
    }
    app.stop().await;
}

/// `members[value eq "ID"]` finds the groups a user is a direct member of.
pub(crate) async fn group_members_filter(app: TestApp) {
    let people = seed_people(&app).await;
    let mut group_ids = Vec::new();
    for (name, members) in [
        ("Bank B Night Shift", vec![&people.ada, &people.bob]),
        ("Bank C Day Shift", vec![&people.cleo]),
    ] {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        let (status, body) = app
            .post(
                "/Groups",
                json!({"schemas": [GROUP_URN], "displayName": name, "members": members}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create group: {body}");
        group_ids.push(id_of(&body));
    }

    for (member, expected) in [
        (&people.ada, vec![group_ids[0].clone()]),
        (&people.bob, vec![group_ids[0].clone()]),
        (&people.cleo, vec![group_ids[1].clone()]),
        (&people.dev, vec![]),
    ] {
        let filter = format!("members[value eq \"{member}\"]");
        let (status, body) = app
            .get(&format!(
                "/Groups?filter={}&excludedAttributes=members",
                encode(&filter)
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "filter {filter}: {body}");
        let found: Vec<String> = body["Resources"]
            .as_array()
            .map(|groups| groups.iter().map(id_of).collect())
            .unwrap_or_default();
        assert_eq!(found, expected, "filter {filter}: {body}");
        let with_members = body["Resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|group| group.get("members").is_some());
        assert!(
            !with_members,
            "members returned despite excludedAttributes=members: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn comparison_operators_match() {
    comparison_operators(TestApp::spawn().await).await;
}

#[tokio::test]
async fn logical_operators_and_grouping() {
    logical_operators(TestApp::spawn().await).await;
}

#[tokio::test]
async fn value_paths_test_each_element() {
    value_path_filters(TestApp::spawn().await).await;
}

#[tokio::test]
async fn case_rules_follow_schema() {
    case_sensitivity(TestApp::spawn().await).await;
}

#[tokio::test]
async fn last_modified_compares_times() {
    last_modified_filter(TestApp::spawn().await).await;
}

#[tokio::test]
async fn sort_by_orders_results() {
    sort_by_and_order(TestApp::spawn().await).await;
}

#[tokio::test]
async fn projection_always_returns_id() {
    projection(TestApp::spawn().await).await;
}

#[tokio::test]
async fn members_filter_finds_groups() {
    group_members_filter(TestApp::spawn().await).await;
}
