//! Appending to and reading the per-tenant audit chain.
//!
//! Records are sealed (numbered and hashed onto the record before) inside
//! the write transaction that makes the change they describe, so a record
//! exists exactly when its change does. On SQLite the write thread already
//! runs one transaction at a time. On PostgreSQL a transaction-scoped
//! advisory lock on the tenant orders appends from several nodes, so two
//! nodes never seal onto the same head.

use lockgate_domain::audit::{Actor, AuditRecord, ChainError, ChainVerifier, GENESIS};
use lockgate_domain::timestamp;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::batch::{Batch, opt, text};
use crate::filter_sql::Bind;
use crate::write_tx::WriteTx;
use crate::{Backend, Store, StoreError, TenantStore};

/// An audit record before it is sealed onto its tenant's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    pub actor: Actor,
    /// The request, admin action or device message that caused the change.
    pub source: Option<String>,
    pub action: String,
    pub subject: String,
    pub detail: Value,
}

impl AuditDraft {
    /// Returns the source of a change an administrator made: `cli` for the
    /// command line, whose actor is the admin `cli` or `cli:<OS user>`,
    /// else `admin`. Other actors carry their own source, so they get none
    /// here.
    pub fn admin_source(actor: &Actor) -> Option<String> {
        match actor {
            Actor::Admin(id) if id == "cli" || id.starts_with("cli:") => Some("cli".to_string()),
            Actor::Admin(_) => Some("admin".to_string()),
            _ => None,
        }
    }
}

/// The outcome of checking a tenant's whole audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Records that passed the check: all of them when `error` is `None`,
    /// else those before the first failure.
    pub records: u64,
    /// The hash of the last record that passed, or `GENESIS` for none.
    pub head: String,
    /// The `seq` of the last record that passed (0 for none). With `head`
    /// it is where a later check can resume.
    pub last_seq: i64,
    /// Whether the check reached the end of the chain. It does not when it
    /// stopped at an error or at its limit of records.
    pub complete: bool,
    /// The `seq` of the record with the expected head hash, when one was
    /// given and found (0 for `GENESIS`).
    pub expected_head_seq: Option<i64>,
    /// The first failure, or `None` when the chain is intact.
    pub error: Option<ChainError>,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.error.is_none()
    }
}

/// Records per query while verifying, so the check needs memory for one
/// page, not for the whole log.
pub const VERIFY_PAGE_SIZE: i64 = 5_000;

const SELECT_RECORDS: &str = "SELECT tenant_id, seq, at, actor, source, action, subject, detail, prev_hash, hash \
     FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";

/// The last record of each tenant's chain, kept on SQLite only. There all
/// writes run one at a time on the write thread of the one process that
/// owns the file, so the cached head is the stored head whenever no
/// transaction is open. A transaction records the heads it would leave in
/// [`WriteTx`], which applies them after `COMMIT` and forgets them (and the
/// cached entries) when it rolls back. PostgreSQL, written by several
/// nodes, always reads the head under the tenant's advisory lock.
#[derive(Clone, Default)]
pub(crate) struct HeadCache(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, AuditRecord>>>,
);

impl HeadCache {
    pub(crate) fn get(&self, tenant_id: &str) -> Option<AuditRecord> {
        self.0
            .lock()
            .expect("audit head lock")
            .get(tenant_id)
            .cloned()
    }

    pub(crate) fn set(&self, record: AuditRecord) {
        self.0
            .lock()
            .expect("audit head lock")
            .insert(record.tenant_id.clone(), record);
    }

    /// Forgets every cached head, after a group of writes failed.
    pub(crate) fn clear(&self) {
        self.0.lock().expect("audit head lock").clear();
    }

    pub(crate) fn forget(&self, tenant_id: &str) {
        self.0.lock().expect("audit head lock").remove(tenant_id);
    }
}

/// Rows per multi-row insert on PostgreSQL; keeps each statement far under
/// its limit of 65,535 bound values.
const ROWS_PER_INSERT: usize = 200;

/// Seals `drafts` onto the tenant's chain inside `tx` and returns the
/// sequence number of the last one.
pub(crate) async fn append_in(
    tx: &mut WriteTx,
    backend: Backend,
    tenant_id: &str,
    drafts: Vec<AuditDraft>,
) -> Result<Option<i64>, StoreError> {
    if drafts.is_empty() {
        return Ok(None);
    }
    let head = read_head(tx, backend, tenant_id).await?;
    seal_and_insert(tx, backend, tenant_id, head, drafts).await
}

