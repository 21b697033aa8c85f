//! Rows as the store reads them, whichever driver returned them.
//!
//! Reads through the pools return sqlx's `AnyRow`; reads inside an SQLite
//! write transaction come from the write thread's own connection. Code that
//! turns a row into a record takes `&impl Columns` and works on both.

use rusqlite::types::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::lite::LiteRow;

/// A column type the store reads: the Rust types of its columns.
pub(crate) trait ColumnValue:
    Sized + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>
{
    /// Converts an SQLite value, or returns `None` when the storage class
    /// does not fit.
    fn from_lite(value: &Value) -> Option<Self>;
}

impl ColumnValue for String {
    fn from_lite(value: &Value) -> Option<Self> {
        match value {
            Value::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

impl ColumnValue for i64 {
    fn from_lite(value: &Value) -> Option<Self> {
        match value {
            Value::Integer(number) => Some(*number),
            _ => None,
        }
    }
}

impl<T: ColumnValue> ColumnValue for Option<T> {
    fn from_lite(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_lite(other).map(Some),
        }
    }
}

/// Reads a named column.
pub(crate) trait Columns {
    fn try_get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error>;
}

impl Columns for AnyRow {
    fn try_get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error> {
        Row::try_get(self, name)
    }
}

impl Columns for LiteRow {
    fn try_get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error> {
        let value = self.value(name)?;
        T::from_lite(value).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: format!("{name:?}"),
            source: format!(
                "SQLite value of type {} does not fit {}",
                value.data_type(),
                std::any::type_name::<T>()
            )
            .into(),
        })
    }
}

/// A row read inside a write transaction.
pub(crate) enum TxRow {
    Pool(AnyRow),
    Lite(LiteRow),
}

impl TxRow {
    /// Reads a named column. It is an inherent method, so callers need no
    /// trait in scope, and files that also read `AnyRow`s see no ambiguity.
    pub(crate) fn try_get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error> {
        match self {
            TxRow::Pool(row) => Columns::try_get(row, name),
            TxRow::Lite(row) => Columns::try_get(row, name),
        }
    }
}

impl Columns for TxRow {
    fn try_get<T: ColumnValue>(&self, name: &str) -> Result<T, sqlx::Error> {
        TxRow::try_get(self, name)
    }
}
