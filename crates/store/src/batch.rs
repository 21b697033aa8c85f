//! Several write statements sent to the database as one request.
//!
//! sqlx runs each SQLite connection on its own thread and hands it one query
//! at a time, so every statement costs a round trip between threads; a
//! write with six statements spent most of its time there. On SQLite the
//! statements of a batch are joined into one query string, which sqlx runs
//! in a single round trip. PostgreSQL's extended protocol takes one
//! statement per query, so there they run one after another.

use sqlx::{Any, Transaction};

use crate::filter_sql::Bind;

#[derive(Default)]
pub(crate) struct Batch {
    statements: Vec<(String, Vec<Bind>)>,
}

impl Batch {
    /// Adds a statement whose placeholders are numbered from `$1`.
    pub fn push(&mut self, sql: impl Into<String>, binds: Vec<Bind>) {
        self.statements.push((sql.into(), binds));
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    pub fn extend(&mut self, other: Batch) {
        self.statements.extend(other.statements);
    }

    /// Joins the statements into one query string with renumbered
    /// placeholders; sqlx runs all of them in one call on SQLite.
    pub fn into_query(self) -> (String, Vec<Bind>) {
        let mut text = String::new();
        let mut binds = Vec::new();
        for (sql, statement_binds) in self.statements {
            text.push_str(&renumber(&sql, binds.len()));
            text.push_str(";\n");
            binds.extend(statement_binds);
        }
        (text, binds)
    }

    /// Runs the statements one by one, as PostgreSQL's extended protocol requires.
    pub async fn execute_each(self, tx: &mut Transaction<'_, Any>) -> Result<(), sqlx::Error> {
        for (sql, binds) in self.statements {
            bind_owned(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

pub(crate) fn bind_owned(
    mut query: sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
    for bind in binds {
        query = match bind {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
            Bind::Null => query.bind(None::<String>),
        };
    }
    query
}

/// Shifts every `$n` placeholder in `sql` by `offset`. Lockgate's SQL has
/// no `$` inside string literals, so a plain scan is exact.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// Text or NULL.
pub(crate) fn opt(value: Option<&str>) -> Bind {
    value.map_or(Bind::Null, |v| Bind::Text(v.to_string()))
}

pub(crate) fn text(value: impl Into<String>) -> Bind {
    Bind::Text(value.into())
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn renumber_shifts_every_placeholder() {
        assert_eq!(renumber("VALUES ($1, $2, $10)", 5), "VALUES ($6, $7, $15)");
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
        assert_eq!(renumber("a $ b", 3), "a $ b");
    }
}
