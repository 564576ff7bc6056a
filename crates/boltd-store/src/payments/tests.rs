//! Tests of the payment records: the intent's idempotency, final states, validation, and
//! lookups. Shared helpers for `tests_records`.

use std::sync::{Arc, Barrier};

use super::*;

pub(super) const DEST: &str = "02abababababababababababababababababababababababababababababababab";
pub(super) const OTHER_DEST: &str =
    "03cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

pub(super) fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// A preimage and its payment hash.
pub(super) fn secret(n: u8) -> ([u8; 32], [u8; 32]) {
    let preimage = [n; 32];
    (preimage, payment_hash_of(&preimage))
}

pub(super) fn bolt11(hash: [u8; 32], payment_id: u8, amount_msat: u64) -> NewOutgoing {
    let mut intent =
        NewOutgoing::new(PaymentKind::Bolt11, Some(hash), [payment_id; 32], amount_msat);
    intent.destination = Some(DEST.to_string());
    intent.invoice = Some("lnbcrt1invoice".to_string());
    intent
}

pub(super) fn keyed(mut intent: NewOutgoing, key: &str, request: u8) -> NewOutgoing {
    intent.idempotency_key = Some(key.to_string());
    intent.request_hash = Some([request; 32]);
    intent
}

pub(super) fn count(store: &Store) -> i64 {
    store.read(|c| c.query_row("SELECT count(*) FROM payments", [], |r| r.get(0))).unwrap()
}

#[test]
fn started_then_existing_by_hash_while_pending_and_complete() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let started = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
    let BeginOutgoing::Started(rec) = &started else { panic!("{started:?}") };
    assert!(started.should_send());
    assert_eq!(rec.direction, Direction::Outgoing);
    assert_eq!(rec.status, PaymentStatus::Pending);
    assert_eq!(rec.payment_hash, Some(hash));
    assert_eq!(rec.payment_id, Some([1; 32]));
    assert_eq!(rec.attempts, 1);
    assert_eq!((rec.created_at, rec.updated_at), (100, 100));
    assert_eq!(rec.destination.as_deref(), Some(DEST));

    // Same hash, amount and destination while pending: the original, never a second send.
    let again = store.begin_outgoing(bolt11(hash, 2, 1000), 101).unwrap();
    assert_eq!(again, BeginOutgoing::Existing(rec.clone()));
    assert!(!again.should_send());

    let done = store
        .complete_outgoing(&[1; 32], &preimage, Some(5), Some(1005), Some(2), 110)
        .unwrap()
        .unwrap();
    let again = store.begin_outgoing(bolt11(hash, 3, 1000), 120).unwrap();
    assert_eq!(again, BeginOutgoing::Existing(done));
    assert_eq!(count(&store), 1);
}

#[test]
fn same_key_same_request_is_existing_whatever_the_status() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    let first = store.begin_outgoing(keyed(bolt11(hash, 1, 1000), "k1", 7), 100).unwrap();
    let BeginOutgoing::Started(rec) = first else { panic!() };
    let again = store.begin_outgoing(keyed(bolt11(hash, 2, 1000), "k1", 7), 101).unwrap();
    assert_eq!(again, BeginOutgoing::Existing(rec.clone()));

    // Failed: the same key still answers with the original record, it does not retry.
    let failed = store
        .fail_outgoing(&[1; 32], FailureCode::RouteNotFound, Some("no route"), true, 102)
        .unwrap()
        .unwrap();
    let again = store.begin_outgoing(keyed(bolt11(hash, 3, 1000), "k1", 7), 103).unwrap();
    assert_eq!(again, BeginOutgoing::Existing(failed));

    // The key check comes first: another hash under the same key and request is the
    // original too.
    let (_, other_hash) = secret(2);
    let again = store.begin_outgoing(keyed(bolt11(other_hash, 4, 1000), "k1", 7), 104).unwrap();
    assert_eq!(again.record().unwrap().id, rec.id);
    assert!(matches!(again, BeginOutgoing::Existing(_)));
    assert_eq!(count(&store), 1);
}

