//! One server per database: a second claim fails and names the holder,
//! and the claim is free again once the holder releases it.

use std::time::Duration;

use lockgate_store::{Store, StoreError, StoreOptions};

/// Claims `first`'s database from `second` while `first` has it, checks
/// the error, then releases and claims again.
async fn second_claim_fails(first: &Store, second: &Store, holder_detail: &str) {
    let claim = first.claim_server(Duration::ZERO).await.unwrap();

    let rejected = second.claim_server(Duration::from_millis(300)).await;
    let Err(StoreError::Conflict(message)) = rejected else {
        panic!("expected a conflict, got {:?}", rejected.map(|_| ()).err());
    };
    assert!(
        message.contains("another Lockgate server already serves this database"),
        "{message}"
    );
    let pid = format!("pid {}", std::process::id());
    assert!(message.contains(&pid), "{message}");
    assert!(message.contains(holder_detail), "{message}");
    assert!(message.contains("--database-url"), "{message}");

    claim.release().await;
    let again = second.claim_server(Duration::from_secs(3)).await.unwrap();
    again.release().await;
}

#[tokio::test]
async fn second_sqlite_claim_fails() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::sqlite_in_dir(dir.path());
    let first = Store::connect(&options).await.unwrap();
    let second = Store::connect(&options).await.unwrap();
    second_claim_fails(&first, &second, "lockgate.db.server-lock").await;

    // A dropped claim is released too, as at the end of a process.
    let claim = first.claim_server(Duration::ZERO).await.unwrap();
    drop(claim);
    let again = second.claim_server(Duration::ZERO).await.unwrap();
    again.release().await;
}

#[tokio::test]
async fn second_postgres_claim_fails() {
    let Ok(admin_url) = std::env::var("LOCKGATE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "LOCKGATE_TEST_POSTGRES_URL must be set in CI; scripts/test starts PostgreSQL"
        );
        eprintln!("skipped: LOCKGATE_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("lockgate_claim_{}", std::process::id());
    Store::admin_execute(&admin_url, &format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    Store::admin_execute(&admin_url, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let options = StoreOptions::new(format!("{base}/{name}"));
    let first = Store::connect(&options).await.unwrap();
    let second = Store::connect(&options).await.unwrap();
    second_claim_fails(&first, &second, "connected from").await;

    // The claim is per database: another database on the same server can
    // be claimed while this one is held.
    let held = first.claim_server(Duration::ZERO).await.unwrap();
    let other_name = format!("{name}_other");
    Store::admin_execute(&admin_url, &format!("DROP DATABASE IF EXISTS {other_name}"))
        .await
        .unwrap();
    Store::admin_execute(&admin_url, &format!("CREATE DATABASE {other_name}"))
        .await
        .unwrap();
    let other = Store::connect(&StoreOptions::new(format!("{base}/{other_name}")))
        .await
        .unwrap();
    let other_claim = other.claim_server(Duration::ZERO).await.unwrap();
    other_claim.release().await;
    held.release().await;
}
