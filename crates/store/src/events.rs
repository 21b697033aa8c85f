//! Writing and reading identity events.

use lockgate_domain::{IdentityEvent, IdentityEventKind, timestamp};
use serde_json::Value;
use sqlx::Row;

use crate::batch::{Batch, opt, text};
use crate::{StoreError, TenantStore};

/// One event to append inside a write transaction.
pub(crate) struct NewEvent<'a> {
    pub kind: IdentityEventKind,
    pub subject_id: &'a str,
    pub object_id: Option<&'a str>,
    pub detail: Value,
}

/// Adds the insert of one event to a write batch.
pub(crate) fn push(
    batch: &mut Batch,
    tenant_id: &str,
    request_id: Option<&str>,
    event: NewEvent<'_>,
) {
    batch.push(
        "INSERT INTO identity_events (tenant_id, kind, subject_id, object_id, detail, request_id, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            text(tenant_id),
            text(event.kind.as_str()),
            text(event.subject_id),
            opt(event.object_id),
            text(event.detail.to_string()),
            opt(request_id),
            text(timestamp::now()),
        ],
    );
}

/// Adds the insert of several events to a write batch as multi-row
/// statements, which SQLite runs faster than one statement per event.
pub(crate) fn push_many(
    batch: &mut Batch,
    tenant_id: &str,
    request_id: Option<&str>,
    events: Vec<NewEvent<'_>>,
) {
    let now = timestamp::now();
    for chunk in events.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO identity_events (tenant_id, kind, subject_id, object_id, detail, request_id, occurred_at) VALUES ",
        );
        let mut binds = vec![text(tenant_id), opt(request_id), text(&now)];
        for (i, event) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let base = 4 + i * 4;
            sql.push_str(&format!(
                "($1, ${}, ${}, ${}, ${}, $2, $3)",
                base,
                base + 1,
                base + 2,
                base + 3
            ));
            binds.extend([
                text(event.kind.as_str()),
                text(event.subject_id),
                opt(event.object_id),
                text(event.detail.to_string()),
            ]);
        }
        batch.push(sql, binds);
    }
}

impl TenantStore {
    /// Events after `after_seq`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<IdentityEvent>, StoreError> {
        // A literal LIMIT: SQLite re-prepares a statement whenever a
        // parameter that its LIMIT uses is bound.
        let sql = format!(
            "SELECT seq, tenant_id, kind, subject_id, object_id, detail, request_id, occurred_at \
             FROM identity_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .bind(after_seq)
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let detail: String = row.try_get("detail")?;
                Ok(IdentityEvent {
                    seq: row.try_get("seq")?,
                    tenant_id: row.try_get("tenant_id")?,
                    kind: IdentityEventKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown event kind {kind:?}"))
                    })?,
                    subject_id: row.try_get("subject_id")?,
                    object_id: row.try_get("object_id")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?,
                    request_id: row.try_get("request_id")?,
                    occurred_at: row.try_get("occurred_at")?,
                })
            })
            .collect()
    }
}
