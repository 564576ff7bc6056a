//! The node's lease on a shared (PostgreSQL) database: at most one boltd acts as the node.

use crate::db::{Conn, Result};
use crate::Store;

/// The lease this store holds.
#[derive(Debug)]
pub(crate) struct Lease {}

impl Store {
    /// Checks and renews the lease in the transaction that is about to write (no lease: nothing
    /// to check).
    pub(crate) fn check_lease(&self, _conn: &Conn) -> Result<()> {
        Ok(())
    }
}
