//! Per-token isolation in the store (schema version 7): idempotency keys of outgoing payments
//! are per token, metadata patches and receives know their owner.

use std::sync::{Arc, Barrier};

use crate::{BeginOutgoing, Direction, NewOutgoing, NewReceive, NewToken, PaymentKind, Store};

const DEST: &str = "02abababababababababababababababababababababababababababababababab";

fn store_with_tokens() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (id, n) in [("aaaaaaaaaaaaaaaa", 1u8), ("bbbbbbbbbbbbbbbb", 2)] {
        let token = NewToken {
            id: id.into(),
            name: format!("app{n}"),
            secret_hash: [n; 32],
            scopes: "payments:send".into(),
            expires_at: None,
            limits: Default::default(),
        };
        store.insert_token(token, 1).unwrap();
    }
    (dir, store)
}

fn intent(n: u8, key: &str, token: Option<&str>) -> NewOutgoing {
    let hash = bitcoin_hashes_free_hash(n);
    let mut i = NewOutgoing::new(PaymentKind::Bolt11, Some(hash), [n; 32], 1000);
    i.destination = Some(DEST.into());
    i.idempotency_key = Some(key.into());
    i.request_hash = Some([n; 32]);
    i.token_id = token.map(String::from);
    i
}

/// A distinct 32-byte value per `n` (the store does not check BOLT11 hashes against anything).
fn bitcoin_hashes_free_hash(n: u8) -> [u8; 32] {
    let mut h = [0xee; 32];
    h[0] = n;
    h
}

#[test]
fn idempotency_keys_are_per_token() {
    let (_d, store) = store_with_tokens();
    let a = Some("aaaaaaaaaaaaaaaa");
    let b = Some("bbbbbbbbbbbbbbbb");
    let BeginOutgoing::Started(first) = store.begin_outgoing(intent(1, "order-1", a), 10).unwrap()
    else {
        panic!("started")
    };
    // The same key under another token (or none) is a new payment, not A's, not a conflict.
    let BeginOutgoing::Started(other) = store.begin_outgoing(intent(2, "order-1", b), 11).unwrap()
    else {
        panic!("B's own payment")
    };
    assert_ne!(other.id, first.id);
    assert!(matches!(
        store.begin_outgoing(intent(3, "order-1", None), 12).unwrap(),
        BeginOutgoing::Started(_)
    ));
    // Within a token the key still replays or conflicts.
    let again = store.begin_outgoing(intent(1, "order-1", a), 13).unwrap();
    assert!(matches!(again, BeginOutgoing::Existing(r) if r.id == first.id));
    let mut different = intent(4, "order-1", a);
    different.request_hash = Some([9; 32]);
    assert!(matches!(
        store.begin_outgoing(different, 14).unwrap(),
        BeginOutgoing::KeyConflict(r) if r.id == first.id
    ));
    let by_key = |t: Option<&str>| {
        store.payment_by_idempotency_key(Direction::Outgoing, "order-1", t).unwrap().unwrap().id
    };
    assert_eq!(by_key(a), first.id);
    assert_eq!(by_key(b), other.id);
}

/// A receive's idempotency key is per token too (schema version 10): the same key under another
/// token is another invoice; within a token it replays or conflicts.
#[test]
fn receive_keys_are_per_token() {
    let (_d, store) = store_with_tokens();
    let receive = |n: u8, token: Option<&str>, request: u8| {
        let mut r = NewReceive::new([n; 32]);
        r.idempotency_key = Some("invoice-1".into());
        r.request_hash = Some([request; 32]);
        r.token_id = token.map(String::from);
        store.insert_receive(r, 10).unwrap()
    };
    let (a, b) = (Some("aaaaaaaaaaaaaaaa"), Some("bbbbbbbbbbbbbbbb"));
    let crate::InsertReceive::Created(first) = receive(1, a, 1) else { panic!("created") };
    assert!(matches!(receive(2, b, 1), crate::InsertReceive::Created(r) if r.id != first.id));
    assert!(matches!(receive(3, None, 1), crate::InsertReceive::Created(_)));
    assert!(matches!(receive(4, a, 1), crate::InsertReceive::Existing(r) if r.id == first.id));
    assert!(matches!(receive(5, a, 9), crate::InsertReceive::KeyConflict(r) if r.id == first.id));
    let found = store.receive_by_idempotency_key("invoice-1", a).unwrap().unwrap();
    assert_eq!(found.id, first.id);
    assert_ne!(store.receive_by_idempotency_key("invoice-1", b).unwrap().unwrap().id, first.id);
}

