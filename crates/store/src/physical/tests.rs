//! The physical model against a real SQLite file.

use lockgate_domain::Slug;
use lockgate_domain::access::model::{LockerKind, LockerState};
use lockgate_domain::audit::Actor;
use serde_json::json;

use super::*;
use crate::{Store, StoreOptions};

async fn tenant_store() -> (TenantStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .unwrap();
    let tenant = store
        .create_tenant(&Slug::parse("st-marys").unwrap())
        .await
        .unwrap();
    (store.tenant(&tenant.id), dir)
}

fn admin() -> Actor {
    Actor::Admin("test-admin".into())
}

fn document(value: serde_json::Value) -> PhysicalImport {
    serde_json::from_value::<PhysicalDocument>(value)
        .unwrap()
        .into_import()
}

fn ward_three() -> PhysicalImport {
    document(
        json!({"sites": [{"id": "main", "name": "Main campus", "zones": [
            {"id": "w3", "name": "Ward 3", "banks": [
                {"id": "w3-a", "name": "Staff room A", "doors": "1-4", "kind": "personal", "size": "medium"}
            ]}
        ]}]}),
    )
}

async fn locker_count(tenant: &TenantStore) -> usize {
    tenant
        .list_lockers(&LockerFilter::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn import_writes_hierarchy() {
    let (tenant, _dir) = tenant_store().await;
    let summary = tenant.import_physical(admin(), ward_three()).await.unwrap();
    assert_eq!(
        summary,
        ImportSummary {
            sites: 1,
            zones: 1,
            banks: 1,
            lockers: 4
        }
    );
    assert_eq!(
        summary.to_string(),
        "imported 1 site, 1 zone, 1 bank, 4 lockers"
    );

    let indexed = tenant.lockers_for_index().await.unwrap();
    assert_eq!(indexed.len(), 4);
    let first = &indexed[0];
    assert_eq!(first.locker.id.as_str(), "w3-a-1");
    assert_eq!(first.locker.bank.as_str(), "w3-a");
    assert_eq!(first.locker.zone.as_str(), "w3");
    assert_eq!(first.locker.site.as_str(), "main");
    assert_eq!(first.locker.kind, LockerKind::Personal);
    assert_eq!(first.locker.state, LockerState::Available);
    assert_eq!(first.door, "1");

    let actions: Vec<String> = tenant
        .audit_records(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.action)
        .collect();
    assert_eq!(actions.first().map(String::as_str), Some("site_created"));
    assert_eq!(
        actions.last().map(String::as_str),
        Some("physical_imported")
    );
    let created = actions.iter().filter(|a| *a == "locker_created").count();
    assert_eq!(created, 4);
}

#[tokio::test]
async fn import_reports_every_problem() {
    let (tenant, _dir) = tenant_store().await;
    let import = document(json!({"sites": [{"id": "main", "name": "Main", "zones": [
        {"id": "w3", "name": "Ward 3", "banks": [
            {"id": "w3-a", "name": "A", "kind": "personal", "size": "medium", "lockers": [
                {"door": "1"},
                {"door": "2", "kind": "gigantic"},
                {"door": "1", "id": "other"},
                {"door": "bad door", "id": "w3-a-x"}
            ]}
        ]},
        {"id": "w4", "name": "", "banks": []}
    ]}]}));

    let Err(ImportError::Rejected(problems)) = tenant.import_physical(admin(), import).await else {
        panic!("an import with bad rows is rejected");
    };
    let rows: Vec<&str> = problems.iter().map(|p| p.row.as_str()).collect();
    assert_eq!(
        rows,
        vec![
            "sites[0].zones[0].banks[0].lockers[1]",
            "sites[0].zones[0].banks[0].lockers[2]",
            "sites[0].zones[0].banks[0].lockers[3]",
            "sites[0].zones[1]",
        ],
        "{problems:?}"
    );
    assert!(problems[0].message.contains("\"gigantic\""));
    assert!(problems[1].message.contains("door \"1\""));
    assert_eq!(problems[1].kind, ProblemKind::Conflict);
    assert!(problems[2].message.contains("\"bad door\""));
    assert!(problems[3].message.contains("empty name"));

    assert!(tenant.list_sites().await.unwrap().is_empty());
    assert_eq!(locker_count(&tenant).await, 0);
    assert!(tenant.audit_records(0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_default_of_door_range_reported_once() {
    let (tenant, _dir) = tenant_store().await;
    let import = document(json!({"sites": [{"id": "main", "name": "Main", "zones": [
        {"id": "w3", "name": "Ward 3", "banks": [
            {"id": "w3-a", "name": "A", "doors": "1-50", "kind": "personal", "size": "tiny"}
        ]}
    ]}]}));

    let Err(ImportError::Rejected(problems)) = tenant.import_physical(admin(), import).await else {
        panic!("an import with a bad size is rejected");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].row, "sites[0].zones[0].banks[0].doors");
    assert!(problems[0].message.contains("\"tiny\""), "{problems:?}");
    assert_eq!(locker_count(&tenant).await, 0);
}

#[tokio::test]
async fn import_adds_to_existing_by_reference() {
    let (tenant, _dir) = tenant_store().await;
    tenant.import_physical(admin(), ward_three()).await.unwrap();

    let again = tenant.import_physical(admin(), ward_three()).await;
    let Err(ImportError::Rejected(problems)) = again else {
        panic!("a repeated import is rejected: {again:?}");
    };
    assert!(
        problems[0].message.contains("site \"main\" already exists"),
        "{problems:?}"
    );
    let locker_taken = problems
        .iter()
        .find(|p| p.message.starts_with("locker \"w3-a-1\""))
        .expect("a problem for locker w3-a-1");
    assert_eq!(
        locker_taken.message,
        "locker \"w3-a-1\" already exists; choose another id"
    );
    assert_eq!(
        problems.len(),
        11,
        "site, zone, bank, and the id and door of four lockers: {problems:?}"
    );

    let more = document(json!({"sites": [{"id": "main", "zones": [
        {"id": "w3", "banks": [
            {"id": "w3-b", "name": "Staff room B", "doors": "1-2", "kind": "flex", "size": "small"}
        ]}
    ]}]}));
    let summary = tenant.import_physical(admin(), more).await.unwrap();
    assert_eq!((summary.sites, summary.zones, summary.banks), (0, 0, 1));
    assert_eq!(locker_count(&tenant).await, 6);

    let records = tenant.audit_records(0, 1_000).await.unwrap().len();
    let references = document(json!({"sites": [{"id": "main", "zones": [{"id": "w3"}]}]}));
    let summary = tenant.import_physical(admin(), references).await.unwrap();
    assert_eq!(summary, ImportSummary::default());
    let records_after = tenant.audit_records(0, 1_000).await.unwrap().len();
    assert_eq!(
        records_after, records,
        "a no-op import writes no audit record"
    );

    let moved = document(json!({"sites": [
        {"id": "north", "name": "North", "zones": [{"id": "w3", "banks": []}]}
    ]}));
    let Err(ImportError::Rejected(problems)) = tenant.import_physical(admin(), moved).await else {
        panic!("a zone of another site is rejected");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .message
            .contains("belongs to site \"main\", not \"north\""),
        "{problems:?}"
    );
}

#[tokio::test]
async fn single_creates_map_errors() {
    let (tenant, _dir) = tenant_store().await;
    let site = NewSite {
        id: "main".into(),
        name: " Main campus ".into(),
    };
    let created = tenant.create_site(admin(), site.clone()).await.unwrap();
    assert_eq!(created.name, "Main campus");
    let duplicate = tenant.create_site(admin(), site).await;
    assert!(
        matches!(&duplicate, Err(StoreError::Conflict(m)) if m.contains("\"main\"")),
        "{duplicate:?}"
    );
    let orphan = tenant
        .create_zone(
            admin(),
            NewZone {
                id: "w3".into(),
                site: "nowhere".into(),
                name: "Ward 3".into(),
            },
        )
        .await;
    assert!(
        matches!(&orphan, Err(StoreError::Invalid(m)) if m.contains("\"nowhere\"")),
        "{orphan:?}"
    );
}

/// Opens an assignment on `locker` the way the lifecycle engine stores one.
async fn open_assignment(tenant: &TenantStore, locker: &str) {
    sqlx::query(
        "INSERT INTO assignments (tenant_id, id, locker_id, user_id, policy_id, starts_at) \
         VALUES ($1, $2, $3, 'u-1', 'p-1', '2026-01-01T00:00:00.000Z')",
    )
    .bind(&tenant.tenant_id)
    .bind(format!("a-{locker}"))
    .bind(locker)
    .execute(&tenant.store.writer)
    .await
    .unwrap();
}

#[tokio::test]
async fn state_rules_hold() {
    let (tenant, _dir) = tenant_store().await;
    tenant.import_physical(admin(), ward_three()).await.unwrap();

    let assigned = tenant
        .set_locker_state(admin(), "w3-a-1", LockerState::Assigned)
        .await;
    assert!(
        matches!(&assigned, Err(StoreError::Invalid(m)) if m.contains("lifecycle engine")),
        "{assigned:?}"
    );
    let blocked = tenant
        .set_locker_state(admin(), "w3-a-1", LockerState::Blocked)
        .await
        .unwrap();
    assert_eq!(blocked.state, LockerState::Blocked);

    let not_waiting = tenant
        .mark_emptied(admin(), "w3-a-2", None, LockerState::Available)
        .await;
    assert!(
        matches!(&not_waiting, Err(StoreError::Conflict(m)) if m.contains("not clear_out")),
        "{not_waiting:?}"
    );

    tenant
        .begin_clear_out(Actor::System, "w3-a-2")
        .await
        .unwrap();
    let by_hand = tenant
        .set_locker_state(admin(), "w3-a-2", LockerState::Available)
        .await;
    assert!(
        matches!(&by_hand, Err(StoreError::Conflict(m)) if m.contains("record it emptied")),
        "{by_hand:?}"
    );
    let note = Some("bag to security".to_string());
    let emptied = tenant
        .mark_emptied(admin(), "w3-a-2", note, LockerState::Available)
        .await
        .unwrap();
    assert_eq!(emptied.state, LockerState::Available);
    let last = tenant.audit_records(0, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "locker_emptied");
    assert_eq!(last.detail["note"], "bag to security");
    assert_eq!(last.detail["to"], "available");

    // A locker to be taken out of service is emptied straight into a
    // state the engine does not assign from. The engine's own states are
    // rejected as targets.
    tenant
        .begin_clear_out(Actor::System, "w3-a-2")
        .await
        .unwrap();
    for engine_state in [LockerState::Assigned, LockerState::ClearOut] {
        let rejected = tenant
            .mark_emptied(admin(), "w3-a-2", None, engine_state)
            .await;
        assert!(
            matches!(&rejected, Err(StoreError::Invalid(m)) if m.contains("cannot be set by hand")),
            "{rejected:?}"
        );
    }
    let blocked = tenant
        .mark_emptied(admin(), "w3-a-2", None, LockerState::Blocked)
        .await
        .unwrap();
    assert_eq!(blocked.state, LockerState::Blocked);
    let last = tenant.audit_records(0, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "locker_emptied");
    assert_eq!(last.detail["to"], "blocked");

    let missing = tenant
        .set_locker_state(admin(), "w3-a-99", LockerState::Blocked)
        .await;
    assert!(
        matches!(&missing, Err(StoreError::NotFound(m)) if m.contains("\"w3-a-99\"")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn open_assignment_blocks_available_and_delete() {
    let (tenant, _dir) = tenant_store().await;
    tenant.import_physical(admin(), ward_three()).await.unwrap();
    tenant
        .set_locker_state(admin(), "w3-a-3", LockerState::Maintenance)
        .await
        .unwrap();
    open_assignment(&tenant, "w3-a-3").await;

    let available = tenant
        .set_locker_state(admin(), "w3-a-3", LockerState::Available)
        .await;
    assert!(
        matches!(&available, Err(StoreError::Conflict(m)) if m.contains("open assignment")),
        "{available:?}"
    );
    let deleted = tenant.delete_locker(admin(), "w3-a-3").await;
    assert!(
        matches!(&deleted, Err(StoreError::Conflict(m)) if m.contains("open assignment")),
        "{deleted:?}"
    );
    let stored = tenant.get_locker("w3-a-3").await.unwrap().unwrap();
    assert_eq!(stored.state, LockerState::Maintenance);

    tenant.delete_locker(admin(), "w3-a-4").await.unwrap();
    assert!(tenant.get_locker("w3-a-4").await.unwrap().is_none());
}

#[tokio::test]
async fn large_import_is_one_transaction() {
    let (tenant, _dir) = tenant_store().await;
    let banks: Vec<serde_json::Value> = (0..30)
        .map(|b| {
            json!({"id": format!("b{b}"), "name": format!("Bank {b}"), "doors": "1-100",
                   "kind": "flex", "size": "small"})
        })
        .collect();
    let import = document(json!({"sites": [{"id": "main", "name": "Main", "zones": [
        {"id": "z", "name": "Zone", "banks": banks}
    ]}]}));
    let summary = tenant.import_physical(admin(), import).await.unwrap();
    assert_eq!(summary.lockers, 3000);
    assert_eq!(locker_count(&tenant).await, 3000);
    let filter = LockerFilter {
        bank: Some("b7".into()),
        ..LockerFilter::default()
    };
    assert_eq!(tenant.list_lockers(&filter).await.unwrap().len(), 100);
}
