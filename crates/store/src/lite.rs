//! The SQLite write thread's own connection, driven without sqlx.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands it one
//! query at a time over a channel. Write transactions already run one after
//! another on the write thread, so each statement cost two thread switches
//! for work that SQLite does in microseconds. On two cores those switches
//! were the largest cost of a SCIM write and of a decision's audit commit.
//! The write thread now owns a rusqlite connection and calls SQLite
//! directly. The connection lives in a thread-local, so only code running
//! on the write thread can reach it.
//!
//! Transactions that arrive while one runs are committed together (a group
//! commit): the write thread opens one SQLite transaction for the group and
//! each job's transaction becomes a savepoint in it. A commit writes every
//! page it changed to the write-ahead log. SCIM writes of one burst change
//! many of the same pages (index interior pages, the tails of the event and
//! log tables), so a group writes each such page once. A job that
//! fails rolls back to its savepoint and leaves the others in the group
//! alone. Its caller hears of the outcome only after the group commits.
//!
//! Errors are returned as `sqlx::Error`, with constraint violations kept
//! recognisable, so that the callers handle both backends alike.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Connection, ffi};
use sqlx::error::{DatabaseError, ErrorKind};

use crate::batch::anonymous_placeholders;
use crate::filter_sql::Bind;

/// Prepared statements kept per connection. Write statements are few, but
/// multi-row inserts differ by row count, so the cache keeps more than
/// rusqlite's default of 16 statements.
const STATEMENT_CACHE: usize = 256;

/// The savepoint that stands for one job's transaction inside a group,
/// and the statements that end it.
const SAVEPOINT: &str = "SAVEPOINT lockgate_job";
const RELEASE: &str = "RELEASE lockgate_job";
const ROLLBACK_TO: &str = "ROLLBACK TO lockgate_job";

thread_local! {
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
    static GROUP: Cell<Group> = const { Cell::new(Group::Off) };
}

/// The group commit state of the write thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Each transaction commits on its own.
    Off,
    /// Transactions become savepoints. `began` is set once the group's own
    /// transaction is open. `lost` is set when SQLite ended it early, since
    /// SQLite rolls back the whole transaction on some errors (a full disk,
    /// for one), so the group must report failure.
    On { began: bool, lost: bool },
}

/// Starts collecting transactions into a group.
pub(crate) fn start_group() {
    GROUP.set(Group::On {
        began: false,
        lost: false,
    });
}

/// Commits the group's transaction, if any job opened it, and stops
/// grouping. An error means none of the group's writes were stored.
pub(crate) fn finish_group() -> Result<(), String> {
    let group = GROUP.replace(Group::Off);
    let Group::On { began, lost } = group else {
        return Ok(());
    };
    if !began {
        return Ok(());
    }
    if lost || !in_transaction() {
        return Err("SQLite rolled back the transaction of a group of writes".into());
    }
    control("COMMIT").map_err(|e| {
        if in_transaction() {
            let _ = control("ROLLBACK");
        }
        format!("committing a group of writes failed: {e}")
    })
}

/// Opens a job's transaction: a savepoint inside the group's transaction
/// while grouping, else `BEGIN IMMEDIATE`.
pub(crate) fn begin() -> Result<(), sqlx::Error> {
    match GROUP.get() {
        Group::Off => control("BEGIN IMMEDIATE"),
        Group::On { began, lost } => {
            if !in_transaction() {
                // No job of the group has written yet, or SQLite ended the
                // group's transaction, which loses the writes before it.
                control("BEGIN IMMEDIATE")?;
                GROUP.set(Group::On {
                    began: true,
                    lost: lost || began,
                });
            }
            control(SAVEPOINT)
        }
    }
}

/// Ends a job's transaction, keeping its writes.
pub(crate) fn commit() -> Result<(), sqlx::Error> {
    match GROUP.get() {
        Group::Off => control("COMMIT"),
        Group::On { .. } => control(RELEASE),
    }
}

/// Ends a job's transaction, dropping its writes.
pub(crate) fn rollback() -> Result<(), sqlx::Error> {
    match GROUP.get() {
        Group::Off => control("ROLLBACK"),
        Group::On { .. } => {
            control(ROLLBACK_TO)?;
            control(RELEASE)
        }
    }
}

