//! Users: create, read, list, update (PUT and PATCH) and delete.
//!
//! Each write runs in one transaction that also rewrites the value index and
//! appends the identity events, so an event exists exactly when its change
//! does. Updates check the version they read, so two concurrent PATCHes of
//! one user on PostgreSQL retry instead of losing one.

use lockgate_domain::{IdentityEventKind, timestamp};
use lockgate_scim::ScimError;
use lockgate_scim::schema::ResourceKind;
use serde_json::{Value, json};

use crate::batch::{Batch, opt, text};
use crate::events::{self, NewEvent};
use crate::filter_sql::Bind;
use crate::resources::{ListQuery, ListResult, StoredResource, WriteContext};
use crate::values::{index_rows, push_diff, push_replace};
use crate::write_tx::WriteTx;
use crate::{StoreError, TenantStore};

/// How many times an update retries after a concurrent change on PostgreSQL.
const UPDATE_ATTEMPTS: usize = 8;

/// The columns a user document feeds.
struct UserColumns {
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    active: bool,
}

impl UserColumns {
    fn of(document: &Value) -> Result<UserColumns, StoreError> {
        let text = |key: &str| {
            document
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(UserColumns {
            user_name: text("userName").ok_or_else(|| {
                StoreError::Scim(ScimError::invalid_value(
                    "userName is required and must be a string",
                ))
            })?,
            external_id: text("externalId"),
            display_name: text("displayName"),
            active: document
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}

fn user_name_taken(user_name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a user with userName \"{user_name}\" already exists (userName is unique, ignoring case); \
         match the existing user with GET /Users?filter=userName eq \"{user_name}\""
    ))
}

impl TenantStore {
    pub async fn create_user(
        &self,
        ctx: &WriteContext,
        document: Value,
    ) -> Result<StoredResource, StoreError> {
        let (this, ctx) = (self.clone(), ctx.clone());
        self.store
            .run_write(move || async move { this.create_user_now(&ctx, document).await })
            .await
    }

    async fn create_user_now(
        &self,
        ctx: &WriteContext,
        document: Value,
    ) -> Result<StoredResource, StoreError> {
        let columns = UserColumns::of(&document)?;
        let now = timestamp::now();
        let resource = StoredResource {
            id: uuid::Uuid::now_v7().to_string(),
            document,
            version: 1,
            created_at: now.clone(),
            modified_at: now,
        };
        let mut batch = Batch::default();
        batch.push(
            "INSERT INTO scim_users (tenant_id, id, external_id, user_name, user_name_folded, display_name, \
             display_name_folded, active, document, version, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            vec![
                text(&self.tenant_id),
                text(&resource.id),
                opt(columns.external_id.as_deref()),
                text(&columns.user_name),
                text(columns.user_name.to_lowercase()),
                opt(columns.display_name.as_deref()),
                opt(columns.display_name.as_ref().map(|d| d.to_lowercase()).as_deref()),
                Bind::Int(i64::from(columns.active)),
                text(resource.document.to_string()),
                Bind::Int(resource.version),
                text(&resource.created_at),
                text(&resource.modified_at),
            ],
        );
        let rows = index_rows(ResourceKind::User, &resource.document);
        push_replace(&mut batch, &self.tenant_id, &resource.id, &rows, false);
        let detail = json!({
            "userName": columns.user_name,
            "externalId": columns.external_id,
            "active": columns.active,
        });
        events::push(
            &mut batch,
            &self.tenant_id,
            ctx.request_id.as_deref(),
            NewEvent {
                kind: IdentityEventKind::UserCreated,
                subject_id: &resource.id,
                object_id: None,
                detail,
            },
        );
        let mut tx = WriteTx::begin(&self.store).await?;
        let written = match tx.write(batch).await {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        };
        match written {
            Err(e) if StoreError::is_unique_violation(&e) => {
                Err(user_name_taken(&columns.user_name))
            }
            other => Ok(other.map(|()| resource)?),
        }
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<StoredResource>, StoreError> {
        self.get_resource(ResourceKind::User, id).await
    }

    pub async fn list_users(&self, query: &ListQuery) -> Result<ListResult, StoreError> {
        self.list_resources(ResourceKind::User, query).await
    }

    /// Applies `change` to the stored document (PUT or PATCH). A change that
    /// leaves the document as it was writes nothing, so a repeated PATCH is a
    /// no-op.
    pub async fn update_user<F>(
        &self,
        ctx: &WriteContext,
        id: &str,
        change: F,
    ) -> Result<StoredResource, StoreError>
    where
        F: FnMut(&Value) -> Result<Value, ScimError> + Send + 'static,
    {
        let (this, ctx, id) = (self.clone(), ctx.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.update_user_now(&ctx, &id, change).await })
            .await
    }

    async fn update_user_now<F>(
        &self,
        ctx: &WriteContext,
        id: &str,
        mut change: F,
    ) -> Result<StoredResource, StoreError>
    where
        F: FnMut(&Value) -> Result<Value, ScimError>,
    {
        for _ in 0..UPDATE_ATTEMPTS {
            let mut tx = WriteTx::begin(&self.store).await?;
            let current = self
                .read_for_update(&mut tx, ResourceKind::User, id)
                .await?;
            let document = change(&current.document)?;
            if document == current.document {
                tx.rollback().await?;
                return Ok(current);
            }
            if let Some(updated) = self
                .write_user_update(&mut tx, ctx, &current, document)
                .await?
            {
                return match tx.commit().await {
                    Err(e) if StoreError::is_unique_violation(&e) => Err(user_name_taken(
                        updated.document["userName"].as_str().unwrap_or_default(),
                    )),
                    other => Ok(other.map(|()| updated)?),
                };
            }
            tx.rollback().await?;
        }
        Err(StoreError::Conflict(format!(
            "user {id} changed concurrently {UPDATE_ATTEMPTS} times in a row; retry the request"
        )))
    }

    /// Writes the new document if the version is still the one read;
    /// `None` means another writer got there first.
    async fn write_user_update(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        current: &StoredResource,
        document: Value,
    ) -> Result<Option<StoredResource>, StoreError> {
        let before = UserColumns::of(&current.document)?;
        let after = UserColumns::of(&document)?;
        let updated = StoredResource {
            id: current.id.clone(),
            document,
            version: current.version + 1,
            created_at: current.created_at.clone(),
            modified_at: timestamp::now(),
        };
        let update_sql = "UPDATE scim_users SET external_id = $1, user_name = $2, user_name_folded = $3, \
             display_name = $4, display_name_folded = $5, active = $6, document = $7, version = $8, modified_at = $9 \
             WHERE tenant_id = $10 AND id = $11 AND version = $12";
        let update_binds = vec![
            opt(after.external_id.as_deref()),
            text(&after.user_name),
            text(after.user_name.to_lowercase()),
            opt(after.display_name.as_deref()),
            opt(after
                .display_name
                .as_ref()
                .map(|d| d.to_lowercase())
                .as_deref()),
            Bind::Int(i64::from(after.active)),
            text(updated.document.to_string()),
            Bind::Int(updated.version),
            text(&updated.modified_at),
            text(&self.tenant_id),
            text(&current.id),
            Bind::Int(current.version),
        ];
        // On PostgreSQL another node or connection may have written since
        // the read, and zero rows updated means retry.
        let updated_rows = match tx.write_checked(update_sql, update_binds).await {
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(user_name_taken(&after.user_name));
            }
            other => other?,
        };
        if updated_rows == 0 {
            return Ok(None);
        }
        let mut batch = Batch::default();
        push_diff(
            &mut batch,
            &self.tenant_id,
            &current.id,
            &index_rows(ResourceKind::User, &current.document),
            &index_rows(ResourceKind::User, &updated.document),
        );

        let kind = match (before.active, after.active) {
            (true, false) => IdentityEventKind::UserDeactivated,
            (false, true) => IdentityEventKind::UserReactivated,
            _ => IdentityEventKind::UserUpdated,
        };
        let detail = json!({
            "changed": changed_attributes(&current.document, &updated.document),
            "userName": after.user_name,
            "previousUserName": (before.user_name != after.user_name).then_some(before.user_name),
            "active": after.active,
        });
        events::push(
            &mut batch,
            &self.tenant_id,
            ctx.request_id.as_deref(),
            NewEvent {
                kind,
                subject_id: &current.id,
                object_id: None,
                detail,
            },
        );
        tx.write(batch).await?;
        Ok(Some(updated))
    }

