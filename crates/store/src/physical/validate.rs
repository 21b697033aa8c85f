//! The rules every physical-model write follows, checked for all rows
//! before anything is written so that one report lists every problem.
//!
//! Ids are 1 to 64 characters of `[A-Za-z0-9._-]`, unique per tenant
//! within their level. A zone names an existing site, a bank an existing
//! zone, and a locker an existing bank and a door label unused in that bank.

use std::collections::{BTreeSet, HashMap, HashSet};

use lockgate_domain::access::model::{LockerKind, LockerSize};

use super::{PhysicalImport, ProblemKind, RowProblem, RowRef, WriteMode, parse_enum};
use crate::batch::text;
use crate::filter_sql::Bind;
use crate::write_tx::WriteTx;

/// Maximum id length, in characters.
const MAX_ID_CHARS: usize = 64;
/// Maximum door label length, in characters.
const MAX_DOOR_CHARS: usize = 32;
/// Maximum length of a site, zone or bank name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Ids per `IN (...)` list when reading what exists.
const IDS_PER_QUERY: usize = 500;

const KINDS: &str = "personal, flex, shared or delivery";
const SIZES: &str = "small, medium, large or extra_large";

/// Returns what is wrong with `name` as the name of a site, zone or bank
/// (`level`), or `None` when it may be stored.
pub(super) fn name_problem(level: &str, id: &str, name: &str) -> Option<String> {
    let trimmed = name.trim();
    let length = trimmed.chars().count();
    if trimmed.is_empty() {
        Some(format!(
            "{level} \"{id}\" has an empty name; give it a name"
        ))
    } else if length > MAX_NAME_CHARS {
        Some(format!(
            "the name of {level} \"{id}\" has {length} characters; \
             shorten it to at most {MAX_NAME_CHARS}"
        ))
    } else if trimmed.chars().any(char::is_control) {
        Some(format!(
            "the name of {level} \"{id}\" contains a control character; \
             remove line breaks and tabs"
        ))
    } else {
        None
    }
}

/// The rows that already exist among those an import names.
#[derive(Debug, Default)]
pub(super) struct Existing {
    pub sites: HashSet<String>,
    /// Zone id to the site it belongs to.
    pub zones: HashMap<String, String>,
    /// Bank id to the zone it belongs to.
    pub banks: HashMap<String, String>,
    pub lockers: HashSet<String>,
    /// `(bank, door)` pairs in use.
    pub doors: HashSet<(String, String)>,
}

impl Existing {
    /// Reads the sites, zones, banks, lockers and doors that `import`
    /// creates or refers to.
    pub async fn load(
        tx: &mut WriteTx,
        tenant_id: &str,
        import: &PhysicalImport,
    ) -> Result<Existing, sqlx::Error> {
        let site_ids = import
            .sites
            .iter()
            .map(|r| r.id.as_str())
            .chain(import.zones.iter().map(|r| r.site.as_str()));
        let zone_ids = import
            .zones
            .iter()
            .map(|r| r.id.as_str())
            .chain(import.banks.iter().map(|r| r.zone.as_str()));
        let bank_ids = import
            .banks
            .iter()
            .map(|r| r.id.as_str())
            .chain(import.lockers.iter().map(|r| r.bank.as_str()));
        let bank_ids: BTreeSet<&str> = bank_ids.collect();
        let locker_ids = import.lockers.iter().map(|r| r.id.as_str());

        let mut existing = Existing::default();
        for row in select_in(tx, tenant_id, "SELECT id FROM sites", "id", site_ids).await? {
            existing.sites.insert(row.try_get("id")?);
        }
        let zones = "SELECT id, site_id FROM zones";
        for row in select_in(tx, tenant_id, zones, "id", zone_ids).await? {
            existing
                .zones
                .insert(row.try_get("id")?, row.try_get("site_id")?);
        }
        let banks = "SELECT id, zone_id FROM banks";
        for row in select_in(tx, tenant_id, banks, "id", bank_ids.iter().copied()).await? {
            existing
                .banks
                .insert(row.try_get("id")?, row.try_get("zone_id")?);
        }
        for row in select_in(tx, tenant_id, "SELECT id FROM lockers", "id", locker_ids).await? {
            existing.lockers.insert(row.try_get("id")?);
        }
        let doors = "SELECT bank_id, door FROM lockers";
        for row in select_in(tx, tenant_id, doors, "bank_id", bank_ids.into_iter()).await? {
            existing
                .doors
                .insert((row.try_get("bank_id")?, row.try_get("door")?));
        }
        Ok(existing)
    }
}

