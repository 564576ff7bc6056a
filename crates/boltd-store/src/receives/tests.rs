//! Tests of the receives: invoices and offers we issue, their states, idempotency and listing.

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn secret(n: u8) -> ([u8; 32], [u8; 32]) {
    let preimage = [n; 32];
    (preimage, payment_hash_of(&preimage))
}

fn hold(n: u8, created_at: u64, expires_at: Option<u64>, store: &Store) -> ReceiveRecord {
    let (_, hash) = secret(n);
    let mut r = NewReceive::new(hash);
    r.hold = true;
    r.invoice = Some(format!("lnbcrt1hold{n}"));
    r.amount_msat = Some(1000);
    r.expires_at = expires_at;
    match store.insert_receive(r, created_at).unwrap() {
        InsertReceive::Created(rec) => rec,
        other => panic!("{other:?}"),
    }
}

#[test]
fn list_receives_in_creation_order_and_by_key() {
    let (_d, store) = store();
    let recs: Vec<ReceiveRecord> = (1..=5).map(|n| hold(n, 100, None, &store)).collect();
    let ids = |v: Vec<ReceiveRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all: Vec<i64> = recs.iter().map(|r| r.id).collect();
    assert_eq!(ids(store.list_receives(None, None).unwrap()), all);
    assert_eq!(ids(store.list_receives(Some(all[1]), Some(2)).unwrap()), all[2..4]);
    assert!(store.list_receives(Some(all[4]), None).unwrap().is_empty());

    let (_, hash) = secret(9);
    let mut r = NewReceive::new(hash);
    r.idempotency_key = Some("label-1".into());
    store.insert_receive(r, 200).unwrap();
    let found = store.receive_by_idempotency_key("label-1", None).unwrap().unwrap();
    assert_eq!(found.payment_hash, hash);
    assert_eq!(store.receive_by_idempotency_key("label-2", None).unwrap(), None);
}

#[test]
fn insert_is_idempotent_by_key_and_unique_by_hash() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let mut r = NewReceive::new(hash);
    r.preimage = Some(preimage);
    r.invoice = Some("lnbcrt1abc".into());
    r.amount_msat = Some(2000);
    r.description = Some("tea".into());
    r.description_hash = Some([9; 32]);
    r.expires_at = Some(3700);
    r.payer_note = Some("thanks".into());
    r.custom_records = Some("{\"65537\": \"01\"}".into());
    r.idempotency_key = Some("k1".into());
    r.request_hash = Some([7; 32]);
    let InsertReceive::Created(rec) = store.insert_receive(r.clone(), 100).unwrap() else {
        panic!()
    };
    assert_eq!(rec.state, ReceiveState::Created);
    assert_eq!(rec.payment_hash, hash);
    assert_eq!(rec.preimage, Some(preimage));
    assert!(!rec.hold);
    assert_eq!((rec.amount_msat, rec.received_msat), (Some(2000), None));
    assert_eq!((rec.created_at, rec.expires_at), (100, Some(3700)));
    assert_eq!(rec.description_hash, Some([9; 32]));
    assert_eq!(rec.payer_note.as_deref(), Some("thanks"));

    // Same key, same request: the original (even with another hash).
    let (_, other_hash) = secret(2);
    let mut again = r.clone();
    again.payment_hash = other_hash;
    again.preimage = None;
    assert_eq!(
        store.insert_receive(again.clone(), 101).unwrap(),
        InsertReceive::Existing(rec.clone())
    );
    // Same key, different request.
    again.request_hash = Some([8; 32]);
    assert_eq!(store.insert_receive(again, 102).unwrap(), InsertReceive::KeyConflict(rec.clone()));
    // Same hash, another key or none.
    let mut dup = NewReceive::new(hash);
    assert_eq!(
        store.insert_receive(dup.clone(), 103).unwrap(),
        InsertReceive::HashExists(rec.clone())
    );
    dup.idempotency_key = Some("k2".into());
    assert_eq!(store.insert_receive(dup, 103).unwrap(), InsertReceive::HashExists(rec.clone()));

    // Refused before anything is written.
    let invalid = |r: NewReceive| {
        let err = store.insert_receive(r, 104).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    };
    let (p3, h3) = secret(3);
    let mut bad = NewReceive::new(h3);
    bad.hold = true;
    bad.preimage = Some(p3);
    invalid(bad);
    let mut bad = NewReceive::new(h3);
    bad.preimage = Some(preimage);
    invalid(bad);
    let mut bad = NewReceive::new(h3);
    bad.custom_records = Some("{\"x\": \"01\"}".into());
    invalid(bad);
    let mut bad = NewReceive::new(h3);
    bad.idempotency_key = Some(String::new());
    invalid(bad);
    assert_eq!(store.receive_by_hash(&h3).unwrap(), None);

    let json = serde_json::to_value(&rec).unwrap();
    assert_eq!(json["state"], "created");
    assert_eq!(json["payment_hash"], crate::payments::to_hex(&hash));
    assert_eq!(json["preimage"], crate::payments::to_hex(&preimage));
}

