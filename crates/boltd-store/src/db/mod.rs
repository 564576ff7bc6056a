//! The store's database, one API over two backends: SQLite (the embedded default) and
//! PostgreSQL.
//!
//! Every module of the store speaks to the database through this module's [`Conn`], whose
//! methods mirror the few parts of `rusqlite` the store uses (`prepare_cached`, `execute`,
//! `query_row`, `query_map`, `params!`, `optional`), so one SQL statement and one row mapping
//! serve both backends. Statements are written in the SQL the two share (`?N` parameters,
//! `ON CONFLICT`, `RETURNING`); the PostgreSQL backend rewrites the few spellings that differ
//! (see `translate`) once per statement and caches the prepared result.
//!
//! Values cross the boundary as SQLite's five storage classes ([`ValueRef`]): integers, reals,
//! text, blobs and null. On PostgreSQL every integer column is `BIGINT` and every blob `BYTEA`;
//! a parameter is encoded as whatever type the server inferred for it (an integer for an `INT4`
//! parameter is range-checked, never truncated).

mod pg;
mod sqlite;
mod translate;
mod value;

use std::fmt;

pub use pg::{PgConfig, PgConn};
pub use value::{FromSql, FromSqlError, ToSql, Value, ValueRef};

/// A database error of either backend, or a value that does not fit its Rust type.
#[derive(Debug)]
pub enum Error {
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
    /// PostgreSQL (or the connection to it) reported an error.
    Postgres(tokio_postgres::Error),
    /// A query that must return a row returned none.
    NoRows,
    /// Column `index` holds a value its Rust type cannot represent.
    Conversion {
        /// The column's position.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The node's lease on a shared database was lost or could not be checked: this process
    /// must not write (see `crate::lease`).
    LeaseLost(String),
}

impl Error {
    /// A column value that its Rust type cannot represent.
    pub fn conversion(index: usize, reason: impl fmt::Display) -> Error {
        Error::Conversion { index, reason: reason.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(e) => e.fmt(f),
            Error::Postgres(e) => match e.as_db_error() {
                // The server's message and code; `tokio_postgres::Error`'s own text is just "db error".
                Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
                None => e.fmt(f),
            },
            Error::NoRows => f.write_str("query returned no rows"),
            Error::Conversion { index, reason } => write!(f, "column {index}: {reason}"),
            Error::LeaseLost(why) => write!(f, "the node's lease is lost: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(e) => Some(e),
            Error::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

/// The result of a database call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row(..).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    /// `Ok(None)` for [`Error::NoRows`].
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The parameters of a statement: `params![a, b]`, an array of one type, or `[]`.
pub trait Params {
    /// The parameters in order.
    fn refs(&self) -> Vec<&dyn ToSql>;
}

impl Params for &[&dyn ToSql] {
    fn refs(&self) -> Vec<&dyn ToSql> {
        self.to_vec()
    }
}

impl Params for [&dyn ToSql; 0] {
    fn refs(&self) -> Vec<&dyn ToSql> {
        Vec::new()
    }
}

impl Params for Vec<Value> {
    fn refs(&self) -> Vec<&dyn ToSql> {
        self.iter().map(|v| v as &dyn ToSql).collect()
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn refs(&self) -> Vec<&dyn ToSql> {
                self.iter().map(|v| v as &dyn ToSql).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8);

/// `params![a, b, c]`: a statement's parameters of different types.
#[macro_export]
#[doc(hidden)]
macro_rules! __db_params {
    () => { &[] as &[&dyn $crate::db::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::db::ToSql),+] as &[&dyn $crate::db::ToSql] };
}
pub use crate::__db_params as params;

/// Which column of a row: its position or its name.
pub trait RowIndex {
    /// The column's position in `names`.
    fn position(&self, names: &dyn Fn(&str) -> Option<usize>) -> Result<usize>;
}

impl RowIndex for usize {
    fn position(&self, _: &dyn Fn(&str) -> Option<usize>) -> Result<usize> {
        Ok(*self)
    }
}

impl RowIndex for &str {
    fn position(&self, names: &dyn Fn(&str) -> Option<usize>) -> Result<usize> {
        names(self).ok_or_else(|| Error::conversion(usize::MAX, format!("no column {self:?}")))
    }
}

/// One row of a query's result.
pub enum Row<'a> {
    /// A row SQLite returned.
    Sqlite(&'a rusqlite::Row<'a>),
    /// A row PostgreSQL returned.
    Postgres(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `idx` as a `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        match self {
            Row::Sqlite(row) => {
                let stmt = row.as_ref();
                let i = idx.position(&|n| stmt.column_index(n).ok())?;
                let v = row.get_ref(i)?;
                T::from_sql(sqlite::value_ref(v)).map_err(|e| Error::conversion(i, e))
            }
            Row::Postgres(row) => {
                let i = idx.position(&|n| row.columns().iter().position(|c| c.name() == n))?;
                let v: Value = row.try_get(i)?;
                T::from_sql(v.as_ref()).map_err(|e| Error::conversion(i, e))
            }
        }
    }
}

/// Which database a [`Conn`] talks to.
pub enum Backend {
    /// A SQLite file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL server.
    Postgres(PgConn),
}

/// A connection to the store's database. Inside `Store::transaction` it is the transaction.
pub struct Conn {
    pub(crate) backend: Backend,
}

impl Conn {
    /// A connection over `backend`.
    pub fn new(backend: Backend) -> Conn {
        Conn { backend }
    }

    /// The SQLite connection, when that is the backend.
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(c) => Some(c),
            Backend::Postgres(_) => None,
        }
    }

    /// The SQLite connection, mutably (for a `rusqlite` transaction), when that is the backend.
    pub fn sqlite_mut(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.backend {
            Backend::Sqlite(c) => Some(c),
            Backend::Postgres(_) => None,
        }
    }

    /// Whether the backend is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// `sql`, prepared once per connection and cached.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(Stmt::Sqlite(c.prepare_cached(sql)?)),
            Backend::Postgres(c) => Ok(Stmt::Postgres(c.prepare(sql)?)),
        }
    }

    /// `sql` (built at run time), prepared for one use.
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_>> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(Stmt::Sqlite(c.prepare_cached(sql)?)),
            Backend::Postgres(c) => Ok(Stmt::Postgres(c.prepare_uncached(sql)?)),
        }
    }

    /// Runs one statement; returns the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs a query that returns one row (else [`Error::NoRows`]) and maps it.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs statements with no parameters and no results (schema changes), in order.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Backend::Postgres(c) => c.batch(sql),
        }
    }
}

/// A prepared statement.
pub enum Stmt<'c> {
    /// SQLite's cached statement.
    Sqlite(rusqlite::CachedStatement<'c>),
    /// A PostgreSQL statement on its connection.
    Postgres(pg::PgStmt<'c>),
}

impl Stmt<'_> {
    /// Runs it; returns the number of rows changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let refs = params.refs();
        match self {
            Stmt::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(sqlite::params(&refs)))?),
            Stmt::Postgres(s) => s.execute(&refs),
        }
    }

    /// Runs a query that returns one row (else [`Error::NoRows`]) and maps the first.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let refs = params.refs();
        match self {
            Stmt::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(sqlite::params(&refs)))?;
                match rows.next()? {
                    Some(row) => f(&Row::Sqlite(row)),
                    None => Err(Error::NoRows),
                }
            }
            Stmt::Postgres(s) => match s.query(&refs)?.first() {
                Some(row) => f(&Row::Postgres(row)),
                None => Err(Error::NoRows),
            },
        }
    }

    /// Runs a query and maps every row.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let refs = params.refs();
        let mut out = Vec::new();
        match self {
            Stmt::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(sqlite::params(&refs)))?;
                while let Some(row) = rows.next()? {
                    out.push(f(&Row::Sqlite(row)));
                }
            }
            Stmt::Postgres(s) => {
                for row in s.query(&refs)? {
                    out.push(f(&Row::Postgres(&row)));
                }
            }
        }
        Ok(out.into_iter())
    }
}
