//! A write transaction on either backend.
//!
//! On SQLite, transactions run one at a time on the write thread, which
//! calls SQLite directly through its own connection (see `lite`). Writes
//! wait in a buffer until the next read or the commit, so a write that breaks
//! a constraint fails at that read or commit, which is where callers look
//! for the error. `BEGIN IMMEDIATE` is sent only before the first write, so
//! a job that only reads opens no transaction. Several jobs' transactions
//! may share one SQLite commit (see `lite`). The audit heads a transaction
//! leaves are cached when it ends, and forgotten if its group fails.
//!
//! On PostgreSQL, where several connections and nodes write at once, each
//! statement runs at once inside a real transaction.

use sqlx::{Any, Transaction};

use lockgate_domain::audit::AuditRecord;

use crate::audit::HeadCache;
use crate::batch::{Batch, bind_owned};
use crate::filter_sql::Bind;
use crate::lite;
use crate::rows::TxRow;
use crate::{Backend, Store};

pub(crate) enum WriteTx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Any>),
}

pub(crate) struct SqliteTx {
    /// Whether `BEGIN` has been sent, so the connection is inside a transaction.
    began: bool,
    pending: Batch,
    heads: HeadCache,
    /// Audit heads this transaction leaves, applied to `heads` on commit.
    staged_heads: Vec<AuditRecord>,
}

impl Drop for SqliteTx {
    /// Rolls back a transaction that is still open (after an error or a
    /// dropped future), so the next job starts on a clean connection.
    fn drop(&mut self) {
        if self.began
            && lite::in_transaction()
            && let Err(e) = lite::rollback()
        {
            tracing::error!(error = %e, "rolling back an SQLite write transaction failed");
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
                began: false,
                pending: Batch::default(),
                heads: store.audit_heads.clone(),
                staged_heads: Vec::new(),
            }),
            Backend::Postgres => WriteTx::Postgres(store.writer.begin().await?),
        })
    }

    /// Runs a read and returns its rows. On SQLite, buffered writes run
    /// first, opening the transaction if they are the first.
    pub async fn fetch_all(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> Result<Vec<TxRow>, sqlx::Error> {
        self.run_returning(sql.into(), binds, false).await
    }

    /// Runs a write that returns rows (`INSERT ... RETURNING`); it always
    /// runs inside the transaction.
    pub async fn write_returning(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> Result<Vec<TxRow>, sqlx::Error> {
        self.run_returning(sql.into(), binds, true).await
    }

    async fn run_returning(
        &mut self,
        sql: String,
        binds: Vec<Bind>,
        writes: bool,
    ) -> Result<Vec<TxRow>, sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => Ok(bind_owned(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(TxRow::Pool)
                .collect()),
            WriteTx::Sqlite(tx) => {
                tx.flush(writes)?;
                Ok(lite::query(&sql, &binds)?
                    .into_iter()
                    .map(TxRow::Lite)
                    .collect())
            }
        }
    }

    pub async fn fetch_optional(
        &mut self,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> Result<Option<TxRow>, sqlx::Error> {
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

    /// Runs what is buffered and commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Postgres(tx) => tx.commit().await,
            WriteTx::Sqlite(mut tx) => {
                tx.flush(false)?;
                if tx.began {
                    lite::commit()?;
                    tx.began = false;
                }
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
                    tx.began = false;
                    lite::rollback()?;
                }
                Ok(())
            }
        }
    }
}

impl SqliteTx {
    /// Runs the buffered writes, after `BEGIN IMMEDIATE` when they (or the
    /// statement that follows, when `next_writes`) are the transaction's
    /// first.
    fn flush(&mut self, next_writes: bool) -> Result<(), sqlx::Error> {
        if !self.began && (!self.pending.is_empty() || next_writes) {
            lite::begin()?;
            self.began = true;
        }
        for (sql, binds) in std::mem::take(&mut self.pending).into_statements() {
            lite::execute(&sql, &binds)?;
        }
        Ok(())
    }
}
