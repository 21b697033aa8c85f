//! The physical model of a tenant: sites contain zones, zones contain
//! locker banks, and banks contain lockers. Admins create them one at a
//! time or import many at once, and change the operational state of a
//! locker.
//!
//! Every write checks all of its rows before it writes anything, and
//! appends its audit records in the same transaction. An import is one
//! transaction, so it writes every row or none.

mod delete;
mod document;
mod rename;
mod validate;

#[cfg(test)]
mod tests;

pub use document::{BankEntry, LockerEntry, PhysicalDocument, SiteEntry, ZoneEntry};
pub use rename::Place;

use std::fmt;

use lockgate_domain::access::model::{
    BankId, Locker, LockerId, LockerKind, LockerSize, LockerState, SiteId, ZoneId,
};
use lockgate_domain::audit::Actor;
use lockgate_domain::timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;

use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, text};
use crate::filter_sql::Bind;
use crate::write_tx::WriteTx;
use crate::{StoreError, TenantStore};

/// Rows per multi-row insert. The widest row (a locker) has 9 values, so a
/// statement stays far below SQLite's limit of 32,766 bound values.
const ROWS_PER_INSERT: usize = 200;

/// A site as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub created_at: String,
}

/// A zone as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub id: ZoneId,
    pub site: SiteId,
    pub name: String,
    pub created_at: String,
}

/// A locker bank as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    pub id: BankId,
    pub zone: ZoneId,
    pub name: String,
    pub created_at: String,
}

/// A locker as stored, with the bank, zone and site it sits in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockerRecord {
    pub id: LockerId,
    pub bank: BankId,
    pub zone: ZoneId,
    pub site: SiteId,
    /// The door label, unique within the bank.
    pub door: String,
    pub kind: LockerKind,
    pub size: LockerSize,
    pub state: LockerState,
    pub created_at: String,
    pub modified_at: String,
}

impl LockerRecord {
    /// Returns the locker as the access rules see it.
    pub fn locker(&self) -> Locker {
        Locker {
            id: self.id.clone(),
            bank: self.bank.clone(),
            zone: self.zone.clone(),
            site: self.site.clone(),
            kind: self.kind,
            size: self.size,
            state: self.state,
        }
    }
}

/// A locker as the decision index loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedLocker {
    pub locker: Locker,
    pub door: String,
}

/// A site to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub id: String,
    pub name: String,
}

/// A zone to create in an existing site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewZone {
    pub id: String,
    pub site: String,
    pub name: String,
}

/// A locker bank to create in an existing zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBank {
    pub id: String,
    pub zone: String,
    pub name: String,
}

/// A locker to create in an existing bank. Kind and size are text, so a
/// bad value is reported with the valid ones like every other rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLocker {
    pub id: String,
    pub bank: String,
    pub door: String,
    pub kind: String,
    pub size: String,
}

/// A selection of lockers; unset fields match every locker.
#[derive(Debug, Clone, Default)]
pub struct LockerFilter {
    pub bank: Option<String>,
    pub zone: Option<String>,
    pub state: Option<LockerState>,
}

/// The place of an import row in its source, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    /// `line 7` for a CSV file, `sites[0].zones[1]` for a document.
    pub label: String,
    /// Position in the source. Problems are reported in this order.
    pub position: usize,
}

impl RowRef {
    pub fn new(label: impl Into<String>, position: usize) -> RowRef {
        RowRef {
            label: label.into(),
            position,
        }
    }
}

/// A site row of an import. Without a name it refers to a site that
/// already exists, so that zones can be added to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRow {
    pub at: RowRef,
    pub id: String,
    pub name: Option<String>,
}

/// A zone row of an import. Without a name it refers to an existing zone
/// of `site`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRow {
    pub at: RowRef,
    pub id: String,
    pub site: String,
    pub name: Option<String>,
}

/// A bank row of an import. Without a name it refers to an existing bank
/// of `zone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankRow {
    pub at: RowRef,
    pub id: String,
    pub zone: String,
    pub name: Option<String>,
}