/// Runs `select WHERE tenant_id = $1 AND column IN (...)` over `values`,
/// a few hundred at a time.
async fn select_in<'a>(
    tx: &mut WriteTx,
    tenant_id: &str,
    select: &str,
    column: &str,
    values: impl Iterator<Item = &'a str>,
) -> Result<Vec<crate::rows::TxRow>, sqlx::Error> {
    let values: Vec<&str> = values.collect::<BTreeSet<_>>().into_iter().collect();
    let mut rows = Vec::new();
    for chunk in values.chunks(IDS_PER_QUERY) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "{select} WHERE tenant_id = $1 AND {column} IN ({})",
            placeholders.join(", ")
        );
        let mut binds: Vec<Bind> = vec![text(tenant_id)];
        binds.extend(chunk.iter().map(|value| text(*value)));
        rows.extend(tx.fetch_all(sql, binds).await?);
    }
    Ok(rows)
}

/// Collects the problems of one check.
struct Problems<'a> {
    list: Vec<RowProblem>,
    mode: WriteMode,
    /// Rows by id, first occurrence only, for duplicate and parent checks.
    sites: HashMap<&'a str, &'a RowRef>,
    zones: HashMap<&'a str, &'a RowRef>,
    banks: HashMap<&'a str, &'a RowRef>,
    lockers: HashMap<&'a str, &'a RowRef>,
    doors: HashMap<(&'a str, &'a str), &'a RowRef>,
}

impl<'a> Problems<'a> {
    fn push(&mut self, at: &RowRef, kind: ProblemKind, message: String) {
        self.list.push(RowProblem::new(at, kind, message));
    }

    fn id(&mut self, at: &RowRef, level: &str, id: &str) {
        if let Err(message) = check_id(level, id) {
            self.push(at, ProblemKind::Invalid, message);
        }
    }

    fn name(&mut self, at: &RowRef, level: &str, id: &str, name: &str) {
        if let Some(message) = name_problem(level, id, name) {
            self.push(at, ProblemKind::Invalid, message);
        }
    }

    /// Reports a second row with the same id.
    fn duplicate(&mut self, at: &RowRef, level: &str, id: &str, first: &RowRef) {
        self.push(
            at,
            ProblemKind::Conflict,
            format!(
                "{level} \"{id}\" is listed twice (also at {}); keep one",
                first.label
            ),
        );
    }

    /// Reports a row that creates an id the database already has.
    fn taken(&mut self, at: &RowRef, level: &str, id: &str) {
        // A nameless site, zone or bank row refers to the existing one,
        // which a locker row cannot do.
        let hint = match self.mode {
            WriteMode::Import if level != "locker" => {
                format!("choose another id, or give the {level} no name to add to the existing one")
            }
            _ => "choose another id".to_string(),
        };
        self.push(
            at,
            ProblemKind::Conflict,
            format!("{level} \"{id}\" already exists; {hint}"),
        );
    }

    /// Reports a row without a name whose id the database does not have.
    fn unknown_reference(&mut self, at: &RowRef, level: &str, id: &str) {
        self.push(
            at,
            ProblemKind::NotFound,
            format!("{level} \"{id}\" does not exist; give it a name to create it"),
        );
    }