#[test]
fn same_key_different_request_is_a_conflict() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    let (_, other_hash) = secret(2);
    let BeginOutgoing::Started(rec) =
        store.begin_outgoing(keyed(bolt11(hash, 1, 1000), "k1", 7), 100).unwrap()
    else {
        panic!()
    };
    let conflict = store.begin_outgoing(keyed(bolt11(other_hash, 2, 5000), "k1", 8), 101).unwrap();
    assert_eq!(conflict, BeginOutgoing::KeyConflict(rec.clone()));
    // No request hash is a different request too.
    let mut no_fingerprint = keyed(bolt11(other_hash, 3, 5000), "k1", 8);
    no_fingerprint.request_hash = None;
    assert_eq!(store.begin_outgoing(no_fingerprint, 102).unwrap(), BeginOutgoing::KeyConflict(rec));
    // Keys are per direction and per key: another key is a new payment.
    let other = store.begin_outgoing(keyed(bolt11(other_hash, 4, 5000), "k2", 8), 103);
    assert!(matches!(other.unwrap(), BeginOutgoing::Started(_)));
    assert_eq!(count(&store), 2);
}

#[test]
fn same_hash_different_amount_or_destination_is_already_paid_differently() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let BeginOutgoing::Started(rec) = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap()
    else {
        panic!()
    };
    let apd = store.begin_outgoing(bolt11(hash, 2, 2000), 101).unwrap();
    assert_eq!(apd, BeginOutgoing::AlreadyPaidDifferently(rec.clone()));
    let mut other_dest = bolt11(hash, 3, 1000);
    other_dest.destination = Some(OTHER_DEST.to_string());
    assert_eq!(
        store.begin_outgoing(other_dest, 102).unwrap(),
        BeginOutgoing::AlreadyPaidDifferently(rec.clone())
    );
    // Different kinds with the same hash are covered too (keysend, while pending).
    let keysend = NewOutgoing::new(PaymentKind::Keysend, Some(hash), [9; 32], 3000);
    assert_eq!(
        store.begin_outgoing(keysend, 103).unwrap(),
        BeginOutgoing::AlreadyPaidDifferently(rec.clone())
    );

    // Failed with a different amount: still refused, not retried.
    store.fail_outgoing(&[1; 32], FailureCode::Other, None, true, 104).unwrap();
    let apd = store.begin_outgoing(bolt11(hash, 4, 2000), 105).unwrap();
    assert!(matches!(apd, BeginOutgoing::AlreadyPaidDifferently(ref r) if r.id == rec.id));

    // Complete with a different amount: refused.
    store.begin_outgoing(bolt11(hash, 5, 1000), 106).unwrap();
    store.complete_outgoing(&[5; 32], &preimage, None, None, None, 107).unwrap();
    let apd = store.begin_outgoing(bolt11(hash, 6, 999), 108).unwrap();
    assert!(matches!(apd, BeginOutgoing::AlreadyPaidDifferently(ref r)
        if r.status == PaymentStatus::Complete));
    assert_eq!(count(&store), 1);
}