/// A locker row of an import; every locker row creates a locker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockerRow {
    pub at: RowRef,
    pub id: String,
    pub bank: String,
    pub door: String,
    pub kind: String,
    pub size: String,
}

/// Sites, zones, banks and lockers to write in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhysicalImport {
    pub sites: Vec<SiteRow>,
    pub zones: Vec<ZoneRow>,
    pub banks: Vec<BankRow>,
    pub lockers: Vec<LockerRow>,
    /// Problems found while reading the source, such as a malformed door
    /// range. They are reported with the others and block the import.
    pub problems: Vec<RowProblem>,
}

/// The class of a broken rule, which decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The value breaks a format rule.
    Invalid,
    /// The row names a site, zone or bank that does not exist.
    NotFound,
    /// The id or door is already taken.
    Conflict,
}

/// One broken rule of one row; the message names the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// The row label, such as `line 7`.
    pub row: String,
    #[serde(skip)]
    pub position: usize,
    pub kind: ProblemKind,
    pub message: String,
}

impl RowProblem {
    pub fn new(at: &RowRef, kind: ProblemKind, message: impl Into<String>) -> RowProblem {
        RowProblem {
            row: at.label.clone(),
            position: at.position,
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.row, self.message)
    }
}

/// Counts of what an import created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub sites: usize,
    pub zones: usize,
    pub banks: usize,
    pub lockers: usize,
}

impl fmt::Display for ImportSummary {
    /// Writes `imported 1 site, 3 zones, 4 banks, 60 lockers`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |n: usize, noun: &str| {
            if n == 1 {
                format!("1 {noun}")
            } else {
                format!("{n} {noun}s")
            }
        };
        write!(
            f,
            "imported {}, {}, {}, {}",
            count(self.sites, "site"),
            count(self.zones, "zone"),
            count(self.banks, "bank"),
            count(self.lockers, "locker")
        )
    }
}

/// The reason an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows that break the rules, in source order.
    #[error("{} problems in the import; nothing was imported", .0.len())]
    Rejected(Vec<RowProblem>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(err: sqlx::Error) -> Self {
        ImportError::Store(err.into())
    }
}

impl ImportError {
    /// Turns the problems of a single create into one store error: a
    /// conflict when every problem is a taken id or door, else invalid.
    fn into_store_error(self) -> StoreError {
        match self {
            ImportError::Store(err) => err,
            ImportError::Rejected(problems) => {
                let message = problems
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                if problems.iter().all(|p| p.kind == ProblemKind::Conflict) {
                    StoreError::Conflict(message)
                } else {
                    StoreError::Invalid(message)
                }
            }
        }
    }
}

/// Whether a write is one admin create or an import, which changes the
/// audit records and the hints in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    Single,
    Import,
}

/// A locker state change and the rules it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StateChange {
    /// An admin sets `blocked`, `maintenance` or `available`.
    Admin(LockerState),
    /// A facility manager records a locker in clear-out as emptied, and
    /// sets `available`, `blocked` or `maintenance`.
    Emptied {
        note: Option<String>,
        then: LockerState,
    },
    /// The lifecycle engine starts a clear-out.
    ClearOut,
}

/// Maximum length of the note on an emptied record, in characters.
const MAX_NOTE_CHARS: usize = 500;

/// Returns the snake_case text of a serde enum, as stored.
fn enum_text<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        other => unreachable!("locker enums serialize as strings, got {other:?}"),
    }
}

/// Parses the snake_case text of a serde enum.
fn parse_enum<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

/// The columns of [`locker_from_row`]: the locker, its bank's zone and the
/// zone's site.
const LOCKER_COLUMNS: &str = "SELECT l.id, l.bank_id, b.zone_id, z.site_id, l.door, l.kind, \
     l.size, l.state, l.created_at, l.modified_at";