    fn missing_parent(&mut self, at: &RowRef, level: &str, id: &str, parent: &str, value: &str) {
        let hint = match self.mode {
            WriteMode::Single => format!("create the {parent} first or name an existing one"),
            WriteMode::Import => {
                format!("add the {parent} to the import, or name an existing one")
            }
        };
        self.push(
            at,
            ProblemKind::NotFound,
            format!("{level} \"{id}\" names {parent} \"{value}\", which does not exist; {hint}"),
        );
    }

    /// Reports a reference whose stored parent differs from the row's.
    fn moved(&mut self, at: &RowRef, level: &str, id: &str, parent: &str, stored: &str, row: &str) {
        self.push(
            at,
            ProblemKind::Invalid,
            format!(
                "{level} \"{id}\" belongs to {parent} \"{stored}\", not \"{row}\"; \
                 name {parent} \"{stored}\" or use another {level} id"
            ),
        );
    }
}

/// Returns every problem of `import` against what exists, in source order.
pub(super) fn check(
    import: &PhysicalImport,
    existing: &Existing,
    mode: WriteMode,
) -> Vec<RowProblem> {
    let mut p = Problems {
        list: import.problems.clone(),
        mode,
        sites: HashMap::new(),
        zones: HashMap::new(),
        banks: HashMap::new(),
        lockers: HashMap::new(),
        doors: HashMap::new(),
    };

    for row in &import.sites {
        p.id(&row.at, "site", &row.id);
        if let Some(first) = p.sites.get(row.id.as_str()).copied() {
            p.duplicate(&row.at, "site", &row.id, first);
            continue;
        }
        p.sites.insert(&row.id, &row.at);
        match &row.name {
            Some(name) => {
                p.name(&row.at, "site", &row.id, name);
                if existing.sites.contains(&row.id) {
                    p.taken(&row.at, "site", &row.id);
                }
            }
            None if !existing.sites.contains(&row.id) => {
                p.unknown_reference(&row.at, "site", &row.id);
            }
            None => {}
        }
    }

    for row in &import.zones {
        p.id(&row.at, "zone", &row.id);
        if let Some(first) = p.zones.get(row.id.as_str()).copied() {
            p.duplicate(&row.at, "zone", &row.id, first);
            continue;
        }
        p.zones.insert(&row.id, &row.at);
        if !p.sites.contains_key(row.site.as_str()) && !existing.sites.contains(&row.site) {
            p.missing_parent(&row.at, "zone", &row.id, "site", &row.site);
        }
        match (&row.name, existing.zones.get(&row.id)) {
            (Some(name), stored) => {
                p.name(&row.at, "zone", &row.id, name);
                if stored.is_some() {
                    p.taken(&row.at, "zone", &row.id);
                }
            }
            (None, None) => p.unknown_reference(&row.at, "zone", &row.id),
            (None, Some(site)) if *site != row.site => {
                p.moved(&row.at, "zone", &row.id, "site", site, &row.site);
            }
            (None, Some(_)) => {}
        }
    }

    for row in &import.banks {
        p.id(&row.at, "bank", &row.id);
        if let Some(first) = p.banks.get(row.id.as_str()).copied() {
            p.duplicate(&row.at, "bank", &row.id, first);
            continue;
        }
        p.banks.insert(&row.id, &row.at);
        if !p.zones.contains_key(row.zone.as_str()) && !existing.zones.contains_key(&row.zone) {
            p.missing_parent(&row.at, "bank", &row.id, "zone", &row.zone);
        }
        match (&row.name, existing.banks.get(&row.id)) {
            (Some(name), stored) => {
                p.name(&row.at, "bank", &row.id, name);
                if stored.is_some() {
                    p.taken(&row.at, "bank", &row.id);
                }
            }
            (None, None) => p.unknown_reference(&row.at, "bank", &row.id),
            (None, Some(zone)) if *zone != row.zone => {
                p.moved(&row.at, "bank", &row.id, "zone", zone, &row.zone);
            }
            (None, Some(_)) => {}
        }
    }

    for row in &import.lockers {
        p.id(&row.at, "locker", &row.id);
        if let Some(first) = p.lockers.get(row.id.as_str()).copied() {
            p.duplicate(&row.at, "locker", &row.id, first);
        } else {
            p.lockers.insert(&row.id, &row.at);
            if existing.lockers.contains(&row.id) {
                p.taken(&row.at, "locker", &row.id);
            }
        }
        let bank_known =
            p.banks.contains_key(row.bank.as_str()) || existing.banks.contains_key(&row.bank);
        if !bank_known {
            p.missing_parent(&row.at, "locker", &row.id, "bank", &row.bank);
        }
        match check_door(&row.door) {
            Err(message) => p.push(&row.at, ProblemKind::Invalid, message),
            Ok(()) => {
                let key = (row.bank.as_str(), row.door.as_str());
                if let Some(first) = p.doors.get(&key).copied() {
                    p.push(
                        &row.at,
                        ProblemKind::Conflict,
                        format!(
                            "door \"{}\" of bank \"{}\" is listed twice (also at {}); \
                             give each locker its own door",
                            row.door, row.bank, first.label
                        ),
                    );
                } else {
                    p.doors.insert(key, &row.at);
                    if existing
                        .doors
                        .contains(&(row.bank.clone(), row.door.clone()))
                    {
                        p.push(
                            &row.at,
                            ProblemKind::Conflict,
                            format!(
                                "bank \"{}\" already has a locker at door \"{}\"; \
                                 choose another door",
                                row.bank, row.door
                            ),
                        );
                    }
                }
            }
        }
        if let Err(message) = check_kind(&row.kind) {
            p.push(&row.at, ProblemKind::Invalid, message);
        }
        if let Err(message) = check_size(&row.size) {
            p.push(&row.at, ProblemKind::Invalid, message);
        }
    }

    let mut problems = p.list;
    problems.sort_by_key(|problem| problem.position);
    problems
}

