//! Versioned access policies. Saving never edits a row: each change adds a
//! version, so the audit log and a mover's grace terms can always name the
//! exact version that applied.

use lockgate_domain::audit::Actor;
use lockgate_domain::timestamp;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, text};
use crate::filter_sql::Bind;
use crate::write_tx::WriteTx;
use crate::{StoreError, TenantStore};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredPolicy {
    pub id: String,
    pub version: i64,
    pub document: Value,
    pub retired: bool,
    pub created_at: String,
    /// The actor that saved this version, in the form audit records use.
    pub created_by: Actor,
}

/// A new version to save.
#[derive(Debug, Clone)]
pub struct PolicyChange {
    pub id: String,
    /// The document, or `None` to retire the policy.
    pub document: Option<Value>,
    /// The version the admin edited. A save against an older version is a
    /// conflict, so two admins never overwrite each other unseen.
    pub expected_version: Option<i64>,
    pub actor: Actor,
}

const COLUMNS: &str = "id, version, document, retired, created_at, created_by";

fn policy_from_row(row: &AnyRow) -> Result<StoredPolicy, StoreError> {
    let document: String = row.try_get("document")?;
    let retired: i64 = row.try_get("retired")?;
    let id: String = row.try_get("id")?;
    let created_by: String = row.try_get("created_by")?;
    Ok(StoredPolicy {
        created_by: serde_json::from_str(&created_by).map_err(|e| {
            StoreError::Corrupt(format!("policy {id} has an invalid created_by: {e}"))
        })?,
        document: serde_json::from_str(&document)
            .map_err(|e| StoreError::Corrupt(format!("policy {id}: {e}")))?,
        id,
        version: row.try_get("version")?,
        retired: retired != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl TenantStore {
    /// The newest version of each policy, retired ones included.
    pub async fn latest_policies(&self) -> Result<Vec<StoredPolicy>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM policies p WHERE tenant_id = $1 AND version = \
             (SELECT MAX(version) FROM policies q WHERE q.tenant_id = p.tenant_id AND q.id = p.id) \
             ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter().map(policy_from_row).collect()
    }

    /// Every version of one policy, oldest first.
    pub async fn policy_versions(&self, id: &str) -> Result<Vec<StoredPolicy>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM policies WHERE tenant_id = $1 AND id = $2 ORDER BY version"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .bind(id)
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter().map(policy_from_row).collect()
    }

    /// Saves a new version and its audit record in one transaction.
    pub async fn save_policy(&self, change: PolicyChange) -> Result<StoredPolicy, StoreError> {
        let this = self.clone();
        self.store
            .run_write(move || async move { this.save_policy_now(change).await })
            .await
    }

    async fn save_policy_now(&self, change: PolicyChange) -> Result<StoredPolicy, StoreError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let current = tx
            .fetch_optional(
                "SELECT MAX(version) AS version FROM policies WHERE tenant_id = $1 AND id = $2",
                vec![text(&self.tenant_id), text(&change.id)],
            )
            .await?
            .map(|row| row.try_get::<Option<i64>>("version"))
            .transpose()?
            .flatten();
        // A policy that was never saved cannot be retired, whatever version
        // the request names.
        let retired = change.document.is_none();
        if retired && current.is_none() {
            return Err(StoreError::NotFound(format!("policy \"{}\"", change.id)));
        }
        if change.expected_version != current {
            let found = current.map_or("none".to_string(), |v| v.to_string());
            let sent = change
                .expected_version
                .map_or("none".to_string(), |v| v.to_string());
            return Err(StoreError::Conflict(format!(
                "policy \"{}\" is at version {found}, but the change was made to version {sent}; \
                 read the policy again and send its newest version as base_version",
                change.id
            )));
        }
        let document = match change.document {
            Some(document) => document,
            None => self.document_of(&mut tx, &change.id).await?,
        };
        let actor_text = serde_json::to_string(&change.actor)
            .map_err(|e| StoreError::Internal(format!("actor: {e}")))?;
        let policy = StoredPolicy {
            id: change.id.clone(),
            version: current.unwrap_or(0) + 1,
            document,
            retired,
            created_at: timestamp::now(),
            created_by: change.actor.clone(),
        };
        let mut batch = Batch::default();
        batch.push(
            "INSERT INTO policies (tenant_id, id, version, document, retired, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                text(&self.tenant_id),
                text(&policy.id),
                Bind::Int(policy.version),
                text(policy.document.to_string()),
                Bind::Int(i64::from(retired)),
                text(&policy.created_at),
                text(&actor_text),
            ],
        );
        // On PostgreSQL a save of the same version that committed after the
        // read above makes the insert break the primary key.
        match tx.write(batch).await {
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "policy \"{}\" was saved by another request at the same time; \
                     read the policy again and send its newest version as base_version",
                    policy.id
                )));
            }
            other => other?,
        }
        let action = if retired {
            "policy_retired"
        } else if policy.version == 1 {
            "policy_created"
        } else {
            "policy_changed"
        };
        let draft = AuditDraft {
            source: AuditDraft::admin_source(&change.actor),
            actor: change.actor,
            action: action.to_string(),
            subject: policy.id.clone(),
            detail: json!({"version": policy.version, "document": policy.document}),
        };
        append_in(&mut tx, self.store.backend, &self.tenant_id, vec![draft]).await?;
        tx.commit().await?;
        Ok(policy)
    }

    async fn document_of(&self, tx: &mut WriteTx, id: &str) -> Result<Value, StoreError> {
        let row = tx
            .fetch_optional(
                "SELECT document FROM policies WHERE tenant_id = $1 AND id = $2 \
                 ORDER BY version DESC LIMIT 1",
                vec![text(&self.tenant_id), text(id)],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("policy \"{id}\"")))?;
        let document: String = row.try_get("document")?;
        serde_json::from_str(&document)
            .map_err(|e| StoreError::Corrupt(format!("policy {id}: {e}")))
    }
}