#[test]
fn failed_bolt11_payment_is_retried_in_place() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let mut first = keyed(bolt11(hash, 1, 1000), "k1", 7);
    first.label = Some("first".into());
    let BeginOutgoing::Started(rec) = store.begin_outgoing(first, 100).unwrap() else { panic!() };
    let failed = store
        .fail_outgoing(&[1; 32], FailureCode::RouteTooExpensive, Some("fees"), true, 110)
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(failed.failure_code, Some(FailureCode::RouteTooExpensive));
    assert_eq!(failed.failure_reason.as_deref(), Some("fees"));
    assert_eq!(failed.retryable, Some(true));
    assert_eq!(failed.updated_at, 110);

    // A new request (new key, new fingerprint, e.g. a higher fee limit) for the same
    // invoice: the failed row goes back to pending with the new payment id.
    let retry = store.begin_outgoing(keyed(bolt11(hash, 2, 1000), "k2", 8), 120).unwrap();
    let BeginOutgoing::Retrying(retried) = &retry else { panic!("{retry:?}") };
    assert!(retry.should_send());
    assert_eq!(retried.id, rec.id);
    assert_eq!(retried.status, PaymentStatus::Pending);
    assert_eq!(retried.attempts, 2);
    assert_eq!(retried.payment_id, Some([2; 32]));
    assert_eq!(retried.request_hash, Some([8; 32]));
    assert_eq!(retried.idempotency_key.as_deref(), Some("k2"));
    assert_eq!(retried.label.as_deref(), Some("first"), "kept where not given");
    assert_eq!(
        (retried.failure_code, retried.failure_reason.as_deref(), retried.retryable),
        (None, None, None)
    );
    assert_eq!((retried.created_at, retried.updated_at), (100, 120));
    assert_eq!(store.payment_by_payment_id(&[1; 32]).unwrap(), None);

    // The old attempt's late failure no longer matches anything.
    assert_eq!(store.fail_outgoing(&[1; 32], FailureCode::Other, None, false, 121).unwrap(), None);
    // While pending again, a third request is Existing.
    let again = store.begin_outgoing(bolt11(hash, 3, 1000), 122).unwrap();
    assert_eq!(again, BeginOutgoing::Existing(retried.clone()));

    let done = store
        .complete_outgoing(&[2; 32], &preimage, Some(3), Some(1003), Some(1), 130)
        .unwrap()
        .unwrap();
    assert_eq!(done.status, PaymentStatus::Complete);
    assert_eq!(done.attempts, 2);
    assert_eq!(
        store.begin_outgoing(bolt11(hash, 4, 1000), 131).unwrap(),
        BeginOutgoing::Existing(done)
    );
    assert_eq!(count(&store), 1);
}

#[test]
fn complete_and_failed_stay_final() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
    let done = store
        .complete_outgoing(&[1; 32], &preimage, Some(5), Some(1005), Some(2), 110)
        .unwrap()
        .unwrap();
    assert_eq!(done.status, PaymentStatus::Complete);
    assert_eq!(done.preimage, Some(preimage));
    assert_eq!((done.fee_msat, done.amount_sent_msat, done.parts), (Some(5), Some(1005), Some(2)));
    assert_eq!(done.completed_at, Some(110));

    // Complete is never changed: not by a failure, not by a second completion.
    let after_fail = store
        .fail_outgoing(&[1; 32], FailureCode::Other, Some("late"), true, 120)
        .unwrap()
        .unwrap();
    assert_eq!(after_fail, done);
    let after_complete = store
        .complete_outgoing(&[1; 32], &preimage, Some(99), Some(9999), Some(9), 130)
        .unwrap()
        .unwrap();
    assert_eq!(after_complete, done);
    assert_eq!(store.payment_by_id(done.id).unwrap(), Some(done));

    // Failed is not changed by a second failure.
    let (preimage2, hash2) = secret(2);
    store.begin_outgoing(bolt11(hash2, 2, 1000), 100).unwrap();
    let failed = store
        .fail_outgoing(&[2; 32], FailureCode::InvoiceExpired, Some("expired"), false, 110)
        .unwrap()
        .unwrap();
    let again = store
        .fail_outgoing(&[2; 32], FailureCode::RouteNotFound, Some("other"), true, 120)
        .unwrap()
        .unwrap();
    assert_eq!(again, failed);

    // ... but the preimage proves it was paid: the truth wins.
    let truth = store
        .complete_outgoing(&[2; 32], &preimage2, Some(1), Some(1001), Some(1), 130)
        .unwrap()
        .unwrap();
    assert_eq!(truth.status, PaymentStatus::Complete);
    assert_eq!(truth.preimage, Some(preimage2));
    assert_eq!(
        (truth.failure_code, truth.failure_reason.as_deref(), truth.retryable),
        (None, None, None)
    );
    assert_eq!(truth.completed_at, Some(130));
    // And that is final as well.
    assert_eq!(
        store.fail_outgoing(&[2; 32], FailureCode::Other, None, true, 140).unwrap(),
        Some(truth)
    );
}

