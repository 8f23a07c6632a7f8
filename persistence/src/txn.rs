//! [`Txn`]: the transaction every repository runs its statements on. It is sea-orm's
//! transaction plus, on PostgreSQL, inserts that wait to travel with the next statement.
//!
//! A placement ends with half a dozen inserts nobody reads back (the order, its lines, the
//! ledger lines, the history entry, the outbox events). Sent one by one, each is a round trip
//! in which the server and the database wake each other up; a queued insert instead goes as a
//! `WITH qN AS (INSERT …)` clause of the next statement, so the lot costs one round trip. The
//! clauses and that statement run on one snapshot, so the next statement would not see what
//! they insert: it is run on its own after them unless the caller says, with
//! [`Txn::alongside`], that it touches none of their tables. Reads through [`Txn`] never see
//! stale data, and commit sends what is still queued first. A queued insert that fails fails
//! the statement it travels with, and the transaction rolls back as it would have.
//!
//! SQLite has no inserts in `WITH` clauses and no round trips (the database is in the process):
//! there every insert runs at once.

use std::sync::{Mutex, MutexGuard, PoisonError};

use sea_orm::entity::prelude::async_trait;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement, Values};

/// A tenant transaction's connection: sea-orm's transaction and the inserts queued on it.
pub(crate) struct Txn {
    inner: DatabaseTransaction,
    /// Inserts waiting for the next statement, in the order they were asked for. Always empty
    /// on SQLite.
    queued: Mutex<Vec<Statement>>,
}

impl Txn {
    /// Wraps an open transaction.
    pub(crate) fn new(inner: DatabaseTransaction) -> Txn {
        Txn { inner, queued: Mutex::new(Vec::new()) }
    }

    /// Runs `insert`, an `INSERT` without `RETURNING` or `ON CONFLICT` whose outcome nobody
    /// reads, as part of this transaction: on PostgreSQL with the transaction's next statement,
    /// on SQLite now. Its failure is the failure of the statement it goes with.
    ///
    /// # Errors
    /// On SQLite, the insert's.
    pub(crate) async fn insert_later(&self, insert: Statement) -> Result<(), DbErr> {
        if self.inner.get_database_backend() == DbBackend::Postgres {
            self.queue().push(insert);
            Ok(())
        } else {
            self.inner.execute_raw(insert).await.map(drop)
        }
    }

    /// This transaction for one statement that neither reads nor writes any table a queued
    /// insert writes: the queued inserts travel with it, in its round trip.
    pub(crate) fn alongside(&self) -> Alongside<'_> {
        Alongside(self)
    }

    /// Sends what is queued, then commits.
    ///
    /// # Errors
    /// A queued insert's failure (nothing is committed then), or the commit's.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.flush().await?;
        self.inner.commit().await
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Statement>> {
        // A panic while the lock was held left a plain `Vec` behind: still usable.
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the queued inserts, if any, as one statement.
    async fn flush(&self) -> Result<(), DbErr> {
        let mut queued = std::mem::take(&mut *self.queue());
        let Some(last) = queued.pop() else { return Ok(()) };
        self.inner.execute_raw(with_clauses(queued, last)).await.map(drop)
    }

    /// `main` with the queued inserts as its `WITH` clauses, emptying the queue; a `main` that
    /// has clauses of its own is returned as it is, after the queue was sent on its own.
    async fn carried_by(&self, main: Statement) -> Result<Statement, DbErr> {
        if main.sql.trim_start().get(..4).is_some_and(|word| word.eq_ignore_ascii_case("WITH")) {
            self.flush().await?;
            return Ok(main);
        }
        let queued = std::mem::take(&mut *self.queue());
        Ok(with_clauses(queued, main))
    }
}

/// `WITH q0 AS (<clauses[0]>), … <main>`: one statement, `main`'s parameters first, then each
/// clause's, renumbered after them. `main` itself when there are no clauses.
fn with_clauses(clauses: Vec<Statement>, main: Statement) -> Statement {
    if clauses.is_empty() {
        return main;
    }
    let Statement { sql: main_sql, values: main_values, db_backend } = main;
    let mut values = main_values.map(|Values(values)| values).unwrap_or_default();
    let mut sql = String::with_capacity(main_sql.len() + clauses.iter().map(|c| c.sql.len() + 16).sum::<usize>());
    for (index, clause) in clauses.into_iter().enumerate() {
        sql.push_str(if index == 0 { "WITH " } else { ", " });
        sql.push_str(&format!("q{index} AS ("));
        push_renumbered(&mut sql, &clause.sql, values.len());
        sql.push(')');
        values.extend(clause.values.map(|Values(values)| values).unwrap_or_default());
    }
    sql.push(' ');
    sql.push_str(&main_sql);
    Statement { sql, values: Some(Values(values)), db_backend }
}

/// Appends `clause` with each placeholder `$n` written as `$(n + offset)`. Only statements
/// built here from entities go through this (identifiers quoted, every value a parameter), so
/// a `$` followed by digits is always a placeholder.
fn push_renumbered(sql: &mut String, clause: &str, offset: usize) {
    let mut rest = clause;
    while let Some(at) = rest.find('$') {
        sql.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(number) => sql.push_str(&(number + offset).to_string()),
            Err(_) => sql.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    sql.push_str(rest);
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush().await?;
        self.inner.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.flush().await?;
        self.inner.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.flush().await?;
        self.inner.query_all_raw(stmt).await
    }
}

/// A [`Txn`] for one statement that carries the queued inserts (see [`Txn::alongside`]).
pub(crate) struct Alongside<'t>(&'t Txn);

#[async_trait::async_trait]
impl ConnectionTrait for Alongside<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let stmt = self.0.carried_by(stmt).await?;
        self.0.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let stmt = self.0.carried_by(stmt).await?;
        self.0.inner.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let stmt = self.0.carried_by(stmt).await?;
        self.0.inner.query_all_raw(stmt).await
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Value;

    use super::*;

    fn statement(sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
    }

    #[test]
    fn clauses_go_first_with_their_parameters_numbered_after_the_main_statements() {
        let clauses = vec![
            statement(r#"INSERT INTO "a" ("x", "y") VALUES ($1, $2)"#, vec![1.into(), 2.into()]),
            statement(r#"INSERT INTO "b" ("z") VALUES ($1), ($2)"#, vec![3.into(), 4.into()]),
        ];
        let main = statement(r#"UPDATE "c" SET "v" = $1 WHERE "k" = $2"#, vec![5.into(), 6.into()]);

        let combined = with_clauses(clauses, main);

        assert_eq!(
            combined.sql,
            r#"WITH q0 AS (INSERT INTO "a" ("x", "y") VALUES ($3, $4)), q1 AS (INSERT INTO "b" ("z") VALUES ($5), ($6)) UPDATE "c" SET "v" = $1 WHERE "k" = $2"#
        );
        let values: Vec<Value> = combined.values.map(|Values(v)| v).unwrap_or_default();
        assert_eq!(values, [5, 6, 1, 2, 3, 4].map(Value::from));
    }

    #[test]
    fn a_main_statement_alone_is_left_as_it_is() {
        let main = statement(r#"SELECT "x" FROM "a" WHERE "k" = $1"#, vec![1.into()]);
        assert_eq!(with_clauses(Vec::new(), main.clone()).sql, main.sql);
    }

    #[test]
    fn only_dollar_digits_are_renumbered() {
        let mut sql = String::new();
        push_renumbered(&mut sql, "$1, $12, $, $x, $3", 10);
        assert_eq!(sql, "$11, $22, $, $x, $13");
    }
}
