//! Copying SQLite's write-ahead log into the database file.
//!
//! SQLite starts the log over at the beginning of a write transaction when
//! every frame in it has been copied into the database file and no reader
//! still reads from it. A passive checkpoint on a reader connection copies
//! the log alongside the writes. That alone never let SQLite start the log
//! over: under steady writes, frames arrived while each checkpoint ran,
//! and the log grew to 12 GB while a tenant of 100,000 users was
//! provisioned.
//!
//! So once the log passes [`WAL_SIZE_LIMIT`], passive checkpoints run one
//! after another. Each copies what arrived during the one before, and
//! soon one ends before the next write begins. That write starts the log
//! over without the write thread running a checkpoint.
//!
//! Passes run every [`PASS_EVERY`] while writes arrive. Each pass syncs
//! the log before it copies it. A frame is 24 bytes longer than a page,
//! so most frame writes cover part of a page, and ext4 (Linux 6.18,
//! measured) reads such a page first when it is not cached. That read
//! waits behind the sync. On the benchmark's 2-core VM at 20,000 audited
//! opens a second, a pass a second synced about 60 MB of log and stalled
//! writes for 20 to 60 ms. Passes 25 ms apart sync about 1.5 MB each.
//!
//! A `RESTART` checkpoint on the write thread starts the log over at once,
//! but every write waits while it syncs the log and the database file.
//! Under 16,000 audited opens a second it held the write thread for 10 to
//! 30 ms every two seconds, longer than the 99th percentile of a decision.
//! It runs only when the passive checkpoints did not let a write start the
//! log over within [`CATCH_UP_FOR`].

use std::time::{Duration, Instant};

use sqlx::Row;

use crate::{Backend, Store, StoreError};

/// Length of the log past which it is started over.
pub(crate) const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Size the WAL file is cut back to when SQLite starts it over. It is
/// larger than [`WAL_SIZE_LIMIT`], so that a log that grew a little past
/// the limit is not cut, on the write thread, each time it starts over.
pub(crate) const WAL_FILE_LIMIT: i64 = 4 * WAL_SIZE_LIMIT;

/// Busy timeout of every connection, in milliseconds.
pub(crate) const BUSY_TIMEOUT_MS: u32 = 10_000;

/// How long a `RESTART` checkpoint waits for readers of the old log.
/// Writes queue behind it, so it gives up early, and the next check
/// tries again.
const READER_WAIT_MS: u32 = 100;

/// How long passive checkpoints run one after another before a `RESTART`
/// checkpoint starts the log over instead.
const CATCH_UP_FOR: Duration = Duration::from_millis(500);

/// How long a passive checkpoint waits while another connection
/// checkpoints.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(BUSY_TIMEOUT_MS as u64);

/// Time between tries while another connection checkpoints.
const BUSY_RETRY_EVERY: Duration = Duration::from_millis(2);

/// Page size of Lockgate's SQLite files (SQLite's default).
const PAGE_SIZE: i64 = 4096;

/// Time between passes while writes arrive.
pub(crate) const PASS_EVERY: Duration = Duration::from_millis(25);

/// Time between passes once a pass found no new frames.
pub(crate) const IDLE_PASS_EVERY: Duration = Duration::from_secs(1);

/// The outcome of [`Store::checkpoint_if_longer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogCheck {
    /// The log, `log` frames long, was no longer than the limit; it was
    /// copied.
    Short { log: i64 },
    /// The log was copied while writes went on, and a write started it
    /// over.
    StartedOver,
    /// The whole log, `log` frames long, was copied, and no write came
    /// during the last pass. A write transaction that begins after the
    /// pass starts the log over, unless a reader still reads it.
    Copied { log: i64 },
    /// No write started the log over in time, so a `RESTART` checkpoint
    /// ran on the write thread.
    Restarted,
}

/// Frames in the log after a passive checkpoint, and how many of them are
/// in the database file.
#[derive(Debug, Clone, Copy)]
struct Pass {
    log: i64,
    copied: i64,
}

impl LogCheck {
    /// Frames in the log after the check, where the check counted them.
    fn log(self) -> Option<i64> {
        match self {
            LogCheck::Short { log } | LogCheck::Copied { log } => Some(log),
            LogCheck::StartedOver | LogCheck::Restarted => None,
        }
    }

