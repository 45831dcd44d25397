use thiserror::Error;

/// What a store operation can fail with.
///
/// Driver errors are sorted into these variants: a broken uniqueness rule becomes
/// [`Conflict`](Self::Conflict), a missing row [`NotFound`](Self::NotFound), pool, I/O, TLS and
/// protocol failures [`Unavailable`](Self::Unavailable), anything else
/// [`Unexpected`](Self::Unexpected).
#[derive(Debug, Error)]
pub enum StorageError {
    /// A uniqueness rule was broken; the string names what (e.g. `email`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row does not exist, or it belongs to another organization than the handle's (the two are
    /// not told apart, so a caller learns nothing about other tenants' ids).
    #[error("not found")]
    NotFound,
    /// A business rule refused the change; the string says which, for a person.
    #[error("{0}")]
    Refused(&'static str),
    /// The database could not be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Applying the schema migrations failed, or the database's schema does not match this binary
    /// (a migration was changed after it was applied, or the database is at a newer version); the
    /// string says which, for an operator.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Anything else: an unclassified database error, or a stored value that cannot be decoded (a
    /// role, platform, audit outcome or attribution settings that are not valid).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl StorageError {
    pub(crate) fn from_sqlx(error: sqlx::Error, conflict_on: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(conflict_on),
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => Self::Unavailable(error.to_string()),
            _ => Self::Unexpected(anyhow::Error::new(error)),
        }
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        Self::from_sqlx(error, "record")
    }
}
