//! The outgoing payment's driver against a fake node and a real store.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use boltd_store::{
    FailureCode, NewOutgoing, PaymentKind, PaymentRecord, PaymentStage, PaymentStatus, Store,
};
use lightning::events::PaymentFailureReason;
use lightning::ln::channelmanager::{PaymentId, RecipientOnionFields};
use lightning::routing::router::{PaymentParameters, RouteParameters};

use super::*;
use crate::payment::lightning::{KeysendPlan, SendableChannel};

#[derive(Default)]
struct FakeState {
    sendable_msat: u64,
    offline_msat: u64,
    refuse: Option<Unsent>,
    sends: Vec<PaymentId>,
    forgotten: Vec<PaymentId>,
    known: HashSet<PaymentId>,
}

/// A node whose channels and answers the test sets.
#[derive(Default)]
struct Fake(Mutex<FakeState>);

impl Fake {
    fn set(&self, f: impl FnOnce(&mut FakeState)) {
        f(&mut self.0.lock().unwrap())
    }
    fn sends(&self) -> Vec<PaymentId> {
        self.0.lock().unwrap().sends.clone()
    }
}

impl Lightning for Fake {
    fn sendable_channels(&self) -> Vec<SendableChannel> {
        let s = self.0.lock().unwrap();
        vec![SendableChannel {
            outbound_capacity_msat: s.sendable_msat,
            next_outbound_htlc_limit_msat: s.sendable_msat,
            in_flight_htlcs: 0,
            in_flight_msat: 0,
        }]
    }
    fn offline_outbound_msat(&self) -> u64 {
        self.0.lock().unwrap().offline_msat
    }
    fn preflight(&self, plan: &SendPlan) -> Result<(), Unsent> {
        let sendable = self.0.lock().unwrap().sendable_msat;
        if sendable >= plan.amount_msat() {
            return Ok(());
        }
        let error = PayError::InsufficientBalance {
            needed_msat: plan.amount_msat(),
            available_msat: sendable,
        };
        Err(Unsent::new(FailureCode::RouteNotFound, error).until_peer())
    }
    fn send(&self, id: PaymentId, _: &SendPlan, _: Duration) -> Result<(), Unsent> {
        let mut s = self.0.lock().unwrap();
        if let Some(refusal) = s.refuse.clone() {
            return Err(refusal);
        }
        s.sends.push(id);
        s.known.insert(id);
        Ok(())
    }
    fn forget(&self, id: PaymentId) {
        self.0.lock().unwrap().forgotten.push(id);
    }
    fn attempted_parts(&self, _: PaymentId) -> u32 {
        0
    }
    fn known_sends(&self) -> HashSet<PaymentId> {
        self.0.lock().unwrap().known.clone()
    }
}

struct Lab {
    _dir: tempfile::TempDir,
    fake: Arc<Fake>,
    payments: Payments,
}

fn lab(sendable_msat: u64) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let fake = Arc::new(Fake::default());
    fake.set(|s| s.sendable_msat = sendable_msat);
    let lightning: Arc<dyn Lightning> = fake.clone();
    let payments = Payments::new(store, lightning, Arc::new(Registry::default()));
    Lab { _dir: dir, fake, payments }
}

fn payee() -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[7; 32]).unwrap())
}

/// A keysend of `amount_msat` with a retry window of `retry_for`.
fn keysend(n: u8, amount_msat: u64, retry_for: Duration) -> (NewOutgoing, SendPlan) {
    let preimage = [n; 32];
    let hash = boltd_store_hash(&preimage);
    let intent = NewOutgoing::new(PaymentKind::Keysend, Some(hash), rand::random(), amount_msat);
    let pp = PaymentParameters::for_keysend(payee(), 40, true);
    let plan = KeysendPlan {
        preimage,
        onion: RecipientOnionFields::spontaneous_empty(),
        route_params: RouteParameters::from_payment_params_and_value(pp, amount_msat),
        amount_msat,
        retry_for,
    };
    (intent, SendPlan::Keysend(Box::new(plan)))
}

fn boltd_store_hash(preimage: &[u8; 32]) -> [u8; 32] {
    use bitcoin::hashes::{sha256, Hash};
    sha256::Hash::hash(preimage).to_byte_array()
}

