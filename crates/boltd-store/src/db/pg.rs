//! The PostgreSQL side of [`super::Conn`].
//!
//! The store's API is synchronous (LDK's `KVStoreSync`, and the engine calls it from blocking
//! sections), so the connection is driven by a thread of its own: `tokio-postgres`'s connection
//! future runs on a one-thread runtime there, and the store's calls wait for their answers with
//! `futures::executor::block_on`, which needs no runtime and so works from any thread,
//! including the daemon's async workers (where a blocking SQLite call would block the same
//! way). One connection, like SQLite's: the store's mutex serializes its users.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use futures::executor::block_on;
use tokio_postgres::types::{to_sql_checked, FromSql as PgFromSql, IsNull, ToSql as PgToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};
use tracing::warn;

use super::ToSql;
use super::{translate, Error, Result, Value, ValueRef};

/// Where the database is, from a `postgres://` URL or a `key=value` connection string.
#[derive(Clone)]
pub struct PgConfig {
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("PgConfig")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .finish_non_exhaustive()
    }
}

impl PgConfig {
    /// Parses a connection URL (`postgres://user:password@host:port/db`) or string.
    pub fn parse(url: &str) -> Result<PgConfig, String> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| format!("invalid PostgreSQL connection string: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("boltd");
        Ok(PgConfig { config })
    }

    /// A description without the password: `host:port/db`.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("postgres://{host}:{port}/{}", self.config.get_dbname().unwrap_or(""))
    }
}

/// One connection to PostgreSQL, with its statement cache.
pub struct PgConn {
    client: Client,
    cache: Mutex<HashMap<String, Statement>>,
}

impl PgConn {
    /// Connects (waiting at most the configured connect timeout).
    pub fn connect(config: &PgConfig) -> Result<PgConn> {
        let (tx, rx) = std::sync::mpsc::channel();
        let config = config.config.clone();
        std::thread::Builder::new()
            .name("postgres".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        warn!(error = %e, "cannot start the PostgreSQL connection's runtime");
                        return;
                    }
                };
                rt.block_on(async move {
                    match config.connect(NoTls).await {
                        Ok((client, connection)) => {
                            if tx.send(Ok(client)).is_err() {
                                return;
                            }
                            if let Err(e) = connection.await {
                                warn!(error = %e, "the PostgreSQL connection ended");
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| Error::LeaseLost(format!("cannot start a thread: {e}")))?;
        let client = rx
            .recv()
            .map_err(|_| Error::LeaseLost("the PostgreSQL connection thread stopped".into()))??;
        Ok(PgConn { client, cache: Mutex::new(HashMap::new()) })
    }

    pub(super) fn prepare(&self, sql: &str) -> Result<PgStmt<'_>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stmt) = cache.get(sql) {
            return Ok(PgStmt { conn: self, stmt: stmt.clone() });
        }
        let stmt = block_on(self.client.prepare(&translate::to_postgres(sql)))?;
        cache.insert(sql.to_string(), stmt.clone());
        Ok(PgStmt { conn: self, stmt })
    }

    pub(super) fn prepare_uncached(&self, sql: &str) -> Result<PgStmt<'_>> {
        let stmt = block_on(self.client.prepare(&translate::to_postgres(sql)))?;
        Ok(PgStmt { conn: self, stmt })
    }

    /// Runs statements without parameters (schema, `BEGIN`, `COMMIT`).
    pub fn batch(&self, sql: &str) -> Result<()> {
        Ok(block_on(self.client.batch_execute(sql))?)
    }
}

/// A prepared statement on its connection.
pub struct PgStmt<'c> {
    conn: &'c PgConn,
    stmt: Statement,
}

