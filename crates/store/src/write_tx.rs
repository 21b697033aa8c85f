//! A write transaction that costs as few round trips as the backend allows.
//!
//! On SQLite every statement is a round trip to the thread sqlx runs the
//! connection on, and those round trips, not SQLite itself, were most of
//! the cost of a SCIM write. Here `BEGIN`, the buffered writes and `COMMIT`
//! travel together: a user create is one round trip and a user update two
//! (the read, then everything else). This is safe because all SQLite writes
//! run one at a time on the write thread with the one writer connection, so
//! nothing can change a row between a read and the writes that follow it.
//!
//! On PostgreSQL, where several connections and nodes write at once, each
//! statement runs at once inside a real transaction.

use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Transaction};

use lockgate_domain::audit::AuditRecord;

use crate::audit::HeadCache;
use crate::batch::{Batch, bind_owned};
use crate::filter_sql::Bind;
use crate::{Backend, Store};

pub(crate) enum WriteTx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Any>),
}

pub(crate) struct SqliteTx {
    conn: Option<PoolConnection<Any>>,
    /// Whether `BEGIN` has been sent, so the connection is inside a transaction.
    began: bool,
    pending: Batch,
    heads: HeadCache,
    /// Audit heads this transaction leaves, applied to `heads` on commit.
    staged_heads: Vec<AuditRecord>,
}

impl Drop for SqliteTx {
    /// Closes the connection when a transaction is still open (after an
    /// error or a dropped future), because SQLite then rolls it back and the
    /// pool never hands out a connection inside a stale transaction.
    fn drop(&mut self) {
        if self.began
            && let Some(conn) = self.conn.take()
        {
            drop(conn.detach());
        }
        // Rolled back or abandoned: the cached heads may no longer match.
        for record in self.staged_heads.drain(..) {
            self.heads.forget(&record.tenant_id);
        }
    }
}

impl WriteTx {
    pub async fn begin(store: &Store) -> Result<WriteTx, sqlx::Error> {
        Ok(match store.backend {
            Backend::Sqlite => WriteTx::Sqlite(SqliteTx {
                conn: Some(store.writer.acquire().await?),
                began: false,
                pending: Batch::default(),
                heads: store.audit_heads.clone(),
                staged_heads: Vec::new(),
            }),
            Backend::Postgres => WriteTx::Postgres(store.writer.begin().await?),
        })
    }

    /// Runs a read and returns its rows. On SQLite, buffered writes are
    /// sent first in the same round trip, opening the transaction if they
    /// are the first.
    pub async fn fetch_all(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        self.run_returning(sql.into(), binds, false).await
    }

    /// Runs a write that returns rows (`INSERT ... RETURNING`); it always
    /// runs inside the transaction.
    pub async fn write_returning(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        self.run_returning(sql.into(), binds, true).await
    }

    async fn run_returning(
        &mut self,
        sql: String,
        binds: Vec<Bind>,
        writes: bool,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => {
                bind_owned(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
                    .fetch_all(&mut **tx)
                    .await
            }
            WriteTx::Sqlite(tx) => {
                let (text, all_binds) = tx.take_pending(Some((sql, binds)), writes, false);
                let conn = tx.conn.as_mut().expect("connection held until commit");
                bind_owned(one_off(text), all_binds)
                    .fetch_all(&mut **conn)
                    .await
            }
        }
    }

    pub async fn fetch_optional(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        Ok(self.fetch_all(sql, binds).await?.into_iter().next())
    }

    /// Adds writes. On SQLite they are buffered until the next read or the
    /// commit; on PostgreSQL they run now.
    pub async fn write(&mut self, batch: Batch) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => batch.execute_each(tx).await,
            WriteTx::Sqlite(tx) => {
                tx.pending.extend(batch);
                Ok(())
            }
        }
    }

    /// Runs an update guarded by a condition that a concurrent writer could
    /// falsify, and returns the rows it changed. On SQLite no concurrent
    /// writer exists, so it is buffered and reported as one row.
    pub async fn write_checked(&mut self, sql: &str, binds: Vec<Bind>) -> Result<u64, sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => Ok(bind_owned(
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string())),
                binds,
            )
            .execute(&mut **tx)
            .await?
            .rows_affected()),
            WriteTx::Sqlite(tx) => {
                tx.pending.push(sql.to_string(), binds);
                Ok(1)
            }
        }
    }

    /// Returns the audit head of `tenant_id` as this transaction would leave
    /// it, when it is known without a read (SQLite only).
    pub fn cached_audit_head(&self, tenant_id: &str) -> Option<AuditRecord> {
        match self {
            WriteTx::Postgres(_) => None,
            WriteTx::Sqlite(tx) => tx
                .staged_heads
                .iter()
                .rev()
                .find(|record| record.tenant_id == tenant_id)
                .cloned()
                .or_else(|| tx.heads.get(tenant_id)),
        }
    }

    /// Records the audit head this transaction leaves for its tenant.
    pub fn stage_audit_head(&mut self, record: AuditRecord) {
        if let WriteTx::Sqlite(tx) = self {
            tx.staged_heads.push(record);
        }
    }

    /// Sends what is buffered and commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => tx.commit().await,
            WriteTx::Sqlite(mut tx) => {
                if tx.pending.is_empty() && !tx.began {
                    return Ok(());
                }
                let (text, binds) = tx.take_pending(None, false, true);
                let conn = tx.conn.as_mut().expect("connection held until commit");
                bind_owned(one_off(text), binds)
                    .execute(&mut **conn)
                    .await?;
                tx.began = false;
                for record in tx.staged_heads.drain(..) {
                    tx.heads.set(record);
                }
                Ok(())
            }
        }
    }

    /// Ends the transaction without changes.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => tx.rollback().await,
            WriteTx::Sqlite(mut tx) => {
                if tx.began {
                    let conn = tx.conn.as_mut().expect("connection held until commit");
                    sqlx::query("ROLLBACK").execute(&mut **conn).await?;
                    tx.began = false;
                }
                Ok(())
            }
        }
    }
}

impl SqliteTx {
    /// Joins `BEGIN` (when writes are pending and the transaction is not
    /// open), the pending writes, `statement` and `COMMIT` into one query.
    fn take_pending(
        &mut self,
        statement: Option<(String, Vec<Bind>)>,
        statement_writes: bool,
        commit: bool,
    ) -> (String, Vec<Bind>) {
        let mut batch = Batch::default();
        if !self.began && (!self.pending.is_empty() || statement_writes) {
            batch.push("BEGIN IMMEDIATE", Vec::new());
            self.began = true;
        }
        batch.extend(std::mem::take(&mut self.pending));
        if let Some((sql, binds)) = statement {
            batch.push(sql, binds);
        }
        if commit && self.began {
            batch.push("COMMIT", Vec::new());
        }
        batch.into_query()
    }
}

/// Builds the query for a joined batch and keeps it out of sqlx's statement
/// cache. The text of a batch differs from one transaction to the next, so
/// caching it would push reused statements out of the cache and hold memory
/// for statements that never run again.
fn one_off(text: String) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(text)).persistent(false)
}
