//! Credentials that open lockers: badge numbers, PIN hashes and the bearer
//! tokens of the app API. PINs arrive here already hashed with argon2; the
//! server hashes them off the async runtime.

use lockgate_domain::timestamp;
use serde_json::json;
use sqlx::Row;

use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, opt, text};
use crate::filter_sql::Bind;
use crate::secret::{Secret, hash_secret};
use crate::write_tx::WriteTx;
use crate::{StoreError, TenantStore};

const USER_TOKEN_PREFIX: &str = "lgu_";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadgeRow {
    pub badge_id: String,
    pub user_id: String,
    /// `scim` or `enrolled`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRow {
    pub user_id: String,
    /// An argon2 PHC string.
    pub hash: String,
    pub failures: i64,
    pub locked_until: Option<String>,
}

impl TenantStore {
    /// Badges with ids after `after_badge`, in id order, at most `limit`.
    /// Callers read all badges in pages by passing the last id of one page
    /// to the next call.
    pub async fn badges_after(
        &self,
        after_badge: &str,
        limit: i64,
    ) -> Result<Vec<BadgeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT badge_id, user_id, source FROM badges \
             WHERE tenant_id = $1 AND badge_id > $2 ORDER BY badge_id LIMIT $3",
        )
        .bind(&self.tenant_id)
        .bind(after_badge)
        .bind(limit)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BadgeRow {
                    badge_id: row.try_get("badge_id")?,
                    user_id: row.try_get("user_id")?,
                    source: row.try_get("source")?,
                })
            })
            .collect()
    }

    /// Enrols a badge for a user; a badge held by someone else is a conflict.
    pub async fn enroll_badge(
        &self,
        badge_id: &str,
        user_id: &str,
        audit: AuditDraft,
    ) -> Result<BadgeRow, StoreError> {
        let this = self.clone();
        let row = BadgeRow {
            badge_id: badge_id.to_string(),
            user_id: user_id.to_string(),
            source: "enrolled".to_string(),
        };
        self.store
            .run_write(move || async move {
                let mut tx = WriteTx::begin(&this.store).await?;
                let inserted = tx
                    .write_returning(
                        "INSERT INTO badges (tenant_id, badge_id, user_id, source, created_at) \
                         VALUES ($1, $2, $3, 'enrolled', $4) ON CONFLICT (tenant_id, badge_id) DO NOTHING \
                         RETURNING badge_id",
                        vec![
                            text(&this.tenant_id),
                            text(&row.badge_id),
                            text(&row.user_id),
                            text(timestamp::now()),
                        ],
                    )
                    .await?;
                if inserted.is_empty() {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict(format!(
                        "badge \"{}\" already belongs to a user; remove it from them first",
                        row.badge_id
                    )));
                }
                append_in(&mut tx, this.store.backend, &this.tenant_id, vec![audit]).await?;
                tx.commit().await?;
                Ok(row)
            })
            .await
    }

    /// Removes a badge; returns whether it existed.
    pub async fn remove_badge(&self, badge_id: &str, audit: AuditDraft) -> Result<(), StoreError> {
        let this = self.clone();
        let badge_id = badge_id.to_string();
        self.store
            .run_write(move || async move {
                let mut tx = WriteTx::begin(&this.store).await?;
                let removed = tx
                    .write_returning(
                        "DELETE FROM badges WHERE tenant_id = $1 AND badge_id = $2 RETURNING badge_id",
                        vec![text(&this.tenant_id), text(&badge_id)],
                    )
                    .await?;
                if removed.is_empty() {
                    tx.rollback().await?;
                    return Err(StoreError::NotFound(format!("badge \"{badge_id}\"")));
                }
                append_in(&mut tx, this.store.backend, &this.tenant_id, vec![audit]).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    pub async fn pins(&self) -> Result<Vec<PinRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, hash, failures, locked_until FROM pins WHERE tenant_id = $1",
        )
        .bind(&self.tenant_id)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PinRow {
                    user_id: row.try_get("user_id")?,
                    hash: row.try_get("hash")?,
                    failures: row.try_get("failures")?,
                    locked_until: row.try_get("locked_until")?,
                })
            })
            .collect()
    }

    /// Sets a user's PIN hash and clears any lockout.
    pub async fn set_pin(
        &self,
        user_id: &str,
        hash: &str,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        let this = self.clone();
        let (user_id, hash) = (user_id.to_string(), hash.to_string());
        self.store
            .run_write(move || async move {
                let mut batch = Batch::default();
                batch.push(
                    "INSERT INTO pins (tenant_id, user_id, hash, failures, locked_until, updated_at) \
                     VALUES ($1, $2, $3, 0, NULL, $4) ON CONFLICT (tenant_id, user_id) \
                     DO UPDATE SET hash = excluded.hash, failures = 0, locked_until = NULL, updated_at = excluded.updated_at",
                    vec![text(&this.tenant_id), text(&user_id), text(&hash), text(timestamp::now())],
                );
                let mut tx = WriteTx::begin(&this.store).await?;
                tx.write(batch).await?;
                append_in(&mut tx, this.store.backend, &this.tenant_id, vec![audit]).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    /// Records the failure count and lockout of a user's PIN after an
    /// attempt, with an audit record when the PIN became locked.
    pub async fn record_pin_attempt(
        &self,
        user_id: &str,
        failures: i64,
        locked_until: Option<String>,
        audit: Option<AuditDraft>,
    ) -> Result<(), StoreError> {
        let this = self.clone();
        let user_id = user_id.to_string();
        self.store
            .run_write(move || async move {
                let mut batch = Batch::default();
                batch.push(
                    "UPDATE pins SET failures = $1, locked_until = $2, updated_at = $3 \
                     WHERE tenant_id = $4 AND user_id = $5",
                    vec![
                        Bind::Int(failures),
                        opt(locked_until.as_deref()),
                        text(timestamp::now()),
                        text(&this.tenant_id),
                        text(&user_id),
                    ],
                );
                let mut tx = WriteTx::begin(&this.store).await?;
                tx.write(batch).await?;
                append_in(
                    &mut tx,
                    this.store.backend,
                    &this.tenant_id,
                    audit.into_iter().collect(),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }

    /// Creates an app token for a user. The secret is returned once, and
    /// its hash is what the index keys on.
    pub async fn create_user_token(
        &self,
        user_id: &str,
        audit: AuditDraft,
    ) -> Result<(String, Secret), StoreError> {
        let this = self.clone();
        let user_id = user_id.to_string();
        let secret = Secret::generate(USER_TOKEN_PREFIX);
        let hash = secret.hash();
        let id = uuid::Uuid::now_v7().to_string();
        let token_id = id.clone();
        self.store
            .run_write(move || async move {
                let mut batch = Batch::default();
                batch.push(
                    "INSERT INTO user_tokens (id, tenant_id, user_id, token_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    vec![
                        text(&id),
                        text(&this.tenant_id),
                        text(&user_id),
                        text(&hash),
                        text(timestamp::now()),
                    ],
                );
                let mut audit = audit;
                audit.detail = json!({"token": id});
                let mut tx = WriteTx::begin(&this.store).await?;
                tx.write(batch).await?;
                append_in(&mut tx, this.store.backend, &this.tenant_id, vec![audit]).await?;
                tx.commit().await?;
                Ok(())
            })
            .await?;
        Ok((token_id, secret))
    }

    /// Valid app tokens as (hash, user id, expiry) triples; helpdesk tokens
    /// have no expiry.
    pub async fn user_token_hashes(
        &self,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT token_hash, user_id, expires_at FROM user_tokens \
             WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(&self.tenant_id)
        .bind(timestamp::now())
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("token_hash")?,
                    row.try_get("user_id")?,
                    row.try_get("expires_at")?,
                ))
            })
            .collect()
    }
}

/// The hash an app token is stored and indexed under.
pub fn user_token_hash(token: &str) -> String {
    hash_secret(token)
}
