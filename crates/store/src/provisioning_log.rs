//! The provisioning log: one row per SCIM request, so a helpdesk can find
//! out why Entra reported an error without access to the server log.

use lockgate_domain::timestamp;
use sqlx::Row;

use crate::batch::{Batch, opt, text};
use crate::filter_sql::Bind;
use crate::write_tx::WriteTx;
use crate::{Store, StoreError, TenantStore};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    pub seq: i64,
    pub tenant_id: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    /// For example `create`, `patch`, `query`, `probe`.
    pub operation: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub status: i64,
    /// `success` or `failure`.
    pub outcome: String,
    pub scim_type: Option<String>,
    pub error: Option<String>,
    pub duration_us: i64,
    pub at: String,
}

/// A selection of log entries, read newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub failures_only: bool,
    pub resource_id: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Appends entries in one transaction, as multi-row inserts that go to
    /// the database in one round trip on SQLite.
    pub async fn append_provisioning_log(&self, entries: &[LogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for chunk in entries.chunks(50) {
            let mut sql = String::from(
                "INSERT INTO provisioning_log (tenant_id, request_id, method, path, operation, resource_type, \
                 resource_id, status, outcome, scim_type, error, duration_us, at) VALUES ",
            );
            let mut binds = Vec::with_capacity(chunk.len() * 13);
            for (i, e) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let placeholders: Vec<String> =
                    (1..=13).map(|n| format!("${}", i * 13 + n)).collect();
                sql.push_str(&format!("({})", placeholders.join(", ")));
                binds.extend([
                    text(&e.tenant_id),
                    text(&e.request_id),
                    text(&e.method),
                    text(&e.path),
                    text(&e.operation),
                    opt(e.resource_type.as_deref()),
                    opt(e.resource_id.as_deref()),
                    Bind::Int(e.status),
                    text(&e.outcome),
                    opt(e.scim_type.as_deref()),
                    opt(e.error.as_deref()),
                    Bind::Int(e.duration_us),
                    text(&e.at),
                ]);
            }
            batch.push(sql, binds);
        }
        let store = self.clone();
        self.run_write(move || async move {
            let mut tx = WriteTx::begin(&store).await?;
            tx.write(batch).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Deletes entries older than `retention`; returns how many went.
    pub async fn prune_provisioning_log(
        &self,
        retention: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let cutoff = timestamp::format(time::OffsetDateTime::now_utc() - retention);
        let turn = self.write_turn().await?;
        let result = sqlx::query("DELETE FROM provisioning_log WHERE at < $1")
            .bind(cutoff)
            .execute(&self.writer)
            .await?;
        drop(turn);
        Ok(result.rows_affected())
    }
}

impl TenantStore {
    pub async fn provisioning_log(&self, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, tenant_id, request_id, method, path, operation, resource_type, resource_id, status, \
             outcome, scim_type, error, duration_us, at FROM provisioning_log \
             WHERE tenant_id = $1 AND ($2 = 0 OR outcome = 'failure') AND ($3 = '' OR resource_id = $3) \
             AND seq < $4 ORDER BY seq DESC LIMIT $5",
        )
        .bind(&self.tenant_id)
        .bind(i64::from(query.failures_only))
        .bind(query.resource_id.clone().unwrap_or_default())
        .bind(query.before_seq.unwrap_or(i64::MAX))
        .bind(query.limit.clamp(1, 1000))
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogEntry {
                    seq: row.try_get("seq")?,
                    tenant_id: row.try_get("tenant_id")?,
                    request_id: row.try_get("request_id")?,
                    method: row.try_get("method")?,
                    path: row.try_get("path")?,
                    operation: row.try_get("operation")?,
                    resource_type: row.try_get("resource_type")?,
                    resource_id: row.try_get("resource_id")?,
                    status: row.try_get("status")?,
                    outcome: row.try_get("outcome")?,
                    scim_type: row.try_get("scim_type")?,
                    error: row.try_get("error")?,
                    duration_us: row.try_get("duration_us")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }
}
