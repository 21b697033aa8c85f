//! Groups and memberships.
//!
//! Membership changes are row inserts and deletes, never a rewrite of the
//! whole member list. An add of an existing member and a remove of a
//! missing one change nothing and succeed (RFC 7644 §3.5.2.1), and
//! concurrent single-member PATCHes of one group cannot lose each other's rows.

use std::collections::{BTreeSet, HashMap};

use lockgate_domain::{IdentityEventKind, timestamp};
use lockgate_scim::ScimError;
use lockgate_scim::patch::MemberChange;
use lockgate_scim::resource::MemberRef;
use lockgate_scim::schema::ResourceKind;
use serde_json::{Value, json};
use sqlx::Row;

use crate::batch::{Batch, opt, text};
use crate::events::{self, NewEvent};
use crate::filter_sql::Bind;
use crate::resources::{
    ListQuery, ListResult, MemberRow, StoredResource, WriteContext, placeholders,
};
use crate::values::{index_rows, push_diff, push_replace};
use crate::write_tx::WriteTx;
use crate::{StoreError, TenantStore};

const UPDATE_ATTEMPTS: usize = 8;

fn display_name_of(document: &Value) -> Result<String, StoreError> {
    document
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            StoreError::Scim(ScimError::invalid_value(
                "displayName is required and must be a string",
            ))
        })
}

