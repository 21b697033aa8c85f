//! `lockgate audit`: checks a tenant's audit chain and exports it for
//! auditors.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use lockgate_domain::audit::{AuditRecord, ChainError};
use lockgate_store::{AuditVerification, TenantStore};
use serde_json::Value;

use crate::commands::Context;

/// Records per query while exporting.
const EXPORT_PAGE_SIZE: i64 = 1_000;

/// The CSV header, one column per `AuditRecord` field with the actor split
/// into its type and id.
const CSV_HEADER: [&str; 11] = [
    "tenant_id",
    "seq",
    "at",
    "actor_type",
    "actor_id",
    "source",
    "action",
    "subject",
    "detail",
    "prev_hash",
    "hash",
];

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check that no audit record was altered, removed or reordered. Exits 1 when one was.
    Verify {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// A record hash kept outside the database, such as the last hash of an
        /// earlier export. The check fails when no record has it, which catches
        /// records removed from the end.
        #[arg(long, value_name = "HASH")]
        expected_head: Option<String>,
    },
    /// Write the audit records in chain order, ending with the head hash to keep outside the database.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// Tenant slug, as given to `lockgate tenant create`.
    tenant: String,
    /// Output format: `jsonl` writes one JSON record per line, and `csv` a header row and one row per record.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    format: ExportFormat,
    /// File to create, which must not exist yet. Defaults to standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Export only records with a sequence number above SEQ, to continue an earlier export.
    #[arg(long, value_name = "SEQ", default_value_t = 0,
          value_parser = clap::value_parser!(i64).range(0..))]
    after: i64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

pub async fn audit(ctx: Context, command: AuditCommand) -> Result<ExitCode> {
    let store = ctx.existing_store().await?;
    let code = match command {
        AuditCommand::Verify {
            tenant,
            expected_head,
        } => {
            let expected_head = expected_head.as_deref().map(parse_hash).transpose()?;
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            let result = store
                .tenant(&tenant_record.id)
                .verify_audit(expected_head.as_deref())
                .await?;
            report_verification(&tenant, &result)
        }
        AuditCommand::Export(args) => {
            let tenant_record = ctx.tenant(&store, &args.tenant).await?;
            export(&store.tenant(&tenant_record.id), &args).await?;
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}

/// Checks that `text` is a SHA-256 hash as the chain stores it and returns
/// it in lower case, the form of stored hashes.
fn parse_hash(text: &str) -> Result<String> {
    if text.len() != 64 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        anyhow::bail!(
            "--expected-head {text:?} is not a SHA-256 hash. Give the 64 hexadecimal digits \
             of a record's hash, such as the last hash of an export."
        );
    }
    Ok(text.to_ascii_lowercase())
}

fn report_verification(tenant: &str, result: &AuditVerification) -> ExitCode {
    let Some(error) = &result.error else {
        println!(
            "audit chain of {tenant} is intact: {} records, head {}",
            result.records, result.head
        );
        if let Some(seq) = result.expected_head_seq {
            let newer = result.records.saturating_sub(seq.unsigned_abs());
            println!("The expected head is record {seq}; {newer} records follow it.");
        }
        return ExitCode::SUCCESS;
    };
    eprintln!("audit chain of {tenant} is broken: {error}");
    let checked = match (error, result.records) {
        (ChainError::HeadMismatch { .. }, n) => {
            format!("All {n} records are linked correctly, but the expected head is missing.")
        }
        (_, 0) => "No earlier record passed the check.".to_string(),
        (_, n) => format!(
            "Records 1 to {n} passed the check; the last good hash is {}.",
            result.head
        ),
    };
    eprintln!("{checked}");
    eprintln!("{}", next_step(error));
    ExitCode::FAILURE
}

/// Tells the operator what a chain error implies and how to find out more.
fn next_step(error: &ChainError) -> &'static str {
    match error {
        ChainError::Altered { .. } => {
            "The record was changed in the database after Lockgate wrote it. Compare it \
             with an earlier export to see what changed; records after it were not checked."
        }
        ChainError::Broken { .. } => {
            "Records were deleted, inserted or reordered in the database. Compare the \
             sequence numbers with an earlier export; records after it were not checked."
        }
        ChainError::ForeignTenant { .. } => {
            "A record was moved between tenants in the database; records after it were \
             not checked."
        }
        ChainError::HeadMismatch { .. } => {
            "Compare this chain with the export the expected head came from, and check \
             that the hash belongs to this tenant."
        }
        // The command checks from the first record. Only the admin API
        // resumes a check, so the command never reports this error.
        ChainError::StartMismatch { .. } => {
            "Check the chain from its first record to find the record that changed."
        }
    }
}