/// Opens this thread's write connection on the database at `path` and
/// applies `pragmas`, the same settings as sqlx's connections.
pub(crate) fn open(path: &str, pragmas: &str) -> Result<(), String> {
    let connection = Connection::open(path)
        .and_then(|connection| {
            connection.execute_batch(pragmas)?;
            Ok(connection)
        })
        .map_err(|e| format!("cannot open SQLite database {path} for writing: {e}"))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    CONNECTION.with(|cell| *cell.borrow_mut() = Some(connection));
    Ok(())
}

/// Closes this thread's write connection, if it has one.
pub(crate) fn close() {
    let connection = CONNECTION.with(|cell| cell.borrow_mut().take());
    if let Some(connection) = connection
        && let Err((_, e)) = connection.close()
    {
        tracing::warn!(error = %e, "closing the SQLite write connection failed");
    }
}

fn with<T>(run: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>) -> Result<T, sqlx::Error> {
    CONNECTION.with(|cell| {
        let connection = cell.borrow();
        let connection = connection.as_ref().ok_or_else(|| {
            sqlx::Error::Protocol(
                "an SQLite write ran outside the write thread, which owns the connection".into(),
            )
        })?;
        run(connection).map_err(into_sqlx)
    })
}

/// Runs one statement whose placeholders are numbered from `$1` and
/// returns the number of rows it changed.
pub(crate) fn execute(sql: &str, binds: &[Bind]) -> Result<usize, sqlx::Error> {
    with(|connection| prepare(connection, sql, binds)?.raw_execute())
}

/// Runs statements without placeholders, such as a `PRAGMA`, parsing
/// them each time.
pub(crate) fn execute_plain(sql: &str) -> Result<(), sqlx::Error> {
    with(|connection| connection.execute_batch(sql))
}

/// Runs a transaction control statement (`BEGIN`, `SAVEPOINT`, ...) from
/// the statement cache, because the group commit sends several per job.
fn control(sql: &str) -> Result<(), sqlx::Error> {
    with(|connection| connection.prepare_cached(sql)?.raw_execute().map(|_| ()))
}

/// Runs one statement and returns its rows.
pub(crate) fn query(sql: &str, binds: &[Bind]) -> Result<Vec<LiteRow>, sqlx::Error> {
    with(|connection| {
        let mut statement = prepare(connection, sql, binds)?;
        let columns: Arc<[String]> = statement.column_names().map(str::to_string).collect();
        let width = columns.len();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..width)
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<Vec<Value>, _>>()?;
            out.push(LiteRow {
                columns: Arc::clone(&columns),
                values,
            });
        }
        Ok(out)
    })
}

/// Returns whether this thread's connection is inside a transaction.
pub(crate) fn in_transaction() -> bool {
    CONNECTION.with(|cell| {
        cell.borrow()
            .as_ref()
            .is_some_and(|connection| !connection.is_autocommit())
    })
}

/// Takes `sql` from the statement cache, with its `$n` placeholders made
/// anonymous, and binds `binds` to it.
fn prepare<'c>(
    connection: &'c Connection,
    sql: &str,
    binds: &[Bind],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let (text, ordered) = anonymous_placeholders(sql, binds);
    let mut statement = connection.prepare_cached(&text)?;
    for (index, bind) in ordered.into_iter().enumerate() {
        let value = match bind {
            Bind::Text(text) => Value::Text(text),
            Bind::Int(number) => Value::Integer(number),
            Bind::Null => Value::Null,
        };
        statement.raw_bind_parameter(index + 1, value)?;
    }
    Ok(statement)
}

/// A row read on the write connection.
#[derive(Debug, Clone)]
pub(crate) struct LiteRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl LiteRow {
    pub(crate) fn value(&self, name: &str) -> Result<&Value, sqlx::Error> {
        self.columns
            .iter()
            .position(|column| column == name)
            .map(|index| &self.values[index])
            .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_string()))
    }
}

/// An error SQLite reported, carried as a database error so that
/// `is_unique_violation` and friends work as they do for sqlx's drivers.
#[derive(Debug)]
struct LiteError {
    message: String,
    /// SQLite's extended result code.
    code: i32,
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiteError {}

impl DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // Extended result codes, as listed at https://sqlite.org/rescode.html.
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

fn into_sqlx(error: rusqlite::Error) -> sqlx::Error {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            sqlx::Error::Database(Box::new(LiteError {
                message,
                code: failure.extended_code,
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}
