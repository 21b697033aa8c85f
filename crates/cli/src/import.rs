//! `lockgate import TENANT FILE`: loads sites, zones, banks and lockers
//! from a CSV or TOML file in one transaction that writes every row or
//! none.
//!
//! CSV files have the header
//! `site,site_name,zone,zone_name,bank,bank_name,locker,door,kind,size`
//! and one locker per row. A site, zone or bank is created on the first
//! row that names it with a name, so the name columns may be empty on
//! later rows. One whose name stays empty on every row must already exist.
//! An empty `locker` cell gives the id `{bank}-{door}`. Lines starting
//! with `#` are comments.
//!
//! TOML files hold the document described in `lockgate_store::PhysicalDocument`;
//! `examples/hospital.toml` is one.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lockgate_domain::audit::Actor;
use lockgate_store::{
    BankRow, ImportError, LockerRow, PhysicalDocument, PhysicalImport, ProblemKind, RowProblem,
    RowRef, SiteRow, ZoneRow,
};

use crate::commands::Context;

/// The CSV columns, in the order the header lists them.
const COLUMNS: [&str; 10] = [
    "site",
    "site_name",
    "zone",
    "zone_name",
    "bank",
    "bank_name",
    "locker",
    "door",
    "kind",
    "size",
];

#[derive(Args)]
pub struct ImportArgs {
    /// Tenant slug, as given to `lockgate tenant create`.
    tenant: String,
    /// A `.csv` or `.toml` file; the extension picks the format. A CSV file
    /// has the header `site,site_name,zone,zone_name,bank,bank_name,locker,door,kind,size`
    /// and one locker per row.
    file: PathBuf,
}

enum Format {
    Csv,
    Toml,
}

impl Format {
    fn of(file: &Path) -> Result<Format> {
        let extension = file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("toml") => Ok(Format::Toml),
            _ => bail!(
                "{} has no .csv or .toml extension; rename it to say which format it is",
                file.display()
            ),
        }
    }
}

pub async fn import(ctx: Context, args: ImportArgs) -> Result<ExitCode> {
    let format = Format::of(&args.file)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let file = args.file.display().to_string();

    let progress = progress_bar();
    let import = match format {
        Format::Csv => read_csv(&text, &progress)?,
        Format::Toml => toml::from_str::<PhysicalDocument>(&text)
            .with_context(|| format!("{file} is not a valid import document"))?
            .into_import(),
    };

    let store = ctx.existing_store().await?;
    let tenant = ctx.tenant(&store, &args.tenant).await?;
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    progress.set_message(format!(
        "checking and writing {} lockers",
        import.lockers.len()
    ));
    progress.enable_steady_tick(Duration::from_millis(100));
    let result = store
        .tenant(&tenant.id)
        .import_physical(cli_actor(), import)
        .await;
    progress.finish_and_clear();
    store.close().await;

    match result {
        Ok(summary) => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Rejected(problems)) => {
            for problem in &problems {
                eprintln!("{file}: {problem}");
            }
            let noun = if problems.len() == 1 {
                "problem"
            } else {
                "problems"
            };
            eprintln!(
                "error: {file} has {} {noun}; nothing was imported",
                problems.len()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

/// Returns a bar on stderr, hidden when stderr is not a terminal so that
/// logs and pipes get the summary alone.
fn progress_bar() -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len}").expect("valid template"),
    );
    bar.set_message("reading rows");
    bar
}

/// Returns the audit actor of a CLI import. Anyone who can run the CLI
/// against the database already has full access to it, so the operating
/// system user is recorded for the trail, not as proof of identity.
fn cli_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    Actor::Admin(format!("cli:{user}"))
}

