//! One server per database: a second claim fails and names the holder,
//! and the claim is free again once the holder releases it.

use std::time::Duration;

use lockgate_store::{ClaimCheck, Store, StoreError, StoreOptions};

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
    // A released claim leaves an empty lock file, which names no server.
    let lock_file = dir.path().join("lockgate.db.server-lock");
    assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), "");
    let held = first.claim_server(Duration::ZERO).await.unwrap();
    let text = std::fs::read_to_string(&lock_file).unwrap();
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    held.release().await;

    // A dropped claim is released too, as at the end of a process.
    let claim = first.claim_server(Duration::ZERO).await.unwrap();
    drop(claim);
    let again = second.claim_server(Duration::ZERO).await.unwrap();

    // The same file through a symbolic link is the same database.
    let link = tempfile::tempdir().unwrap();
    let linked = link.path().join("data");
    std::os::unix::fs::symlink(dir.path(), &linked).unwrap();
    let third = Store::connect(&StoreOptions::sqlite_in_dir(&linked))
        .await
        .unwrap();
    let rejected = third.claim_server(Duration::ZERO).await;
    assert!(matches!(rejected, Err(StoreError::Conflict(_))));
    again.release().await;
}

/// Creates an empty PostgreSQL database for this test and returns its URL,
/// or `None` when no server is configured (the test command always
/// configures one).
async fn postgres_database(suffix: &str) -> Option<String> {
    let Ok(admin_url) = std::env::var("LOCKGATE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "LOCKGATE_TEST_POSTGRES_URL must be set in CI; scripts/test starts PostgreSQL"
        );
        eprintln!("skipped: LOCKGATE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!("lockgate_claim_{}_{suffix}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        Store::admin_execute(&admin_url, &sql).await.unwrap();
    }
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

#[tokio::test]
async fn second_postgres_claim_fails() {
    let Some(url) = postgres_database("second").await else {
        return;
    };
    let options = StoreOptions::new(url);
    let first = Store::connect(&options).await.unwrap();
    let second = Store::connect(&options).await.unwrap();
    second_claim_fails(&first, &second, "connected from").await;

    // The claim is per database: another database on the same server can
    // be claimed while this one is held.
    let held = first.claim_server(Duration::ZERO).await.unwrap();
    let Some(other_url) = postgres_database("other").await else {
        return;
    };
    let other = Store::connect(&StoreOptions::new(other_url)).await.unwrap();
    let other_claim = other.claim_server(Duration::ZERO).await.unwrap();
    other_claim.release().await;
    held.release().await;
}

/// Returns the backend pid of the session that has the claim, if any.
async fn claim_holder(admin: &mut sqlx::PgConnection) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND classid::bigint = 2 AND objid::bigint = 0 AND objsubid = 2 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_optional(admin)
    .await
    .unwrap()
}

/// Returns whether a session waits for the claim's lock.
async fn lock_awaited(admin: &mut sqlx::PgConnection) -> bool {
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
         AND classid::bigint = 2 AND objid::bigint = 0 AND objsubid = 2",
    )
    .fetch_one(admin)
    .await
    .unwrap();
    waiting > 0
}

/// Ends the session `pid` and waits until its lock is gone.
async fn end_session(admin: &mut sqlx::PgConnection, pid: i32) {
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut *admin)
        .await
        .unwrap();
    assert!(ended);
    for _ in 0..100 {
        if claim_holder(admin).await != Some(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("session {pid} still has the claim");
}

#[tokio::test]
async fn lost_postgres_claim_is_taken_again() {
    use sqlx::Connection;
    let Some(url) = postgres_database("lost").await else {
        return;
    };
    let store = Store::connect(&StoreOptions::new(url.clone()))
        .await
        .unwrap();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut claim = store.claim_server(Duration::ZERO).await.unwrap();
    let first = claim_holder(&mut admin).await.expect("the claim is held");
    assert!(matches!(claim.check(&store).await, ClaimCheck::Held));

    // A dropped connection, as in a database restart. No other session
    // claimed meanwhile, so the check takes the claim again on a new one.
    end_session(&mut admin, first).await;
    assert!(matches!(claim.check(&store).await, ClaimCheck::Held));
    let second = claim_holder(&mut admin)
        .await
        .expect("the claim is held again");
    assert_ne!(second, first);

    // This time another session is waiting for the lock and gets it as
    // soon as the session ends, so the check reports the claim taken.
    let mut waiting = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT set_config('application_name', 'waiting server', false)")
        .execute(&mut waiting)
        .await
        .unwrap();
    let waiter = tokio::spawn(async move {
        sqlx::query("SELECT pg_advisory_lock(2, 0)")
            .execute(&mut waiting)
            .await
            .unwrap();
        waiting
    });
    while !lock_awaited(&mut admin).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    end_session(&mut admin, second).await;
    let _waiting = waiter.await.unwrap();
    match claim.check(&store).await {
        ClaimCheck::Taken(message) => {
            assert!(message.contains("waiting server"), "{message}");
            assert!(message.contains("another Lockgate server"), "{message}");
        }
        other => panic!("expected the claim taken, got {other:?}"),
    }
}
