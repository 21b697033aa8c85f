//! Tenants: one customer organisation each, the isolation boundary.

use lockgate_domain::{Slug, timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::AuditDraft;
use crate::batch::{Batch, text};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tenant {
    pub id: String,
    pub slug: Slug,
    pub created_at: String,
}

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    let slug: String = row.try_get("slug")?;
    Ok(Tenant {
        id: row.try_get("id")?,
        slug: Slug::parse(&slug).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_tenant(&self, slug: &Slug) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: uuid::Uuid::now_v7().to_string(),
            slug: slug.clone(),
            created_at: timestamp::now(),
        };
        let turn = self.write_turn().await?;
        let result = sqlx::query("INSERT INTO tenants (id, slug, created_at) VALUES ($1, $2, $3)")
            .bind(&tenant.id)
            .bind(tenant.slug.as_str())
            .bind(&tenant.created_at)
            .execute(&self.writer)
            .await;
        drop(turn);
        match result {
            Ok(_) => Ok(tenant),
            Err(e) if StoreError::is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "tenant \"{slug}\" already exists; choose another slug"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, created_at FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// Like [`Store::tenant_by_slug`], but a missing tenant is an error that names it.
    pub async fn require_tenant(&self, slug: &str) -> Result<Tenant, StoreError> {
        self.tenant_by_slug(slug)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant \"{slug}\"")))
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT id, slug, created_at FROM tenants ORDER BY slug")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// The tenant's settings object, such as `{"badge_attribute": "..."}`.
    pub async fn tenant_settings(&self, tenant_id: &str) -> Result<serde_json::Value, StoreError> {
        let row = sqlx::query("SELECT settings FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant_id}")))?;
        let text: String = row.try_get("settings")?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("tenant settings: {e}")))
    }

    /// Replaces the tenant's settings object and appends `audit` in the
    /// same transaction.
    pub async fn set_tenant_settings(
        &self,
        tenant_id: &str,
        settings: &serde_json::Value,
        audit: AuditDraft,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.push(
            "UPDATE tenants SET settings = $1 WHERE id = $2",
            vec![text(settings.to_string()), text(tenant_id)],
        );
        self.write_with_audit(tenant_id, batch, vec![audit]).await
    }
}
