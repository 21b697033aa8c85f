//! Write statements collected for one transaction. On SQLite the write
//! thread runs them when the transaction next reads or commits. On
//! PostgreSQL they run at once, one statement per query as its extended
//! protocol requires.

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

    pub fn into_statements(self) -> Vec<(String, Vec<Bind>)> {
        self.statements
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

/// Rewrites the `$n` placeholders of one SQLite statement as anonymous `?`
/// and returns the binds in the order the placeholders appear, repeating a
/// value that is used twice. SQLite resolves a named parameter such as `$12`
/// by a linear search of the statement's parameter names, when the
/// statement is prepared and again when a driver binds it by name, so a
/// multi-row insert with n named parameters costs O(n²). Anonymous
/// parameters are bound by position. Lockgate's SQL has no `$` inside string literals, so
/// a plain scan is exact. A placeholder beyond `binds` becomes NULL, as an
/// unbound parameter is in SQLite.
pub(crate) fn anonymous_placeholders(sql: &str, binds: &[Bind]) -> (String, Vec<Bind>) {
    let mut ordered = Vec::with_capacity(binds.len());
    let text = rewrite_placeholders(sql, |number| {
        ordered.push(binds.get(number - 1).cloned().unwrap_or(Bind::Null));
    });
    (text, ordered)
}

/// Returns `sql` with anonymous placeholders when its placeholders run
/// `$1, $2, ...` in order, each once, so that the binds stay as they are.
/// Other statements are returned unchanged.
pub(crate) fn sequential_anonymous(sql: String) -> String {
    let mut expected = 1;
    let mut sequential = true;
    let text = rewrite_placeholders(&sql, |number| {
        sequential &= number == expected;
        expected += 1;
    });
    if sequential { text } else { sql }
}

/// Replaces each `$n` (n ≥ 1) with `?`, calling `seen` with n in order.
fn rewrite_placeholders(sql: &str, mut seen: impl FnMut(usize)) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(number) if number > 0 => {
                out.push('?');
                seen(number);
            }
            _ => out.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
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
    use super::{Bind, anonymous_placeholders, sequential_anonymous};

    fn texts(values: &[&str]) -> Vec<Bind> {
        values.iter().map(|v| Bind::Text(v.to_string())).collect()
    }

    #[test]
    fn placeholders_become_anonymous_in_order() {
        let (sql, binds) = anonymous_placeholders("VALUES ($1, $2, $3)", &texts(&["a", "b", "c"]));
        assert_eq!(sql, "VALUES (?, ?, ?)");
        assert_eq!(binds, texts(&["a", "b", "c"]));
    }

    #[test]
    fn repeated_placeholders_repeat_their_value() {
        let (sql, binds) = anonymous_placeholders(
            "VALUES ($1, $3, $2), ($1, $4, $2)",
            &texts(&["t", "r", "x", "y"]),
        );
        assert_eq!(sql, "VALUES (?, ?, ?), (?, ?, ?)");
        assert_eq!(binds, texts(&["t", "x", "r", "t", "y", "r"]));
    }

    #[test]
    fn dollar_without_digits_is_kept() {
        let (sql, binds) = anonymous_placeholders("a $ b $x $10", &texts(&["v"]));
        assert_eq!(sql, "a $ b $x ?");
        assert_eq!(binds, vec![Bind::Null]);
    }

    #[test]
    fn only_sequential_statements_are_rewritten() {
        assert_eq!(
            sequential_anonymous("WHERE t = $1 AND id IN ($2, $3)".into()),
            "WHERE t = ? AND id IN (?, ?)"
        );
        let reused = "WHERE t = $1 AND (a = $2 OR b = $2)".to_string();
        assert_eq!(sequential_anonymous(reused.clone()), reused);
    }
}
