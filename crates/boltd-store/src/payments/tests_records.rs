//! Tests of the payment records: listing and paging, metadata, incoming payments,
//! serialization and reopening.

use super::tests::*;
use super::*;

#[test]
fn list_filters_and_pagination() {
    let (_d, store) = store();
    // 12 outgoing payments, created at 100, 110, ..., two per timestamp from 150 on;
    // every third failed, every fourth complete.
    let mut created = Vec::new();
    for i in 0u8..12 {
        let (preimage, hash) = secret(i + 1);
        let kind = if i % 2 == 0 { PaymentKind::Bolt11 } else { PaymentKind::Keysend };
        let t = if i < 5 { 100 + 10 * u64::from(i) } else { 150 + 10 * u64::from((i - 5) / 2) };
        let mut intent = NewOutgoing::new(kind, Some(hash), [i + 1; 32], 1000);
        intent.destination = Some(DEST.into());
        let rec = store.begin_outgoing(intent, t).unwrap().record().unwrap().clone();
        if i % 3 == 0 {
            store.fail_outgoing(&[i + 1; 32], FailureCode::Other, None, true, t + 1).unwrap();
        } else if i % 4 == 1 {
            store.complete_outgoing(&[i + 1; 32], &preimage, None, None, None, t + 1).unwrap();
        }
        created.push(store.payment_by_id(rec.id).unwrap().unwrap());
    }
    let (p, h) = secret(100);
    let mut inc = NewIncoming::new(PaymentKind::Bolt11, h, 5);
    inc.preimage = Some(p);
    let incoming = store.record_incoming(inc, 155).unwrap().record().clone();

    let ids = |f: PaymentFilter| -> Vec<i64> {
        store.list_payments(&f).unwrap().into_iter().map(|r| r.id).collect()
    };
    let mut all: Vec<&PaymentRecord> = created.iter().chain([&incoming]).collect();
    all.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
    let all_ids: Vec<i64> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids(PaymentFilter::default()), all_ids);

    let expect = |pred: &dyn Fn(&PaymentRecord) -> bool| -> Vec<i64> {
        all.iter().filter(|r| pred(r)).map(|r| r.id).collect()
    };
    assert_eq!(
        ids(PaymentFilter { direction: Some(Direction::Incoming), ..Default::default() }),
        [incoming.id]
    );
    for status in [PaymentStatus::Pending, PaymentStatus::Complete, PaymentStatus::Failed] {
        let got = ids(PaymentFilter {
            direction: Some(Direction::Outgoing),
            status: Some(status),
            ..Default::default()
        });
        let want = expect(&|r| r.status == status && r.direction == Direction::Outgoing);
        assert!(!want.is_empty());
        assert_eq!(got, want, "{status}");
    }
    assert_eq!(
        ids(PaymentFilter { kind: Some(PaymentKind::Keysend), ..Default::default() }),
        expect(&|r| r.kind == PaymentKind::Keysend)
    );
    assert_eq!(
        ids(PaymentFilter {
            created_after: Some(120),
            created_before: Some(160),
            ..Default::default()
        }),
        expect(&|r| (120..160).contains(&r.created_at))
    );

    // Offset pagination and cursor pagination both walk the whole list exactly once.
    let mut by_offset = Vec::new();
    for page in 0.. {
        let got =
            ids(PaymentFilter { limit: Some(5), offset: Some(page * 5), ..Default::default() });
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= 5);
        by_offset.extend(got);
    }
    assert_eq!(by_offset, all_ids);
    let mut by_cursor = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_payments(&PaymentFilter { limit: Some(4), cursor, ..Default::default() })
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor());
        by_cursor.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(by_cursor, all_ids);
    // Cursor with a filter.
    let first = store
        .list_payments(&PaymentFilter {
            direction: Some(Direction::Outgoing),
            limit: Some(3),
            ..Default::default()
        })
        .unwrap();
    let rest = ids(PaymentFilter {
        direction: Some(Direction::Outgoing),
        cursor: Some(first[2].cursor()),
        ..Default::default()
    });
    let want: Vec<i64> = expect(&|r| r.direction == Direction::Outgoing).split_off(3);
    assert_eq!(rest, want);

    // pending_outgoing is oldest first.
    let pending: Vec<i64> = store.pending_outgoing().unwrap().into_iter().map(|r| r.id).collect();
    let mut want =
        expect(&|r| r.status == PaymentStatus::Pending && r.direction == Direction::Outgoing);
    want.reverse();
    assert_eq!(pending, want);
}