const LOCKER_FROM: &str = "FROM lockers l \
     JOIN banks b ON b.tenant_id = l.tenant_id AND b.id = l.bank_id \
     JOIN zones z ON z.tenant_id = b.tenant_id AND z.id = b.zone_id";

fn locker_from_row(row: &impl crate::rows::Columns) -> Result<LockerRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let stored = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let corrupt = |column: &str, value: &str| {
        StoreError::Corrupt(format!(
            "locker \"{id}\" has the unknown {column} \"{value}\""
        ))
    };
    let kind = stored("kind")?;
    let size = stored("size")?;
    let state = stored("state")?;
    Ok(LockerRecord {
        bank: BankId::new(stored("bank_id")?),
        zone: ZoneId::new(stored("zone_id")?),
        site: SiteId::new(stored("site_id")?),
        door: stored("door")?,
        kind: parse_enum(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        size: parse_enum(&size).ok_or_else(|| corrupt("size", &size))?,
        state: parse_enum(&state).ok_or_else(|| corrupt("state", &state))?,
        created_at: stored("created_at")?,
        modified_at: stored("modified_at")?,
        id: LockerId::new(id),
    })
}

/// Adds multi-row inserts of `rows` to `batch`; `head` ends with `VALUES `.
fn push_inserts(batch: &mut Batch, head: &str, rows: Vec<Vec<Bind>>) {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = String::from(head);
        let mut binds = Vec::new();
        for (i, row) in rows.by_ref().take(ROWS_PER_INSERT).enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let first = binds.len();
            let placeholders: Vec<String> =
                (1..=row.len()).map(|n| format!("${}", first + n)).collect();
            sql.push('(');
            sql.push_str(&placeholders.join(", "));
            sql.push(')');
            binds.extend(row);
        }
        batch.push(sql, binds);
    }
}

/// Trims a name for storage; the checks have made sure one is left.
fn stored_name(name: &str) -> String {
    name.trim().to_string()
}

impl TenantStore {
    pub async fn create_site(&self, actor: Actor, site: NewSite) -> Result<Site, StoreError> {
        let import = PhysicalImport {
            sites: vec![SiteRow {
                at: RowRef::new("site", 0),
                id: site.id.clone(),
                name: Some(site.name.clone()),
            }],
            ..PhysicalImport::default()
        };
        let created_at = self.write_single(actor, import).await?;
        Ok(Site {
            id: SiteId::new(site.id),
            name: stored_name(&site.name),
            created_at,
        })
    }

    pub async fn create_zone(&self, actor: Actor, zone: NewZone) -> Result<Zone, StoreError> {
        let import = PhysicalImport {
            zones: vec![ZoneRow {
                at: RowRef::new("zone", 0),
                id: zone.id.clone(),
                site: zone.site.clone(),
                name: Some(zone.name.clone()),
            }],
            ..PhysicalImport::default()
        };
        let created_at = self.write_single(actor, import).await?;
        Ok(Zone {
            id: ZoneId::new(zone.id),
            site: SiteId::new(zone.site),
            name: stored_name(&zone.name),
            created_at,
        })
    }

    pub async fn create_bank(&self, actor: Actor, bank: NewBank) -> Result<Bank, StoreError> {
        let import = PhysicalImport {
            banks: vec![BankRow {
                at: RowRef::new("bank", 0),
                id: bank.id.clone(),
                zone: bank.zone.clone(),
                name: Some(bank.name.clone()),
            }],
            ..PhysicalImport::default()
        };
        let created_at = self.write_single(actor, import).await?;
        Ok(Bank {
            id: BankId::new(bank.id),
            zone: ZoneId::new(bank.zone),
            name: stored_name(&bank.name),
            created_at,
        })
    }

