//! Renaming sites, zones and banks. Their ids stay, because lockers,
//! policies, device tokens and audit records refer to them by id.

use lockgate_domain::audit::Actor;
use serde_json::json;

use super::validate::name_problem;
use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, text};
use crate::write_tx::WriteTx;
use crate::{Backend, StoreError, TenantStore};

/// A level of the physical model above the lockers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Site,
    Zone,
    Bank,
}

impl Place {
    /// Returns the word for the level in messages and audit actions.
    pub fn label(self) -> &'static str {
        match self {
            Place::Site => "site",
            Place::Zone => "zone",
            Place::Bank => "bank",
        }
    }

    pub(super) fn table(self) -> &'static str {
        match self {
            Place::Site => "sites",
            Place::Zone => "zones",
            Place::Bank => "banks",
        }
    }
}

impl TenantStore {
    /// Renames a site, zone or bank and records the old and the new name
    /// in the audit log, in one transaction. A name equal to the stored one
    /// changes nothing and writes no record.
    pub async fn rename_place(
        &self,
        actor: Actor,
        place: Place,
        id: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        let label = place.label();
        if let Some(problem) = name_problem(label, id, name) {
            return Err(StoreError::Invalid(problem));
        }
        let (store, tenant_id) = (self.store.clone(), self.tenant_id.clone());
        let (id, name) = (id.to_string(), name.trim().to_string());
        self.store
            .run_write(move || async move {
                let mut tx = WriteTx::begin(&store).await?;
                // Read inside the write transaction, so two renames at once
                // record each other's names correctly. SQLite runs write
                // transactions one at a time, but PostgreSQL needs the row lock.
                let lock = match store.backend {
                    Backend::Postgres => " FOR UPDATE",
                    Backend::Sqlite => "",
                };
                let select = format!(
                    "SELECT name FROM {} WHERE tenant_id = $1 AND id = $2{lock}",
                    place.table()
                );
                let Some(row) = tx
                    .fetch_optional(&select, vec![text(&tenant_id), text(&id)])
                    .await?
                else {
                    tx.rollback().await?;
                    return Err(StoreError::NotFound(format!("{label} \"{id}\"")));
                };
                let previous: String = row.try_get("name")?;
                if previous == name {
                    tx.rollback().await?;
                    return Ok(());
                }
                let mut batch = Batch::default();
                batch.push(
                    format!(
                        "UPDATE {} SET name = $1 WHERE tenant_id = $2 AND id = $3",
                        place.table()
                    ),
                    vec![text(&name), text(&tenant_id), text(&id)],
                );
                tx.write(batch).await?;
                let audit = AuditDraft {
                    source: AuditDraft::admin_source(&actor),
                    actor,
                    action: format!("{label}_renamed"),
                    subject: id,
                    detail: json!({"from": previous, "to": name}),
                };
                append_in(&mut tx, store.backend, &tenant_id, vec![audit]).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
    }
}