#[test]
fn update_metadata_validates_json() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    let rec = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap().record().unwrap().clone();
    let updated = store.update_metadata(rec.id, Some("{\"a\": 1}"), 150).unwrap().unwrap();
    assert_eq!(updated.metadata.as_deref(), Some("{\"a\": 1}"));
    assert_eq!(updated.updated_at, 150);
    let err = store.update_metadata(rec.id, Some("[1, 2]"), 160).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert_eq!(store.payment_by_id(rec.id).unwrap(), Some(updated));
    let cleared = store.update_metadata(rec.id, None, 170).unwrap().unwrap();
    assert_eq!(cleared.metadata, None);
    assert_eq!(store.update_metadata(999, None, 170).unwrap(), None);
}

#[test]
fn merge_metadata_follows_rfc_7396() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    let rec = store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap().record().unwrap().clone();
    let first = store
        .merge_metadata(rec.id, r#"{"order": 42, "tags": {"a": 1, "b": 2}}"#, None, 110)
        .unwrap()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_str(first.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(meta, serde_json::json!({"order": 42, "tags": {"a": 1, "b": 2}}));
    let second = store
        .merge_metadata(
            rec.id,
            r#"{"order": null, "tags": {"b": 3, "c": [1]}, "x": "y"}"#,
            None,
            120,
        )
        .unwrap()
        .unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(second.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(meta, serde_json::json!({"tags": {"a": 1, "b": 3, "c": [1]}, "x": "y"}));
    assert_eq!(second.updated_at, 120);
    for bad in ["[1]", "null", "3", "{"] {
        let err = store.merge_metadata(rec.id, bad, None, 130).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{bad}: {err:?}");
    }
    assert_eq!(store.payment_by_id(rec.id).unwrap(), Some(second));
    assert_eq!(store.merge_metadata(999, "{}", None, 140).unwrap(), None);
}

#[test]
fn list_payments_by_invoice_or_keysend_peer_pages_what_matches() {
    let (_d, store) = store();
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let (_, hash) = secret(i + 1);
        let mut intent = bolt11(hash, i + 1, 1000);
        intent.invoice = Some(if i % 2 == 0 { "lnbcrt1even" } else { "lnbcrt1odd" }.into());
        if i == 4 {
            intent.kind = PaymentKind::Keysend;
            intent.invoice = None;
        }
        ids.push(store.begin_outgoing(intent, 100 + u64::from(i)).unwrap().record().unwrap().id);
    }
    let list = |f: PaymentFilter| -> Vec<i64> {
        store.list_payments(&f).unwrap().into_iter().map(|r| r.id).collect()
    };
    let even = || PaymentFilter { invoice: Some("lnbcrt1even".into()), ..Default::default() };
    assert_eq!(list(even()), vec![ids[2], ids[0]], "newest first, keysend excluded");
    assert_eq!(list(PaymentFilter { limit: Some(1), offset: Some(1), ..even() }), vec![ids[0]]);
    let keysend = PaymentFilter { spontaneous_with: Some(DEST.into()), ..Default::default() };
    assert_eq!(list(keysend), vec![ids[4]]);
}

#[test]
fn list_payments_by_hash_and_oldest_first() {
    let (_d, store) = store();
    let mut ids = Vec::new();
    for i in 0..4u8 {
        let (_, hash) = secret(i + 1);
        ids.push(
            store
                .begin_outgoing(bolt11(hash, i + 1, 1000), 100 + u64::from(i))
                .unwrap()
                .record()
                .unwrap()
                .id,
        );
    }
    let list = |f: PaymentFilter| -> Vec<i64> {
        store.list_payments(&f).unwrap().into_iter().map(|r| r.id).collect()
    };
    assert_eq!(list(PaymentFilter { oldest_first: true, ..Default::default() }), ids);
    let first_two = store
        .list_payments(&PaymentFilter { oldest_first: true, limit: Some(2), ..Default::default() })
        .unwrap();
    assert_eq!(
        list(PaymentFilter {
            oldest_first: true,
            cursor: Some(first_two[1].cursor()),
            ..Default::default()
        }),
        ids[2..]
    );
    let (_, h3) = secret(3);
    assert_eq!(list(PaymentFilter { payment_hash: Some(h3), ..Default::default() }), [ids[2]]);
    let (_, unknown) = secret(9);
    assert!(list(PaymentFilter { payment_hash: Some(unknown), ..Default::default() }).is_empty());
}

#[test]
fn record_incoming_is_idempotent_and_settles_the_receive() {
    let (_d, store) = store();
    let (preimage, hash) = secret(1);
    let mut receive = crate::NewReceive::new(hash);
    receive.invoice = Some("lnbcrt1ours".into());
    receive.description = Some("coffee".into());
    receive.preimage = Some(preimage);
    receive.expires_at = Some(4000);
    store.insert_receive(receive, 100).unwrap();

    let mut incoming = NewIncoming::new(PaymentKind::Bolt11, hash, 1500);
    incoming.preimage = Some(preimage);
    incoming.parts = Some(2);
    let first = store.record_incoming(incoming.clone(), 200).unwrap();
    let RecordIncoming::Recorded(rec) = &first else { panic!("{first:?}") };
    assert_eq!(rec.direction, Direction::Incoming);
    assert_eq!(rec.status, PaymentStatus::Complete);
    assert_eq!(rec.amount_msat, 1500);
    assert_eq!(rec.invoice.as_deref(), Some("lnbcrt1ours"));
    assert_eq!(rec.description.as_deref(), Some("coffee"));
    assert_eq!((rec.completed_at, rec.expires_at), (Some(200), Some(4000)));
    let settled = store.receive_by_hash(&hash).unwrap().unwrap();
    assert_eq!(settled.state, crate::ReceiveState::Settled);
    assert_eq!((settled.received_msat, settled.finished_at), (Some(1500), Some(200)));

    // Replay (LDK may replay PaymentClaimed): no second row, nothing changes.
    incoming.amount_msat = 1;
    let replay = store.record_incoming(incoming, 300).unwrap();
    assert_eq!(replay, RecordIncoming::Existing(rec.clone()));
    assert_eq!(count(&store), 1);
    assert_eq!(store.receive_by_hash(&hash).unwrap(), Some(settled));

    // Without a receive (keysend) it is recorded alone; a wrong preimage is refused.
    let (p2, h2) = secret(2);
    let mut keysend = NewIncoming::new(PaymentKind::Keysend, h2, 10);
    keysend.preimage = Some(preimage);
    assert!(matches!(
        store.record_incoming(keysend.clone(), 400).unwrap_err(),
        StoreError::Invalid { .. }
    ));
    keysend.preimage = Some(p2);
    keysend.custom_records = Some("{\"34349334\": \"6869\"}".into());
    assert!(matches!(store.record_incoming(keysend, 400).unwrap(), RecordIncoming::Recorded(_)));
    assert_eq!(count(&store), 2);
}

#[test]
fn schema_refuses_a_second_bolt11_row_for_a_hash() {
    // The last line of defence, under the typed API.
    let (_d, store) = store();
    let (_, hash) = secret(1);
    store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
    let insert = |kind: &str, id: u8| {
        store.read(|c| {
            c.execute(
                "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                 amount_msat, created_at, updated_at) \
                 VALUES ('outgoing', ?1, 'failed', ?2, ?3, 1, 1, 1)",
                params![kind, hash, [id; 32]],
            )
        })
    };
    assert!(insert("bolt11", 2).is_err());
    assert!(insert("bolt12", 3).is_err(), "failed needs a failure code");
    store
        .read(|c| {
            c.execute(
                "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                 amount_msat, created_at, updated_at) \
                 VALUES ('outgoing', 'bolt12', 'pending', ?1, ?2, 1, 1, 1)",
                params![hash, [4u8; 32]],
            )
        })
        .unwrap();
    // A complete outgoing payment without a preimage is refused.
    let err = store.read(|c| {
        c.execute("UPDATE payments SET status = 'complete' WHERE payment_id = ?1", [[4u8; 32]])
    });
    assert!(err.is_err());
}

#[test]
fn records_serialize_with_hex_and_names() {
    let (_d, store) = store();
    let (_, hash) = secret(1);
    store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
    let failed = store
        .fail_outgoing(&[1; 32], FailureCode::RouteNotFound, Some("x"), true, 101)
        .unwrap()
        .unwrap();
    let json = serde_json::to_value(&failed).unwrap();
    assert_eq!(json["direction"], "outgoing");
    assert_eq!(json["kind"], "bolt11");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["payment_hash"], to_hex(&hash));
    assert_eq!(json["payment_id"], "01".repeat(32));
    assert_eq!(json["preimage"], serde_json::Value::Null);
    assert_eq!(json["failure_code"], 205);
    assert_eq!(json["retryable"], true);
}

#[test]
fn records_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (preimage, hash) = secret(1);
    let done = {
        let store = Store::open(dir.path()).unwrap();
        store.begin_outgoing(bolt11(hash, 1, 1000), 100).unwrap();
        store.complete_outgoing(&[1; 32], &preimage, Some(1), None, None, 110).unwrap().unwrap()
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.payment_by_payment_id(&[1; 32]).unwrap(), Some(done.clone()));
    assert_eq!(
        store.begin_outgoing(bolt11(hash, 2, 1000), 120).unwrap(),
        BeginOutgoing::Existing(done)
    );
}

#[test]
fn failure_codes_round_trip() {
    for code in [-1, 201, 203, 205, 206, 207, 210] {
        assert_eq!(FailureCode::from_code(code).unwrap().code() as i64, code);
    }
    assert_eq!(FailureCode::from_code(204), None);
}