/// Reads CSV rows into an import. Rows that cannot be read, such as one
/// with a missing cell, become problems so that every bad row is reported.
fn read_csv(text: &str, progress: &ProgressBar) -> Result<PhysicalImport> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .context("cannot read the CSV header")?
        .clone();
    let columns = column_indexes(&header)?;
    progress.set_length(text.lines().count().saturating_sub(1) as u64);

    let mut rows = CsvRows::default();
    for record in reader.records() {
        progress.inc(1);
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                let cells = Cells {
                    record: &record,
                    columns: &columns,
                };
                rows.add(line, &cells);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { len, .. } => format!(
                        "the row has {len} cells; give all {} columns, leaving unused ones empty",
                        COLUMNS.len()
                    ),
                    _ => format!("the row cannot be read: {e}"),
                };
                rows.problem(line, message);
            }
        }
    }
    Ok(rows.import)
}

/// Maps each column name to its index, and rejects a header with a
/// missing or an unknown column.
fn column_indexes(header: &csv::StringRecord) -> Result<HashMap<&'static str, usize>> {
    let mut indexes = HashMap::new();
    for (index, name) in header.iter().enumerate() {
        match COLUMNS.iter().find(|c| **c == name) {
            Some(column) => {
                indexes.insert(*column, index);
            }
            None => bail!(
                "the CSV header has the unknown column {name:?}; the columns are {}",
                COLUMNS.join(",")
            ),
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| !indexes.contains_key(c))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the CSV header is missing the columns {}; the first line must be {}",
            missing.join(", "),
            COLUMNS.join(",")
        );
    }
    Ok(indexes)
}

/// The cells of one CSV row, by column name.
struct Cells<'r> {
    record: &'r csv::StringRecord,
    columns: &'r HashMap<&'static str, usize>,
}

impl<'r> Cells<'r> {
    fn get(&self, column: &str) -> &'r str {
        self.record.get(self.columns[column]).unwrap_or_default()
    }
}

/// Builds an import from CSV rows: one site, zone and bank row per id,
/// and one locker row per CSV row.
#[derive(Default)]
struct CsvRows {
    import: PhysicalImport,
    /// Index into `import.sites` by id; likewise for zones and banks.
    sites: HashMap<String, usize>,
    zones: HashMap<String, usize>,
    banks: HashMap<String, usize>,
}