#[test]
fn complete_checks_the_preimage_and_learns_unknown_hashes() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let (wrong, _) = secret(2);
    let BeginOutgoing::Started(rec) = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap()
    else {
        panic!()
    };
    let err = store.complete_outgoing(&[1; 32], &wrong, None, None, None, 110).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert_eq!(store.payment_by_id(rec.id).unwrap(), Some(rec));
    assert_eq!(store.complete_outgoing(&[7; 32], &preimage, None, None, None, 110).unwrap(), None);
    assert_eq!(store.fail_outgoing(&[7; 32], FailureCode::Other, None, true, 110).unwrap(), None);

    // BOLT12: the hash becomes known with the preimage.
    let offer = NewOutgoing::new(PaymentKind::Bolt12, None, [3; 32], 500);
    let BeginOutgoing::Started(rec) = store.begin_outgoing(offer, 100).unwrap() else { panic!() };
    assert_eq!(rec.payment_hash, None);
    let (p3, h3) = secret(3);
    let done = store.complete_outgoing(&[3; 32], &p3, None, None, None, 120).unwrap().unwrap();
    assert_eq!(done.payment_hash, Some(h3));
    assert_eq!(store.payment_by_hash(Direction::Outgoing, &h3).unwrap(), Some(done));
}

#[test]
fn invalid_intents_write_nothing() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    let invalid = |intent: NewOutgoing| {
        let err = store.begin_outgoing(intent, 100).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    };
    invalid(NewOutgoing::new(PaymentKind::Bolt11, None, [1; 32], 1000));
    invalid(NewOutgoing::new(PaymentKind::Keysend, None, [1; 32], 1000));
    let mut i = bolt11(hash, 1, 1000);
    i.destination = Some("02ab".into());
    invalid(i);
    let mut i = bolt11(hash, 1, 1000);
    i.destination = Some(format!("02{}", "zz".repeat(32)));
    invalid(i);
    for bad in ["", "[1]", "{", "\"x\"", "{\"a\":1"] {
        let mut i = bolt11(hash, 1, 1000);
        i.metadata = Some(bad.into());
        invalid(i);
    }
    for bad in
        ["[]", "{\"x\":\"00\"}", "{\"5\":\"0g\"}", "{\"5\":\"abc\"}", "{\"5\":1}", "{\"5\":\"AB\"}"]
    {
        let mut i = bolt11(hash, 1, 1000);
        i.custom_records = Some(bad.into());
        invalid(i);
    }
    invalid(keyed(bolt11(hash, 1, 1000), "", 1));
    assert_eq!(count(&store), 0);

    // Valid JSON goes through; a reused payment id is a database error.
    let mut ok = bolt11(hash, 1, 1000);
    ok.metadata = Some("{\"order\": 42, \"tags\": [\"a\"]}".into());
    ok.custom_records = Some("{\"5482373484\": \"00ff\", \"65537\": \"\"}".into());
    let BeginOutgoing::Started(rec) = store.begin_outgoing(ok, 100).unwrap() else { panic!() };
    assert_eq!(rec.custom_records.as_deref(), Some("{\"5482373484\": \"00ff\", \"65537\": \"\"}"));
    let (_, other) = secret(2);
    let err = store.begin_outgoing(bolt11(other, 1, 1000), 100).unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert_eq!(count(&store), 1);
}