    /// Creates an `available` locker.
    pub async fn create_locker(
        &self,
        actor: Actor,
        locker: NewLocker,
    ) -> Result<LockerRecord, StoreError> {
        let id = locker.id.clone();
        let import = PhysicalImport {
            lockers: vec![LockerRow {
                at: RowRef::new("locker", 0),
                id: locker.id,
                bank: locker.bank,
                door: locker.door,
                kind: locker.kind,
                size: locker.size,
            }],
            ..PhysicalImport::default()
        };
        self.write_single(actor, import).await?;
        self.get_locker(&id).await?.ok_or_else(|| {
            StoreError::Internal(format!(
                "locker \"{id}\" was not found right after it was created"
            ))
        })
    }

    /// Writes the sites, zones, banks and lockers of `import` in one
    /// transaction, or nothing when any row breaks a rule. Lockers start
    /// `available`. Rows without a name refer to existing sites, zones and
    /// banks and create nothing.
    pub async fn import_physical(
        &self,
        actor: Actor,
        import: PhysicalImport,
    ) -> Result<ImportSummary, ImportError> {
        let this = self.clone();
        let (summary, _) = self
            .store
            .run_write(move || async move {
                Ok(this.write_rows(&actor, import, WriteMode::Import).await)
            })
            .await??;
        Ok(summary)
    }

    /// Writes a one-row import and returns its creation time.
    async fn write_single(
        &self,
        actor: Actor,
        import: PhysicalImport,
    ) -> Result<String, StoreError> {
        let this = self.clone();
        let written = self
            .store
            .run_write(move || async move {
                Ok(this.write_rows(&actor, import, WriteMode::Single).await)
            })
            .await?;
        written
            .map(|(_, created_at)| created_at)
            .map_err(ImportError::into_store_error)
    }

    /// Checks every row, then writes the rows and their audit records.
    /// Returns what was created and the creation time.
    async fn write_rows(
        &self,
        actor: &Actor,
        import: PhysicalImport,
        mode: WriteMode,
    ) -> Result<(ImportSummary, String), ImportError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let existing = validate::Existing::load(&mut tx, &self.tenant_id, &import).await?;
        let problems = validate::check(&import, &existing, mode);
        if !problems.is_empty() {
            tx.rollback().await?;
            return Err(ImportError::Rejected(problems));
        }

