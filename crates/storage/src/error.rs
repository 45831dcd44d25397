use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    /// A uniqueness rule was broken; the string names what (e.g. `email`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    /// A business rule refused the change; the string says which, for a person.
    #[error("{0}")]
    Refused(&'static str),
    /// The database could not be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
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
