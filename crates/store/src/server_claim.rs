//! One serving process per database. A server keeps its decision index in
//! memory and runs the lifecycle engine from its own cursor. A second
//! server on the same database would miss the first one's policy,
//! credential and assignment changes, and could let a leaver in. The
//! claim makes the second server fail at start with the first one named.
//!
//! On SQLite the claim is an exclusive `flock` on a file beside the
//! database. On PostgreSQL it is a session advisory lock, which is scoped
//! to the database, on a connection of its own. Both end with the process, so a
//! crashed server leaves nothing to clean up. A PostgreSQL claim also ends
//! when its connection does, which [`ServerClaim::check`] notices.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection, Row};

use crate::{Backend, Store, StoreError};

/// The keys of the claim's two-key advisory lock. The audit chain takes
/// one-key locks and bookings two-key locks with first key 1, and
/// PostgreSQL keeps the three kinds apart.
const CLAIM_LOCK: (i32, i32) = (2, 0);

/// The condition on a `pg_locks` row, as `l`, that is the claim's granted
/// lock, with the two keys bound as `$1` and `$2`.
const CLAIM_LOCK_ROW: &str = "l.locktype = 'advisory' AND l.granted \
     AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 2";

/// How often a claim is tried again while another server has it.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// A held claim on the database. Dropping it releases the claim, as does
/// the end of the process.
pub struct ServerClaim {
    hold: Hold,
}

enum Hold {
    File(File),
    Postgres(AnyConnection),
}

/// The outcome of a check of a held claim.
#[derive(Debug)]
pub enum ClaimCheck {
    /// The claim is held, possibly again on a new connection.
    Held,
    /// Another server took the claim while this one had lost it; the
    /// message names that server.
    Taken(String),
    /// The database could not be reached; the claim is checked again later.
    Unknown(StoreError),
}

impl ServerClaim {
    /// Checks that the claim is still held. On PostgreSQL the lock ends
    /// with its connection, which a database restart or a network failure
    /// closes, so a lost lock is taken again on a new connection when no
    /// other server has taken it meanwhile. A file lock stays until its
    /// file is closed, so on SQLite the claim is always held.
    pub async fn check(&mut self, store: &Store) -> ClaimCheck {
        let Hold::Postgres(connection) = &mut self.hold else {
            return ClaimCheck::Held;
        };
        let sql = format!(
            "SELECT 1 AS held FROM pg_locks l WHERE l.pid = pg_backend_pid() AND {CLAIM_LOCK_ROW}"
        );
        let lock_row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(CLAIM_LOCK.0))
            .bind(i64::from(CLAIM_LOCK.1))
            .fetch_optional(&mut *connection)
            .await;
        match lock_row {
            Ok(Some(_)) => return ClaimCheck::Held,
            Ok(None) => {}
            // A session that PostgreSQL ended returns the error that ended
            // it to the next query, so only a failed ping shows that the
            // connection, and with it the lock, is gone.
            Err(error) => {
                if connection.ping().await.is_ok() {
                    return ClaimCheck::Unknown(error.into());
                }
            }
        }
        match store.try_claim_postgres().await {
            Ok(Ok(claim)) => {
                tracing::warn!("the claim on the database was lost and has been taken again");
                *self = claim;
                ClaimCheck::Held
            }
            // The old session of this process, which PostgreSQL has not
            // ended yet, still has the lock.
            Ok(Err(holder)) if holder.is_this_process() => ClaimCheck::Unknown(
                StoreError::Conflict("the claim's previous connection has not ended yet".into()),
            ),
            Ok(Err(holder)) => ClaimCheck::Taken(claimed_message(&holder.describe())),
            Err(error) => ClaimCheck::Unknown(error),
        }
    }

    /// Releases the claim and, on PostgreSQL, closes its connection cleanly.
    pub async fn release(self) {
        match self.hold {
            // Emptied first, so that the file names no server once none
            // has it; closing the file then unlocks it.
            Hold::File(file) => {
                if let Err(error) = file.set_len(0) {
                    tracing::debug!(%error, "emptying the server lock file failed");
                }
            }
            Hold::Postgres(connection) => {
                if let Err(error) = connection.close().await {
                    tracing::warn!(%error, "closing the connection of the server claim failed");
                }
            }
        }
    }
}

impl Store {
    /// Claims the database for this process, trying for up to `wait` while
    /// another server has it (a restarted server's predecessor may still
    /// be shutting down). Fails with a message that names the holder.
    pub async fn claim_server(&self, wait: Duration) -> Result<ServerClaim, StoreError> {
        let deadline = Instant::now() + wait;
        let mut logged = false;
        match self.backend {
            Backend::Sqlite => {
                let path = self.claim_file_path()?;
                loop {
                    match claim_file(&path)? {
                        Ok(file) => {
                            return Ok(ServerClaim {
                                hold: Hold::File(file),
                            });
                        }
                        Err(holder) if Instant::now() >= deadline => {
                            let holder = format!("{holder}, holds {}", path.display());
                            return Err(StoreError::Conflict(claimed_message(&holder)));
                        }
                        Err(_) => waiting(&mut logged, wait).await,
                    }
                }
            }
            Backend::Postgres => loop {
                match self.try_claim_postgres().await? {
                    Ok(claim) => return Ok(claim),
                    Err(holder) if Instant::now() >= deadline => {
                        return Err(StoreError::Conflict(claimed_message(&holder.describe())));
                    }
                    Err(_) => waiting(&mut logged, wait).await,
                }
            },
        }
    }

