//! Deleting sites, zones and banks. A place is deleted only when nothing
//! refers to it any more. Lockers need their bank, and a policy or device
//! token left naming a deleted id would quietly apply to whatever place is
//! created later under that id.
//!
//! NOTE: on PostgreSQL a policy saved, or a device token created, while
//! the deletion runs is not seen by its checks, since neither locks the
//! place. Both may name ids that do not exist yet anyway, with a warning.

use lockgate_domain::audit::Actor;
use serde_json::{Value, json};

use super::rename::Place;
use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, text};
use crate::write_tx::WriteTx;
use crate::{Backend, StoreError, TenantStore};

impl Place {
    /// Returns the table of the level below, its column naming this level,
    /// and the word for its rows.
    fn children(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Place::Site => ("zones", "site_id", "zone"),
            Place::Zone => ("banks", "zone_id", "bank"),
            Place::Bank => ("lockers", "bank_id", "locker"),
        }
    }

    /// Returns the column naming the level above, if there is one.
    fn parent_column(self) -> Option<(&'static str, &'static str)> {
        match self {
            Place::Site => None,
            Place::Zone => Some(("site_id", "site")),
            Place::Bank => Some(("zone_id", "zone")),
        }
    }

    /// Returns the list in a policy's `what` that names places of this level.
    fn policy_list(self) -> Option<&'static str> {
        match self {
            Place::Site => None,
            Place::Zone => Some("zones"),
            Place::Bank => Some("banks"),
        }
    }
}

impl TenantStore {
    /// Deletes a site, zone or bank and records its name in the audit log,
    /// in one transaction. Returns a conflict that lists every reference
    /// still in the way: places or lockers below it, policies that name
    /// it, and device tokens of the bank that are not revoked.
    pub async fn delete_place(
        &self,
        actor: Actor,
        place: Place,
        id: &str,
    ) -> Result<(), StoreError> {
        let (this, id) = (self.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.delete_place_now(actor, place, &id).await })
            .await
    }

    async fn delete_place_now(
        &self,
        actor: Actor,
        place: Place,
        id: &str,
    ) -> Result<(), StoreError> {
        let label = place.label();
        let mut tx = WriteTx::begin(&self.store).await?;

        let Some(row) = self.read_place(&mut tx, place, id).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("{label} \"{id}\"")));
        };

        let blockers = self.blockers(&mut tx, place, id).await?;
        if !blockers.is_empty() {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "{label} \"{id}\" cannot be deleted: {}",
                blockers.join("; ")
            )));
        }

        let mut batch = Batch::default();
        batch.push(
            format!(
                "DELETE FROM {} WHERE tenant_id = $1 AND id = $2",
                place.table()
            ),
            vec![text(&self.tenant_id), text(id)],
        );
        tx.write(batch).await?;
        let audit = AuditDraft {
            source: AuditDraft::admin_source(&actor),
            actor,
            action: format!("{label}_deleted"),
            subject: id.to_string(),
            detail: row,
        };
        append_in(&mut tx, self.store.backend, &self.tenant_id, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reads the place's name and parent inside `tx` as its audit detail.
    /// On PostgreSQL the row stays locked until the transaction ends, so no
    /// locker or place can be added below it meanwhile.
    async fn read_place(
        &self,
        tx: &mut WriteTx,
        place: Place,
        id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let lock = match self.store.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let parent = place
            .parent_column()
            .map(|(column, _)| format!(", {column} AS parent"))
            .unwrap_or_default();
        let select = format!(
            "SELECT name{parent} FROM {} WHERE tenant_id = $1 AND id = $2{lock}",
            place.table()
        );
        let Some(row) = tx
            .fetch_optional(&select, vec![text(&self.tenant_id), text(id)])
            .await?
        else {
            return Ok(None);
        };
        let name: String = row.try_get("name")?;
        let mut detail = json!({"name": name});
        if let Some((_, key)) = place.parent_column() {
            let parent: String = row.try_get("parent")?;
            detail[key] = json!(parent);
        }
        Ok(Some(detail))
    }

    /// Returns one sentence for each kind of reference that keeps the place
    /// from being deleted, with the fix.
    async fn blockers(
        &self,
        tx: &mut WriteTx,
        place: Place,
        id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut blockers = Vec::new();
        let (table, column, word) = place.children();
        let children = self
            .count(
                tx,
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1 AND {column} = $2"
                ),
                id,
            )
            .await?;
        if children > 0 {
            let plural = if children == 1 { "" } else { "s" };
            blockers.push(format!(
                "it has {children} {word}{plural} (delete {} with DELETE /{table}/{{id}} first)",
                if children == 1 { "it" } else { "each" }
            ));
        }
        if let Some(list) = place.policy_list() {
            for policy in self.policies_naming(tx, list, id).await? {
                blockers.push(format!(
                    "policy \"{policy}\" names it in what.{list} (save the policy without it, \
                     or retire the policy)"
                ));
            }
        }
        if place == Place::Bank {
            let tokens = self
                .count(
                    tx,
                    "SELECT COUNT(*) AS n FROM credentials WHERE tenant_id = $1 \
                     AND kind = 'device_token' AND scope = $2 AND revoked_at IS NULL",
                    id,
                )
                .await?;
            if tokens > 0 {
                blockers.push(format!(
                    "{tokens} device token{} of the bank {} not revoked (`lockgate device-token \
                     list` shows them, `lockgate device-token revoke` revokes one)",
                    if tokens == 1 { "" } else { "s" },
                    if tokens == 1 { "is" } else { "are" }
                ));
            }
        }
        Ok(blockers)
    }

    async fn count(&self, tx: &mut WriteTx, sql: &str, id: &str) -> Result<i64, StoreError> {
        let row = tx
            .fetch_optional(sql, vec![text(&self.tenant_id), text(id)])
            .await?;
        Ok(match row {
            Some(row) => row.try_get("n")?,
            None => 0,
        })
    }

    /// Returns the ids of the policies in force whose newest version names
    /// `id` in `what.<list>`.
    async fn policies_naming(
        &self,
        tx: &mut WriteTx,
        list: &str,
        id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = tx
            .fetch_all(
                "SELECT id, document, retired FROM policies p WHERE tenant_id = $1 AND version = \
                 (SELECT MAX(version) FROM policies q WHERE q.tenant_id = p.tenant_id AND q.id = p.id) \
                 ORDER BY id",
                vec![text(&self.tenant_id)],
            )
            .await?;
        let mut naming = Vec::new();
        for row in rows {
            let retired: i64 = row.try_get("retired")?;
            let policy: String = row.try_get("id")?;
            let document: String = row.try_get("document")?;
            let document: Value = serde_json::from_str(&document)
                .map_err(|e| StoreError::Corrupt(format!("policy {policy}: {e}")))?;
            let names = document["what"][list]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|named| named.as_str() == Some(id)));
            if retired == 0 && names {
                naming.push(policy);
            }
        }
        Ok(naming)
    }
}