#[test]
fn destination_is_compared_in_lowercase() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    let mut upper = bolt11(hash, 1, 1000);
    upper.destination = Some(DEST.to_ascii_uppercase());
    let BeginOutgoing::Started(rec) = store.begin_outgoing(upper, 100).unwrap() else { panic!() };
    assert_eq!(rec.destination.as_deref(), Some(DEST));
    assert_eq!(
        store.begin_outgoing(bolt11(hash, 2, 1000), 101).unwrap(),
        BeginOutgoing::Existing(rec)
    );
}

/// 20 threads over 4 connections (stores) to the same file.
pub(super) fn race(
    intent: impl Fn(u8) -> NewOutgoing + Send + Sync + 'static,
) -> Vec<BeginOutgoing> {
    const THREADS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<Store>> =
        (0..4).map(|_| Arc::new(Store::open(dir.path()).unwrap())).collect();
    let barrier = Arc::new(Barrier::new(THREADS));
    let intent = Arc::new(intent);
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            let intent = Arc::clone(&intent);
            std::thread::spawn(move || {
                let intent = intent(i as u8 + 1);
                barrier.wait();
                store.begin_outgoing(intent, 100 + i as u64).unwrap()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(count(&stores[0]), 1);
    let started: Vec<_> =
        results.iter().filter(|r| matches!(r, BeginOutgoing::Started(_))).collect();
    assert_eq!(started.len(), 1, "{results:?}");
    let id = started[0].record().unwrap().id;
    for r in &results {
        if !matches!(r, BeginOutgoing::Started(_)) {
            assert!(matches!(r, BeginOutgoing::Existing(rec) if rec.id == id), "{r:?}");
        }
    }
    results
}

#[test]
fn concurrent_begins_with_the_same_hash_start_once() {
    let (_, hash) = secret(1);
    race(move |i| bolt11(hash, i, 1000));
}

#[test]
fn concurrent_begins_with_the_same_key_start_once() {
    // Different hashes, one key and request: only the key ties them together.
    race(|i| keyed(bolt11(secret(i).1, i, 1000), "same-key", 7));
}

#[test]
fn lookups() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let BeginOutgoing::Started(out) =
        store.begin_outgoing(keyed(bolt11(hash, 1, 1000), "k", 1), 100).unwrap()
    else {
        panic!()
    };
    let mut incoming = NewIncoming::new(PaymentKind::Bolt11, hash, 1000);
    incoming.preimage = Some(preimage);
    let inc = store.record_incoming(incoming, 105).unwrap().record().clone();

    assert_eq!(store.payment_by_id(out.id).unwrap().as_ref(), Some(&out));
    assert_eq!(store.payment_by_id(999).unwrap(), None);
    assert_eq!(store.payment_by_payment_id(&[1; 32]).unwrap().as_ref(), Some(&out));
    assert_eq!(store.payment_by_hash(Direction::Outgoing, &hash).unwrap().as_ref(), Some(&out));
    assert_eq!(store.payment_by_hash(Direction::Incoming, &hash).unwrap().as_ref(), Some(&inc));
    assert_eq!(store.payment_by_hash(Direction::Incoming, &[0; 32]).unwrap(), None);
    assert_eq!(
        store.payment_by_idempotency_key(Direction::Outgoing, "k", None).unwrap().as_ref(),
        Some(&out)
    );
    assert_eq!(store.payment_by_idempotency_key(Direction::Incoming, "k", None).unwrap(), None);

    // Most recent by hash among non-unique kinds.
    let mut ks = NewOutgoing::new(PaymentKind::Bolt12, Some([5; 32]), [5; 32], 1);
    store.begin_outgoing(ks.clone(), 200).unwrap();
    store.fail_outgoing(&[5; 32], FailureCode::Other, None, true, 201).unwrap();
    ks.payment_id = [6; 32];
    let BeginOutgoing::Started(newer) = store.begin_outgoing(ks, 300).unwrap() else { panic!() };
    assert_eq!(store.payment_by_hash(Direction::Outgoing, &[5; 32]).unwrap(), Some(newer));
}