#[test]
fn concurrent_begins_with_one_key_per_token_pay_once_per_token() {
    const THREADS: usize = 16;
    let (dir, store) = store_with_tokens();
    drop(store);
    let stores: Vec<Arc<Store>> =
        (0..4).map(|_| Arc::new(Store::open(dir.path()).unwrap())).collect();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let token = if i % 2 == 0 { "aaaaaaaaaaaaaaaa" } else { "bbbbbbbbbbbbbbbb" };
                // Different hashes: only the key (and the token) ties them together.
                let mut it = intent(i as u8 + 1, "same-key", Some(token));
                it.request_hash = Some([7; 32]);
                barrier.wait();
                (token, store.begin_outgoing(it, 100 + i as u64).unwrap())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for token in ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"] {
        let mine: Vec<_> = results.iter().filter(|(t, _)| *t == token).map(|(_, r)| r).collect();
        let started: Vec<_> =
            mine.iter().filter(|r| matches!(r, BeginOutgoing::Started(_))).collect();
        assert_eq!(started.len(), 1, "{token}: {mine:?}");
        let id = started[0].record().unwrap().id;
        for r in mine {
            assert!(
                matches!(r, BeginOutgoing::Started(_))
                    || matches!(r, BeginOutgoing::Existing(rec) if rec.id == id),
                "{r:?}"
            );
        }
    }
    let rows: i64 =
        stores[0].read(|c| c.query_row("SELECT count(*) FROM payments", [], |r| r.get(0))).unwrap();
    assert_eq!(rows, 2, "one payment per token");
}

#[test]
fn a_failed_payment_retried_by_another_token_does_not_take_the_first_tokens_key() {
    let (_d, store) = store_with_tokens();
    let a = Some("aaaaaaaaaaaaaaaa");
    let b = Some("bbbbbbbbbbbbbbbb");
    let BeginOutgoing::Started(first) = store.begin_outgoing(intent(1, "k", a), 10).unwrap() else {
        panic!("started")
    };
    // B already has a payment under "k"; A's payment fails; B pays the same invoice unkeyed.
    store.begin_outgoing(intent(2, "k", b), 11).unwrap();
    store
        .fail_outgoing(&[1; 32], crate::FailureCode::RouteNotFound, Some("no route"), false, 12)
        .unwrap();
    let mut retry = intent(1, "k", b);
    retry.idempotency_key = None;
    retry.payment_id = [3; 32];
    let BeginOutgoing::Retrying(r) = store.begin_outgoing(retry, 13).unwrap() else {
        panic!("retried in place")
    };
    assert_eq!((r.id, r.token_id.as_deref(), r.idempotency_key.as_deref()), (first.id, b, None));
}

#[test]
fn metadata_patches_and_receives_know_their_owner() {
    let (_d, store) = store_with_tokens();
    let a = Some("aaaaaaaaaaaaaaaa");
    let b = Some("bbbbbbbbbbbbbbbb");
    let BeginOutgoing::Started(p) = store.begin_outgoing(intent(1, "k", a), 10).unwrap() else {
        panic!("started")
    };
    assert_eq!(store.merge_metadata(p.id, r#"{"x":1}"#, b, 11).unwrap(), None, "not B's");
    assert!(store.merge_metadata(p.id, r#"{"x":1}"#, a, 12).unwrap().is_some());
    assert!(store.merge_metadata(p.id, r#"{"y":1}"#, None, 13).unwrap().is_some(), "admin");
    let unchanged = store.payment_by_id(p.id).unwrap().unwrap();
    assert_eq!(unchanged.metadata.as_deref(), Some(r#"{"x":1,"y":1}"#));

    let mut r = NewReceive::new([5; 32]);
    r.token_id = b.map(String::from);
    store.insert_receive(r, 20).unwrap();
    let rec = store.receive_by_hash(&[5; 32]).unwrap().unwrap();
    assert_eq!(rec.token_id.as_deref(), b);
}
