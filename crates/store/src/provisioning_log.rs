//! The provisioning log: one row per SCIM request, so a helpdesk can answer
//! "why did Entra report an error?" without server log access.

use lockgate_domain::timestamp;
use sqlx::Row;

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

/// Which log entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub failures_only: bool,
    pub resource_id: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Appends a batch of entries in one transaction.
    pub async fn append_provisioning_log(&self, entries: &[LogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO provisioning_log (tenant_id, request_id, method, path, operation, resource_type, \
                 resource_id, status, outcome, scim_type, error, duration_us, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&e.tenant_id)
            .bind(&e.request_id)
            .bind(&e.method)
            .bind(&e.path)
            .bind(&e.operation)
            .bind(&e.resource_type)
            .bind(&e.resource_id)
            .bind(e.status)
            .bind(&e.outcome)
            .bind(&e.scim_type)
            .bind(&e.error)
            .bind(e.duration_us)
            .bind(&e.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes entries older than `retention`; returns how many went.
    pub async fn prune_provisioning_log(
        &self,
        retention: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let cutoff = timestamp::format(time::OffsetDateTime::now_utc() - retention);
        let result = sqlx::query("DELETE FROM provisioning_log WHERE at < $1")
            .bind(cutoff)
            .execute(&self.writer)
            .await?;
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
