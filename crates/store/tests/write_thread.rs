//! The SQLite write thread keeps working after a write fails or panics.

use lockgate_domain::Slug;
use lockgate_store::{Store, StoreError, StoreOptions, WriteContext};
use serde_json::json;

fn user(user_name: &str) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": true})
}

#[tokio::test]
async fn panicking_write_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .unwrap();
    let tenant = store
        .create_tenant(&Slug::parse("depot").unwrap())
        .await
        .unwrap();
    let tenant = store.tenant(&tenant.id);
    let ctx = WriteContext::default();
    let id = tenant
        .create_user(&ctx, user("a@lockers.example"))
        .await
        .unwrap()
        .id;

    let result = tenant
        .update_user(
            &ctx,
            &id,
            |_| -> Result<serde_json::Value, lockgate_scim::ScimError> {
                panic!("a bug in a PATCH handler")
            },
        )
        .await;
    assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");

    let later = tenant.create_user(&ctx, user("b@lockers.example")).await;
    assert!(later.is_ok(), "writes go on after a panic: {later:?}");
}

#[tokio::test]
async fn failed_write_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
        .await
        .unwrap();
    let tenant = store
        .create_tenant(&Slug::parse("depot").unwrap())
        .await
        .unwrap();
    let tenant_id = tenant.id.clone();
    let tenant = store.tenant(&tenant.id);
    let ctx = WriteContext::default();
    tenant
        .create_user(&ctx, user("a@lockers.example"))
        .await
        .unwrap();
    let events_before = tenant.events_after(0, 1000).await.unwrap().len();

    // The duplicate fails inside the transaction, after BEGIN was sent.
    let duplicate = tenant.create_user(&ctx, user("A@lockers.example")).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    assert_eq!(
        tenant.events_after(0, 1000).await.unwrap().len(),
        events_before
    );

    // The connection was not left inside the failed transaction.
    let next = store
        .tenant(&tenant_id)
        .create_user(&ctx, user("c@lockers.example"))
        .await;
    assert!(next.is_ok(), "{next:?}");
    assert_eq!(
        tenant.events_after(0, 1000).await.unwrap().len(),
        events_before + 1
    );
}
