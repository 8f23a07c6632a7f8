//! The one place a `DbErr` is read and turned into a [`DomainError`].
//!
//! A lost or refused connection, a full pool and a statement cancelled by its timeout mean the
//! database is unavailable (retryable); everything else unexpected is internal. The database's own text goes to the log through the error's source,
//! never to a client.

use domain::{DomainError, Taken};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Translates a storage failure into the domain's terms.
pub fn storage_error(err: DbErr) -> DomainError {
    if is_unavailable(&err) {
        DomainError::unavailable(err)
    } else if is_contention(&err) {
        DomainError::contention(err)
    } else {
        DomainError::internal(err)
    }
}

/// Whether the database aborted the statement because of a concurrent transaction: PostgreSQL's
/// serialization failure (`40001`) or deadlock (`40P01`), SQLite's busy or locked database.
fn is_contention(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = err else {
        return false;
    };
    let Some(database) = sqlx.as_database_error() else { return false };
    matches!(database.code().as_deref(), Some("40001" | "40P01" | "5" | "6" | "517" | "262"))
}

/// Translates a failed insert that only one unique key can refuse: a unique violation is
/// `taken`, which the domain turns into an outcome and words; anything else is
/// [`storage_error`].
pub fn on_unique(err: DbErr, taken: Taken) -> DomainError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => taken.into(),
        _ => storage_error(err),
    }
}

/// Translates a failed write that a unique key refuses because a concurrent transaction wrote
/// the row first: a unique violation is `Contention`, so the use-case runs again and sees the
/// row that won; anything else is [`storage_error`].
pub fn unique_is_contention(err: DbErr) -> DomainError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DomainError::contention(err),
        _ => storage_error(err),
    }
}

/// Whether PostgreSQL cancelled the statement at `statement_timeout` (`57014`) or
/// `lock_timeout` (`55P03`): it waited that long for a lock another transaction holds.
pub fn is_timeout(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = err else {
        return false;
    };
    sqlx.as_database_error().is_some_and(|database| matches!(database.code().as_deref(), Some("57014" | "55P03")))
}

/// Whether the failure is the database being out of reach or too slow, rather than a bad
/// statement: no connection, no free pooled connection within the acquire timeout, or a
/// statement PostgreSQL cancelled at `statement_timeout` (`57014`) or `lock_timeout` (`55P03`).
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(sqlx) => match sqlx.as_ref() {
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_) => true,
            Sqlx::Database(_) => is_timeout(err),
            _ => false,
        },
        _ => false,
    }
}