#[test]
fn hold_invoice_walks_forward_and_lookups_find_it() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let rec = hold(1, 100, Some(4000), &store);
    assert_eq!(rec.preimage, None);
    assert_eq!(store.receive_by_hash(&hash).unwrap().as_ref(), Some(&rec));
    assert_eq!(store.receive_by_invoice("lnbcrt1hold1").unwrap().as_ref(), Some(&rec));
    assert_eq!(store.receive_by_invoice("lnbcrt1nope").unwrap(), None);
    assert_eq!(store.receive_by_preimage(&preimage).unwrap().as_ref(), Some(&rec));
    assert_eq!(store.receive_by_preimage(&[0; 32]).unwrap(), None);

    let ReceiveUpdate::Updated(arrived) =
        store.receive_htlcs_arrived(&hash, 1000, None, 200).unwrap()
    else {
        panic!()
    };
    assert_eq!(arrived.state, ReceiveState::HtlcsArrived);
    assert_eq!((arrived.received_msat, arrived.htlcs_arrived_at), (Some(1000), Some(200)));
    // Replayed: unchanged.
    assert_eq!(
        store.receive_htlcs_arrived(&hash, 5, None, 201).unwrap(),
        ReceiveUpdate::Unchanged(arrived.clone())
    );

    // A wrong preimage is refused.
    let (wrong, _) = secret(2);
    let err = store.receive_preimage_revealed(&hash, &wrong, 300).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert_eq!(store.receive_by_hash(&hash).unwrap().as_ref(), Some(&arrived));

    let ReceiveUpdate::Updated(revealed) =
        store.receive_preimage_revealed(&hash, &preimage, 300).unwrap()
    else {
        panic!()
    };
    assert_eq!(revealed.state, ReceiveState::PreimageRevealed);
    assert_eq!((revealed.preimage, revealed.preimage_revealed_at), (Some(preimage), Some(300)));
    // No going back, and no cancel any more.
    assert_eq!(
        store.receive_htlcs_arrived(&hash, 1000, None, 301).unwrap(),
        ReceiveUpdate::Unchanged(revealed.clone())
    );
    assert_eq!(store.receive_cancel(&hash, 302).unwrap(), CancelOutcome::TooLate(revealed.clone()));
    assert_eq!(store.receive_by_hash(&hash).unwrap().as_ref(), Some(&revealed));
    assert_eq!(store.pending_receives().unwrap(), std::slice::from_ref(&revealed));

    let ReceiveUpdate::Updated(settled) = store.receive_settled(&hash, 1000, 400).unwrap() else {
        panic!()
    };
    assert_eq!(settled.state, ReceiveState::Settled);
    assert_eq!((settled.received_msat, settled.finished_at), (Some(1000), Some(400)));
    assert_eq!(store.receive_cancel(&hash, 401).unwrap(), CancelOutcome::TooLate(settled.clone()));
    assert!(store.pending_receives().unwrap().is_empty());
}

#[test]
fn cancel_before_the_preimage_is_revealed() {
    let (_d, store) = store();
    let a = hold(1, 100, Some(4000), &store);
    let b = hold(2, 101, Some(4000), &store);
    store.receive_htlcs_arrived(&b.payment_hash, 1000, None, 150).unwrap();

    let CancelOutcome::Canceled(ca) = store.receive_cancel(&a.payment_hash, 200).unwrap() else {
        panic!()
    };
    assert_eq!((ca.state, ca.finished_at), (ReceiveState::Canceled, Some(200)));
    let CancelOutcome::Canceled(cb) = store.receive_cancel(&b.payment_hash, 201).unwrap() else {
        panic!()
    };
    assert_eq!(cb.state, ReceiveState::Canceled);
    assert_eq!(cb.htlcs_arrived_at, Some(150));
    // Twice: the canceled record, unchanged.
    assert_eq!(store.receive_cancel(&a.payment_hash, 300).unwrap(), CancelOutcome::Canceled(ca));
    assert_eq!(store.receive_cancel(&[0; 32], 300).unwrap(), CancelOutcome::NotFound);
}

