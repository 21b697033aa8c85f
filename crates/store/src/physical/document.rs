//! The nested physical-model document: the format of TOML import files
//! and of the JSON import API.
//!
//! ```toml
//! [[sites]]
//! id = "main"
//! name = "Main campus"
//!
//! [[sites.zones]]
//! id = "ward-3"
//! name = "Ward 3"
//!
//! [[sites.zones.banks]]
//! id = "w3-a"
//! name = "Ward 3 staff room"
//! doors = "1-40"        # lockers w3-a-1 to w3-a-40
//! kind = "personal"
//! size = "medium"
//! ```
//!
//! An entry without a name refers to an existing site, zone or bank, so a
//! later import can add to it. A bank lists its lockers explicitly, gives
//! a door range, or both. Its `kind` and `size` are the defaults of its
//! lockers.

use serde::{Deserialize, Serialize};

use super::validate::{check_kind, check_size};
use super::{
    BankRow, LockerRow, PhysicalImport, ProblemKind, RowProblem, RowRef, SiteRow, ZoneRow,
};

/// Maximum number of doors one `doors` value may give a bank. A bank is one
/// controller's doors, far fewer than this, so the limit only stops a
/// typo such as `1-10000` from creating thousands of lockers.
const MAX_DOORS_PER_RANGE: usize = 1000;

/// A physical model as a document of nested sites, zones, banks and lockers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhysicalDocument {
    #[serde(default)]
    pub sites: Vec<SiteEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteEntry {
    pub id: String,
    /// Unset for a site that already exists.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub zones: Vec<ZoneEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneEntry {
    pub id: String,
    /// Unset for a zone that already exists.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub banks: Vec<BankEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankEntry {
    pub id: String,
    /// Unset for a bank that already exists.
    #[serde(default)]
    pub name: Option<String>,
    /// Door labels of lockers to create, as ranges and single numbers
    /// separated by commas, such as `1-40` or `1-20,25`. Each locker's id is
    /// `{bank}-{door}`.
    #[serde(default)]
    pub doors: Option<String>,
    /// The kind of the lockers that do not set their own.
    #[serde(default)]
    pub kind: Option<String>,
    /// The size of the lockers that do not set their own.
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub lockers: Vec<LockerEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockerEntry {
    /// Defaults to `{bank}-{door}`.
    #[serde(default)]
    pub id: Option<String>,
    pub door: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
}

impl PhysicalDocument {
    /// Flattens the document into import rows labelled with their path,
    /// such as `sites[0].zones[1].banks[2]`. Door ranges become one locker
    /// row each, and a malformed range becomes a problem of the import.
    pub fn into_import(self) -> PhysicalImport {
        let mut import = PhysicalImport::default();
        let mut position = 0;
        let mut next_at = |label: String| {
            position += 1;
            RowRef::new(label, position)
        };
        for (s, site) in self.sites.into_iter().enumerate() {
            let site_label = format!("sites[{s}]");
            import.sites.push(SiteRow {
                at: next_at(site_label.clone()),
                id: site.id.clone(),
                name: site.name,
            });
            for (z, zone) in site.zones.into_iter().enumerate() {
                let zone_label = format!("{site_label}.zones[{z}]");
                import.zones.push(ZoneRow {
                    at: next_at(zone_label.clone()),
                    id: zone.id.clone(),
                    site: site.id.clone(),
                    name: zone.name,
                });
                for (b, bank) in zone.banks.into_iter().enumerate() {
                    let bank_label = format!("{zone_label}.banks[{b}]");
                    let bank_at = next_at(bank_label.clone());
                    push_bank(
                        &mut import,
                        bank,
                        &zone.id,
                        &bank_label,
                        bank_at,
                        &mut next_at,
                    );
                }
            }
        }
        import
    }
}

fn push_bank(
    import: &mut PhysicalImport,
    bank: BankEntry,
    zone: &str,
    label: &str,
    at: RowRef,
    next_at: &mut impl FnMut(String) -> RowRef,
) {
    import.banks.push(BankRow {
        at: at.clone(),
        id: bank.id.clone(),
        zone: zone.to_string(),
        name: bank.name,
    });
    let default_kind = bank.kind.unwrap_or_default();
    let default_size = bank.size.unwrap_or_default();

    if let Some(doors) = &bank.doors {
        let range_at = next_at(format!("{label}.doors"));
        let invalid_default = check_kind(&default_kind)
            .and_then(|()| check_size(&default_size))
            .err();
        match parse_doors(doors) {
            Err(message) => {
                import
                    .problems
                    .push(RowProblem::new(&range_at, ProblemKind::Invalid, message));
            }
            // Without both defaults every door of the range would report
            // the same gap, so the bank reports it once instead.
            Ok(_) if default_kind.is_empty() || default_size.is_empty() => {
                import.problems.push(RowProblem::new(
                    &range_at,
                    ProblemKind::Invalid,
                    format!(
                        "bank \"{}\" gives doors \"{doors}\" but no {}; set kind and size on the \
                         bank for the lockers of its door range",
                        bank.id,
                        missing_defaults(&default_kind, &default_size)
                    ),
                ));
            }
            // A bad default is reported once for the range, not once for
            // each of its doors.
            Ok(_) if invalid_default.is_some() => {
                let message = invalid_default.unwrap_or_default();
                import.problems.push(RowProblem::new(
                    &range_at,
                    ProblemKind::Invalid,
                    format!("bank \"{}\" gives doors \"{doors}\": {message}", bank.id),
                ));
            }
            Ok(numbers) => {
                for door in numbers {
                    import.lockers.push(LockerRow {
                        at: RowRef::new(format!("{label}.doors (door {door})"), range_at.position),
                        id: format!("{}-{door}", bank.id),
                        bank: bank.id.clone(),
                        door: door.to_string(),
                        kind: default_kind.clone(),
                        size: default_size.clone(),
                    });
                }
            }
        }
    }

    for (l, locker) in bank.lockers.into_iter().enumerate() {
        let id = locker
            .id
            .unwrap_or_else(|| format!("{}-{}", bank.id, locker.door));
        import.lockers.push(LockerRow {
            at: next_at(format!("{label}.lockers[{l}]")),
            id,
            bank: bank.id.clone(),
            door: locker.door,
            kind: locker.kind.unwrap_or_else(|| default_kind.clone()),
            size: locker.size.unwrap_or_else(|| default_size.clone()),
        });
    }
}

fn missing_defaults(kind: &str, size: &str) -> &'static str {
    match (kind.is_empty(), size.is_empty()) {
        (true, true) => "kind and size",
        (true, false) => "kind",
        _ => "size",
    }
}