/// Checks an admin-chosen id of a site, zone, bank or locker.
pub(crate) fn check_id(level: &str, id: &str) -> Result<(), String> {
    let length = id.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if length == 0 {
        return Err(format!(
            "{level} id is empty; use 1 to {MAX_ID_CHARS} letters, digits, '.', '_' or '-'"
        ));
    }
    if length > MAX_ID_CHARS || !id.chars().all(allowed) {
        return Err(format!(
            "{level} id \"{id}\" is not valid; use 1 to {MAX_ID_CHARS} letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

/// Checks a door label: 1 to 32 characters of `[A-Za-z0-9._-]`.
pub(crate) fn check_door(door: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if door.is_empty() {
        return Err(format!(
            "door is empty; give the door label, 1 to {MAX_DOOR_CHARS} letters, digits, '.', '_' or '-'"
        ));
    }
    if door.chars().count() > MAX_DOOR_CHARS || !door.chars().all(allowed) {
        return Err(format!(
            "door \"{door}\" is not valid; use 1 to {MAX_DOOR_CHARS} letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

pub(crate) fn check_kind(kind: &str) -> Result<(), String> {
    if kind.is_empty() {
        return Err(format!("kind is missing; use {KINDS}"));
    }
    match parse_enum::<LockerKind>(kind) {
        Some(_) => Ok(()),
        None => Err(format!("kind \"{kind}\" is not valid; use {KINDS}")),
    }
}

pub(crate) fn check_size(size: &str) -> Result<(), String> {
    if size.is_empty() {
        return Err(format!("size is missing; use {SIZES}"));
    }
    match parse_enum::<LockerSize>(size) {
        Some(_) => Ok(()),
        None => Err(format!("size \"{size}\" is not valid; use {SIZES}")),
    }
}
