//! The LSP of a receive (schema version 13): an invoice created through an LSPS2 liquidity
//! provider (a just-in-time channel) records, before it is returned, the LSP and the fee it
//! promised to take from the payment; the payment layer checks what the LSP skimmed against
//! that promise before claiming, and records it here.

use crate::db::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::TxError;
use crate::{Store, StoreError};

/// A receive's LSP, to record with its invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceiveLsp {
    /// The receive's payment hash.
    pub payment_hash: [u8; 32],
    /// The LSP (hex node id).
    pub lsp_node_id: String,
    /// The fee it promised to take, in msat.
    pub opening_fee_msat: u64,
    /// Until when (unix seconds) its promise holds.
    pub valid_until: u64,
}

/// A receive's LSP as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReceiveLspRecord {
    /// The LSP (hex node id).
    pub lsp_node_id: String,
    /// The fee it promised to take from the payment, in msat.
    pub opening_fee_msat: u64,
    /// Until when (unix seconds) its promise held: a payment had to begin to arrive before.
    pub valid_until: u64,
    /// What it took from the payment, in msat, once the payment arrived.
    pub skimmed_fee_msat: Option<u64>,
}

fn from_row(r: &Row<'_>) -> crate::db::Result<ReceiveLspRecord> {
    Ok(ReceiveLspRecord {
        lsp_node_id: r.get(0)?,
        opening_fee_msat: r.get(1)?,
        valid_until: r.get(2)?,
        skimmed_fee_msat: r.get(3)?,
    })
}

impl Store {
    /// Records the LSP of the receive for `new.payment_hash`. A hash already recorded keeps its
    /// first LSP (its invoice is the one that was issued).
    pub fn insert_receive_lsp(&self, new: NewReceiveLsp, now: u64) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO receive_lsps (payment_hash, lsp_node_id, \
                 opening_fee_msat, valid_until, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                new.payment_hash,
                new.lsp_node_id,
                new.opening_fee_msat,
                new.valid_until,
                now
            ])?;
            Ok::<_, TxError>(())
        })
    }

    /// The LSP of the receive for `payment_hash`, if it was created through one.
    pub fn receive_lsp(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<ReceiveLspRecord>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT lsp_node_id, opening_fee_msat, valid_until, skimmed_fee_msat \
                 FROM receive_lsps WHERE payment_hash = ?1",
            )?
            .query_row([payment_hash], from_row)
            .optional()
        })
    }

    /// Records what the LSP took from the payment for `payment_hash` (a replay records the
    /// same again).
    pub fn record_lsp_skimmed_fee(
        &self,
        payment_hash: &[u8; 32],
        skimmed_fee_msat: u64,
    ) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.prepare_cached(
                "UPDATE receive_lsps SET skimmed_fee_msat = ?2 WHERE payment_hash = ?1",
            )?
            .execute(params![payment_hash, skimmed_fee_msat])?;
            Ok::<_, TxError>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receive_lsp_is_recorded_once_with_its_skimmed_fee() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let new = NewReceiveLsp {
                payment_hash: [1; 32],
                lsp_node_id: "02ab".into(),
                opening_fee_msat: 2_000_000,
                valid_until: 1_000,
            };
            store.insert_receive_lsp(new.clone(), 10).unwrap();
            let other = NewReceiveLsp { opening_fee_msat: 9, ..new };
            store.insert_receive_lsp(other, 11).unwrap();
            store.record_lsp_skimmed_fee(&[1; 32], 1_999_000).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let r = store.receive_lsp(&[1; 32]).unwrap().unwrap();
        assert_eq!((r.opening_fee_msat, r.skimmed_fee_msat), (2_000_000, Some(1_999_000)));
        assert_eq!(store.receive_lsp(&[2; 32]).unwrap(), None);
    }
}