        let now = timestamp::now();
        let (batch, drafts, summary) = self.insert_statements(actor, &import, mode, &now);
        // An import of references alone creates nothing, so it leaves no
        // audit record either.
        if summary == ImportSummary::default() {
            tx.rollback().await?;
            return Ok((summary, now));
        }
        let written = async {
            tx.write(batch).await?;
            append_in(&mut tx, self.store.backend, &self.tenant_id, drafts).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        match written {
            Ok(()) => Ok((summary, now)),
            // The checks saw every id free, so only a concurrent writer on
            // PostgreSQL can take one between the check and the insert.
            Err(StoreError::Database(e)) if StoreError::is_unique_violation(&e) => {
                Err(ImportError::Store(StoreError::Conflict(
                    "another change created one of these ids or doors at the same time; \
                     list the current model and retry"
                        .into(),
                )))
            }
            // Likewise, a deletion that commits between the checks and the
            // insert can remove a site, zone or bank the checks found.
            Err(StoreError::Database(e)) if StoreError::is_foreign_key_violation(&e) => {
                Err(ImportError::Store(StoreError::Conflict(
                    "another change deleted a site, zone or bank these rows refer to at the \
                     same time; list the current model and retry"
                        .into(),
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Builds the inserts and audit drafts for the rows that create
    /// something, parents before children as the foreign keys require.
    fn insert_statements(
        &self,
        actor: &Actor,
        import: &PhysicalImport,
        mode: WriteMode,
        now: &str,
    ) -> (Batch, Vec<AuditDraft>, ImportSummary) {
        let tenant = &self.tenant_id;
        let mut summary = ImportSummary::default();
        let mut drafts = Vec::new();
        let mut draft = |action: &str, subject: &str, detail: Value| {
            drafts.push(AuditDraft {
                actor: actor.clone(),
                source: AuditDraft::admin_source(actor),
                action: action.to_string(),
                subject: subject.to_string(),
                detail,
            });
        };

        let mut sites = Vec::new();
        for row in &import.sites {
            if let Some(name) = &row.name {
                let name = stored_name(name);
                draft("site_created", &row.id, json!({"name": name}));
                sites.push(vec![text(tenant), text(&row.id), text(name), text(now)]);
            }
        }
        let mut zones = Vec::new();
        for row in &import.zones {
            if let Some(name) = &row.name {
                let name = stored_name(name);
                draft(
                    "zone_created",
                    &row.id,
                    json!({"name": name, "site": row.site}),
                );
                zones.push(vec![
                    text(tenant),
                    text(&row.id),
                    text(&row.site),
                    text(name),
                    text(now),
                ]);
            }
        }
        let mut banks = Vec::new();
        for row in &import.banks {
            if let Some(name) = &row.name {
                let name = stored_name(name);
                draft(
                    "bank_created",
                    &row.id,
                    json!({"name": name, "zone": row.zone}),
                );
                banks.push(vec![
                    text(tenant),
                    text(&row.id),
                    text(&row.zone),
                    text(name),
                    text(now),
                ]);
            }
        }
        let available = enum_text(LockerState::Available);
        let mut lockers = Vec::new();
        for row in &import.lockers {
            draft(
                "locker_created",
                &row.id,
                json!({"bank": row.bank, "door": row.door, "kind": row.kind, "size": row.size}),
            );
            lockers.push(vec![
                text(tenant),
                text(&row.id),
                text(&row.bank),
                text(&row.door),
                text(&row.kind),
                text(&row.size),
                text(&available),
                text(now),
                text(now),
            ]);
        }
        summary.sites = sites.len();
        summary.zones = zones.len();
        summary.banks = banks.len();
        summary.lockers = lockers.len();
        if mode == WriteMode::Import {
            draft(
                "physical_imported",
                tenant,
                json!({
                    "sites": summary.sites,
                    "zones": summary.zones,
                    "banks": summary.banks,
                    "lockers": summary.lockers,
                }),
            );
        }

        let mut batch = Batch::default();
        push_inserts(
            &mut batch,
            "INSERT INTO sites (tenant_id, id, name, created_at) VALUES ",
            sites,
        );
        push_inserts(
            &mut batch,
            "INSERT INTO zones (tenant_id, id, site_id, name, created_at) VALUES ",
            zones,
        );
        push_inserts(
            &mut batch,
            "INSERT INTO banks (tenant_id, id, zone_id, name, created_at) VALUES ",
            banks,
        );
        push_inserts(
            &mut batch,
            "INSERT INTO lockers (tenant_id, id, bank_id, door, kind, size, state, created_at, modified_at) \
             VALUES ",
            lockers,
        );
        (batch, drafts, summary)
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, created_at FROM sites WHERE tenant_id = $1 ORDER BY id")
                .bind(&self.tenant_id)
                .fetch_all(&self.store.reader)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Site {
                    id: SiteId::new(row.try_get::<String, _>("id")?),
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Lists zones, of one site when `site` is set.
    pub async fn list_zones(&self, site: Option<&str>) -> Result<Vec<Zone>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, site_id, name, created_at FROM zones \
             WHERE tenant_id = $1 AND ($2 = '' OR site_id = $2) ORDER BY id",
        )
        .bind(&self.tenant_id)
        .bind(site.unwrap_or_default())
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Zone {
                    id: ZoneId::new(row.try_get::<String, _>("id")?),
                    site: SiteId::new(row.try_get::<String, _>("site_id")?),
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Lists banks, of one zone when `zone` is set.
    pub async fn list_banks(&self, zone: Option<&str>) -> Result<Vec<Bank>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, zone_id, name, created_at FROM banks \
             WHERE tenant_id = $1 AND ($2 = '' OR zone_id = $2) ORDER BY id",
        )
        .bind(&self.tenant_id)
        .bind(zone.unwrap_or_default())
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Bank {
                    id: BankId::new(row.try_get::<String, _>("id")?),
                    zone: ZoneId::new(row.try_get::<String, _>("zone_id")?),
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    // NOTE: lists return every match without paging; a tenant with tens
    // of thousands of lockers gets one large response.
    pub async fn list_lockers(
        &self,
        filter: &LockerFilter,
    ) -> Result<Vec<LockerRecord>, StoreError> {
        let sql = format!(
            "{LOCKER_COLUMNS} {LOCKER_FROM} WHERE l.tenant_id = $1 AND ($2 = '' OR l.bank_id = $2) \
             AND ($3 = '' OR b.zone_id = $3) AND ($4 = '' OR l.state = $4) ORDER BY l.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .bind(filter.bank.clone().unwrap_or_default())
            .bind(filter.zone.clone().unwrap_or_default())
            .bind(filter.state.map(enum_text).unwrap_or_default())
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter().map(locker_from_row).collect()
    }

    pub async fn get_locker(&self, id: &str) -> Result<Option<LockerRecord>, StoreError> {
        let sql = format!("{LOCKER_COLUMNS} {LOCKER_FROM} WHERE l.tenant_id = $1 AND l.id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .bind(id)
            .fetch_optional(&self.store.reader)
            .await?;
        row.as_ref().map(locker_from_row).transpose()
    }

    /// Lists every locker of the tenant with its bank, zone, site and door,
    /// for the in-memory decision index.
    pub async fn lockers_for_index(&self) -> Result<Vec<IndexedLocker>, StoreError> {
        let records = self.list_lockers(&LockerFilter::default()).await?;
        Ok(records
            .into_iter()
            .map(|record| IndexedLocker {
                locker: record.locker(),
                door: record.door,
            })
            .collect())
    }

    /// Sets a locker to `blocked`, `maintenance` or `available`, as an
    /// admin does. `assigned` and `clear_out` belong to the lifecycle
    /// engine. A locker in clear-out leaves it only through
    /// [`TenantStore::mark_emptied`], and a locker with an open assignment
    /// cannot become `available`. Setting the current state changes nothing.
    pub async fn set_locker_state(
        &self,
        actor: Actor,
        id: &str,
        state: LockerState,
    ) -> Result<LockerRecord, StoreError> {
        self.change_state(actor, id, StateChange::Admin(state))
            .await
    }

    /// Records a locker in clear-out as emptied by a facility manager and
    /// sets it to `then`: `available` again, or `blocked` or `maintenance`
    /// for a locker that should not be assigned, such as one to be
    /// removed. `note` is kept in the audit record, such as where the
    /// contents went.
    pub async fn mark_emptied(
        &self,
        actor: Actor,
        id: &str,
        note: Option<String>,
        then: LockerState,
    ) -> Result<LockerRecord, StoreError> {
        self.change_state(actor, id, StateChange::Emptied { note, then })
            .await
    }

    /// Sets a locker to `clear_out`, as the lifecycle engine does when the
    /// owner of a locker that may hold belongings loses it. No one else
    /// may be given the locker until it is recorded emptied.
    pub async fn begin_clear_out(
        &self,
        actor: Actor,
        id: &str,
    ) -> Result<LockerRecord, StoreError> {
        self.change_state(actor, id, StateChange::ClearOut).await
    }

    async fn change_state(
        &self,
        actor: Actor,
        id: &str,
        change: StateChange,
    ) -> Result<LockerRecord, StoreError> {
        if let StateChange::Admin(state) = &change {
            check_admin_target(id, *state)?;
        }
        if let StateChange::Emptied { then, .. } = &change {
            check_admin_target(id, *then)?;
        }
        if let StateChange::Emptied {
            note: Some(note), ..
        } = &change
            && note.chars().count() > MAX_NOTE_CHARS
        {
            return Err(StoreError::Invalid(format!(
                "the note has {} characters; shorten it to at most {MAX_NOTE_CHARS}",
                note.chars().count()
            )));
        }
        let (this, id) = (self.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.change_state_now(&actor, &id, change).await })
            .await
    }

    async fn change_state_now(
        &self,
        actor: &Actor,
        id: &str,
        change: StateChange,
    ) -> Result<LockerRecord, StoreError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let Some((current, open_assignments)) = self.read_locker_in(&mut tx, id).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("locker \"{id}\"")));
        };
        let plan = match plan_change(&current, open_assignments, &change) {
            Ok(Some(plan)) => plan,
            Ok(None) => {
                tx.rollback().await?;
                return Ok(current);
            }
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };

        let now = timestamp::now();
        // The state read above and, for `available`, the absence of an
        // open assignment are conditions of the update itself, so on
        // PostgreSQL a concurrent change makes it update no row.
        let mut sql = String::from(
            "UPDATE lockers SET state = $1, modified_at = $2 \
             WHERE tenant_id = $3 AND id = $4 AND state = $5",
        );
        if plan.target == LockerState::Available {
            sql.push_str(
                " AND NOT EXISTS (SELECT 1 FROM assignments a \
                 WHERE a.tenant_id = $3 AND a.locker_id = $4 AND a.ended_at IS NULL)",
            );
        }
        let binds = vec![
            text(enum_text(plan.target)),
            text(&now),
            text(&self.tenant_id),
            text(id),
            text(enum_text(current.state)),
        ];
        if tx.write_checked(&sql, binds).await? == 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "locker \"{id}\" changed while this request ran; read it again and retry"
            )));
        }
        let mut detail = json!({"from": current.state, "to": plan.target});
        if let StateChange::Emptied { note, .. } = &change {
            detail["note"] = json!(note);
        }
        let draft = AuditDraft {
            actor: actor.clone(),
            source: AuditDraft::admin_source(actor),
            action: plan.action.to_string(),
            subject: id.to_string(),
            detail,
        };
        append_in(&mut tx, self.store.backend, &self.tenant_id, vec![draft]).await?;
        tx.commit().await?;
        Ok(LockerRecord {
            state: plan.target,
            modified_at: now,
            ..current
        })
    }

    /// Deletes a locker. A locker with an open assignment is kept, and
    /// ended assignments stay as history.
    pub async fn delete_locker(&self, actor: Actor, id: &str) -> Result<(), StoreError> {
        let (this, id) = (self.clone(), id.to_string());
        self.store
            .run_write(move || async move { this.delete_locker_now(&actor, &id).await })
            .await
    }

    async fn delete_locker_now(&self, actor: &Actor, id: &str) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.store).await?;
        let Some((current, open_assignments)) = self.read_locker_in(&mut tx, id).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("locker \"{id}\"")));
        };
        if open_assignments > 0 {
            tx.rollback().await?;
            return Err(open_assignment_conflict(id, "deleted"));
        }
        // Deleting and creating the locker again would skip the record
        // that it was emptied, and hand the belongings to its next user.
        if current.state == LockerState::ClearOut {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "locker \"{id}\" is in clear_out and may still hold its previous owner's \
                 belongings; record it emptied before deleting it, with \
                 POST /lockers/{id}/emptied and {{\"state\": \"blocked\"}} so that the \
                 engine does not assign it in between"
            )));
        }
        let deleted = tx
            .write_checked(
                "DELETE FROM lockers WHERE tenant_id = $1 AND id = $2 AND state <> 'clear_out' \
                 AND NOT EXISTS (SELECT 1 FROM assignments a \
                 WHERE a.tenant_id = $1 AND a.locker_id = $2 AND a.ended_at IS NULL)",
                vec![text(&self.tenant_id), text(id)],
            )
            .await?;
        if deleted == 0 {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "locker \"{id}\" changed while this request ran; read it again and retry"
            )));
        }
        let draft = AuditDraft {
            actor: actor.clone(),
            source: AuditDraft::admin_source(actor),
            action: "locker_deleted".into(),
            subject: id.to_string(),
            detail: json!({"bank": current.bank, "door": current.door, "state": current.state}),
        };
        append_in(&mut tx, self.store.backend, &self.tenant_id, vec![draft]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reads a locker and the number of its open assignments inside `tx`.
    async fn read_locker_in(
        &self,
        tx: &mut WriteTx,
        id: &str,
    ) -> Result<Option<(LockerRecord, i64)>, StoreError> {
        let sql = format!(
            "{LOCKER_COLUMNS}, (SELECT COUNT(*) FROM assignments a WHERE a.tenant_id = l.tenant_id \
             AND a.locker_id = l.id AND a.ended_at IS NULL) AS open_assignments {LOCKER_FROM} \
             WHERE l.tenant_id = $1 AND l.id = $2"
        );
        let row = tx
            .fetch_optional(sql, vec![text(&self.tenant_id), text(id)])
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let open: i64 = row.try_get("open_assignments")?;
        Ok(Some((locker_from_row(&row)?, open)))
    }
}