    /// Tries once to take the PostgreSQL claim on a new connection, and
    /// returns the session that has it when that fails.
    async fn try_claim_postgres(&self) -> Result<Result<ServerClaim, Holder>, StoreError> {
        let mut connection = self.claim_connection().await?;
        let claimed: bool = sqlx::query("SELECT pg_try_advisory_lock($1, $2) AS claimed")
            .bind(CLAIM_LOCK.0)
            .bind(CLAIM_LOCK.1)
            .fetch_one(&mut connection)
            .await?
            .try_get("claimed")?;
        if claimed {
            let hold = Hold::Postgres(connection);
            return Ok(Ok(ServerClaim { hold }));
        }
        let holder = postgres_holder(&mut connection).await?;
        if let Err(error) = connection.close().await {
            tracing::debug!(%error, "closing a connection that found the claim taken failed");
        }
        Ok(Err(holder))
    }

    /// Opens the connection that keeps a PostgreSQL claim, named after
    /// this process. Keepalives every 10 s after 30 s of silence make
    /// PostgreSQL end the session, and release the claim, within about a
    /// minute of this host going away, where its default may wait hours.
    async fn claim_connection(&self) -> Result<AnyConnection, StoreError> {
        let mut connection = self.writer.acquire().await?.detach();
        sqlx::query(
            "SELECT set_config('application_name', $1, false), \
             set_config('tcp_keepalives_idle', '30', false), \
             set_config('tcp_keepalives_interval', '10', false), \
             set_config('tcp_keepalives_count', '3', false)",
        )
        .bind(own_name())
        .execute(&mut connection)
        .await?;
        Ok(connection)
    }

    fn claim_file_path(&self) -> Result<PathBuf, StoreError> {
        let database = self
            .sqlite_path
            .as_deref()
            .ok_or_else(|| StoreError::Internal("a SQLite store without a file path".into()))?;
        // Two paths to one file (a symbolic link, a relative path) must
        // find the same lock file.
        let database = std::fs::canonicalize(database).unwrap_or_else(|_| database.to_path_buf());
        let mut name = database.as_os_str().to_owned();
        name.push(".server-lock");
        Ok(PathBuf::from(name))
    }
}

/// Waits before the next attempt, and logs once that it is waiting,
/// because the rejection comes only after the whole wait.
async fn waiting(logged: &mut bool, wait: Duration) {
    if !*logged {
        *logged = true;
        tracing::info!(
            ?wait,
            "another server has the database; waiting for it to stop"
        );
    }
    tokio::time::sleep(RETRY_EVERY).await;
}

/// Takes the lock on `path` and writes this process into it, or returns
/// what the holder wrote there.
fn claim_file(path: &Path) -> Result<Result<File, String>, StoreError> {
    let failed = |e: std::io::Error| {
        StoreError::Config(format!(
            "cannot use the server lock file {}: {e}",
            path.display()
        ))
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {
            let now = lockgate_domain::timestamp::now();
            let holder = format!("{}, since {now}", own_name());
            file.set_len(0).map_err(failed)?;
            file.rewind().map_err(failed)?;
            file.write_all(holder.as_bytes()).map_err(failed)?;
            Ok(Ok(file))
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            file.read_to_string(&mut holder).map_err(failed)?;
            let holder = holder.trim();
            Ok(Err(if holder.is_empty() {
                "another server"
            } else {
                holder
            }
            .to_string()))
        }
        Err(TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Returns the name a server gives its claim: the file's text on SQLite,
/// the session's application name on PostgreSQL.
fn own_name() -> String {
    format!("lockgate server, pid {}", std::process::id())
}

/// The session that has a PostgreSQL claim, as `pg_stat_activity` shows
/// it. A session of another database role shows no details there.
struct Holder {
    name: Option<String>,
    address: Option<String>,
    since: Option<String>,
}

impl Holder {
    fn is_this_process(&self) -> bool {
        self.name.as_deref() == Some(own_name().as_str())
    }

    fn describe(&self) -> String {
        let address = self.address.as_deref().unwrap_or("a local socket");
        match (&self.name, &self.since) {
            (Some(name), Some(since)) => format!("{name}, connected from {address} since {since}"),
            (Some(name), None) => name.clone(),
            (None, _) => "a session of another database role".into(),
        }
    }
}

async fn postgres_holder(connection: &mut AnyConnection) -> Result<Holder, StoreError> {
    let sql = format!(
        "SELECT a.application_name AS name, host(a.client_addr) AS address, \
         to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS since \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE {CLAIM_LOCK_ROW} \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(CLAIM_LOCK.0))
        .bind(i64::from(CLAIM_LOCK.1))
        .fetch_optional(&mut *connection)
        .await?;
    let Some(row) = row else {
        // The holder ended between the attempt and this query.
        return Ok(Holder {
            name: Some("another server".into()),
            address: None,
            since: None,
        });
    };
    Ok(Holder {
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        since: row.try_get("since")?,
    })
}

fn claimed_message(holder: &str) -> String {
    format!(
        "another Lockgate server already serves this database ({holder}). Run one server \
         per database, because each keeps its own decision index and would not see the \
         other's changes. Stop the other server, or give this one its own --data-dir or \
         --database-url."
    )
}