    /// Returns whether no write came since `before`, the check before this
    /// one. Under steady writes two passes in a row often find the same log,
    /// so a `Copied` check alone does not mean the writes stopped.
    pub(crate) fn idle_since(self, before: Option<LogCheck>) -> bool {
        self.log().is_some() && self.log() == before.and_then(LogCheck::log)
    }
}

impl Store {
    /// Copies the log into the database file, and once the log is longer
    /// than [`WAL_SIZE_LIMIT`], makes sure that it starts over.
    pub(crate) async fn checkpoint_if_long(&self) -> Result<LogCheck, StoreError> {
        self.checkpoint_if_longer(WAL_SIZE_LIMIT).await
    }

    /// Copies the log, and once it is longer than `limit` bytes, runs
    /// passive checkpoints one after another until a write starts it over.
    pub(crate) async fn checkpoint_if_longer(&self, limit: i64) -> Result<LogCheck, StoreError> {
        let mut pass = self.passive_checkpoint().await?;
        if pass.log * PAGE_SIZE <= limit {
            return Ok(LogCheck::Short { log: pass.log });
        }
        let started = Instant::now();
        while started.elapsed() < CATCH_UP_FOR {
            let before = pass;
            pass = self.passive_checkpoint().await?;
            if pass.log < before.log {
                return Ok(LogCheck::StartedOver);
            }
            if pass.log == before.log && pass.copied == pass.log {
                return Ok(LogCheck::Copied { log: pass.log });
            }
        }
        self.checkpoint().await?;
        Ok(LogCheck::Restarted)
    }

    /// Copies what it can of the log on a reader connection without
    /// waiting for readers or writers.
    ///
    /// A passive checkpoint does not wait while another connection
    /// checkpoints, such as a `RESTART` on the write thread or another
    /// Lockgate process. The pragma then returns busy and -1 for both counts
    /// (measured), which would read as a log that started over, so the pass
    /// is tried again.
    async fn passive_checkpoint(&self) -> Result<Pass, StoreError> {
        let started = Instant::now();
        loop {
            let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&self.reader)
                .await?;
            let busy: i64 = row.try_get(0)?;
            let log: i64 = row.try_get(1)?;
            if busy == 0 || log >= 0 {
                return Ok(Pass {
                    log,
                    copied: row.try_get(2)?,
                });
            }
            if started.elapsed() >= CHECKPOINT_WAIT {
                return Err(StoreError::Internal(format!(
                    "timed out after {} ms waiting for another connection's SQLite checkpoint; \
                     check for a stuck Lockgate process on the same database file",
                    CHECKPOINT_WAIT.as_millis()
                )));
            }
            tokio::time::sleep(BUSY_RETRY_EVERY).await;
        }
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
    use sqlx::{Connection, Executor};

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

