//! Deleting sites, zones and banks. A place is deleted only when nothing
//! refers to it any more. Lockers need their bank, and a policy or device
//! token left naming a deleted id would quietly apply to whatever place is
//! created later under that id.
//!
//! NOTE: on PostgreSQL a policy saved, or a device token created, while
//! the deletion runs is not seen by its checks, since neither locks the
//! place. Both may name ids that do not exist yet anyway, with a warning.

use lockgate_domain::access::model::LockerId;
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

/// Ids named in a 409 at most; the rest are counted.
const LISTED: usize = 10;

/// The references of one kind: how many, and the first ids.
struct Ids {
    count: usize,
    first: Vec<String>,
}

impl Ids {
    /// Returns the ids as a list for a message, or `None` when there are
    /// none.
    fn listed(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut listed = self.first.join(", ");
        if self.count > self.first.len() {
            listed.push_str(&format!(" and {} more", self.count - self.first.len()));
        }
        Some(listed)
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
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
            .ids(
                tx,
                &format!(
                    "SELECT id FROM {table} WHERE tenant_id = $1 AND {column} = $2 ORDER BY id"
                ),
                id,
            )
            .await?;
        if let Some(listed) = children.listed() {
            let (count, plural) = (children.count, plural(children.count));
            let pronoun = if count == 1 { "it" } else { "each" };
            let assigned = if place == Place::Bank {
                "; an assigned locker needs its assignment ended first, with \
                 POST /assignments/{id}/end"
            } else {
                ""
            };
            blockers.push(format!(
                "it has {count} {word}{plural}: {listed} (delete {pronoun} with \
                 DELETE /{table}/{{id}} first{assigned})"
            ));
        }
        if let Some(list) = place.policy_list() {
            for (policy, last_place) in self.policies_naming(tx, list, id).await? {
                // An empty list places no limit, so a policy saved without
                // its last bank or zone would cover every bank.
                let fix = if last_place {
                    "retire the policy: saved without it, the policy would name no bank or \
                     zone and cover every bank"
                } else {
                    "save the policy without it, or retire the policy"
                };
                blockers.push(format!(
                    "policy \"{policy}\" names it in what.{list} ({fix})"
                ));
            }
        }
        if place == Place::Bank {
            let tokens = self
                .ids(
                    tx,
                    "SELECT id FROM credentials WHERE tenant_id = $1 \
                     AND kind = 'device_token' AND scope = $2 AND revoked_at IS NULL ORDER BY id",
                    id,
                )
                .await?;
            if let Some(listed) = tokens.listed() {
                let (count, plural) = (tokens.count, plural(tokens.count));
                let verb = if count == 1 { "is" } else { "are" };
                blockers.push(format!(
                    "{count} device token{plural} of the bank {verb} not revoked: {listed} \
                     (revoke each with DELETE /device-tokens/{{id}} or \
                     `lockgate device-token revoke TENANT ID`)"
                ));
            }
        }
        Ok(blockers)
    }

    /// Runs `sql`, which selects `id` for the tenant and `$2`, and returns
    /// the count with the first ids.
    async fn ids(&self, tx: &mut WriteTx, sql: &str, id: &str) -> Result<Ids, StoreError> {
        let rows = tx
            .fetch_all(sql, vec![text(&self.tenant_id), text(id)])
            .await?;
        let mut ids = rows
            .iter()
            .map(|row| row.try_get::<String>("id"))
            .collect::<Result<Vec<_>, _>>()?;
        // In door order, as lockers are listed: w3-a-2 before w3-a-10.
        ids.sort_by(|a, b| LockerId::compare_doors(a, b));
        let count = ids.len();
        ids.truncate(LISTED);
        Ok(Ids { count, first: ids })
    }

    /// Returns the ids of the policies in force whose newest version names
    /// `id` in `what.<list>`, each with whether `id` is the only bank or
    /// zone the policy names.
    async fn policies_naming(
        &self,
        tx: &mut WriteTx,
        list: &str,
        id: &str,
    ) -> Result<Vec<(String, bool)>, StoreError> {
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
            let named = |key: &str| -> Vec<&str> {
                let ids = document["what"][key].as_array();
                ids.map(|ids| ids.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default()
            };
            let other = if list == "banks" { "zones" } else { "banks" };
            let in_list = named(list);
            if retired == 0 && in_list.contains(&id) {
                let last_place =
                    in_list.iter().all(|place| *place == id) && named(other).is_empty();
                naming.push((policy, last_place));
            }
        }
        Ok(naming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(count: usize) -> Ids {
        Ids {
            count,
            first: (1..=count.min(LISTED)).map(|n| format!("z{n}")).collect(),
        }
    }

    #[test]
    fn listed_names_first_ids_and_counts_rest() {
        assert_eq!(ids(0).listed(), None);
        assert_eq!(ids(2).listed().unwrap(), "z1, z2");
        let many = ids(LISTED + 3).listed().unwrap();
        assert!(many.starts_with("z1, z2, "), "{many}");
        assert!(many.ends_with("z10 and 3 more"), "{many}");
    }
}
