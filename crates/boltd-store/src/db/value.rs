//! Values as both backends see them: SQLite's five storage classes.

use std::fmt;

/// An owned value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer (`INTEGER`, `BIGINT`).
    Integer(i64),
    /// A double (`REAL`, `DOUBLE PRECISION`).
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes (`BLOB`, `BYTEA`).
    Blob(Vec<u8>),
}

/// A borrowed value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
    /// A parameter no column can hold (an unsigned integer above `i64::MAX`): binding it fails
    /// with this reason, as `rusqlite` does.
    Invalid(&'static str),
}

impl Value {
    /// This value, borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl ValueRef<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "null",
            ValueRef::Integer(_) => "an integer",
            ValueRef::Real(_) => "a real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "a blob",
            ValueRef::Invalid(_) => "an invalid value",
        }
    }
}

/// Why a value does not convert to a Rust type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromSqlError(pub String);

impl fmt::Display for FromSqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FromSqlError {}

impl FromSqlError {
    /// `v` is not what `want` reads.
    pub fn wrong(want: &str, v: ValueRef<'_>) -> FromSqlError {
        FromSqlError(format!("expected {want}, found {}", v.kind()))
    }
}

/// A Rust type a column converts to.
pub trait FromSql: Sized {
    /// Converts `v`.
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError>;
}

/// A Rust type a parameter converts from.
pub trait ToSql {
    /// The value to bind.
    fn to_sql(&self) -> ValueRef<'_>;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> ValueRef<'_> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_sql(),
            None => ValueRef::Null,
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl ToSql for str {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for String {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

macro_rules! int_to_sql {
    ($($t:ty)*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> ValueRef<'_> {
                ValueRef::Integer(i64::from(*self))
            }
        }
    )*};
}
int_to_sql!(i64 i32 i16 i8 u32 u16 u8);

impl ToSql for u64 {
    fn to_sql(&self) -> ValueRef<'_> {
        match i64::try_from(*self) {
            Ok(i) => ValueRef::Integer(i),
            Err(_) => ValueRef::Invalid("an unsigned integer above i64::MAX"),
        }
    }
}

impl ToSql for usize {
    fn to_sql(&self) -> ValueRef<'_> {
        match i64::try_from(*self) {
            Ok(i) => ValueRef::Integer(i),
            Err(_) => ValueRef::Invalid("an unsigned integer above i64::MAX"),
        }
    }
}

impl FromSql for Value {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        Ok(match v {
            ValueRef::Invalid(why) => return Err(FromSqlError(why.to_string())),
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

impl FromSql for String {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Text(s) => Ok(s.to_string()),
            v => Err(FromSqlError::wrong("text", v)),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            // SQLite returns an empty blob as a blob; PostgreSQL too. Text is not bytes here.
            v => Err(FromSqlError::wrong("a blob", v)),
        }
    }
}

impl<const N: usize> FromSql for [u8; N] {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Blob(b) => b.try_into().map_err(|_| {
                FromSqlError(format!("expected a blob of {N} bytes, found {} bytes", b.len()))
            }),
            v => Err(FromSqlError::wrong("a blob", v)),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Integer(i) => Ok(i as f64),
            v => Err(FromSqlError::wrong("a number", v)),
        }
    }
}

impl FromSql for bool {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            v => Err(FromSqlError::wrong("an integer", v)),
        }
    }
}

impl FromSql for i64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            v => Err(FromSqlError::wrong("an integer", v)),
        }
    }
}

macro_rules! int_from_sql {
    ($($t:ty)*) => {$(
        impl FromSql for $t {
            fn from_sql(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
                let i = i64::from_sql(v)?;
                <$t>::try_from(i).map_err(|_| {
                    FromSqlError(format!("{i} is out of range for {}", stringify!($t)))
                })
            }
        }
    )*};
}
int_from_sql!(i32 i16 i8 u64 u32 u16 u8 usize);
