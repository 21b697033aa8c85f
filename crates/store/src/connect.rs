//! Opening the database and running migrations.

use std::path::Path;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::checkpoint::{BUSY_TIMEOUT_MS, IDLE_PASS_EVERY, LogCheck, PASS_EVERY, WAL_FILE_LIMIT};
use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://...`.
    pub url: String,
    /// Maximum connections for reads (and for writes on PostgreSQL). `None`
    /// picks 4 for SQLite, where each connection is a thread and more of
    /// them on two cores measured slower, and 16 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// SQLite `synchronous` setting. `NORMAL` with WAL loses no committed
    /// transaction when the process crashes; `FULL` also survives power loss
    /// at a cost of one fsync per commit.
    pub sqlite_synchronous: String,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: None,
            sqlite_synchronous: "NORMAL".into(),
        }
    }

    /// Builds options for an SQLite file `lockgate.db` in `dir`.
    pub fn sqlite_in_dir(dir: &Path) -> Self {
        Self::new(format!("sqlite://{}", dir.join("lockgate.db").display()))
    }
}

impl Store {
    /// Opens the database, creating the SQLite file if needed, and applies
    /// pending migrations.
    pub async fn connect(options: &StoreOptions) -> Result<Store, StoreError> {
        let store = Store::open(options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects for a server: claims the database (see
    /// [`Store::claim_server`]) before migrating it, so that a newer
    /// binary started beside a running server stops without changing the
    /// schema under it.
    pub async fn connect_server(
        options: &StoreOptions,
        wait: Duration,
    ) -> Result<(Store, crate::ServerClaim), StoreError> {
        let store = Store::open(options).await?;
        let claim = store.claim_server(wait).await?;
        store.migrate().await?;
        Ok((store, claim))
    }

    /// Opens the database, creating the SQLite file if needed, without
    /// migrating it.
    async fn open(options: &StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(&options.url)?;
        let store = match backend {
            Backend::Sqlite => connect_sqlite(options).await?,
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.unwrap_or(16))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&options.url)
                    .await?;
                Store {
                    backend,
                    reader: pool.clone(),
                    writer: pool,
                    write_thread: None,
                    credential_cache: Default::default(),
                    audit_heads: Default::default(),
                    sqlite_path: None,
                }
            }
        };
        Ok(store)
    }

    /// Runs one statement on a fresh connection, outside any pool; for
    /// administrative statements such as `CREATE DATABASE` in tests and tools.
    pub async fn admin_execute(url: &str, sql: &str) -> Result<(), StoreError> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("migrations/sqlite")
                    .run(&self.writer)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.writer)
                    .await?
            }
        }
        Ok(())
    }
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Config(format!(
            "database URL {:?} is neither sqlite:// nor postgres://; \
             use sqlite:///var/lib/lockgate/lockgate.db or postgres://user@host/db",
            redact(url)
        )))
    }
}

/// Hides a password in a database URL before it is shown or logged.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

async fn connect_sqlite(options: &StoreOptions) -> Result<Store, StoreError> {
    let path = options
        .url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path).to_string();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "an in-memory SQLite database cannot be shared between connections; give a file path"
                .into(),
        ));
    }
    if let Some(parent) = Path::new(&path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Config(format!(
                "cannot create database directory {}: {e}",
                parent.display()
            ))
        })?;
    }
    let synchronous = options.sqlite_synchronous.to_ascii_uppercase();
    if !matches!(synchronous.as_str(), "NORMAL" | "FULL" | "EXTRA") {
        return Err(StoreError::Config(format!(
            "sqlite synchronous {:?} is not supported; use NORMAL, FULL or EXTRA",
            options.sqlite_synchronous
        )));
    }
    let url = format!("sqlite://{path}?mode=rwc");
    // Automatic checkpoints are off because they run on the committing
    // connection: every thousand pages the writer stopped to copy the WAL
    // into the database and fsync it. A background task checkpoints instead.
    // temp_store = MEMORY keeps statement journals (which SQLite opens for
    // every multi-row write inside a transaction) off the disk; without it
    // each SCIM write created and deleted a temporary file.
    // journal_size_limit cuts the WAL file back to WAL_FILE_LIMIT when
    // SQLite starts it over, so one burst of writes does not keep its disk
    // space.
    let pragmas = format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
         PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA journal_size_limit = {WAL_FILE_LIMIT};"
    );
    let writer = sqlite_pool(&url, 1, pragmas.clone()).await?;
    // WAL mode is a property of the file; set it once before readers open.
    sqlx::query("SELECT 1").execute(&writer).await?;
    let reader = sqlite_pool(
        &url,
        options.max_connections.unwrap_or(4).max(2),
        pragmas.clone(),
    )
    .await?;
    let audit_heads = crate::audit::HeadCache::default();
    let sqlite_path = Some(std::path::PathBuf::from(&path));
    let write_thread = crate::writer::WriteThread::start(path, pragmas, audit_heads.clone())?;
    let store = Store {
        backend: Backend::Sqlite,
        reader,
        writer,
        write_thread: Some(write_thread),
        credential_cache: Default::default(),
        audit_heads,
        sqlite_path,
    };
    tokio::spawn(checkpoint_periodically(store.clone()));
    Ok(store)
}

/// Checkpoints until the store closes: every [`PASS_EVERY`] while writes
/// arrive, every [`IDLE_PASS_EVERY`] once they stop.
async fn checkpoint_periodically(store: Store) {
    let mut last = None;
    loop {
        if store.writer.is_closed() {
            return;
        }
        let wait = match store.checkpoint_if_long().await {
            Ok(check) => {
                if !matches!(check, LogCheck::Short { .. }) {
                    tracing::debug!(?check, "the write-ahead log passed its limit");
                }
                let idle = check.idle_since(last);
                last = Some(check);
                if idle { IDLE_PASS_EVERY } else { PASS_EVERY }
            }
            Err(e) => {
                if store.writer.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "SQLite checkpoint failed; retrying in a second");
                IDLE_PASS_EVERY
            }
        };
        tokio::time::sleep(wait).await;
    }
}

async fn sqlite_pool(url: &str, size: u32, pragmas: String) -> Result<AnyPool, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            let pragmas = pragmas.clone();
            Box::pin(async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}