/// The state a change leads to and its audit action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    target: LockerState,
    action: &'static str,
}

fn check_admin_target(id: &str, state: LockerState) -> Result<(), StoreError> {
    match state {
        LockerState::Blocked | LockerState::Maintenance | LockerState::Available => Ok(()),
        LockerState::Assigned => Err(StoreError::Invalid(format!(
            "state \"assigned\" cannot be set by hand on locker \"{id}\": the lifecycle engine \
             assigns lockers to entitled users; set blocked, maintenance or available"
        ))),
        LockerState::ClearOut => Err(StoreError::Invalid(format!(
            "state \"clear_out\" cannot be set by hand on locker \"{id}\": the lifecycle engine \
             starts a clear-out when the owner loses the locker; set blocked, maintenance or available"
        ))),
    }
}

fn open_assignment_conflict(id: &str, verb: &str) -> StoreError {
    StoreError::Conflict(format!(
        "locker \"{id}\" has an open assignment, so it cannot be {verb}; \
         GET /assignments?locker={id} shows who holds it. The assignment ends when its booking runs out, when its holder \
         loses the policy behind it and that policy's mover grace days have passed, or at once \
         with POST /assignments/{{assignment id}}/end; a locker that may hold belongings then \
         waits for clear-out (POST /lockers/{id}/emptied)"
    ))
}