/// Parses door numbers such as `1-40` or `1-20, 25, 30-32`, in order.
pub(crate) fn parse_doors(text: &str) -> Result<Vec<u32>, String> {
    let fix = "use ranges and numbers separated by commas, such as \"1-40\" or \"1-20,25\"";
    let mut doors = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |value: &str| -> Result<u32, String> {
            value.trim().parse::<u32>().map_err(|_| {
                format!("doors \"{text}\" has \"{part}\", which is not a door number; {fix}")
            })
        };
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => {
                let single = number(part)?;
                (single, single)
            }
        };
        if first > last {
            return Err(format!(
                "doors \"{text}\" has the range \"{part}\", which runs backwards; write it as \"{last}-{first}\""
            ));
        }
        let count = (last - first) as usize + 1;
        if doors.len() + count > MAX_DOORS_PER_RANGE {
            return Err(format!(
                "doors \"{text}\" gives more than {MAX_DOORS_PER_RANGE} doors; \
                 split the bank or check the range for a typo"
            ));
        }
        doors.extend(first..=last);
    }
    Ok(doors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doors_ranges_and_lists() {
        assert_eq!(parse_doors("1-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_doors("1-2, 5, 7-8").unwrap(), vec![1, 2, 5, 7, 8]);
        assert_eq!(parse_doors("4").unwrap(), vec![4]);
    }

    #[test]
    fn doors_rejects_bad_ranges() {
        let backwards = parse_doors("40-1").unwrap_err();
        assert!(backwards.contains("\"1-40\""), "{backwards}");
        let word = parse_doors("1-x").unwrap_err();
        assert!(word.contains("\"1-x\""), "{word}");
        let empty = parse_doors("").unwrap_err();
        assert!(empty.contains("not a door number"), "{empty}");
        let huge = parse_doors("1-100000").unwrap_err();
        assert!(huge.contains("more than 1000"), "{huge}");
    }

    #[test]
    fn into_import_expands_door_range() {
        let document: PhysicalDocument = serde_json::from_value(serde_json::json!({
            "sites": [{"id": "main", "name": "Main", "zones": [{"id": "w3", "name": "Ward 3",
                "banks": [{"id": "w3-a", "name": "A", "doors": "1-2", "kind": "flex", "size": "small",
                    "lockers": [{"door": "3", "size": "large"}]}]}]}]
        }))
        .unwrap();
        let import = document.into_import();
        assert!(import.problems.is_empty(), "{:?}", import.problems);
        let lockers: Vec<(&str, &str, &str)> = import
            .lockers
            .iter()
            .map(|l| (l.id.as_str(), l.kind.as_str(), l.size.as_str()))
            .collect();
        assert_eq!(
            lockers,
            vec![
                ("w3-a-1", "flex", "small"),
                ("w3-a-2", "flex", "small"),
                ("w3-a-3", "flex", "large"),
            ]
        );
        assert_eq!(import.banks[0].zone, "w3");
        assert_eq!(import.zones[0].site, "main");
        assert_eq!(
            import.lockers[2].at.label,
            "sites[0].zones[0].banks[0].lockers[0]"
        );
    }

    #[test]
    fn range_without_kind_is_one_problem() {
        let document: PhysicalDocument = serde_json::from_value(serde_json::json!({
            "sites": [{"id": "main", "zones": [{"id": "w3",
                "banks": [{"id": "w3-a", "doors": "1-40", "size": "small"}]}]}]
        }))
        .unwrap();
        let import = document.into_import();
        assert_eq!(import.problems.len(), 1, "{:?}", import.problems);
        assert!(import.problems[0].message.contains("no kind"));
        assert!(import.lockers.is_empty());
    }
}
