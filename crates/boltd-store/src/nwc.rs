//! Nostr Wallet Connect connections (schema version 12).
//!
//! A connection is an API token (`api_tokens`) that a NIP-47 client reaches through a relay:
//! `nwc_connections` maps the client's public key (x-only, lowercase hex) to the token. The
//! client's secret key is never stored (it is in the connection URI, shown once); the token's
//! scopes, per-payment maximum and budgets are the connection's, and revoking the token revokes
//! the connection.

use crate::db::{params, OptionalExtension};
use serde::Serialize;

use crate::error::TxError;
use crate::{Store, StoreError};

/// A connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NwcConnectionRecord {
    /// The client's public key (x-only, lowercase hex).
    pub client_pubkey: String,
    /// Its token's id.
    pub token_id: String,
    /// When it was created (unix seconds).
    pub created_at: u64,
}

fn row(r: &crate::db::Row<'_>) -> crate::db::Result<NwcConnectionRecord> {
    Ok(NwcConnectionRecord {
        client_pubkey: r.get(0)?,
        token_id: r.get(1)?,
        created_at: r.get::<_, i64>(2)?.max(0) as u64,
    })
}

impl Store {
    /// Records a connection of `client_pubkey` to the token `token_id`.
    pub fn insert_nwc_connection(
        &self,
        client_pubkey: &str,
        token_id: &str,
        now: u64,
    ) -> Result<NwcConnectionRecord, StoreError> {
        let (pk, id) = (client_pubkey.to_string(), token_id.to_string());
        self.transaction(move |tx| {
            tx.prepare_cached(
                "INSERT INTO nwc_connections (client_pubkey, token_id, created_at) \
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![pk, id, i64::try_from(now).unwrap_or(i64::MAX)])?;
            Ok::<_, TxError>(NwcConnectionRecord {
                client_pubkey: pk,
                token_id: id,
                created_at: now,
            })
        })
    }

    /// The connection of this client public key, if any.
    pub fn nwc_connection(
        &self,
        client_pubkey: &str,
    ) -> Result<Option<NwcConnectionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT client_pubkey, token_id, created_at FROM nwc_connections \
                 WHERE client_pubkey = ?1",
            )?
            .query_row([client_pubkey], row)
            .optional()
        })
    }

    /// Every connection, oldest first.
    pub fn list_nwc_connections(&self) -> Result<Vec<NwcConnectionRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT client_pubkey, token_id, created_at FROM nwc_connections \
                 ORDER BY created_at, rowid",
            )?
            .query_map([], row)?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewToken, SpendingLimits};

    #[test]
    fn connections_map_client_keys_to_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let token = NewToken {
            id: "0123456789abcdef".into(),
            name: "app".into(),
            secret_hash: [1; 32],
            scopes: "payments:send".into(),
            expires_at: None,
            limits: SpendingLimits::default(),
        };
        store.insert_token(token, 10).unwrap();
        let pk = "ab".repeat(32);
        store.insert_nwc_connection(&pk, "0123456789abcdef", 11).unwrap();
        let found = store.nwc_connection(&pk).unwrap().unwrap();
        assert_eq!(found.token_id, "0123456789abcdef");
        assert_eq!(found.created_at, 11);
        assert!(store.nwc_connection(&"cd".repeat(32)).unwrap().is_none());
        // One connection per client key; the token must exist.
        assert!(store.insert_nwc_connection(&pk, "0123456789abcdef", 12).is_err());
        assert!(store.insert_nwc_connection(&"ef".repeat(32), "ffffffffffffffff", 12).is_err());
        assert_eq!(store.list_nwc_connections().unwrap(), vec![found]);
    }
}