fn record(l: &Lab, id: i64) -> PaymentRecord {
    l.payments.store.payment_by_id(id).unwrap().unwrap()
}

/// Waits (up to 10 s) until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_refused_send_is_failed_durably_and_the_caller_hears_why() {
    let l = lab(1_000_000);
    let refusal = Unsent::new(
        FailureCode::Other,
        PayError::InvalidParams("the custom records do not fit".into()),
    );
    l.fake.set(|s| s.refuse = Some(refusal));
    let (intent, plan) = keysend(1, 10_000, Duration::from_secs(30));
    let send = intent.payment_id;
    let Begun::Sending { record: r, unsent } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!("a new payment")
    };
    let error = unsent.await.expect("the driver answers a failure before anything left");
    assert!(matches!(error, PayError::InvalidParams(_)), "{error:?}");
    let failed = record(&l, r.id);
    assert_eq!((failed.status, failed.stage), (PaymentStatus::Failed, None));
    assert_eq!(failed.failure_code, Some(FailureCode::Other));
    assert_eq!(l.fake.0.lock().unwrap().forgotten, vec![PaymentId(send)]);
    until("the driver to let go", || l.payments.registry.sizes() == (0, 0)).await;
}

#[tokio::test]
async fn a_payment_waits_for_a_channel_peer_and_goes_once_it_is_back() {
    let l = lab(0);
    l.fake.set(|s| s.offline_msat = 50_000);
    let (intent, plan) = keysend(2, 10_000, Duration::from_secs(30));
    let r = l.payments.begin(intent, plan).await.unwrap();
    let Begun::Sending { record: r, .. } = r else { panic!() };
    until("the payment to say it waits for a peer", || {
        record(&l, r.id).stage == Some(PaymentStage::WaitingForPeer)
    })
    .await;
    assert!(l.fake.sends().is_empty(), "nothing sent while the peer is away");
    l.fake.set(|s| (s.sendable_msat, s.offline_msat) = (50_000, 0));
    until("the payment to be sent", || l.fake.sends().len() == 1).await;
    until("the record to say in flight", || record(&l, r.id).stage == Some(PaymentStage::InFlight))
        .await;
    assert_eq!(record(&l, r.id).status, PaymentStatus::Pending);
}

#[tokio::test]
async fn without_a_peer_to_wait_for_a_short_balance_fails_at_once() {
    let l = lab(1_000);
    let (intent, plan) = keysend(3, 10_000, Duration::from_secs(30));
    let Begun::Sending { record: r, unsent } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    let error = unsent.await.unwrap();
    assert!(matches!(error, PayError::InsufficientBalance { .. }), "{error:?}");
    assert_eq!(record(&l, r.id).status, PaymentStatus::Failed);
}

#[tokio::test]
async fn a_peer_that_stays_away_past_the_window_fails_the_payment() {
    let l = lab(0);
    l.fake.set(|s| s.offline_msat = 50_000);
    let (intent, plan) = keysend(4, 10_000, Duration::from_millis(600));
    let Begun::Sending { record: r, unsent } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    let error = unsent.await.unwrap();
    assert!(matches!(error, PayError::InsufficientBalance { .. }), "{error:?}");
    let failed = record(&l, r.id);
    assert_eq!(
        (failed.status, failed.failure_code),
        (PaymentStatus::Failed, Some(FailureCode::RouteNotFound))
    );
    assert!(l.fake.sends().is_empty());
}

#[tokio::test]
async fn a_caller_that_goes_away_does_not_stop_the_payment() {
    let l = lab(1_000_000);
    let (intent, plan) = keysend(5, 10_000, Duration::from_secs(30));
    let send = intent.payment_id;
    // The caller gives up after its first poll, which started the payment: before the intent
    // is durable (a timeout of zero polls the future once, then drops it).
    let gone = tokio::time::timeout(Duration::ZERO, l.payments.begin(intent, plan)).await;
    assert!(gone.is_err(), "the caller did not wait for the intent");
    until("the payment to reach the node anyway", || l.fake.sends() == vec![PaymentId(send)]).await;
    let rec = l.payments.store.payment_by_payment_id(&send).unwrap().unwrap();
    assert_eq!(rec.status, PaymentStatus::Pending);
}

