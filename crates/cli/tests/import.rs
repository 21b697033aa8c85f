//! `lockgate import` as an operator runs it: the real binary on a real
//! SQLite file, read back through the store afterwards.

use std::path::Path;
use std::process::{Command, Output};

use lockgate_store::{LockerFilter, Store, StoreOptions};

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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates tenant `st-marys` in `data_dir`.
fn create_tenant(data_dir: &Path) {
    let created = lockgate(data_dir, &["tenant", "create", "st-marys"]);
    assert!(created.status.success(), "{created:?}");
}

/// Returns the number of sites and lockers of tenant `st-marys`.
fn counts(data_dir: &Path) -> (usize, usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::connect(&StoreOptions::sqlite_in_dir(data_dir))
            .await
            .unwrap();
        let tenant = store.tenant_by_slug("st-marys").await.unwrap().unwrap();
        let tenant = store.tenant(&tenant.id);
        let sites = tenant.list_sites().await.unwrap().len();
        let lockers = tenant
            .list_lockers(&LockerFilter::default())
            .await
            .unwrap()
            .len();
        store.close().await;
        (sites, lockers)
    })
}

#[test]
fn import_hospital_example() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hospital.toml");
    let example = example.to_str().unwrap();

    let output = lockgate(dir.path(), &["import", "st-marys", example]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout).trim(),
        "imported 1 site, 3 zones, 5 banks, 60 lockers"
    );
    // stderr is a pipe here, so the progress bar stays hidden.
    assert_eq!(text(&output.stderr), "");
    assert_eq!(counts(dir.path()), (1, 60));

    // The import's records name the command line as their source.
    let export = lockgate(dir.path(), &["audit", "export", "st-marys"]);
    assert!(export.status.success(), "{export:?}");
    let records: Vec<serde_json::Value> = text(&export.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let created: Vec<_> = records
        .iter()
        .filter(|record| record["action"] == "locker_created")
        .collect();
    assert_eq!(created.len(), 60, "{records:?}");
    for record in created {
        assert_eq!(record["source"], "cli", "{record}");
        let actor = record["actor"]["id"].as_str().unwrap_or_default();
        assert!(actor.starts_with("cli:"), "{record}");
    }

    let again = lockgate(dir.path(), &["import", "st-marys", example]);
    assert!(!again.status.success(), "{again:?}");
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("site \"st-marys\" already exists"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(counts(dir.path()), (1, 60));
}

#[test]
fn csv_with_bad_rows_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path());
    let file = dir.path().join("lockers.csv");
    std::fs::write(
        &file,
        "site,site_name,zone,zone_name,bank,bank_name,locker,door,kind,size\n\
         main,Main campus,w3,Ward 3,w3-a,Staff room A,,1,personal,medium\n\
         main,,w3,,w3-a,,,2,gigantic,medium\n\
         main,,w3,,w3-a,,,3,flex,small\n\
         main,,w3,,w3-b,,,1,flex,small\n",
    )
    .unwrap();

    let output = lockgate(dir.path(), &["import", "st-marys", file.to_str().unwrap()]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("line 3: kind \"gigantic\" is not valid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: bank \"w3-b\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("has 2 problems"), "{stderr}");
    assert_eq!(text(&output.stdout), "");
    assert_eq!(counts(dir.path()), (0, 0));
}

#[test]
fn import_rejects_unknown_extension() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path());
    let file = dir.path().join("lockers.txt");
    std::fs::write(&file, "").unwrap();
    let output = lockgate(dir.path(), &["import", "st-marys", file.to_str().unwrap()]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains(".csv or .toml"), "{stderr}");
}