/// Like [`append_in`], but trusts the cached head when there is one. Only
/// the decision path uses it, because it retries: a CLI command writing
/// the same SQLite file makes the cache stale, and the failed attempt
/// forgets it.
async fn append_in_cached(
    tx: &mut WriteTx,
    backend: Backend,
    tenant_id: &str,
    drafts: Vec<AuditDraft>,
) -> Result<Option<i64>, StoreError> {
    if drafts.is_empty() {
        return Ok(None);
    }
    let head = match tx.cached_audit_head(tenant_id) {
        Some(head) => Some(head),
        None => read_head(tx, backend, tenant_id).await?,
    };
    seal_and_insert(tx, backend, tenant_id, head, drafts).await
}

async fn read_head(
    tx: &mut WriteTx,
    backend: Backend,
    tenant_id: &str,
) -> Result<Option<AuditRecord>, StoreError> {
    if backend == Backend::Postgres {
        tx.fetch_all(
            "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS lock",
            vec![text(tenant_id)],
        )
        .await?;
    }
    let head = tx
        .fetch_optional(
            "SELECT tenant_id, seq, at, actor, source, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
            vec![text(tenant_id)],
        )
        .await?
        .map(|row| record_from_row(&row))
        .transpose()?;
    Ok(head)
}

async fn seal_and_insert(
    tx: &mut WriteTx,
    backend: Backend,
    tenant_id: &str,
    head: Option<AuditRecord>,
    drafts: Vec<AuditDraft>,
) -> Result<Option<i64>, StoreError> {
    let at = timestamp::now();
    let mut sealed: Vec<AuditRecord> = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let mut record = AuditRecord {
            tenant_id: tenant_id.to_string(),
            seq: 0,
            at: at.clone(),
            actor: draft.actor,
            source: draft.source,
            action: draft.action,
            subject: draft.subject,
            detail: draft.detail,
            prev_hash: String::new(),
            hash: String::new(),
        };
        record.seal_after(sealed.last().or(head.as_ref()));
        sealed.push(record);
    }
    let last = sealed.last().map(|record| record.seq);
    let insert = match backend {
        Backend::Sqlite => insert_each(&sealed)?,
        Backend::Postgres => insert_batch(&sealed)?,
    };
    tx.write(insert).await?;
    if let Some(record) = sealed.pop() {
        tx.stage_audit_head(record);
    }
    Ok(last)
}

/// Inserts records on SQLite one statement each. The write thread calls
/// SQLite directly and keeps the prepared statement, so a row costs a bind
/// and a step. A multi-row `VALUES` list would be a different statement for
/// each batch size, parsed again every time.
const INSERT_ONE_SQLITE: &str = "INSERT INTO audit_log \
     (tenant_id, seq, at, actor, source, action, subject, detail, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

fn insert_each(records: &[AuditRecord]) -> Result<Batch, StoreError> {
    let mut batch = Batch::default();
    for record in records {
        batch.push(INSERT_ONE_SQLITE, row_binds(record)?);
    }
    Ok(batch)
}

fn insert_batch(records: &[AuditRecord]) -> Result<Batch, StoreError> {
    let mut batch = Batch::default();
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit_log (tenant_id, seq, at, actor, source, action, subject, detail, prev_hash, hash) VALUES ",
        );
        let mut binds: Vec<Bind> = Vec::with_capacity(chunk.len() * 10);
        for (i, record) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let base = i * 10;
            let placeholders: Vec<String> = (1..=10).map(|n| format!("${}", base + n)).collect();
            sql.push('(');
            sql.push_str(&placeholders.join(", "));
            sql.push(')');
            binds.extend(row_binds(record)?);
        }
        batch.push(sql, binds);
    }
    Ok(batch)
}

/// Returns the ten column values of one record, in the order of the inserts.
fn row_binds(record: &AuditRecord) -> Result<Vec<Bind>, StoreError> {
    Ok(vec![
        text(&record.tenant_id),
        Bind::Int(record.seq),
        text(&record.at),
        text(actor_text(record)?),
        opt(record.source.as_deref()),
        text(&record.action),
        text(&record.subject),
        text(record.detail.to_string()),
        text(&record.prev_hash),
        text(&record.hash),
    ])
}

/// Serializes a record's actor as it is stored.
fn actor_text(record: &AuditRecord) -> Result<String, StoreError> {
    serde_json::to_string(&record.actor)
        .map_err(|e| StoreError::Internal(format!("audit actor: {e}")))
}