fn external_id_of(document: &Value) -> Option<String> {
    document
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

impl TenantStore {
    pub async fn create_group(
        &self,
        ctx: &WriteContext,
        document: Value,
        members: &[MemberRef],
    ) -> Result<StoredResource, StoreError> {
        let (this, ctx, members) = (self.clone(), ctx.clone(), members.to_vec());
        self.store
            .run_write(move || async move { this.create_group_now(&ctx, document, &members).await })
            .await
    }

    async fn create_group_now(
        &self,
        ctx: &WriteContext,
        document: Value,
        members: &[MemberRef],
    ) -> Result<StoredResource, StoreError> {
        let display_name = display_name_of(&document)?;
        let external_id = external_id_of(&document);
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
            "INSERT INTO scim_groups (tenant_id, id, external_id, display_name, display_name_folded, document, \
             version, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                text(&self.tenant_id),
                text(&resource.id),
                opt(external_id.as_deref()),
                text(&display_name),
                text(display_name.to_lowercase()),
                text(resource.document.to_string()),
                Bind::Int(resource.version),
                text(&resource.created_at),
                text(&resource.modified_at),
            ],
        );
        let rows = index_rows(ResourceKind::Group, &resource.document);
        push_replace(&mut batch, &self.tenant_id, &resource.id, &rows, false);
        events::push(
            &mut batch,
            &self.tenant_id,
            ctx.request_id.as_deref(),
            NewEvent {
                kind: IdentityEventKind::GroupCreated,
                subject_id: &resource.id,
                object_id: None,
                detail: json!({"displayName": display_name, "externalId": external_id}),
            },
        );
        let mut tx = WriteTx::begin(&self.store).await?;
        tx.write(batch).await?;
        self.add_members(&mut tx, ctx, &resource.id, members)
            .await?;
        tx.commit().await?;
        Ok(resource)
    }

    pub async fn get_group(&self, id: &str) -> Result<Option<StoredResource>, StoreError> {
        self.get_resource(ResourceKind::Group, id).await
    }

    pub async fn list_groups(&self, query: &ListQuery) -> Result<ListResult, StoreError> {
        self.list_resources(ResourceKind::Group, query).await
    }

    /// Applies a PUT or PATCH: `change` returns the new document and the
    /// membership changes, which apply in the same transaction.
    pub async fn update_group<F>(
        &self,
        ctx: &WriteContext,
        id: &str,
        change: F,
    ) -> Result<StoredResource, StoreError>
    where
        F: FnMut(&Value) -> Result<(Value, Vec<MemberChange>), ScimError> + Send + 'static,
    {
        let (this, ctx, id) = (self.clone(), ctx.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.update_group_now(&ctx, &id, change).await })
            .await
    }

    /// Applies membership changes without reading the group's document, for
    /// PATCHes that touch only `members`. A missing group is detected when
    /// nothing changed, because rows are inserted only for an existing
    /// group and deleted only where they exist.
    pub async fn update_group_members(
        &self,
        ctx: &WriteContext,
        id: &str,
        changes: Vec<MemberChange>,
    ) -> Result<(), StoreError> {
        let (this, ctx, id) = (self.clone(), ctx.clone(), id.to_string());
        self.store
            .run_write(
                move || async move { this.update_group_members_now(&ctx, &id, &changes).await },
            )
            .await
    }

    async fn update_group_members_now(
        &self,
        ctx: &WriteContext,
        id: &str,
        changes: &[MemberChange],
    ) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let reads_members = changes
            .iter()
            .any(|c| matches!(c, MemberChange::RemoveAll | MemberChange::Replace(_)));
        if reads_members {
            self.read_for_update(&mut tx, ResourceKind::Group, id)
                .await?;
        }
        let mut changed = false;
        for change in changes {
            changed |= self.apply_member_change(&mut tx, ctx, id, change).await?;
        }
        if !changed {
            self.read_for_update(&mut tx, ResourceKind::Group, id)
                .await?;
            return Ok(tx.rollback().await?);
        }
        let mut batch = Batch::default();
        batch.push(
            "UPDATE scim_groups SET version = version + 1, modified_at = $1 WHERE tenant_id = $2 AND id = $3",
            vec![text(timestamp::now()), text(&self.tenant_id), text(id)],
        );
        tx.write(batch).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_group_now<F>(
        &self,
        ctx: &WriteContext,
        id: &str,
        mut change: F,
    ) -> Result<StoredResource, StoreError>
    where
        F: FnMut(&Value) -> Result<(Value, Vec<MemberChange>), ScimError>,
    {
        for _ in 0..UPDATE_ATTEMPTS {
            let mut tx = WriteTx::begin(&self.store).await?;
            let current = self
                .read_for_update(&mut tx, ResourceKind::Group, id)
                .await?;
            let (document, member_changes) = change(&current.document)?;
            let mut membership_changed = false;
            for member_change in &member_changes {
                membership_changed |= self
                    .apply_member_change(&mut tx, ctx, id, member_change)
                    .await?;
            }
            let result = if document != current.document {
                self.write_group_document(&mut tx, ctx, &current, document)
                    .await?
            } else if membership_changed {
                Some(self.touch_group(&mut tx, &current).await?)
            } else {
                Some(current)
            };
            if let Some(updated) = result {
                tx.commit().await?;
                return Ok(updated);
            }
            tx.rollback().await?;
        }
        Err(StoreError::Conflict(format!(
            "group {id} changed concurrently {UPDATE_ATTEMPTS} times in a row; retry the request"
        )))
    }

    /// Bumps version and lastModified after a membership-only change. The
    /// increment happens in SQL, so concurrent member PATCHes need no retry.
    async fn touch_group(
        &self,
        tx: &mut WriteTx,
        current: &StoredResource,
    ) -> Result<StoredResource, StoreError> {
        let now = timestamp::now();
        let sql = "UPDATE scim_groups SET version = version + 1, modified_at = $1 \
                   WHERE tenant_id = $2 AND id = $3 RETURNING version";
        let binds = vec![text(&now), text(&self.tenant_id), text(&current.id)];
        let version = match tx {
            // One writer at a time on SQLite, so the new version is known and
            // the update can wait in the buffer for the commit.
            WriteTx::Sqlite(_) => {
                let mut batch = Batch::default();
                batch.push(sql, binds);
                tx.write(batch).await?;
                current.version + 1
            }
            WriteTx::Postgres(_) => match tx.write_returning(sql, binds).await?.first() {
                Some(row) => row.try_get("version")?,
                None => return Err(StoreError::NotFound(format!("Group \"{}\"", current.id))),
            },
        };
        Ok(StoredResource {
            version,
            modified_at: now,
            ..current.clone()
        })
    }

    async fn write_group_document(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        current: &StoredResource,
        document: Value,
    ) -> Result<Option<StoredResource>, StoreError> {
        let display_name = display_name_of(&document)?;
        let external_id = external_id_of(&document);
        let updated = StoredResource {
            document,
            modified_at: timestamp::now(),
            ..current.clone()
        };
        // The document itself is the concurrency check, so membership-only
        // changes (which bump the version) never force a rename to retry.
        let rows = tx
            .write_returning(
                "UPDATE scim_groups SET external_id = $1, display_name = $2, display_name_folded = $3, \
                 document = $4, version = version + 1, modified_at = $5 \
                 WHERE tenant_id = $6 AND id = $7 AND document = $8 RETURNING version",
                vec![
                    opt(external_id.as_deref()),
                    text(&display_name),
                    text(display_name.to_lowercase()),
                    text(updated.document.to_string()),
                    text(&updated.modified_at),
                    text(&self.tenant_id),
                    text(&current.id),
                    text(current.document.to_string()),
                ],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let updated = StoredResource {
            version: row.try_get("version")?,
            ..updated
        };
        let mut batch = Batch::default();
        push_diff(
            &mut batch,
            &self.tenant_id,
            &current.id,
            &index_rows(ResourceKind::Group, &current.document),
            &index_rows(ResourceKind::Group, &updated.document),
        );
        events::push(
            &mut batch,
            &self.tenant_id,
            ctx.request_id.as_deref(),
            NewEvent {
                kind: IdentityEventKind::GroupUpdated,
                subject_id: &current.id,
                object_id: None,
                detail: json!({
                    "changed": crate::users::changed_attributes(&current.document, &updated.document),
                    "displayName": display_name,
                    "previousDisplayName": display_name_of(&current.document).ok(),
                }),
            },
        );
        tx.write(batch).await?;
        Ok(Some(updated))
    }

    /// Applies one membership change; returns whether any row changed.
    async fn apply_member_change(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        group_id: &str,
        change: &MemberChange,
    ) -> Result<bool, StoreError> {
        match change {
            MemberChange::Add(members) => self.add_members(tx, ctx, group_id, members).await,
            MemberChange::Remove(ids) => self.remove_members(tx, ctx, group_id, ids).await,
            MemberChange::RemoveAll => {
                let current = self.member_ids(tx, group_id).await?;
                tracing::warn!(
                    group_id,
                    members = current.len(),
                    "PATCH removed every member of the group"
                );
                self.remove_members(tx, ctx, group_id, &current).await
            }
            MemberChange::Replace(members) => {
                // Vendors report that Entra sends a full replace after a server
                // returned members it had asked to exclude. The replace is
                // applied as authoritative but logged, because it can drop
                // many people.
                let current: BTreeSet<String> =
                    self.member_ids(tx, group_id).await?.into_iter().collect();
                let wanted: BTreeSet<String> = members.iter().map(|m| m.value.clone()).collect();
                let removed: Vec<String> = current.difference(&wanted).cloned().collect();
                let added: Vec<MemberRef> = members
                    .iter()
                    .filter(|m| !current.contains(&m.value))
                    .cloned()
                    .collect();
                tracing::info!(
                    group_id,
                    added = added.len(),
                    removed = removed.len(),
                    "PATCH replaced the member list"
                );
                let a = self.add_members(tx, ctx, group_id, &added).await?;
                let r = self.remove_members(tx, ctx, group_id, &removed).await?;
                Ok(a || r)
            }
        }
    }

    async fn member_ids(
        &self,
        tx: &mut WriteTx,
        group_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = tx
            .fetch_all(
                "SELECT member_id FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2",
                vec![text(&self.tenant_id), text(group_id)],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get("member_id")?)).collect()
    }

    /// Finds whether each id is a user or a group of this tenant.
    async fn member_kinds(
        &self,
        tx: &mut WriteTx,
        ids: &[String],
    ) -> Result<HashMap<String, &'static str>, StoreError> {
        let mut kinds = HashMap::new();
        for chunk in ids.chunks(500) {
            let list = placeholders(2, chunk.len());
            let sql = format!(
                "SELECT id, 'User' AS kind FROM scim_users WHERE tenant_id = $1 AND id IN ({list}) \
                 UNION ALL SELECT id, 'Group' AS kind FROM scim_groups WHERE tenant_id = $1 AND id IN ({list})"
            );
            let mut binds = vec![text(&self.tenant_id)];
            binds.extend(chunk.iter().map(text));
            for row in tx.fetch_all(sql, binds).await? {
                let kind: String = row.try_get("kind")?;
                kinds.insert(
                    row.try_get("id")?,
                    if kind == "Group" { "Group" } else { "User" },
                );
            }
        }
        Ok(kinds)
    }

    /// Inserts memberships; rows that already exist are skipped and get no
    /// event, because `RETURNING` lists only the rows actually inserted.
    async fn add_members(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        group_id: &str,
        members: &[MemberRef],
    ) -> Result<bool, StoreError> {
        if members.is_empty() {
            return Ok(false);
        }
        if members.iter().any(|m| m.value == group_id) {
            return Err(StoreError::Scim(ScimError::invalid_value(format!(
                "group {group_id} cannot be a member of itself"
            ))));
        }
        let unique: BTreeSet<&str> = members.iter().map(|m| m.value.as_str()).collect();
        let unique: Vec<&str> = unique.into_iter().collect();
        // The insert takes the member type from the table the id is found in,
        // so the same statement checks that every id exists in this tenant.
        // Ids it skipped are looked up only when there are any.
        let mut inserted = Vec::new();
        for chunk in unique.chunks(300) {
            let list = placeholders(3, chunk.len());
            // Without a foreign key, this keeps rows of a deleted group out.
            let group_exists =
                "AND EXISTS (SELECT 1 FROM scim_groups g WHERE g.tenant_id = $1 AND g.id = $2)";
            let sql = format!(
                "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_kind) \
                 SELECT $1, $2, id, 'User' FROM scim_users WHERE tenant_id = $1 AND id IN ({list}) {group_exists} \
                 UNION ALL SELECT $1, $2, id, 'Group' FROM scim_groups WHERE tenant_id = $1 AND id IN ({list}) {group_exists} \
                 ON CONFLICT DO NOTHING RETURNING member_id, member_kind"
            );
            let mut binds = vec![text(&self.tenant_id), text(group_id)];
            binds.extend(chunk.iter().map(|id| text(*id)));
            for row in tx.write_returning(sql, binds).await? {
                inserted.push((
                    row.try_get::<String>("member_id")?,
                    row.try_get::<String>("member_kind")?,
                ));
            }
        }
        if inserted.len() < unique.len() {
            let skipped: Vec<String> = unique
                .iter()
                .filter(|id| !inserted.iter().any(|(m, _)| m == *id))
                .map(|id| id.to_string())
                .collect();
            let kinds = self.member_kinds(tx, &skipped).await?;
            if let Some(unknown) = skipped.iter().find(|id| !kinds.contains_key(*id)) {
                return Err(StoreError::Scim(ScimError::invalid_value(format!(
                    "member \"{unknown}\" is not the id of a user or group of this tenant; \
                     provision the member first, then add it"
                ))));
            }
        }
        self.membership_events(tx, ctx, IdentityEventKind::MemberAdded, group_id, &inserted)
            .await?;
        Ok(!inserted.is_empty())
    }

    /// Deletes memberships; ids that are not members are skipped silently
    /// (RFC 7644 §3.5.2.2 makes removing an absent value a success).
    async fn remove_members(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        group_id: &str,
        ids: &[String],
    ) -> Result<bool, StoreError> {
        let mut removed = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id IN ({}) \
                 RETURNING member_id, member_kind",
                placeholders(3, chunk.len())
            );
            let mut binds = vec![text(&self.tenant_id), text(group_id)];
            binds.extend(chunk.iter().map(text));
            for row in tx.write_returning(sql, binds).await? {
                removed.push((
                    row.try_get::<String>("member_id")?,
                    row.try_get::<String>("member_kind")?,
                ));
            }
        }
        self.membership_events(
            tx,
            ctx,
            IdentityEventKind::MemberRemoved,
            group_id,
            &removed,
        )
        .await?;
        Ok(!removed.is_empty())
    }

    async fn membership_events(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        kind: IdentityEventKind,
        group_id: &str,
        members: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let request_id = ctx.request_id.as_deref();
        let events: Vec<NewEvent<'_>> = members
            .iter()
            .map(|(member_id, member_kind)| NewEvent {
                kind,
                subject_id: group_id,
                object_id: Some(member_id),
                detail: json!({"memberType": member_kind}),
            })
            .collect();
        events::push_many(&mut batch, &self.tenant_id, request_id, events);
        tx.write(batch).await?;
        Ok(())
    }

    /// Removes every membership where `member_id` is the member (a deleted user or group).
    pub(crate) async fn remove_memberships_of(
        &self,
        tx: &mut WriteTx,
        ctx: &WriteContext,
        member_id: &str,
    ) -> Result<(), StoreError> {
        let rows = tx
            .fetch_all(
                "SELECT group_id FROM scim_group_members WHERE tenant_id = $1 AND member_id = $2",
                vec![text(&self.tenant_id), text(member_id)],
            )
            .await?;
        for row in rows {
            let group_id: String = row.try_get("group_id")?;
            self.remove_members(tx, ctx, &group_id, &[member_id.to_string()])
                .await?;
        }
        Ok(())
    }

    pub async fn delete_group(&self, ctx: &WriteContext, id: &str) -> Result<(), StoreError> {
        let (this, ctx, id) = (self.clone(), ctx.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.delete_group_now(&ctx, &id).await })
            .await
    }

    async fn delete_group_now(&self, ctx: &WriteContext, id: &str) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let current = self
            .read_for_update(&mut tx, ResourceKind::Group, id)
            .await?;
        let members = self.member_ids(&mut tx, id).await?;
        self.remove_members(&mut tx, ctx, id, &members).await?;
        self.remove_memberships_of(&mut tx, ctx, id).await?;
        let mut batch = Batch::default();
        push_replace(&mut batch, &self.tenant_id, id, &[], true);
        batch.push(
            "DELETE FROM scim_groups WHERE tenant_id = $1 AND id = $2",
            vec![text(&self.tenant_id), text(id)],
        );
        events::push(
            &mut batch,
            &self.tenant_id,
            ctx.request_id.as_deref(),
            NewEvent {
                kind: IdentityEventKind::GroupDeleted,
                subject_id: id,
                object_id: None,
                detail: json!({
                    "displayName": display_name_of(&current.document).ok(),
                    "externalId": external_id_of(&current.document),
                }),
            },
        );
        tx.write(batch).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Members of the given groups, with display names, for rendering.
    pub async fn members_of(&self, group_ids: &[String]) -> Result<Vec<MemberRow>, StoreError> {
        self.membership_rows(group_ids, "m.group_id").await
    }

    /// Direct groups of the given users, for the `groups` attribute.
    pub async fn groups_of(&self, user_ids: &[String]) -> Result<Vec<MemberRow>, StoreError> {
        self.membership_rows(user_ids, "m.member_id").await
    }

    async fn membership_rows(
        &self,
        ids: &[String],
        column: &str,
    ) -> Result<Vec<MemberRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            if chunk.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT m.group_id, m.member_id, m.member_kind, \
                 COALESCE(u.display_name, u.user_name, mg.display_name) AS member_display, g.display_name AS group_display \
                 FROM scim_group_members m \
                 JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
                 LEFT JOIN scim_users u ON u.tenant_id = m.tenant_id AND u.id = m.member_id \
                 LEFT JOIN scim_groups mg ON mg.tenant_id = m.tenant_id AND mg.id = m.member_id \
                 WHERE m.tenant_id = $1 AND {column} IN ({}) ORDER BY m.group_id, m.member_id",
                placeholders(2, chunk.len())
            );
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(self.store.read_sql(sql))).bind(&self.tenant_id);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.store.reader).await? {
                let display_column = if column == "m.group_id" {
                    "member_display"
                } else {
                    "group_display"
                };
                out.push(MemberRow {
                    group_id: row.try_get("group_id")?,
                    member_id: row.try_get("member_id")?,
                    member_kind: row.try_get("member_kind")?,
                    display: row.try_get(display_column)?,
                });
            }
        }
        Ok(out)
    }
}