    /// Deletes a user: the row, its memberships and its index go; a tombstone
    /// with the last document stays for the audit trail.
    pub async fn delete_user(&self, ctx: &WriteContext, id: &str) -> Result<(), StoreError> {
        let (this, ctx, id) = (self.clone(), ctx.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.delete_user_now(&ctx, &id).await })
            .await
    }

    async fn delete_user_now(&self, ctx: &WriteContext, id: &str) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let current = self
            .read_for_update(&mut tx, ResourceKind::User, id)
            .await?;
        let columns = UserColumns::of(&current.document)?;
        let now = timestamp::now();
        self.remove_memberships_of(&mut tx, ctx, id).await?;
        let mut batch = Batch::default();
        batch.push(
            "INSERT INTO scim_user_tombstones (tenant_id, id, external_id, user_name, document, deleted_at, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                text(&self.tenant_id),
                text(id),
                opt(columns.external_id.as_deref()),
                text(&columns.user_name),
                text(current.document.to_string()),
                text(&now),
                opt(ctx.request_id.as_deref()),
            ],
        );
        push_replace(&mut batch, &self.tenant_id, id, &[], true);
        batch.push(
            "DELETE FROM scim_users WHERE tenant_id = $1 AND id = $2",
            vec![text(&self.tenant_id), text(id)],
        );
        events::push(
            &mut batch,
            &self.tenant_id,
            ctx.request_id.as_deref(),
            NewEvent {
                kind: IdentityEventKind::UserDeleted,
                subject_id: id,
                object_id: None,
                detail: json!({"userName": columns.user_name, "externalId": columns.external_id}),
            },
        );
        tx.write(batch).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Top-level keys (and extension attributes) whose values differ.