fn record_from_row(row: &impl crate::rows::Columns) -> Result<AuditRecord, StoreError> {
    let actor: String = row.try_get("actor")?;
    let detail: String = row.try_get("detail")?;
    let seq: i64 = row.try_get("seq")?;
    Ok(AuditRecord {
        tenant_id: row.try_get("tenant_id")?,
        seq,
        at: row.try_get("at")?,
        actor: serde_json::from_str(&actor)
            .map_err(|e| StoreError::Corrupt(format!("audit record {seq}: actor: {e}")))?,
        source: row.try_get("source")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit record {seq}: detail: {e}")))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

impl Store {
    /// Runs `batch` and appends `audit` to the tenant's chain in one
    /// transaction, for a change and its audit records.
    pub(crate) async fn write_with_audit(
        &self,
        tenant_id: &str,
        batch: Batch,
        audit: Vec<AuditDraft>,
    ) -> Result<(), StoreError> {
        let (store, tenant_id) = (self.clone(), tenant_id.to_string());
        self.run_write(move || async move {
            let mut tx = WriteTx::begin(&store).await?;
            tx.write(batch).await?;
            append_in(&mut tx, store.backend, &tenant_id, audit).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Appends records for several tenants in one transaction, as the
    /// decision path does to commit many opens at once. Returns the last
    /// sequence number written for each tenant, in the order first seen.
    pub async fn append_audit_batch(
        &self,
        drafts: Vec<(String, AuditDraft)>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.append_grouped(drafts, false).await
    }

    /// Appends decision records, trusting the cached chain heads on
    /// SQLite; the caller retries once when a head was stale.
    pub async fn append_audit_batch_cached(
        &self,
        drafts: Vec<(String, AuditDraft)>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.append_grouped(drafts, true).await
    }

    async fn append_grouped(
        &self,
        drafts: Vec<(String, AuditDraft)>,
        cached: bool,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let store = self.clone();
        self.run_write(move || async move {
            let mut by_tenant: Vec<(String, Vec<AuditDraft>)> = Vec::new();
            for (tenant_id, draft) in drafts {
                match by_tenant.iter_mut().find(|(id, _)| *id == tenant_id) {
                    Some((_, list)) => list.push(draft),
                    None => by_tenant.push((tenant_id, vec![draft])),
                }
            }
            let mut tx = WriteTx::begin(&store).await?;
            let mut heads = Vec::with_capacity(by_tenant.len());
            for (tenant_id, list) in by_tenant {
                let appended = if cached {
                    append_in_cached(&mut tx, store.backend, &tenant_id, list).await?
                } else {
                    append_in(&mut tx, store.backend, &tenant_id, list).await?
                };
                if let Some(seq) = appended {
                    heads.push((tenant_id, seq));
                }
            }
            tx.commit().await?;
            Ok(heads)
        })
        .await
    }
}

impl TenantStore {
    /// Appends records in a transaction of their own.
    pub async fn append_audit(&self, drafts: Vec<AuditDraft>) -> Result<Option<i64>, StoreError> {
        let tenant_id = self.tenant_id.clone();
        let drafts = drafts.into_iter().map(|d| (tenant_id.clone(), d)).collect();
        let heads = self.store.append_audit_batch(drafts).await?;
        Ok(heads.into_iter().next().map(|(_, seq)| seq))
    }

    /// Records after `after_seq` in chain order, at most `limit`. Callers
    /// read a log of any length in pages by passing the last `seq` of one
    /// page as `after_seq` of the next.
    pub async fn audit_records(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self.audit_rows(after_seq, limit).await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn audit_rows(&self, after_seq: i64, limit: i64) -> Result<Vec<AnyRow>, StoreError> {
        let rows = sqlx::query(SELECT_RECORDS)
            .bind(&self.tenant_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.store.reader)
            .await?;
        Ok(rows)
    }

    /// Checks the tenant's audit chain from its first record, reading it in
    /// pages of [`VERIFY_PAGE_SIZE`]. With `expected_head`, some record
    /// must have that hash, which catches records removed from the end.
    ///
    /// A broken chain is an `Ok` result with `error` set. `Err` means the
    /// check could not run, such as a failed query. A record whose actor or
    /// detail is no longer valid JSON is reported as altered, since it
    /// cannot match the hash it was stored with.
    pub async fn verify_audit(
        &self,
        expected_head: Option<&str>,
    ) -> Result<AuditVerification, StoreError> {
        self.verify_audit_part(None, None, expected_head, VERIFY_PAGE_SIZE)
            .await
    }

    /// Checks at most `limit` records of the chain, starting after `after`
    /// (a `seq` and the hash an earlier check ended with) or from the
    /// first record. The record at `after` must still have that hash.
    /// Records before it are not read again, so only a check from the
    /// first record finds a change made to them after the earlier check.
    ///
    /// The expected head is required only when the check reaches the end
    /// of the chain: a part that stops at its limit may not have reached it.
    pub async fn verify_audit_from(
        &self,
        after: Option<(i64, &str)>,
        limit: u64,
        expected_head: Option<&str>,
    ) -> Result<AuditVerification, StoreError> {
        self.verify_audit_part(after, Some(limit), expected_head, VERIFY_PAGE_SIZE)
            .await
    }

    async fn verify_audit_part(
        &self,
        after: Option<(i64, &str)>,
        limit: Option<u64>,
        expected_head: Option<&str>,
        page_size: i64,
    ) -> Result<AuditVerification, StoreError> {
        let (mut after_seq, after_hash) = after.unwrap_or((0, GENESIS));
        let mut verifier =
            ChainVerifier::resume(&self.tenant_id, after_seq, after_hash, expected_head);
        if after_seq > 0
            && let Err(error) = self.check_start(&verifier, after_seq).await?
        {
            return Ok(AuditVerification::at(&verifier, false, Some(error)));
        }
        let mut remaining = limit.unwrap_or(u64::MAX);
        let complete = loop {
            let want = page_size.min(i64::try_from(remaining).unwrap_or(i64::MAX));
            if want == 0 {
                break self.audit_rows(after_seq, 1).await?.is_empty();
            }
            let rows = self.audit_rows(after_seq, want).await?;
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let checked = match record_from_row(row) {
                    Ok(record) => verifier.push(&record),
                    Err(StoreError::Corrupt(_)) => Err(ChainError::Altered { seq }),
                    Err(other) => return Err(other),
                };
                if let Err(error) = checked {
                    return Ok(AuditVerification::at(&verifier, false, Some(error)));
                }
                after_seq = seq;
            }
            remaining -= rows.len() as u64;
            if (rows.len() as i64) < want {
                break true;
            }
        };
        let error = if complete {
            verifier.finish().err()
        } else {
            None
        };
        Ok(AuditVerification::at(&verifier, complete, error))
    }

    /// Reads the record a resumed check starts after and checks it with
    /// [`ChainVerifier::check_start`]. `Err` means the read failed.
    async fn check_start(
        &self,
        verifier: &ChainVerifier,
        seq: i64,
    ) -> Result<Result<(), ChainError>, StoreError> {
        let rows = self.audit_rows(seq - 1, 1).await?;
        let row = match rows.first() {
            Some(row) if row.try_get::<i64, _>("seq")? == seq => row,
            _ => return Ok(verifier.check_start(None)),
        };
        match record_from_row(row) {
            Ok(record) => Ok(verifier.check_start(Some(&record))),
            Err(StoreError::Corrupt(_)) => Ok(Err(ChainError::Altered { seq })),
            Err(other) => Err(other),
        }
    }
}

impl AuditVerification {
    fn at(verifier: &ChainVerifier, complete: bool, error: Option<ChainError>) -> Self {
        AuditVerification {
            records: verifier.records(),
            head: verifier.head().to_string(),
            last_seq: verifier.last_seq(),
            complete,
            expected_head_seq: verifier.expected_head_seq(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use lockgate_domain::Slug;
    use serde_json::json;

    use super::*;
    use crate::StoreOptions;

    /// Opens a store in `dir` and creates tenant `depot` with `count` audit records.
    async fn tenant_with_records(dir: &std::path::Path, count: usize) -> TenantStore {
        let store = Store::connect(&StoreOptions::sqlite_in_dir(dir))
            .await
            .unwrap();
        let tenant = store
            .create_tenant(&Slug::parse("depot").unwrap())
            .await
            .unwrap();
        let tenant = store.tenant(&tenant.id);
        let drafts = (0..count)
            .map(|i| AuditDraft {
                actor: Actor::Admin("cred-1".into()),
                source: Some(format!("req-{i}")),
                action: "locker_assigned".into(),
                subject: format!("locker-{i}"),
                detail: json!({"user": format!("user-{i}")}),
            })
            .collect();
        tenant.append_audit(drafts).await.unwrap();
        tenant
    }

    async fn execute(tenant: &TenantStore, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&tenant.store.writer)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn verify_reads_every_page() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 7).await;
        let last = tenant.audit_records(6, 1).await.unwrap().remove(0);
        // 3 leaves a short last page, 7 a full one followed by an empty page.
        for page_size in [3, 7, 100] {
            let result = tenant
                .verify_audit_part(None, None, Some(&last.hash), page_size)
                .await
                .unwrap();
            assert_eq!(result.error, None, "page size {page_size}");
            assert_eq!(result.records, 7, "page size {page_size}");
            assert_eq!(result.head, last.hash, "page size {page_size}");
            assert_eq!(result.expected_head_seq, Some(7), "page size {page_size}");
        }
    }

    #[tokio::test]
    async fn verify_empty_chain() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 0).await;
        let result = tenant.verify_audit(None).await.unwrap();
        assert!(result.is_intact());
        assert_eq!(result.records, 0);
        assert_eq!(result.head, GENESIS);
    }

    #[tokio::test]
    async fn verify_stops_at_removed_record_in_later_page() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 7).await;
        execute(&tenant, "DELETE FROM audit_log WHERE seq = 5").await;
        let result = tenant.verify_audit_part(None, None, None, 3).await.unwrap();
        assert_eq!(
            result.error,
            Some(ChainError::Broken {
                seq: 6,
                previous: 4
            })
        );
        assert_eq!(result.records, 4);
    }

    #[tokio::test]
    async fn verify_in_parts_resumes_at_last_head() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 12).await;
        let last = tenant.audit_records(11, 1).await.unwrap().remove(0);

        let first = tenant.verify_audit_from(None, 5, None).await.unwrap();
        assert_eq!((first.records, first.last_seq), (5, 5));
        assert!(first.is_intact());
        assert!(!first.complete);

        let after = Some((first.last_seq, first.head.as_str()));
        let second = tenant
            .verify_audit_from(after, 7, Some(&last.hash))
            .await
            .unwrap();
        assert_eq!((second.records, second.last_seq), (7, 12));
        assert_eq!(second.head, last.hash);
        assert_eq!(second.expected_head_seq, Some(12));
        assert!(second.is_intact());
        assert!(
            second.complete,
            "a part that ends with the chain is complete"
        );

        let at_end = Some((12, last.hash.as_str()));
        let nothing_new = tenant.verify_audit_from(at_end, 5, None).await.unwrap();
        assert_eq!(nothing_new.records, 0);
        assert!(nothing_new.complete);
    }

    #[tokio::test]
    async fn resumed_verify_finds_later_change() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 8).await;
        let first = tenant.verify_audit_from(None, 4, None).await.unwrap();
        execute(
            &tenant,
            "UPDATE audit_log SET subject = 'locker-x' WHERE seq = 6",
        )
        .await;

        let after = Some((first.last_seq, first.head.as_str()));
        let result = tenant.verify_audit_from(after, 100, None).await.unwrap();
        assert_eq!(result.error, Some(ChainError::Altered { seq: 6 }));
        assert_eq!(result.last_seq, 5);
        assert!(!result.complete);
    }

    #[tokio::test]
    async fn resumed_verify_checks_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 6).await;
        let first = tenant.verify_audit_from(None, 3, None).await.unwrap();
        let wrong = tenant.audit_records(0, 1).await.unwrap().remove(0).hash;

        let result = tenant
            .verify_audit_from(Some((3, &wrong)), 100, None)
            .await
            .unwrap();
        assert!(matches!(
            result.error,
            Some(ChainError::StartMismatch { seq: 3, .. })
        ));
        assert_eq!(result.records, 0);

        let beyond = tenant
            .verify_audit_from(Some((9, &first.head)), 100, None)
            .await
            .unwrap();
        assert!(matches!(
            beyond.error,
            Some(ChainError::StartMismatch { seq: 9, .. })
        ));

        execute(&tenant, "DELETE FROM audit_log WHERE seq = 3").await;
        let removed = tenant
            .verify_audit_from(Some((3, &first.head)), 100, None)
            .await
            .unwrap();
        assert!(matches!(
            removed.error,
            Some(ChainError::StartMismatch { seq: 3, .. })
        ));
    }

    #[tokio::test]
    async fn invalid_json_counts_as_altered() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_with_records(dir.path(), 3).await;
        execute(
            &tenant,
            "UPDATE audit_log SET detail = '{not json' WHERE seq = 2",
        )
        .await;
        let result = tenant.verify_audit(None).await.unwrap();
        assert_eq!(result.error, Some(ChainError::Altered { seq: 2 }));
        assert_eq!(result.records, 1);
    }
}
