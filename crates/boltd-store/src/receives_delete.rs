//! Deleting a receive (schema version 9), for Core Lightning's `delinvoice`.
//!
//! A deleted receive keeps its row, marked with `deleted_at`: the ledger still finds it by
//! payment hash, so an HTLC that arrives for a deleted unpaid invoice is failed back (the
//! invoice is canceled as it is deleted) and a paid one's second payment too; the incoming
//! payment's record (`payments`) is untouched. The API no longer lists or finds it, and its
//! label is cleared so that the label can be used again, as
//! Core Lightning allows. A receive whose HTLCs are held (HTLCs arrived, or the preimage
//! revealed) is never deleted.

use crate::db::params;

use crate::error::{StoreError, TxError};
use crate::receives::{find_receive, CancelReason, ReceiveRecord, ReceiveState};
use crate::Store;

/// What [`Store::delete_receive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted; the receive as it was before (an unpaid one has been canceled since).
    Deleted(ReceiveRecord),
    /// Not in one of the expected states; unchanged.
    StateDiffers(ReceiveRecord),
    /// HTLCs are held for it (arrived, or being claimed): never deleted; unchanged.
    HtlcsHeld(ReceiveRecord),
    /// No receive (not deleted) has this key.
    NotFound,
}

impl Store {
    /// Deletes the receive labeled `label` if its state is one of
    /// `expected`, in one transaction: a receive still in state created is canceled first
    /// (with its `invoice_canceled` event), then it is marked deleted and its label cleared.
    pub fn delete_receive(
        &self,
        label: &str,
        expected: &[ReceiveState],
        now: u64,
    ) -> Result<DeleteOutcome, StoreError> {
        self.transaction(|tx| {
            let Some(rec) = find_receive(tx, "label = ?1 AND deleted_at IS NULL", [label])? else {
                return Ok(DeleteOutcome::NotFound);
            };
            if matches!(rec.state, ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed) {
                return Ok(DeleteOutcome::HtlcsHeld(rec));
            }
            if !expected.contains(&rec.state) {
                return Ok(DeleteOutcome::StateDiffers(rec));
            }
            if rec.state == ReceiveState::Created {
                self.cancel_in(tx, &rec, CancelReason::Canceled, now)?;
            }
            tx.prepare_cached("UPDATE receives SET deleted_at = ?2, label = NULL WHERE id = ?1")?
                .execute(params![rec.id, now])?;
            Ok::<_, TxError>(DeleteOutcome::Deleted(rec))
        })
    }

    /// Whether the receive with row id `id` was deleted.
    pub fn receive_deleted(&self, id: i64) -> Result<bool, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT deleted_at IS NOT NULL FROM receives WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receives::{InsertReceive, NewReceive};

    fn receive(store: &Store, n: u8, label: &str) -> ReceiveRecord {
        let mut r = NewReceive::new([n; 32]);
        r.invoice = Some(format!("lnbcrt1x{n}"));
        r.label = Some(label.into());
        match store.insert_receive(r, 100).unwrap() {
            InsertReceive::Created(rec) => rec,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deletes_only_in_an_expected_state_and_frees_the_label() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = receive(&store, 1, "label-a");
        // Expected paid, but it is unpaid: unchanged.
        let out = store.delete_receive("label-a", &[ReceiveState::Settled], 200).unwrap();
        assert!(matches!(out, DeleteOutcome::StateDiffers(r) if r.id == rec.id));
        assert!(!store.receive_deleted(rec.id).unwrap());
        // As unpaid: canceled, then deleted; hidden from the listing, still found by hash (the
        // ledger fails a late payment back).
        let out = store.delete_receive("label-a", &[ReceiveState::Created], 200).unwrap();
        assert!(matches!(&out, DeleteOutcome::Deleted(r) if r.state == ReceiveState::Created));
        assert!(store.receive_deleted(rec.id).unwrap());
        assert!(store.list_receives(None, None).unwrap().is_empty());
        let kept = store.receive_by_hash(&[1; 32]).unwrap().unwrap();
        assert_eq!(kept.state, ReceiveState::Canceled);
        assert_eq!(kept.label, None);
        // Deleted twice: not found; the label is free again.
        let again = store.delete_receive("label-a", &[ReceiveState::Created], 300).unwrap();
        assert_eq!(again, DeleteOutcome::NotFound);
        let second = receive(&store, 2, "label-a");
        assert_ne!(second.id, rec.id);
    }

    #[test]
    fn never_deletes_a_receive_with_htlcs_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = receive(&store, 3, "held");
        store.receive_htlcs_arrived(&[3; 32], 1000, None, 150).unwrap();
        let all = [ReceiveState::Created, ReceiveState::HtlcsArrived, ReceiveState::Settled];
        let out = store.delete_receive("held", &all, 200).unwrap();
        assert!(matches!(out, DeleteOutcome::HtlcsHeld(r) if r.id == rec.id));
        assert!(!store.receive_deleted(rec.id).unwrap());
    }
}
