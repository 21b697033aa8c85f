//! A server that loses its claim on a PostgreSQL database to another
//! server stops, rather than serve beside it.

use std::time::Duration;

use lockgate_server::{App, ServerConfig};
use lockgate_store::{Store, StoreOptions};
use sqlx::Connection;

use crate::common::postgres_database;

#[tokio::test]
async fn server_stops_when_claim_taken() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let store = Store::connect(&StoreOptions::new(url.clone()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = format!("http://{}/healthz", listener.local_addr().unwrap());
    let config = ServerConfig {
        claim_check_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = tokio::spawn(App::new(store, config).serve(listener, std::future::pending()));
    let client = reqwest::Client::new();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let holder = loop {
        if let Some(pid) = claim_holder(&mut admin).await {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(client.get(&health).send().await.unwrap().status(), 200);

    // Another server waits for the lock, and gets it when the serving
    // server's claim connection ends.
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SELECT set_config('application_name', 'other server', false)")
        .execute(&mut other)
        .await
        .unwrap();
    let waiter = tokio::spawn(async move {
        sqlx::query("SELECT pg_advisory_lock(2, 0)")
            .execute(&mut other)
            .await
            .unwrap();
        other
    });
    while !lock_awaited(&mut admin).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(holder)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended);
    let _other = waiter.await.unwrap();

    let stopped = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("the server stopped")
        .unwrap();
    let message = stopped
        .expect_err("the server reports the lost claim")
        .to_string();
    assert!(message.contains("other server"), "{message}");
    assert!(message.contains("another Lockgate server"), "{message}");
    assert!(client.get(&health).send().await.is_err());
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