pub(crate) fn changed_attributes(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut changed = Vec::new();
    for key in before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
    {
        let (old, new) = (before.get(key), after.get(key));
        if old == new {
            continue;
        }
        match (
            old.and_then(Value::as_object),
            new.and_then(Value::as_object),
        ) {
            (Some(o), Some(n)) if key.starts_with("urn:") => {
                for sub in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
                    if o.get(sub) != n.get(sub) {
                        changed.push(format!("{key}:{sub}"));
                    }
                }
            }
            _ => changed.push(key.clone()),
        }
    }
    changed
}

impl TenantStore {
    /// Lists the custom User extensions this tenant's users carry, with attribute
    /// names in the spelling of a document that has them, for `/Schemas`.
    pub async fn custom_extensions(
        &self,
    ) -> Result<Vec<lockgate_scim::contract::CustomExtension>, StoreError> {
        use lockgate_scim::contract::CustomExtension;
        use lockgate_scim::filter::index_key;
        use lockgate_scim::schema::{SchemaRef, is_custom_user_extension};
        use sqlx::Row;

        // Index keys of custom attributes start with the extension URN;
        // those of the enterprise extension start with "enterprise:".
        let roots = sqlx::query(
            "SELECT root, MIN(resource_id) AS sample FROM scim_values \
             WHERE tenant_id = $1 AND root LIKE 'urn:%' GROUP BY root ORDER BY root LIMIT 500",
        )
        .bind(&self.tenant_id)
        .fetch_all(&self.store.reader)
        .await?;
        let mut extensions: Vec<CustomExtension> = Vec::new();
        for row in roots {
            let root: String = row.try_get("root")?;
            let sample: String = row.try_get("sample")?;
            let Some(user) = self.get_user(&sample).await? else {
                continue;
            };
            let Some(document) = user.document.as_object() else {
                continue;
            };
            for (urn, attributes) in document.iter().filter(|(k, _)| is_custom_user_extension(k)) {
                let Some(attributes) = attributes.as_object() else {
                    continue;
                };
                let schema = SchemaRef::Custom(urn.clone());
                for name in attributes
                    .keys()
                    .filter(|name| index_key(&schema, name, None) == root)
                {
                    match extensions
                        .iter_mut()
                        .find(|e| e.urn.eq_ignore_ascii_case(urn))
                    {
                        Some(extension) => extension.attributes.push(name.clone()),
                        None => extensions.push(CustomExtension {
                            urn: urn.clone(),
                            attributes: vec![name.clone()],
                        }),
                    }
                }
            }
        }
        Ok(extensions)
    }
}
