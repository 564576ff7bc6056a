//! Several of LDK's key-value operations in one transaction: all of them or none, durable when
//! the call returns. The node writes a channel manager together with the channel monitor
//! updates it knows of this way, so the monitors on disk are never newer than the manager.

use crate::db::params;
use lightning::io;

use crate::kv::{validate, SQL_REMOVE, SQL_WRITE};
use crate::Store;

/// One key-value operation of a batch ([`Store::write_batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    /// Writes `value` under the key.
    Write {
        /// Primary namespace.
        primary: String,
        /// Secondary namespace.
        secondary: String,
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
    /// Removes the key (no error if it does not exist).
    Remove {
        /// Primary namespace.
        primary: String,
        /// Secondary namespace.
        secondary: String,
        /// Key.
        key: String,
    },
}

impl KvOp {
    /// The operation's namespaces and key.
    pub fn key(&self) -> (&str, &str, &str) {
        match self {
            KvOp::Write { primary, secondary, key, .. }
            | KvOp::Remove { primary, secondary, key } => (primary, secondary, key),
        }
    }
}

impl Store {
    /// Applies `ops` in order, in one transaction: after a crash either all of them are on disk
    /// or none. Durable when it returns (like every write of the store); a persistence failure
    /// is reported to the fatal handler ([`Store::on_fatal`]).
    pub fn write_batch(&self, ops: &[KvOp]) -> io::Result<()> {
        for op in ops {
            let (primary, secondary, key) = op.key();
            validate(primary, secondary, Some(key), "batch")?;
        }
        self.transaction(|tx| {
            for op in ops {
                match op {
                    KvOp::Write { primary, secondary, key, value } => {
                        tx.prepare_cached(SQL_WRITE)?
                            .execute(params![primary, secondary, key, value])?;
                    }
                    KvOp::Remove { primary, secondary, key } => {
                        tx.prepare_cached(SQL_REMOVE)?.execute(params![primary, secondary, key])?;
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| io::Error::new(io::ErrorKind::Other, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use lightning::util::persist::KVStoreSync;

    use super::*;

    fn write(key: &str, value: &[u8]) -> KvOp {
        KvOp::Write {
            primary: "ns".into(),
            secondary: "".into(),
            key: key.into(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn a_batch_applies_in_order_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            KVStoreSync::write(&store, "ns", "", "gone", vec![9]).unwrap();
            let remove =
                KvOp::Remove { primary: "ns".into(), secondary: "".into(), key: "gone".into() };
            store
                .write_batch(&[write("a", &[1]), write("a", &[2]), write("b", &[3]), remove])
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(KVStoreSync::read(&store, "ns", "", "a").unwrap(), vec![2]);
        assert_eq!(KVStoreSync::read(&store, "ns", "", "b").unwrap(), vec![3]);
        assert!(KVStoreSync::read(&store, "ns", "", "gone").is_err());
    }

    #[test]
    fn a_batch_with_a_bad_key_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.write_batch(&[write("ok", &[1]), write("bad key!", &[2])]).is_err());
        assert!(KVStoreSync::read(&store, "ns", "", "ok").is_err());
    }
}