#[tokio::test]
async fn ldk_giving_up_while_a_peer_is_away_sends_again_under_a_new_id() {
    let l = lab(1_000_000);
    let (intent, plan) = keysend(6, 10_000, Duration::from_secs(30));
    let first = intent.payment_id;
    let Begun::Sending { record: r, .. } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    until("the first send", || l.fake.sends().len() == 1).await;
    // The first hop's peer goes away and LDK gives up on the send.
    l.fake.set(|s| (s.sendable_msat, s.offline_msat) = (0, 1_000_000));
    let reason = HandedOver { reason: Some(PaymentFailureReason::RouteNotFound) };
    assert!(l.payments.registry.hand_over(&first, reason), "the driver takes it");
    until("the payment to wait for the peer", || {
        record(&l, r.id).stage == Some(PaymentStage::WaitingForPeer)
    })
    .await;
    l.fake.set(|s| (s.sendable_msat, s.offline_msat) = (1_000_000, 0));
    until("a second send", || l.fake.sends().len() == 2).await;
    let sends = l.fake.sends();
    assert_ne!(sends[0], sends[1]);
    let now = record(&l, r.id);
    assert_eq!((now.status, now.attempts), (PaymentStatus::Pending, 2));
    assert_eq!(now.payment_id, Some(sends[1].0));
    assert_eq!(l.payments.store.payment_sends(r.id).unwrap(), vec![sends[0].0, sends[1].0]);
    // The old send's failure is the driver's no more: the registry moved to the new one.
    assert!(!l.payments.registry.is_driven(&first));
    assert!(l.payments.registry.is_driven(&sends[1].0));
}

#[tokio::test]
async fn no_route_further_on_is_tried_again_after_a_pause_within_the_window() {
    let l = lab(1_000_000);
    let (intent, plan) = keysend(7, 10_000, Duration::from_secs(30));
    let first = intent.payment_id;
    let Begun::Sending { record: r, .. } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    until("the send", || l.fake.sends().len() == 1).await;
    // No peer of ours is away: a hop further on failed and LDK found no other route.
    let reason = HandedOver { reason: Some(PaymentFailureReason::RouteNotFound) };
    assert!(l.payments.registry.hand_over(&first, reason));
    until("a second send after the pause", || l.fake.sends().len() == 2).await;
    assert_eq!(record(&l, r.id).status, PaymentStatus::Pending);
}

#[tokio::test]
async fn a_failure_that_no_new_send_can_mend_is_recorded() {
    let l = lab(1_000_000);
    let (intent, plan) = keysend(9, 10_000, Duration::from_secs(30));
    let first = intent.payment_id;
    let Begun::Sending { record: r, .. } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    until("the send", || l.fake.sends().len() == 1).await;
    let reason = HandedOver { reason: Some(PaymentFailureReason::RecipientRejected) };
    assert!(l.payments.registry.hand_over(&first, reason));
    until("the failure", || record(&l, r.id).status == PaymentStatus::Failed).await;
    let failed = record(&l, r.id);
    assert_eq!(failed.failure_code, Some(FailureCode::DestinationPermanentFailure));
    assert_eq!(l.fake.sends().len(), 1, "no second send");
    until("the driver to let go", || l.payments.registry.sizes() == (0, 0)).await;
}

