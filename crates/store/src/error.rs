use lockgate_scim::ScimError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request names a value that cannot be stored; the message names
    /// the value and the fix.
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule would be broken; the message names the value.
    #[error("{0}")]
    Conflict(String),
    /// The request was rejected by SCIM rules while it was applied.
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
    }

    pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
    }
}