#[test]
fn final_states_and_backward_transitions_leave_the_row_unchanged() {
    let (_d, store) = store();
    // One receive in each final state, one in preimage_revealed.
    let settled = hold(1, 100, Some(4000), &store);
    store.receive_settled(&settled.payment_hash, 1000, 110).unwrap();
    let canceled = hold(2, 100, Some(4000), &store);
    store.receive_cancel(&canceled.payment_hash, 110).unwrap();
    let expired = hold(3, 100, Some(105), &store);
    assert_eq!(store.expire_receives(110).unwrap().len(), 1);
    let revealed = hold(4, 100, Some(4000), &store);
    store.receive_preimage_revealed(&revealed.payment_hash, &secret(4).0, 110).unwrap();

    for (rec, n) in [(&settled, 1), (&canceled, 2), (&expired, 3), (&revealed, 4)] {
        let hash = rec.payment_hash;
        let before = store.receive_by_hash(&hash).unwrap().unwrap();
        let unchanged = ReceiveUpdate::Unchanged(before.clone());
        assert_eq!(store.receive_htlcs_arrived(&hash, 1, None, 500).unwrap(), unchanged);
        assert_eq!(store.receive_preimage_revealed(&hash, &secret(n).0, 500).unwrap(), unchanged);
        if before.state.is_final() {
            assert_eq!(store.receive_settled(&hash, 1, 500).unwrap(), unchanged);
        }
        let cancel = store.receive_cancel(&hash, 500).unwrap();
        match before.state {
            ReceiveState::Settled | ReceiveState::PreimageRevealed => {
                assert_eq!(cancel, CancelOutcome::TooLate(before.clone()))
            }
            ReceiveState::Canceled => {
                assert_eq!(cancel, CancelOutcome::Canceled(before.clone()))
            }
            ReceiveState::Expired => assert_eq!(cancel, CancelOutcome::Expired(before.clone())),
            other => panic!("{other}"),
        }
        assert!(store.expire_receives(10_000).unwrap().is_empty());
        // A claim recorded for a canceled/expired receive leaves it as is.
        store
            .record_incoming(crate::NewIncoming::new(crate::PaymentKind::Bolt11, hash, 1), 500)
            .unwrap();
        let after = store.receive_by_hash(&hash).unwrap().unwrap();
        if before.state.is_final() {
            assert_eq!(after, before, "{}", before.state);
        } else {
            assert_eq!(after.state, ReceiveState::Settled);
        }
    }
    let unknown = [0; 32];
    assert_eq!(store.receive_htlcs_arrived(&unknown, 1, None, 1).unwrap(), ReceiveUpdate::NotFound);
    assert_eq!(store.receive_settled(&unknown, 1, 1).unwrap(), ReceiveUpdate::NotFound);
}

#[test]
fn expiry_only_moves_created_receives_past_their_expiry() {
    let (_d, store) = store();
    let old = hold(1, 100, Some(200), &store);
    let at_limit = hold(2, 101, Some(300), &store);
    let arrived = hold(3, 102, Some(200), &store);
    store.receive_htlcs_arrived(&arrived.payment_hash, 1000, None, 150).unwrap();
    let forever = hold(4, 103, None, &store);
    let later = hold(5, 104, Some(1000), &store);

    let expired = store.expire_receives(300).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, old.id);
    assert_eq!((expired[0].state, expired[0].finished_at), (ReceiveState::Expired, Some(300)));
    assert!(store.expire_receives(300).unwrap().is_empty());

    let pending: Vec<i64> = store.pending_receives().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(pending, [at_limit.id, arrived.id, forever.id, later.id], "oldest first");

    let expired: Vec<i64> = store.expire_receives(301).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(expired, [at_limit.id]);
    let expired: Vec<i64> =
        store.expire_receives(u64::MAX >> 2).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(expired, [later.id]);
    let pending: Vec<i64> = store.pending_receives().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(pending, [arrived.id, forever.id]);
}

#[test]
fn held_htlcs_failed_back_at_their_deadline_cancel_the_receive_once_with_an_event() {
    let (_d, store) = store();
    let (_, hash) = secret(7);
    hold(7, 100, Some(4000), &store);
    let ReceiveUpdate::Updated(arrived) =
        store.receive_htlcs_arrived(&hash, 4000, Some((250, 1_000_000)), 200).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (arrived.claim_deadline_height, arrived.claim_deadline_at),
        (Some(250), Some(1_000_000))
    );
    let before = store.last_event_seq().unwrap();
    let ReceiveUpdate::Updated(failed) = store.receive_htlcs_failed(&hash, 300).unwrap() else {
        panic!()
    };
    assert_eq!(failed.state, ReceiveState::Canceled);
    assert_eq!(failed.cancel_reason, Some(CancelReason::HtlcsExpired));
    let events = store.events_after(before, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::InvoiceCanceled);
    // Once: a replay changes nothing and appends nothing.
    assert!(matches!(store.receive_htlcs_failed(&hash, 301).unwrap(), ReceiveUpdate::Unchanged(_)));
    assert_eq!(store.last_event_seq().unwrap(), before + 1);
    // A receive without held HTLCs is not canceled by a failed HTLC that never matched it.
    let (_, other) = secret(8);
    hold(8, 100, Some(4000), &store);
    assert!(matches!(
        store.receive_htlcs_failed(&other, 302).unwrap(),
        ReceiveUpdate::Unchanged(_)
    ));
    // A receive canceled by request says so.
    let CancelOutcome::Canceled(c) = store.receive_cancel(&other, 303).unwrap() else { panic!() };
    assert_eq!(c.cancel_reason, Some(CancelReason::Canceled));
}
