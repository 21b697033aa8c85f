//! Copying SQLite's write-ahead log into the database file.
//!
//! A passive checkpoint on a reader connection copies the log alongside the
//! writes, on another core. Alone it never let SQLite start the log over,
//! because the log was never fully copied at the moment a write began. The
//! log grew to 12 GB while a tenant of 100,000 users was provisioned. So
//! once the log passes [`WAL_SIZE_LIMIT`], a `RESTART` checkpoint runs as a
//! job on the write thread, between write transactions.

use sqlx::Row;

use crate::{Backend, Store, StoreError};

/// Size the WAL file is cut back to when SQLite starts it over.
pub(crate) const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Busy timeout of every connection, in milliseconds.
pub(crate) const BUSY_TIMEOUT_MS: u32 = 10_000;

/// How long a checkpoint waits for readers of the old log. Writes queue
/// behind it, so it gives up early and tries again a second later.
const READER_WAIT_MS: u32 = 100;

/// Page size of Lockgate's SQLite files (SQLite's default).
const PAGE_SIZE: i64 = 4096;

impl Store {
    /// Runs a passive checkpoint, then a `RESTART` one on the write thread
    /// when the log is longer than [`WAL_SIZE_LIMIT`].
    pub(crate) async fn checkpoint_if_long(&self) -> Result<(), StoreError> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.reader)
            .await?;
        let frames: i64 = row.try_get(1)?;
        if frames * PAGE_SIZE > WAL_SIZE_LIMIT {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// Copies the whole log into the database file and, once no reader
    /// uses the log, lets the next write start it over from the beginning
    /// (`RESTART`). Does nothing on PostgreSQL.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        self.run_alone(|| async {
            crate::lite::execute_plain(&format!("PRAGMA busy_timeout = {READER_WAIT_MS}"))?;
            let checkpointed = crate::lite::execute_plain("PRAGMA wal_checkpoint(RESTART)");
            crate::lite::execute_plain(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"))?;
            checkpointed?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use crate::{LogEntry, Store, StoreOptions};

    fn entry(n: usize) -> LogEntry {
        LogEntry {
            seq: 0,
            tenant_id: "t".into(),
            request_id: format!("r{n}"),
            method: "POST".into(),
            path: "/Users".into(),
            operation: "create".into(),
            resource_type: Some("User".into()),
            resource_id: Some(format!("u{n}")),
            status: 201,
            outcome: "success".into(),
            scim_type: None,
            error: None,
            duration_us: 100,
            at: "2026-12-05T00:00:00Z".into(),
        }
    }

    /// Returns the frames in the log, from a passive checkpoint.
    async fn log_frames(store: &Store) -> i64 {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        row.try_get::<i64, _>(1).unwrap()
    }

    #[tokio::test]
    async fn checkpoint_lets_the_next_write_restart_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::sqlite_in_dir(dir.path());
        let store = Store::connect(&options).await.unwrap();
        let entries: Vec<LogEntry> = (0..3_000).map(entry).collect();
        store.append_provisioning_log(&entries).await.unwrap();
        let before = log_frames(&store).await;
        assert!(before > 50, "the writes filled {before} frames");

        store.checkpoint().await.unwrap();
        store
            .append_provisioning_log(&[entry(9_999)])
            .await
            .unwrap();

        let after = log_frames(&store).await;
        assert!(after < 20, "the log holds {after} frames after a restart");
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(limit, super::WAL_SIZE_LIMIT);
    }
}
