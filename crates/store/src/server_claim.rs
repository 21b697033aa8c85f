//! One serving process per database. A server keeps its decision index in
//! memory and runs the lifecycle engine from its own cursor. A second
//! server on the same database would miss the first one's policy,
//! credential and assignment changes, and could let a leaver in. The
//! claim makes the second server fail at start with the first one named.
//!
//! On SQLite the claim is an exclusive `flock` on a file beside the
//! database; on PostgreSQL it is a session advisory lock, scoped to the
//! database, held on a connection of its own. Both end with the process,
//! so a crashed server leaves nothing to clean up.

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

impl ServerClaim {
    /// Releases the claim and, on PostgreSQL, closes its connection cleanly.
    pub async fn release(self) {
        match self.hold {
            Hold::File(file) => drop(file),
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
        match self.backend {
            Backend::Sqlite => {
                let path = self.claim_file()?;
                loop {
                    match claim_file(&path)? {
                        Ok(file) => {
                            return Ok(ServerClaim {
                                hold: Hold::File(file),
                            });
                        }
                        Err(holder) if Instant::now() >= deadline => {
                            let holder = format!("{holder}, holds {}", path.display());
                            return Err(claimed_error(&holder));
                        }
                        Err(_) => tokio::time::sleep(RETRY_EVERY).await,
                    }
                }
            }
            Backend::Postgres => {
                let mut connection = self.writer.acquire().await?.detach();
                sqlx::query("SELECT set_config('application_name', $1, false)")
                    .bind(format!("lockgate server, pid {}", std::process::id()))
                    .execute(&mut connection)
                    .await?;
                loop {
                    let claimed: bool =
                        sqlx::query("SELECT pg_try_advisory_lock($1, $2) AS claimed")
                            .bind(CLAIM_LOCK.0)
                            .bind(CLAIM_LOCK.1)
                            .fetch_one(&mut connection)
                            .await?
                            .try_get("claimed")?;
                    if claimed {
                        return Ok(ServerClaim {
                            hold: Hold::Postgres(connection),
                        });
                    }
                    if Instant::now() >= deadline {
                        let holder = postgres_holder(&mut connection).await?;
                        return Err(claimed_error(&holder));
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        }
    }

    fn claim_file(&self) -> Result<PathBuf, StoreError> {
        let database = self
            .sqlite_path
            .as_deref()
            .ok_or_else(|| StoreError::Internal("a SQLite store without a file path".into()))?;
        let mut name = database.as_os_str().to_owned();
        name.push(".server-lock");
        Ok(PathBuf::from(name))
    }
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
            let holder = format!("lockgate server, pid {}, since {now}", std::process::id());
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

/// Names the session that has the claim, from `pg_stat_activity`.
async fn postgres_holder(connection: &mut AnyConnection) -> Result<String, StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(a.application_name, 'a session') AS name, \
         COALESCE(host(a.client_addr), 'a local socket') AS address, \
         to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS since \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted \
         AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
         AND l.objsubid = 2 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(i64::from(CLAIM_LOCK.0))
    .bind(i64::from(CLAIM_LOCK.1))
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok("another server".into());
    };
    let name: String = row.try_get("name")?;
    let address: String = row.try_get("address")?;
    let since: String = row.try_get("since")?;
    Ok(format!("{name}, connected from {address} since {since}"))
}

fn claimed_error(holder: &str) -> StoreError {
    StoreError::Conflict(format!(
        "another Lockgate server already serves this database ({holder}). Run one server \
         per database, because each keeps its own decision index and would not see the \
         other's changes. Stop the other server, or give this one its own --data-dir or \
         --database-url"
    ))
}
