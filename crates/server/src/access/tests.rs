//! The index against concurrent reloads, on a real SQLite file, re-reads
//! of users that race with a disable, badge syncs from SCIM, and the
//! denial of a disabled user before any engine pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use lockgate_domain::Slug;
use lockgate_domain::access::model::LockerId;
use lockgate_domain::audit::Actor;
use lockgate_store::{NewBank, NewLocker, NewSite, NewZone, Store, StoreOptions};

use super::Access;

fn admin() -> Actor {
    Actor::Admin("test-admin".into())
}

async fn store_with_bank() -> (Store, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .unwrap();
    let tenant = store
        .create_tenant(&Slug::parse("st-marys").unwrap())
        .await
        .unwrap();
    let physical = store.tenant(&tenant.id);
    physical
        .create_site(
            admin(),
            NewSite {
                id: "main".into(),
                name: "Main".into(),
            },
        )
        .await
        .unwrap();
    physical
        .create_zone(
            admin(),
            NewZone {
                id: "w3".into(),
                site: "main".into(),
                name: "Ward 3".into(),
            },
        )
        .await
        .unwrap();
    physical
        .create_bank(
            admin(),
            NewBank {
                id: "w3-a".into(),
                zone: "w3".into(),
                name: "Staff room".into(),
            },
        )
        .await
        .unwrap();
    (store, tenant.id, dir)
}

/// A reload that read before an admin change committed must not replace the
/// index the admin's own reload built after it, because its stored
/// fingerprint then matches the database and nothing would reload again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_newer_lockers() {
    let (store, tenant_id, _dir) = store_with_bank().await;
    let access = Access::new(store.clone(), Arc::new(AtomicI64::new(0)));
    let tenant = access.tenant(&tenant_id).await.unwrap();

    for door in 1..=200 {
        let stop = Arc::new(AtomicBool::new(false));
        let reloader = {
            let (access, tenant_id, stop) = (access.clone(), tenant_id.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    access.lockers_changed(&tenant_id).await.unwrap();
                }
            })
        };
        let id = format!("w3-a-{door}");
        store
            .tenant(&tenant_id)
            .create_locker(
                admin(),
                NewLocker {
                    id: id.clone(),
                    bank: "w3-a".into(),
                    door: door.to_string(),
                    kind: "personal".into(),
                    size: "medium".into(),
                },
            )
            .await
            .unwrap();
        access.lockers_changed(&tenant_id).await.unwrap();
        stop.store(true, Ordering::Relaxed);
        reloader.await.unwrap();

        assert!(
            tenant.read().lockers.contains_key(&LockerId::new(&id)),
            "locker {id} is missing from the index after a concurrent reload"
        );
    }
}

fn subject_row(id: &str, version: i64) -> lockgate_store::SubjectRow {
    lockgate_store::SubjectRow {
        id: id.to_string(),
        external_id: None,
        user_name: format!("{id}@st-marys.example"),
        display_name: None,
        active: true,
        document: serde_json::json!({"userName": format!("{id}@st-marys.example"), "active": true}),
        version,
    }
}

#[test]
fn reread_applies_same_version_again() {
    let mut index = super::index::TenantIndex::default();
    index.update_user(&subject_row("ana", 3));
    index.badge_attribute = Some("employeeNumber".into());
    let mut row = subject_row("ana", 3);
    row.document["employeeNumber"] = "B-7".into();

    super::reread(&mut index, &[row]);
    assert_eq!(index.users["ana"].scim_badge.as_deref(), Some("B-7"));
}

#[test]
fn reread_keeps_a_newer_disable() {
    let mut index = super::index::TenantIndex::default();
    index.update_user(&subject_row("ana", 3));
    // SCIM disabled the user (version 4) after the reload read version 3.
    index.deactivate("ana", 4, false);

    super::reread(&mut index, &[subject_row("ana", 3)]);
    assert!(!index.users["ana"].subject.active);
}

/// Badge syncs for `ana`, whose SCIM badge is `scim_badge` and who has
/// `enrolled` from the helpdesk: the changes and audit actions.
fn badge_sync(scim_badge: &str, enrolled: &str) -> (usize, Vec<String>) {
    let mut index = super::index::TenantIndex {
        badge_attribute: Some("employeeNumber".into()),
        ..Default::default()
    };
    let mut row = subject_row("ana", 1);
    row.document["employeeNumber"] = scim_badge.into();
    index.update_user(&row);
    index.badges.insert(enrolled.to_string(), "ana".to_string());

    let mut translator = super::translate::Translator::new(time::OffsetDateTime::now_utc());
    translator.sync_badges(&index, ["ana".to_string()].iter());
    let (changes, _) = translator.finish();
    let actions = changes.audit.iter().map(|a| a.action.clone()).collect();
    (changes.badges.len(), actions)
}