impl PgStmt<'_> {
    fn params<'a>(&self, refs: &[&'a dyn ToSql]) -> Result<Vec<Param<'a>>> {
        let want = self.stmt.params().len();
        if refs.len() != want {
            return Err(Error::conversion(
                refs.len(),
                format!("{} parameters given, the statement takes {want}", refs.len()),
            ));
        }
        Ok(refs.iter().map(|p| Param(ToSql::to_sql(*p))).collect())
    }

    pub(super) fn execute(&self, refs: &[&dyn ToSql]) -> Result<usize> {
        let params = self.params(refs)?;
        let args: Vec<&(dyn PgToSql + Sync)> =
            params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect();
        let n = block_on(self.conn.client.execute(&self.stmt, &args))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn query(&self, refs: &[&dyn ToSql]) -> Result<Vec<tokio_postgres::Row>> {
        let params = self.params(refs)?;
        let args: Vec<&(dyn PgToSql + Sync)> =
            params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect();
        Ok(block_on(self.conn.client.query(&self.stmt, &args))?)
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter, encoded as the type the server inferred for it.
#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

impl PgToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let text =
            matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN);
        match self.0 {
            ValueRef::Invalid(why) => Err(why.into()),
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => PgToSql::to_sql(&i, ty, out),
                Type::INT4 => PgToSql::to_sql(&i32::try_from(i)?, ty, out),
                Type::INT2 => PgToSql::to_sql(&i16::try_from(i)?, ty, out),
                Type::BOOL => PgToSql::to_sql(&(i != 0), ty, out),
                Type::FLOAT8 => PgToSql::to_sql(&(i as f64), ty, out),
                _ if text => PgToSql::to_sql(&i.to_string(), &Type::TEXT, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            ValueRef::Real(r) => match *ty {
                Type::FLOAT8 => PgToSql::to_sql(&r, ty, out),
                Type::FLOAT4 => PgToSql::to_sql(&(r as f32), ty, out),
                _ if text => PgToSql::to_sql(&r.to_string(), &Type::TEXT, out),
                _ => Err(format!("a real cannot be sent as {ty}").into()),
            },
            ValueRef::Text(s) => match *ty {
                _ if text => PgToSql::to_sql(&s, &Type::TEXT, out),
                Type::JSON => PgToSql::to_sql(&s, &Type::TEXT, out),
                _ => Err(format!("text cannot be sent as {ty}").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => PgToSql::to_sql(&b, ty, out),
                _ => Err(format!("a blob cannot be sent as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> PgFromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Integer(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                Value::Text(String::from_sql(&Type::TEXT, raw)?)
            }
            _ => return Err(format!("column type {ty} is not one the store reads").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Decodes `NUMERIC`'s binary form (what `sum()` of a `BIGINT` column returns): an integer
/// when it has no fraction and fits, a real otherwise.
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        let b = raw.get(i * 2..i * 2 + 2).ok_or("truncated numeric")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut int: i128 = 0;
    let mut real = 0f64;
    let mut integral = true;
    for i in 0..ndigits {
        let d = i128::from(word(4 + i)?);
        let exp = weight - i as i32;
        real += d as f64 * 10000f64.powi(exp);
        if exp < 0 {
            if d != 0 {
                integral = false;
            }
            continue;
        }
        let scaled = 10000i128.checked_pow(exp as u32).and_then(|p| d.checked_mul(p));
        match scaled.and_then(|s| int.checked_add(s)) {
            Some(v) => int = v,
            None => integral = false,
        }
    }
    let negative = sign == 0x4000;
    if integral {
        let v = if negative { -int } else { int };
        if let Ok(v) = i64::try_from(v) {
            return Ok(Value::Integer(v));
        }
    }
    Ok(Value::Real(if negative { -real } else { real }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_several_hosts_parse_and_never_show_the_password() {
        let c = PgConfig::parse(
            "postgres://boltd:s3cret@db1.example,db2.example:5433/boltd?target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!(c.describe(), "postgres://db1.example:5432/boltd");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!c.describe().contains("s3cret"));
        assert!(PgConfig::parse("mysql://x").is_err());
    }

    #[test]
    fn numeric_sums_decode_to_integers() {
        // 12345678 = 1234 * 10000 + 5678: ndigits 2, weight 1, positive, dscale 0.
        let raw = [0u8, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xd2, 0x16, 0x2e];
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(12_345_678));
        let negative = [0u8, 1, 0, 0, 0x40, 0, 0, 0, 0, 7];
        assert_eq!(numeric(&negative).unwrap(), Value::Integer(-7));
        assert_eq!(numeric(&[0u8, 0, 0, 0, 0, 0, 0, 0]).unwrap(), Value::Integer(0));
        assert!(numeric(&[0u8, 1]).is_err(), "truncated");
    }
}