/// Decides what a state change does to `current`: `None` when it is
/// already in the requested state, or an error naming the rule it breaks.
fn plan_change(
    current: &LockerRecord,
    open_assignments: i64,
    change: &StateChange,
) -> Result<Option<Plan>, StoreError> {
    let id = current.id.as_str();
    let from = current.state;
    let state_name = enum_text(from);
    match change {
        StateChange::Admin(target) => {
            if from == *target {
                return Ok(None);
            }
            if from == LockerState::ClearOut {
                return Err(StoreError::Conflict(format!(
                    "locker \"{id}\" is in clear_out and may still hold its previous owner's \
                     belongings; record it emptied instead of setting its state"
                )));
            }
            if *target == LockerState::Available && open_assignments > 0 {
                return Err(open_assignment_conflict(id, "made available"));
            }
            Ok(Some(Plan {
                target: *target,
                action: "locker_state_changed",
            }))
        }
        StateChange::Emptied { then, .. } => {
            if from != LockerState::ClearOut {
                return Err(StoreError::Conflict(format!(
                    "locker \"{id}\" is {state_name}, not clear_out; only a locker waiting \
                     to be emptied can be recorded emptied"
                )));
            }
            if open_assignments > 0 {
                return Err(open_assignment_conflict(id, "recorded emptied"));
            }
            Ok(Some(Plan {
                target: *then,
                action: "locker_emptied",
            }))
        }
        StateChange::ClearOut => {
            if from == LockerState::ClearOut {
                return Ok(None);
            }
            Ok(Some(Plan {
                target: LockerState::ClearOut,
                action: "locker_clear_out_started",
            }))
        }
    }
}