#[test]
fn enrolled_badge_from_scim_changes_nothing() {
    // The same number from SCIM: nothing to store, nothing to record, on
    // this pass or after a restart.
    assert_eq!(badge_sync("E-1", "E-1"), (0, vec![]));
    // Another number is stored and recorded.
    let (syncs, actions) = badge_sync("E-2", "E-1");
    assert_eq!(syncs, 1);
    assert_eq!(actions, ["scim_badge_changed"]);
}

/// Builds a tenant whose nurse `ana` (badge B-1) has locker w3-a-1, with
/// the access runtime loaded but its engine not running. Returns the
/// runtime, the store, the tenant and ana's id.
async fn nurse_with_locker() -> (Access, Store, String, String, tempfile::TempDir) {
    use lockgate_scim::resource::MemberRef;
    use lockgate_store::{AuditDraft, PolicyChange, WriteContext};
    use serde_json::json;

    let (store, tenant_id, dir) = store_with_bank().await;
    let tenant = store.tenant(&tenant_id);
    let locker = NewLocker {
        id: "w3-a-1".into(),
        bank: "w3-a".into(),
        door: "1".into(),
        kind: "personal".into(),
        size: "medium".into(),
    };
    tenant.create_locker(admin(), locker).await.unwrap();
    let settings = json!({"badge_attribute": "employeeNumber"});
    let audit = AuditDraft {
        actor: admin(),
        source: None,
        action: "settings_changed".into(),
        subject: "st-marys".into(),
        detail: settings.clone(),
    };
    store
        .set_tenant_settings(&tenant_id, &settings, audit)
        .await
        .unwrap();

    let ctx = WriteContext { request_id: None };
    let user = json!({"userName": "ana@st-marys.example", "active": true, "employeeNumber": "B-1"});
    let user = tenant.create_user(&ctx, user).await.unwrap();
    let member = MemberRef {
        value: user.id.clone(),
        kind: Some("User".into()),
    };
    let group = json!({"displayName": "Nurses", "externalId": "nurses"});
    tenant.create_group(&ctx, group, &[member]).await.unwrap();
    let policy = json!({
        "who": {"groups": ["nurses"]},
        "what": {"banks": ["w3-a"], "kinds": ["personal"]},
        "how": {"mode": "fixed", "auto_assign": true}
    });
    let change = PolicyChange {
        id: "ward".into(),
        document: Some(policy),
        expected_version: None,
        actor: admin(),
    };
    tenant.save_policy(change).await.unwrap();

    // Loading the tenant runs the engine once, which assigns the locker.
    let access = Access::new(store.clone(), Arc::new(AtomicI64::new(0)));
    access.tenant(&tenant_id).await.unwrap();
    (access, store, tenant_id, user.id, dir)
}

async fn tap_b1(access: &Access, tenant_id: &str) -> lockgate_domain::access::decision::Decision {
    let attempt = super::open::OpenAttempt {
        locker: LockerId::new("w3-a-1"),
        presented: super::open::Presented::Badge("B-1".into()),
        actor: Actor::Device("door-1".into()),
        source: "device:w3-a:1".into(),
    };
    access.open(tenant_id, attempt).await.unwrap().decision
}

/// The SCIM routes call `user_disabled` before they respond. With the
/// engine stopped, only that call can turn the next tap into a denial.
#[tokio::test]
async fn disable_denies_before_any_engine_pass() {
    use lockgate_domain::access::decision::{Decision, DenyReason};

    let (access, store, tenant_id, user, _dir) = nurse_with_locker().await;
    assert_eq!(tap_b1(&access, &tenant_id).await, Decision::Allow);

    let ctx = lockgate_store::WriteContext { request_id: None };
    let disabled = store
        .tenant(&tenant_id)
        .update_user(&ctx, &user, |document| {
            let mut document = document.clone();
            document["active"] = false.into();
            Ok(document)
        })
        .await
        .unwrap();
    // The engine has not run, so the stored change alone denies nothing.
    assert_eq!(tap_b1(&access, &tenant_id).await, Decision::Allow);

    access.user_disabled(&tenant_id, &user, disabled.version, false);
    assert_eq!(
        tap_b1(&access, &tenant_id).await,
        Decision::Deny(DenyReason::InactiveUser)
    );
}