async fn export(tenant: &TenantStore, args: &ExportArgs) -> Result<()> {
    let Some(path) = &args.output else {
        let summary = write_records(tenant, args, std::io::stdout().lock()).await?;
        print_summary(&args.tenant, args.after, &summary, None);
        return Ok(());
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create the export file {}, which must not exist yet because exports never overwrite a file",
                path.display()
            )
        })?;
    match write_records(tenant, args, file).await {
        Ok(summary) => {
            print_summary(&args.tenant, args.after, &summary, Some(path));
            Ok(())
        }
        Err(e) => {
            // A partial export would look like a complete chain with an
            // earlier head, so it is removed.
            if let Err(remove) = std::fs::remove_file(path) {
                eprintln!(
                    "warning: cannot remove the incomplete export {}: {remove}",
                    path.display()
                );
            }
            Err(e)
        }
    }
}

/// Count and last hash of the exported records.
struct ExportSummary {
    records: u64,
    head: Option<String>,
}

async fn write_records(
    tenant: &TenantStore,
    args: &ExportArgs,
    out: impl Write,
) -> Result<ExportSummary> {
    let mut writer = RecordWriter::new(args.format, out)?;
    let mut summary = ExportSummary {
        records: 0,
        head: None,
    };
    let mut after_seq = args.after;
    loop {
        let page = tenant.audit_records(after_seq, EXPORT_PAGE_SIZE).await?;
        for record in &page {
            writer.write(record)?;
            summary.records += 1;
            summary.head = Some(record.hash.clone());
            after_seq = record.seq;
        }
        if (page.len() as i64) < EXPORT_PAGE_SIZE {
            break;
        }
    }
    writer.finish()?;
    Ok(summary)
}

/// Writes records in one export format. Both formats buffer their output.
enum RecordWriter<W: Write> {
    Jsonl(BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> RecordWriter<W> {
    fn new(format: ExportFormat, out: W) -> Result<Self> {
        Ok(match format {
            ExportFormat::Jsonl => RecordWriter::Jsonl(BufWriter::new(out)),
            ExportFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_HEADER)?;
                RecordWriter::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, record: &AuditRecord) -> Result<()> {
        match self {
            RecordWriter::Jsonl(out) => {
                serde_json::to_writer(&mut *out, record)?;
                out.write_all(b"\n")?;
            }
            RecordWriter::Csv(writer) => writer.write_record(csv_row(record)?)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            RecordWriter::Jsonl(mut out) => out.flush()?,
            RecordWriter::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

/// Splits the actor into the `type` and `id` that serde writes for it, so
/// the CSV uses the same names as the JSON lines.
fn csv_row(record: &AuditRecord) -> Result<[String; 11]> {
    let actor = serde_json::to_value(&record.actor)?;
    let actor_field = |key: &str| match actor.get(key) {
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    };
    Ok([
        record.tenant_id.clone(),
        record.seq.to_string(),
        record.at.clone(),
        actor_field("type"),
        actor_field("id"),
        record.source.clone().unwrap_or_default(),
        record.action.clone(),
        record.subject.clone(),
        record.detail.to_string(),
        record.prev_hash.clone(),
        record.hash.clone(),
    ])
}

fn print_summary(tenant: &str, after: i64, summary: &ExportSummary, path: Option<&Path>) {
    let target = path.map_or("standard output".to_string(), |p| p.display().to_string());
    let range = if after > 0 {
        format!(" after record {after}")
    } else {
        String::new()
    };
    let head = match &summary.head {
        Some(head) => format!("; head {head}"),
        None => String::new(),
    };
    eprintln!(
        "exported {} audit records of {tenant}{range} to {target}{head}",
        summary.records
    );
}
