//! `lockgate audit` and the admin and device token commands, run as real
//! processes on a real SQLite file. The tests write audit records through
//! the store and tamper with the file through SQL, as someone with access
//! to the database could.

use std::path::Path;
use std::process::{Command, Output};

use lockgate_domain::Slug;
use lockgate_domain::audit::{self, Actor, AuditRecord};
use lockgate_store::{AuditDraft, Store, StoreOptions, TenantStore};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

fn lockgate(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("LOCKGATE_DATABASE_URL")
        .env_remove("LOCKGATE_CONFIG")
        .output()
        .expect("run lockgate")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Creates tenant `depot` through the store, without the tokens whose
/// creation `tenant create` audits, so its chain starts empty. Then
/// appends `count` audit records and returns the records as stored.
async fn depot_with_records(dir: &Path, count: usize) -> Vec<AuditRecord> {
    let store = Store::connect(&StoreOptions::sqlite_in_dir(dir))
        .await
        .unwrap();
    let slug = Slug::parse("depot").unwrap();
    let tenant = store.create_tenant(&slug).await.unwrap();
    let tenant = store.tenant(&tenant.id);
    let drafts = (0..count)
        .map(|i| AuditDraft {
            actor: if i % 2 == 0 {
                Actor::Admin("cred-1".into())
            } else {
                Actor::System
            },
            source: (i % 3 != 0).then(|| format!("req-{i}")),
            action: "locker_assigned".into(),
            subject: format!("locker-{i}"),
            detail: json!({"user": format!("user-{i}"), "note": "line, with \"quotes\"\nand a newline"}),
        })
        .collect();
    tenant.append_audit(drafts).await.unwrap();
    let records = all_records(&tenant).await;
    store.close().await;
    records
}

async fn all_records(tenant: &TenantStore) -> Vec<AuditRecord> {
    tenant.audit_records(0, i64::MAX).await.unwrap()
}

/// Runs one statement on the SQLite file directly, outside Lockgate.
async fn tamper(dir: &Path, sql: &'static str) {
    let url = format!("sqlite://{}", dir.join("lockgate.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let result = sqlx::query(sql).execute(&mut conn).await.unwrap();
    assert_eq!(result.rows_affected(), 1, "{sql}");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn verify_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    let records = depot_with_records(dir.path(), 5).await;
    let head = &records[4].hash;

    let output = lockgate(dir.path(), &["audit", "verify", "depot"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output).trim(),
        format!("audit chain of depot is intact: 5 records, head {head}")
    );

    let earlier = records[2].hash.to_uppercase();
    let output = lockgate(
        dir.path(),
        &["audit", "verify", "depot", "--expected-head", &earlier],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("The expected head is record 3; 2 records follow it."),
        "{output:?}"
    );
}

#[tokio::test]
async fn verify_empty_chain() {
    let dir = tempfile::tempdir().unwrap();
    depot_with_records(dir.path(), 0).await;
    let output = lockgate(dir.path(), &["audit", "verify", "depot"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output).trim(),
        format!(
            "audit chain of depot is intact: 0 records, head {}",
            audit::GENESIS
        )
    );
}

#[tokio::test]
async fn verify_reports_altered_detail() {
    let dir = tempfile::tempdir().unwrap();
    depot_with_records(dir.path(), 5).await;
    tamper(
        dir.path(),
        r#"UPDATE audit_log SET detail = '{"user":"someone-else"}' WHERE seq = 3"#,
    )
    .await;

    let output = lockgate(dir.path(), &["audit", "verify", "depot"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let message = stderr(&output);
    assert!(
        message.contains("audit chain of depot is broken: audit record 3 was altered"),
        "{message}"
    );
    assert!(message.contains("Records 1 to 2 passed"), "{message}");
    assert!(stdout(&output).is_empty(), "{output:?}");
}

#[tokio::test]
async fn verify_reports_deleted_middle_record() {
    let dir = tempfile::tempdir().unwrap();
    depot_with_records(dir.path(), 5).await;
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq = 3").await;

    let output = lockgate(dir.path(), &["audit", "verify", "depot"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let message = stderr(&output);
    assert!(
        message.contains("audit record 4 does not follow record 2"),
        "{message}"
    );
}

#[tokio::test]
async fn expected_head_catches_removed_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let records = depot_with_records(dir.path(), 5).await;
    let old_head = records[4].hash.clone();
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq = 5").await;

    let alone = lockgate(dir.path(), &["audit", "verify", "depot"]);
    assert!(
        alone.status.success(),
        "a shorter chain is valid without a head: {alone:?}"
    );

    let output = lockgate(
        dir.path(),
        &["audit", "verify", "depot", "--expected-head", &old_head],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let message = stderr(&output);
    assert!(message.contains(&old_head), "{message}");
    assert!(message.contains("ends at record 4"), "{message}");
}

#[test]
fn verify_rejects_malformed_head() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        lockgate(dir.path(), &["tenant", "create", "depot"])
            .status
            .success()
    );
    let output = lockgate(
        dir.path(),
        &["audit", "verify", "depot", "--expected-head", "abc"],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("\"abc\" is not a SHA-256 hash"),
        "{output:?}"
    );
}

#[tokio::test]
async fn export_jsonl_matches_chain() {
    let dir = tempfile::tempdir().unwrap();
    // More than one export page of 1,000 records.
    let records = depot_with_records(dir.path(), 1_203).await;

    let output = lockgate(dir.path(), &["audit", "export", "depot"]);
    assert!(output.status.success(), "{output:?}");
    let exported: Vec<AuditRecord> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record per line"))
        .collect();
    assert_eq!(exported.len(), 1_203);
    assert_eq!(exported, records);
    assert_eq!(
        audit::verify(&records[0].tenant_id, &exported, Some(&records[1_202].hash)),
        Ok(())
    );
    assert!(
        stderr(&output).contains(&format!("head {}", records[1_202].hash)),
        "{output:?}"
    );

    let rest = lockgate(dir.path(), &["audit", "export", "depot", "--after", "1200"]);
    assert!(rest.status.success(), "{rest:?}");
    let seqs: Vec<i64> = stdout(&rest)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [1_201, 1_202, 1_203]);
}

#[tokio::test]
async fn export_csv_matches_chain() {
    let dir = tempfile::tempdir().unwrap();
    let records = depot_with_records(dir.path(), 4).await;
    let file = dir.path().join("audit.csv");
    let file_arg = file.to_str().unwrap();

    let output = lockgate(
        dir.path(),
        &[
            "audit", "export", "depot", "--format", "csv", "--output", file_arg,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).is_empty(), "{output:?}");

    let mut reader = csv::Reader::from_path(&file).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
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
            "hash"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[3][10], records[3].hash);
    assert_eq!(&rows[0][3], "admin");
    assert_eq!(&rows[0][4], "cred-1");
    assert_eq!(&rows[1][3], "system");
    assert_eq!(&rows[1][4], "");
    for (row, record) in rows.iter().zip(&records) {
        let detail: Value = serde_json::from_str(&row[8]).expect("detail is JSON text");
        assert_eq!(detail, record.detail);
        assert_eq!(row[1].parse::<i64>().unwrap(), record.seq);
    }

    let again = lockgate(
        dir.path(),
        &[
            "audit", "export", "depot", "--format", "csv", "--output", file_arg,
        ],
    );
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(stderr(&again).contains("must not exist yet"), "{again:?}");
}

#[test]
fn tenant_create_prints_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let output = lockgate(dir.path(), &["tenant", "create", "depot", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(
        json["admin_token"].as_str().unwrap().starts_with("lgadm_"),
        "{json}"
    );
    assert!(json["admin_token_id"].is_string(), "{json}");
    assert!(json["scim_token"].is_string(), "{json}");
    assert!(json["scim_token_id"].is_string(), "{json}");
    assert_eq!(json["tenant"], "depot");
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn admin_and_device_tokens_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = lockgate(dir.path(), &["tenant", "create", "depot", "--json"]);
    let tenant: Value = serde_json::from_str(&stdout(&tenant)).unwrap();

    let admin = lockgate(dir.path(), &["admin-token", "create", "depot", "--json"]);
    assert!(admin.status.success(), "{admin:?}");
    let admin: Value = serde_json::from_str(&stdout(&admin)).unwrap();
    assert!(admin["admin_token"].as_str().unwrap().starts_with("lgadm_"));
    let admin_id = admin["id"].as_str().unwrap();

    let device = lockgate(
        dir.path(),
        &[
            "device-token",
            "create",
            "depot",
            "--bank",
            "bank-a",
            "--json",
        ],
    );
    assert!(device.status.success(), "{device:?}");
    let warning = String::from_utf8_lossy(&device.stderr);
    assert!(
        warning.contains("bank \"bank-a\" not found"),
        "a token for a bank not yet imported is issued with a warning: {warning}"
    );
    let device: Value = serde_json::from_str(&stdout(&device)).unwrap();
    assert!(device["device_token"].as_str().unwrap().starts_with("lgd_"));

    let admins = json_lines(&lockgate(dir.path(), &["admin-token", "list", "depot"]));
    assert_eq!(admins.len(), 2, "the tenant's first token and the new one");
    assert!(admins.iter().all(|c| c["kind"] == "admin_token"));
    let devices = json_lines(&lockgate(dir.path(), &["device-token", "list", "depot"]));
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["scope"], "bank-a");
    let scim = json_lines(&lockgate(dir.path(), &["scim-token", "list", "depot"]));
    assert_eq!(
        scim.len(),
        1,
        "SCIM token list shows no admin or device tokens"
    );

    let scim_id = tenant["scim_token_id"].as_str().unwrap();
    let wrong_kind = lockgate(dir.path(), &["admin-token", "revoke", "depot", scim_id]);
    assert_eq!(wrong_kind.status.code(), Some(1), "{wrong_kind:?}");
    assert!(stderr(&wrong_kind).contains("not found"), "{wrong_kind:?}");

    let revoked = lockgate(dir.path(), &["admin-token", "revoke", "depot", admin_id]);
    assert!(revoked.status.success(), "{revoked:?}");
    let twice = lockgate(dir.path(), &["admin-token", "revoke", "depot", admin_id]);
    assert!(stderr(&twice).contains("already revoked"), "{twice:?}");
    let admins = json_lines(&lockgate(dir.path(), &["admin-token", "list", "depot"]));
    let revoked_count = admins.iter().filter(|c| !c["revoked_at"].is_null()).count();
    assert_eq!(revoked_count, 1);

    // Each token made or revoked is in the audit chain; the revoke that
    // found nothing to revoke is not.
    let records = json_lines(&lockgate(dir.path(), &["audit", "export", "depot"]));
    let changes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["subject"].as_str().unwrap(),
            )
        })
        .collect();
    let admin_ids: Vec<&str> = admins.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected = [
        ("credential_created", scim_id),
        ("credential_created", admin_ids[1]),
        ("credential_created", admin_id),
        ("credential_created", devices[0]["id"].as_str().unwrap()),
        ("credential_revoked", admin_id),
    ];
    assert_eq!(changes, expected, "{records:?}");
    assert!(records.iter().all(|r| r["source"] == "cli"), "{records:?}");
}
