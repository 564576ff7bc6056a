//! The SQLite side of [`super::Conn`]: values to and from `rusqlite`'s.

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};

use super::{ToSql, ValueRef};

/// A parameter as `rusqlite` binds it (borrowed, nothing copied).
pub(super) struct Param<'a>(ValueRef<'a>);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            ValueRef::Invalid(why) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(why.into()))
            }
            ValueRef::Null => SqliteRef::Null,
            ValueRef::Integer(i) => SqliteRef::Integer(i),
            ValueRef::Real(r) => SqliteRef::Real(r),
            ValueRef::Text(s) => SqliteRef::Text(s.as_bytes()),
            ValueRef::Blob(b) => SqliteRef::Blob(b),
        }))
    }
}

/// The parameters as `rusqlite` takes them.
pub(super) fn params<'a>(refs: &[&'a dyn ToSql]) -> Vec<Param<'a>> {
    refs.iter().map(|p| Param(ToSql::to_sql(*p))).collect()
}

/// A column value as the store reads it. Text that is not UTF-8 reads as a blob (the
/// conversion to `String` then fails, naming the column).
pub(super) fn value_ref(v: SqliteRef<'_>) -> ValueRef<'_> {
    match v {
        SqliteRef::Null => ValueRef::Null,
        SqliteRef::Integer(i) => ValueRef::Integer(i),
        SqliteRef::Real(r) => ValueRef::Real(r),
        SqliteRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => ValueRef::Text(s),
            Err(_) => ValueRef::Blob(t),
        },
        SqliteRef::Blob(b) => ValueRef::Blob(b),
    }
}