    /// Opens a store in a new temporary directory, which lives as long as
    /// the returned handle.
    async fn open_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .unwrap();
        (store, dir)
    }

    /// Returns the frames in the log, from a passive checkpoint.
    async fn log_frames(store: &Store) -> i64 {
        store.passive_checkpoint().await.unwrap().log
    }

    /// Appends one entry and returns the frames in the log after it.
    async fn frames_after_a_write(store: &Store) -> i64 {
        store
            .append_provisioning_log(&[entry(9_999)])
            .await
            .unwrap();
        log_frames(store).await
    }

    #[test]
    fn idle_since_needs_an_unchanged_log() {
        use super::LogCheck::{Copied, Restarted, Short, StartedOver};
        assert!(Short { log: 5 }.idle_since(Some(Short { log: 5 })));
        assert!(Copied { log: 9 }.idle_since(Some(Copied { log: 9 })));
        assert!(Short { log: 9 }.idle_since(Some(Copied { log: 9 })));
        assert!(!Short { log: 6 }.idle_since(Some(Short { log: 5 })));
        assert!(!Copied { log: 9 }.idle_since(Some(Short { log: 8 })));
        assert!(!Copied { log: 9 }.idle_since(None));
        assert!(!Short { log: 0 }.idle_since(None));
        assert!(!Short { log: 3 }.idle_since(Some(StartedOver)));
        assert!(!StartedOver.idle_since(Some(Copied { log: 3 })));
        assert!(!Restarted.idle_since(Some(Short { log: 3 })));
    }

    #[tokio::test]
    async fn checkpoint_lets_the_next_write_restart_the_log() {
        let (store, _dir) = open_store().await;
        let entries: Vec<LogEntry> = (0..3_000).map(entry).collect();
        store.append_provisioning_log(&entries).await.unwrap();
        let before = log_frames(&store).await;
        assert!(before > 50, "the writes filled {before} frames");

        store.checkpoint().await.unwrap();

        let after = frames_after_a_write(&store).await;
        assert!(after < 20, "the log holds {after} frames after a restart");
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(limit, super::WAL_FILE_LIMIT);
    }

    #[tokio::test]
    async fn passive_pass_waits_for_restart() {
        let (store, dir) = open_store().await;
        let entries: Vec<LogEntry> = (0..3_000).map(entry).collect();
        store.append_provisioning_log(&entries).await.unwrap();
        let url = format!("sqlite://{}", dir.path().join("lockgate.db").display());

        // A reader inside a transaction keeps the log in use. A RESTART
        // checkpoint on a third connection keeps the checkpoint lock while it
        // waits for that reader, up to its busy timeout.
        let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
        reader.execute("BEGIN").await.unwrap();
        reader
            .execute("SELECT count(*) FROM provisioning_log")
            .await
            .unwrap();
        let restart = tokio::spawn(async move {
            let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
            other.execute("PRAGMA busy_timeout = 300").await.unwrap();
            other
                .execute("PRAGMA wal_checkpoint(RESTART)")
                .await
                .unwrap();
        });
        // NOTE: a RESTART that has not begun within 50 ms leaves the pass
        // below alone, so the test then checks less, though it still passes.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;

        let pass = store.passive_checkpoint().await.unwrap();
        assert!(pass.log > 50, "{pass:?}");
        assert_eq!(pass.copied, pass.log);
        restart.await.unwrap();
        reader.execute("ROLLBACK").await.unwrap();
    }

    #[tokio::test]
    async fn checkpoint_restarts_idle_long_log() {
        let (store, _dir) = open_store().await;
        let entries: Vec<LogEntry> = (0..3_000).map(entry).collect();
        store.append_provisioning_log(&entries).await.unwrap();

        let check = store.checkpoint_if_longer(super::PAGE_SIZE).await.unwrap();
        assert!(matches!(check, super::LogCheck::Copied { .. }), "{check:?}");
        let copied = log_frames(&store).await;
        assert!(copied > 50, "the writes filled {copied} frames");

        let after = frames_after_a_write(&store).await;
        assert!(
            after < 20,
            "{after} frames after the write, {copied} before"
        );
    }

    #[tokio::test]
    async fn checkpoint_restarts_busy_log() {
        let (store, _dir) = open_store().await;
        // Fills about 700 frames.
        let entries: Vec<LogEntry> = (0..10_000).map(entry).collect();
        store.append_provisioning_log(&entries).await.unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = tokio::spawn({
            let (store, stop) = (store.clone(), stop.clone());
            async move {
                let mut n = 10_000;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.append_provisioning_log(&[entry(n)]).await.unwrap();
                    n += 1;
                    // Requests leave the write thread idle now and then;
                    // back-to-back writes leave a pass no moment to end
                    // with the whole log copied.
                    if n % 4 == 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                n - 10_000
            }
        });

        let mut checks = Vec::new();
        for _ in 0..20 {
            checks.push(store.checkpoint_if_longer(super::PAGE_SIZE).await.unwrap());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writes.await.unwrap();

        // A pass that ends between two writes finds nothing new to copy
        // (`Copied`), and the next write starts the log over. One that ends
        // while they go on finds that a write started it over. Neither
        // needs a `RESTART` checkpoint.
        assert!(
            !checks.contains(&super::LogCheck::Restarted),
            "{checks:?} during {written} writes"
        );

        let after = frames_after_a_write(&store).await;
        assert!(
            after < 100,
            "the log holds {after} frames after {written} writes and {checks:?}"
        );
    }
}