fn at_line(line: usize) -> RowRef {
    RowRef::new(format!("line {line}"), line)
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

impl CsvRows {
    fn problem(&mut self, line: usize, message: String) {
        let problem = RowProblem::new(&at_line(line), ProblemKind::Invalid, message);
        self.import.problems.push(problem);
    }

    fn add(&mut self, line: usize, cells: &Cells) {
        let (site, zone, bank) = (cells.get("site"), cells.get("zone"), cells.get("bank"));
        self.add_site(line, site, cells.get("site_name"));
        self.add_zone(line, zone, site, cells.get("zone_name"));
        self.add_bank(line, bank, zone, cells.get("bank_name"));
        let door = cells.get("door");
        let id = match cells.get("locker") {
            "" => format!("{bank}-{door}"),
            id => id.to_string(),
        };
        self.import.lockers.push(LockerRow {
            at: at_line(line),
            id,
            bank: bank.to_string(),
            door: door.to_string(),
            kind: cells.get("kind").to_string(),
            size: cells.get("size").to_string(),
        });
    }

    fn add_site(&mut self, line: usize, id: &str, name: &str) {
        let Some(&index) = self.sites.get(id) else {
            self.sites.insert(id.to_string(), self.import.sites.len());
            self.import.sites.push(SiteRow {
                at: at_line(line),
                id: id.to_string(),
                name: non_empty(name),
            });
            return;
        };
        let row = &mut self.import.sites[index];
        let conflict = name_conflict(&mut row.name, &mut row.at, line, name, "site", id);
        if let Some(message) = conflict {
            self.problem(line, message);
        }
    }

    fn add_zone(&mut self, line: usize, id: &str, site: &str, name: &str) {
        let Some(&index) = self.zones.get(id) else {
            self.zones.insert(id.to_string(), self.import.zones.len());
            self.import.zones.push(ZoneRow {
                at: at_line(line),
                id: id.to_string(),
                site: site.to_string(),
                name: non_empty(name),
            });
            return;
        };
        let row = &mut self.import.zones[index];
        let mut messages = Vec::new();
        if row.site != site {
            messages.push(format!(
                "zone \"{id}\" is in site \"{}\" on {} but in site \"{site}\" here; \
                 a zone belongs to one site",
                row.site, row.at.label
            ));
        }
        messages.extend(name_conflict(
            &mut row.name,
            &mut row.at,
            line,
            name,
            "zone",
            id,
        ));
        for message in messages {
            self.problem(line, message);
        }
    }

    fn add_bank(&mut self, line: usize, id: &str, zone: &str, name: &str) {
        let Some(&index) = self.banks.get(id) else {
            self.banks.insert(id.to_string(), self.import.banks.len());
            self.import.banks.push(BankRow {
                at: at_line(line),
                id: id.to_string(),
                zone: zone.to_string(),
                name: non_empty(name),
            });
            return;
        };
        let row = &mut self.import.banks[index];
        let mut messages = Vec::new();
        if row.zone != zone {
            messages.push(format!(
                "bank \"{id}\" is in zone \"{}\" on {} but in zone \"{zone}\" here; \
                 a bank belongs to one zone",
                row.zone, row.at.label
            ));
        }
        messages.extend(name_conflict(
            &mut row.name,
            &mut row.at,
            line,
            name,
            "bank",
            id,
        ));
        for message in messages {
            self.problem(line, message);
        }
    }
}

/// Applies the name cell of a later row to a site, zone or bank seen
/// before. The first non-empty name creates it, and the row that gives it
/// becomes the one problems point to. Returns a message when the name
/// differs from one given earlier.
fn name_conflict(
    stored: &mut Option<String>,
    at: &mut RowRef,
    line: usize,
    name: &str,
    level: &str,
    id: &str,
) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    match stored {
        None => {
            *stored = Some(name.to_string());
            *at = at_line(line);
            None
        }
        Some(first) if first != name => Some(format!(
            "{level} \"{id}\" is named \"{first}\" on {} but \"{name}\" here; \
             use one name, or leave {level}_name empty after the first row",
            at.label
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_import(text: &str) -> PhysicalImport {
        read_csv(text, &ProgressBar::hidden()).unwrap()
    }

    const HEADER: &str = "site,site_name,zone,zone_name,bank,bank_name,locker,door,kind,size\n";

    #[test]
    fn csv_creates_parents_once() {
        let import = csv_import(&format!(
            "{HEADER}main,Main,w3,Ward 3,w3-a,Room A,,1,personal,small\n\
             main,,w3,,w3-a,,w3-a-two,2,flex,large\n"
        ));
        assert_eq!(import.sites.len(), 1);
        assert_eq!(import.zones.len(), 1);
        assert_eq!(import.banks.len(), 1);
        assert_eq!(import.sites[0].name.as_deref(), Some("Main"));
        let ids: Vec<&str> = import.lockers.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["w3-a-1", "w3-a-two"]);
        assert_eq!(import.lockers[1].at.label, "line 3");
        assert!(import.problems.is_empty(), "{:?}", import.problems);
    }

    #[test]
    fn csv_reports_inconsistent_rows() {
        let import = csv_import(&format!(
            "{HEADER}main,Main,w3,Ward 3,w3-a,Room A,,1,personal,small\n\
             main,Other,w3,,w3-a,,,2,personal,small\n\
             main,,w4,Ward 4,w3-a,,,3,personal,small\n\
             main,,w3,,w3-a,,,4,personal\n"
        ));
        let problems: Vec<String> = import.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 3: site \"main\" is named \"Main\""));
        assert!(problems[1].starts_with("line 4: bank \"w3-a\" is in zone \"w3\""));
        assert!(problems[2].starts_with("line 5: the row has 9 cells"));
    }

    #[test]
    fn csv_header_must_match() {
        let unknown = read_csv(
            "site,site_name,zone,zone_name,bank,bank_name,locker,door,kind,size,colour\n",
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("\"colour\""), "{unknown}");
        let missing =
            read_csv("site,zone,bank,door,kind,size\n", &ProgressBar::hidden()).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("site_name, zone_name, bank_name, locker"),
            "{missing}"
        );
    }
}