#[tokio::test]
async fn no_route_at_the_end_of_the_window_is_recorded() {
    let l = lab(1_000_000);
    let (intent, plan) = keysend(10, 10_000, Duration::from_millis(300));
    let first = intent.payment_id;
    let Begun::Sending { record: r, .. } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    until("the send", || l.fake.sends().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The window closed: the driver let go, so the ledger records LDK's failure itself.
    let reason = HandedOver { reason: Some(PaymentFailureReason::RouteNotFound) };
    assert!(!l.payments.registry.hand_over(&first, reason), "nobody to hand it to");
    assert_eq!(record(&l, r.id).status, PaymentStatus::Pending);
    assert_eq!(l.fake.sends().len(), 1);
}

#[tokio::test]
async fn waiters_wake_on_the_final_transition_and_leave_nothing_behind() {
    let l = lab(1_000_000);
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let store = Arc::clone(&l.payments.store);
    store.on_events(move |seq| {
        let _ = tx.send(seq);
    });
    tokio::spawn(Arc::clone(&l.payments.registry).run(Arc::clone(&store), rx, stop));
    let (intent, plan) = keysend(8, 10_000, Duration::from_secs(30));
    let send = intent.payment_id;
    let Begun::Sending { record: r, .. } = l.payments.begin(intent, plan).await.unwrap() else {
        panic!()
    };
    until("the send", || l.fake.sends().len() == 1).await;
    let registry = Arc::clone(&l.payments.registry);
    let s = Arc::clone(&store);
    let waiter = tokio::spawn(async move {
        registry.wait_final(&s, r.id, Duration::from_secs(20)).await.unwrap().unwrap()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // LDK reports success (what the ledger records).
    let preimage = [8; 32];
    store.complete_outgoing(&send, &preimage, Some(3), Some(10_003), Some(1), 1).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert_eq!((done.status, done.stage), (PaymentStatus::Complete, None));
    until("nothing left in memory", || l.payments.registry.sizes() == (0, 0)).await;
}

#[tokio::test]
async fn reconciliation_fails_what_no_driver_owns_and_the_node_does_not_know_twice_in_a_row() {
    let l = lab(1_000_000);
    let store = &l.payments.store;
    let begin = |n: u8| {
        let i = NewOutgoing::new(PaymentKind::Bolt11, Some([n; 32]), [n; 32], 1_000);
        store.begin_outgoing(i, 1).unwrap().record().unwrap().clone()
    };
    let lost = begin(1); // recorded, never sent (a crash in between)
    let flying = begin(2); // the node has it
    let abandoned = begin(3); // the node gave up, but may still have HTLCs out
    let driven = begin(4); // a driver is taking it to the node right now
    let handed = begin(5); // the node forgot it; its failure went to a driver now gone
    store
        .note_send_failure(&[5; 32], FailureCode::RouteNotFound, "no route to the destination")
        .unwrap();
    l.fake.set(|s| {
        s.known.insert(PaymentId([2; 32]));
        s.known.insert(PaymentId([3; 32]));
    });
    let _driving = l.payments.registry.drive([4; 32]);
    // A failure noted on the send settles it at once; of a send the node does not know, the
    // first pass only takes note: the node may have just queued the failure event.
    assert_eq!(l.payments.reconcile().await.unwrap(), 1);
    assert_eq!(record(&l, lost.id).status, PaymentStatus::Pending);
    assert_eq!(l.payments.reconcile().await.unwrap(), 1);
    let status = |r: &PaymentRecord| record(&l, r.id).status;
    assert_eq!(status(&lost), PaymentStatus::Failed);
    assert_eq!(status(&handed), PaymentStatus::Failed);
    assert_eq!(status(&flying), PaymentStatus::Pending);
    assert_eq!(status(&abandoned), PaymentStatus::Pending, "its HTLCs may still be out");
    assert_eq!(status(&driven), PaymentStatus::Pending);
    assert!(record(&l, lost.id).failure_reason.unwrap().contains("never reached the node"));
    let h = record(&l, handed.id);
    assert_eq!(h.failure_code, Some(FailureCode::RouteNotFound));
    assert_eq!(h.failure_reason.as_deref(), Some("no route to the destination"));
}

/// A keysend intent recorded at `attempted_at` with its send plan, as the engine records it.
fn resumable(l: &Lab, n: u8, retry_for: Duration, attempted_at: u64) -> PaymentRecord {
    let (mut intent, plan) = keysend(n, 10_000, retry_for);
    intent.destination = Some(payee().to_string());
    intent.send_plan = super::resume::stored(&plan);
    assert!(intent.send_plan.is_some());
    l.payments.store.begin_outgoing(intent, attempted_at).unwrap().record().unwrap().clone()
}

fn now() -> u64 {
    crate::ledger::now_secs()
}

#[tokio::test]
async fn an_interrupted_payment_is_resumed_under_a_new_send_within_its_window() {
    let l = lab(1_000_000);
    // Recorded before a crash, never handed to the node.
    let r = resumable(&l, 20, Duration::from_secs(60), now());
    let first = r.payment_id.unwrap();
    assert_eq!(l.payments.reconcile().await.unwrap(), 0, "first pass: only noted");
    assert!(l.fake.sends().is_empty());
    assert_eq!(l.payments.reconcile().await.unwrap(), 0, "resumed, not failed");
    until("the resumed send", || l.fake.sends().len() == 1).await;
    let sent = l.fake.sends()[0];
    assert_ne!(sent.0, first, "never under an id the node may know");
    let now_rec = record(&l, r.id);
    assert_eq!(now_rec.status, PaymentStatus::Pending);
    assert_eq!(now_rec.payment_id, Some(sent.0));
    assert_eq!(now_rec.attempts, 2);
    assert_eq!(l.payments.store.payment_sends(r.id).unwrap(), vec![first, sent.0]);
    // The keysend keeps its preimage: the node completes it under the same hash.
    l.payments
        .store
        .complete_outgoing(&sent.0, &[20; 32], Some(1), Some(10_001), Some(1), 2)
        .unwrap();
    // What the registry's event reader does when the ledger's transition is committed.
    l.payments.registry.wake(r.id);
    until("the driver to let go", || l.payments.registry.sizes() == (0, 0)).await;
    assert_eq!(record(&l, r.id).status, PaymentStatus::Complete);
}

#[tokio::test]
async fn a_send_the_node_gave_up_on_is_resumed_at_once_even_while_the_node_still_lists_it() {
    let l = lab(1_000_000);
    let r = resumable(&l, 21, Duration::from_secs(60), now());
    let first = r.payment_id.unwrap();
    // LDK abandoned it as it reloaded (no HTLC left) and keeps listing it for a while.
    l.payments
        .store
        .note_send_failure(&first, FailureCode::StoppedRetrying, "retry_for elapsed")
        .unwrap();
    l.fake.set(|s| {
        s.known.insert(PaymentId(first));
    });
    assert_eq!(l.payments.reconcile().await.unwrap(), 0);
    until("the resumed send", || l.fake.sends().len() == 1).await;
    assert_ne!(l.fake.sends()[0].0, first);
}

#[tokio::test]
async fn a_send_the_node_still_lists_without_a_failure_is_left_alone() {
    let l = lab(1_000_000);
    let r = resumable(&l, 22, Duration::from_secs(60), now());
    l.fake.set(|s| {
        s.known.insert(PaymentId(r.payment_id.unwrap()));
    });
    for _ in 0..3 {
        assert_eq!(l.payments.reconcile().await.unwrap(), 0);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(l.fake.sends().is_empty(), "its HTLCs may be out: never sent twice");
    assert_eq!(record(&l, r.id).attempts, 1);
}

#[tokio::test]
async fn an_interrupted_payment_whose_window_is_over_fails() {
    let l = lab(1_000_000);
    let noted = resumable(&l, 23, Duration::from_secs(60), now() - 120);
    let silent = resumable(&l, 24, Duration::from_secs(60), now() - 120);
    let plain = {
        // No plan (a BOLT12 payment, or recorded before plans were stored).
        let (intent, _) = keysend(25, 10_000, Duration::from_secs(60));
        l.payments.store.begin_outgoing(intent, now()).unwrap().record().unwrap().clone()
    };
    l.payments
        .store
        .note_send_failure(&noted.payment_id.unwrap(), FailureCode::RouteNotFound, "no route")
        .unwrap();
    assert_eq!(l.payments.reconcile().await.unwrap(), 1);
    assert_eq!(l.payments.reconcile().await.unwrap(), 2);
    assert!(l.fake.sends().is_empty());
    let n = record(&l, noted.id);
    assert_eq!(
        (n.status, n.failure_code),
        (PaymentStatus::Failed, Some(FailureCode::RouteNotFound))
    );
    let s = record(&l, silent.id);
    assert_eq!(
        (s.status, s.failure_code),
        (PaymentStatus::Failed, Some(FailureCode::StoppedRetrying))
    );
    let p = record(&l, plain.id);
    assert!(p.failure_reason.unwrap().contains("never reached the node"));
}
