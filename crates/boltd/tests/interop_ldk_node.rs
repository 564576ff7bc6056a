//! Interoperability with an independent implementation: a boltd node X (in-process) and a node L
//! built with the `ldk-node` crate (its own SQLite storage, chain data from the same regtest
//! bitcoind over RPC), talking BOLT 8 over loopback TCP.
//!
//! Topology: X ⇄ L, one announced channel opened by each side (X's through boltd's API, L's
//! through ldk-node), so each side has outbound liquidity.
//!
//! ldk-node runs with its default configuration apart from the network, storage, chain source,
//! listening address and a node alias (ldk-node accepts and opens announced channels only with an
//! alias and a listening address). Both sides negotiate anchor channels
//! (`option_anchors_zero_fee_htlc_tx`, boltd's default and ldk-node's), in both directions.
//! Payments (BOLT11, BOLT12) go both ways, and so do splices (out of X's channel, into L's).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use bitcoin_hashes::{sha256, Hash};
use boltd_harness::node::DEFAULT_TIMEOUT;
use boltd_harness::{free_port, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::offers::offer::Offer;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::payment::{PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::{Builder, Event, Node};
use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(100);
const CHANNEL_SAT: u64 = 1_000_000;

struct Lab {
    // Field order is drop order: both nodes stop before bitcoind does.
    l: Node,
    x: TestNode,
    btc: Bitcoind,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn l_id(&self) -> String {
        self.l.node_id().to_string()
    }

    fn x_id(&self) -> PublicKey {
        PublicKey::from_str(&self.x.node_id).expect("boltd reports a valid node id")
    }

    /// Mines `n` blocks and waits until X (LDK and wallet) and L (its lightning wallet) have
    /// processed them.
    fn mine_and_sync(&self, n: u32) -> Result<u32, HarnessError> {
        self.btc.mine(n)?;
        let h = self.btc.height()?;
        self.x.wait_synced(h)?;
        wait_until(&format!("ldk-node to sync to height {h}"), DEFAULT_TIMEOUT, POLL, || {
            Ok((self.l.status().current_best_block.height >= h).then_some(()))
        })?;
        Ok(h)
    }
}

fn ldk_err(what: &str) -> impl FnOnce(ldk_node::NodeError) -> HarnessError + '_ {
    move |e| HarnessError::Other(format!("ldk-node: {what}: {e:?}"))
}

/// Builds and starts the ldk-node node: regtest, SQLite storage in `dir`, bitcoind RPC as its
/// chain source, listening on loopback.
fn start_ldk_node(btc: &Bitcoind, dir: &Path, port: u16) -> Result<Node, HarnessError> {
    let mut builder = Builder::new();
    builder
        .set_network(Network::Regtest)
        .set_storage_dir_path(dir.to_string_lossy().into_owned())
        .set_chain_source_bitcoind_rpc(
            "127.0.0.1".into(),
            btc.rpc_port(),
            btc.rpc_user().into(),
            btc.rpc_password().into(),
        );
    let listen = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port };
    builder
        .set_listening_addresses(vec![listen])
        .and_then(|b| b.set_node_alias("ldk-node-interop".into()))
        .map_err(|e| HarnessError::Other(format!("ldk-node builder: {e:?}")))?;
    let node =
        builder.build().map_err(|e| HarnessError::Other(format!("ldk-node build: {e:?}")))?;
    node.start().map_err(ldk_err("start"))?;
    Ok(node)
}

/// Takes L's events one by one (acknowledging each) until `pick` returns `Some`; events it does
/// not care about are dropped. `pick` returns `Some(Err(..))` to stop early on a failure.
fn wait_event<T>(
    l: &Node,
    what: &str,
    timeout: Duration,
    mut pick: impl FnMut(&Event) -> Option<Result<T, String>>,
) -> Result<T, HarnessError> {
    let found = wait_until(what, timeout, Duration::from_millis(50), || {
        let Some(event) = l.next_event() else { return Ok(None) };
        l.event_handled().map_err(ldk_err("event_handled"))?;
        Ok(pick(&event))
    })?;
    found.map_err(|e| HarnessError::Other(format!("ldk-node, waiting for {what}: {e}")))
}

/// Both channels (one opened by each side) usable on both sides.
fn wait_channels_usable(lab: &Lab) -> Result<(), HarnessError> {
    let x_id = lab.x_id();
    let l_id = lab.l_id();
    wait_until("both X-L channels to be usable on ldk-node's side", DEFAULT_TIMEOUT, POLL, || {
        let chans: Vec<_> =
            lab.l.list_channels().into_iter().filter(|c| c.counterparty_node_id == x_id).collect();
        Ok((chans.len() == 2 && chans.iter().all(|c| c.is_usable)).then_some(()))
    })?;
    wait_until("both X-L channels to be ready on boltd's side", DEFAULT_TIMEOUT, POLL, || {
        let chans: Vec<Value> =
            lab.x.channels()?.into_iter().filter(|c| c["peer_node_id"] == l_id.as_str()).collect();
        Ok((chans.len() == 2 && chans.iter().all(|c| c["state"] == "ready")).then_some(()))
    })
}

fn lab() -> Result<Lab, HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let x = TestNode::start_in_process("x", &dir.path().join("x"), &chain, free_port()?)?;
    let l_port = free_port()?;
    let l = start_ldk_node(&btc, &dir.path().join("l"), l_port)?;
    let lab = Lab { l, x, btc, _dir: dir };

    // Funds: one coinbase each, matured by 100 more blocks.
    let x_addr = lab.x.new_address()?;
    let l_addr = lab.l.onchain_payment().new_address().map_err(ldk_err("new address"))?;
    lab.btc.mine_to(&x_addr, 1)?;
    lab.btc.fund_address(&l_addr, 1)?;
    lab.mine_and_sync(1)?;
    wait_until("X's wallet to see its funds", DEFAULT_TIMEOUT, POLL, || {
        Ok((lab.x.onchain_confirmed_sat()? > 0).then_some(()))
    })?;
    wait_until("ldk-node's wallet to see its funds", DEFAULT_TIMEOUT, POLL, || {
        lab.l.sync_wallets().map_err(ldk_err("sync_wallets"))?;
        Ok((lab.l.list_balances().spendable_onchain_balance_sats > 0).then_some(()))
    })?;

    // X -> L through boltd's API, L -> X through ldk-node; both funding transactions in the
    // mempool, then 6 blocks (announced channels).
    let open = json!({
        "node_id": lab.l_id(),
        "address": format!("127.0.0.1:{l_port}"),
        "amount_sat": CHANNEL_SAT,
        "public": true,
    });
    lab.x.ok("open channel to ldk-node", lab.x.post("/api/v1/node/channels/open", open))?;
    wait_until("the X->L funding transaction to reach the mempool", DEFAULT_TIMEOUT, POLL, || {
        Ok((!lab.btc.get_raw_mempool()?.is_empty()).then_some(()))
    })?;
    let x_addr = SocketAddress::from_str(&lab.x.p2p_addr.to_string())
        .map_err(|e| HarnessError::Other(format!("X's p2p address: {e:?}")))?;
    lab.l
        .open_announced_channel(lab.x_id(), x_addr, CHANNEL_SAT, None, None)
        .map_err(ldk_err("open channel to X"))?;
    wait_until("the L->X funding transaction to reach the mempool", DEFAULT_TIMEOUT, POLL, || {
        Ok((lab.btc.get_raw_mempool()?.len() >= 2).then_some(()))
    })?;
    lab.mine_and_sync(6)?;
    wait_channels_usable(&lab)?;

    // Both channels are anchor channels (boltd's default and ldk-node's), whoever opened them.
    let engine = lab.x.engine().expect("X runs in-process");
    for c in engine.node().channel_manager().list_channels() {
        let t = c.channel_type.expect("a funded channel has a type");
        assert!(
            t.supports_static_remote_key() && t.supports_anchors_zero_fee_htlc_tx(),
            "channel {} ({}bound) has type {t}",
            c.channel_id,
            if c.is_outbound { "out" } else { "in" }
        );
    }
    Ok(lab)
}

/// Waits for L's `PaymentSuccessful` for `id` (stopping early on `PaymentFailed`); returns the
/// payment hash and preimage.
fn wait_sent(
    l: &Node,
    id: ldk_node::lightning::ln::channelmanager::PaymentId,
    what: &str,
) -> Result<([u8; 32], [u8; 32]), HarnessError> {
    wait_event(l, &format!("ldk-node's PaymentSuccessful for {what}"), DEFAULT_TIMEOUT, |e| match e
    {
        Event::PaymentSuccessful { payment_id, payment_hash, payment_preimage, .. }
            if *payment_id == Some(id) =>
        {
            Some(payment_preimage.map(|p| (payment_hash.0, p.0)).ok_or("no preimage".into()))
        }
        Event::PaymentFailed { payment_id, reason, .. } if *payment_id == Some(id) => {
            Some(Err(format!("payment failed: {reason:?}")))
        }
        _ => None,
    })
}

/// Waits for L's `PaymentReceived` with `hash`; returns its payment id and amount.
fn wait_received(
    l: &Node,
    hash: &str,
    what: &str,
) -> Result<(ldk_node::lightning::ln::channelmanager::PaymentId, u64), HarnessError> {
    wait_event(l, &format!("ldk-node's PaymentReceived for {what}"), DEFAULT_TIMEOUT, |e| match e {
        Event::PaymentReceived { payment_id, payment_hash, amount_msat, .. }
            if hex::encode(payment_hash.0) == hash =>
        {
            Some(payment_id.ok_or("no payment id".into()).map(|id| (id, *amount_msat)))
        }
        _ => None,
    })
}

/// Checks a completed boltd payment's proof: sha256(preimage) is the payment hash.
fn assert_proof(paid: &Value, preimage_field: &str) {
    assert_eq!(paid["status"], "complete", "{paid}");
    let preimage = hex::decode(paid[preimage_field].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
        paid["payment_hash"].as_str().unwrap(),
        "{paid}"
    );
}

/// Waits for X to record the incoming payment with `hash` and returns the record.
fn x_incoming(x: &TestNode, hash: &str) -> Result<Value, HarnessError> {
    wait_until(
        &format!("X to record the incoming payment {hash} as complete"),
        DEFAULT_TIMEOUT,
        POLL,
        || {
            let list = x.ok("history", x.get("/api/v1/payments?direction=incoming"))?;
            Ok(list
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["payment_hash"] == hash && p["status"] == "complete")
                .cloned())
        },
    )
}

/// Checks L's record of an inbound BOLT12 payment: succeeded, for `offer`, with `note`.
fn assert_l_offer_receive(
    l: &Node,
    id: ldk_node::lightning::ln::channelmanager::PaymentId,
    offer: &Offer,
    note: Option<&str>,
) {
    let details = l.payment(&id).expect("ldk-node keeps the payment");
    assert_eq!(details.direction, PaymentDirection::Inbound, "{details:?}");
    assert_eq!(details.status, PaymentStatus::Succeeded, "{details:?}");
    match &details.kind {
        PaymentKind::Bolt12Offer { offer_id, payer_note, .. } => {
            assert_eq!(*offer_id, offer.id(), "{details:?}");
            assert_eq!(payer_note.as_ref().map(|n| n.0.as_str()), note, "{details:?}");
        }
        other => panic!("ldk-node recorded {other:?}, not a BOLT12 offer payment"),
    }
}

fn receive_state(x: &TestNode, hash: &str) -> Result<String, HarnessError> {
    let r = x.ok("receive record", x.get(&format!("/api/v1/lightning/receives/{hash}")))?;
    Ok(r["state"].as_str().unwrap_or_default().to_string())
}

#[test]
fn bolt11_both_ways_with_ldk_node() -> Result<(), HarnessError> {
    let lab = lab()?;

    // L pays a boltd invoice.
    let inv = lab.x.ok(
        "create invoice",
        lab.x.post(
            "/api/v1/lightning/receives/invoice",
            json!({ "amount_sat": 20_000, "description": "from ldk-node" }),
        ),
    )?;
    let bolt11 = inv["invoice"].as_str().unwrap();
    let hash = inv["payment_hash"].as_str().unwrap().to_string();
    let invoice = Bolt11Invoice::from_str(bolt11)
        .map_err(|e| HarnessError::Other(format!("ldk-node cannot parse boltd's invoice: {e}")))?;
    let id = lab.l.bolt11_payment().send(&invoice, None).map_err(ldk_err("pay boltd's invoice"))?;
    let (paid_hash, preimage) = wait_sent(&lab.l, id, "boltd's invoice")?;
    assert_eq!(hex::encode(paid_hash), hash);
    assert_eq!(sha256::Hash::hash(&preimage).to_byte_array(), paid_hash);
    wait_until("X's receive record to be settled", DEFAULT_TIMEOUT, POLL, || {
        Ok((receive_state(&lab.x, &hash)? == "settled").then_some(()))
    })?;
    let rec = lab.x.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
    assert_eq!(rec["received_msat"], 20_000_000, "{rec}");
    assert_eq!(rec["preimage"], hex::encode(preimage), "{rec}");

    // boltd pays an ldk-node invoice through Core Lightning's `pay`.
    let description = Description::new("from boltd".into()).unwrap();
    let l_invoice = lab
        .l
        .bolt11_payment()
        .receive(30_000_000, &Bolt11InvoiceDescription::Direct(description), 3600)
        .map_err(ldk_err("create invoice"))?;
    let l_hash = hex::encode(l_invoice.payment_hash().to_byte_array());
    let paid = lab.x.ok(
        "pay ldk-node's invoice",
        lab.x.post("/v1/pay", json!({ "bolt11": l_invoice.to_string() })),
    )?;
    assert_proof(&paid, "payment_preimage");
    assert_eq!(paid["payment_hash"], l_hash.as_str(), "{paid}");
    assert_eq!(paid["amount_msat"], 30_000_000, "{paid}");
    assert_eq!(paid["destination"], lab.l_id().as_str(), "{paid}");
    let (_, received) = wait_received(&lab.l, &l_hash, "its invoice")?;
    assert_eq!(received, 30_000_000);
    Ok(())
}

#[test]
fn offers_both_ways_with_ldk_node() -> Result<(), HarnessError> {
    let lab = lab()?;

    // L pays boltd's fixed-amount offer with a payer note (invoice request and invoice over
    // onion messages between the two implementations, then the payment).
    let offer = lab.x.ok(
        "create offer",
        lab.x.post(
            "/api/v1/lightning/offers",
            json!({ "amount_sat": 15_000, "description": "boltd's offer" }),
        ),
    )?;
    let x_offer = Offer::from_str(offer["offer"].as_str().unwrap())
        .map_err(|e| HarnessError::Other(format!("ldk-node cannot parse boltd's offer: {e:?}")))?;
    assert_eq!(x_offer.id().0.to_vec(), hex::decode(offer["offer_id"].as_str().unwrap()).unwrap());
    let id = lab
        .l
        .bolt12_payment()
        .send(&x_offer, None, Some("from ldk-node".into()), None)
        .map_err(ldk_err("pay boltd's offer"))?;
    let (hash, preimage) = wait_sent(&lab.l, id, "boltd's offer")?;
    assert_eq!(sha256::Hash::hash(&preimage).to_byte_array(), hash);
    let got = x_incoming(&lab.x, &hex::encode(hash))?;
    assert_eq!(got["kind"], "bolt12", "{got}");
    assert_eq!(got["amount_msat"], 15_000_000, "{got}");
    assert_eq!(got["description"], "from ldk-node", "{got}");
    assert_eq!(got["preimage"], hex::encode(preimage), "{got}");

    // L pays boltd's any-amount offer with an amount of its choosing.
    let any = lab.x.ok(
        "create any-amount offer",
        lab.x.post("/api/v1/lightning/offers", json!({ "description": "tips" })),
    )?;
    let x_any = Offer::from_str(any["offer"].as_str().unwrap())
        .map_err(|e| HarnessError::Other(format!("ldk-node cannot parse boltd's offer: {e:?}")))?;
    let id = lab
        .l
        .bolt12_payment()
        .send_using_amount(&x_any, 4_321_000, None, None, None)
        .map_err(ldk_err("pay boltd's any-amount offer"))?;
    let (hash, _) = wait_sent(&lab.l, id, "boltd's any-amount offer")?;
    let got = x_incoming(&lab.x, &hex::encode(hash))?;
    assert_eq!(
        (got["kind"].as_str(), got["amount_msat"].as_u64()),
        (Some("bolt12"), Some(4_321_000))
    );

    // boltd pays L's fixed-amount offer with a payer note.
    let l_offer = lab
        .l
        .bolt12_payment()
        .receive(25_000_000, "ldk-node's offer", None, None)
        .map_err(ldk_err("create offer"))?;
    let paid = lab.x.ok(
        "pay ldk-node's offer",
        lab.x.post(
            "/api/v1/lightning/offers/pay",
            json!({ "offer": l_offer.to_string(), "payer_note": "from boltd" }),
        ),
    )?;
    assert_proof(&paid, "preimage");
    assert_eq!(paid["amount_sat"], 25_000, "{paid}");
    let hash = paid["payment_hash"].as_str().unwrap();
    let (id, amount) = wait_received(&lab.l, hash, "its offer")?;
    assert_eq!(amount, 25_000_000);
    assert_l_offer_receive(&lab.l, id, &l_offer, Some("from boltd"));

    // boltd pays L's any-amount offer, choosing the amount.
    let l_any = lab
        .l
        .bolt12_payment()
        .receive_variable_amount("ldk-node's tips", None)
        .map_err(ldk_err("create any-amount offer"))?;
    let paid = lab.x.ok(
        "pay ldk-node's any-amount offer",
        lab.x.post(
            "/api/v1/lightning/offers/pay",
            json!({ "offer": l_any.to_string(), "amount_msat": 7_654_000 }),
        ),
    )?;
    assert_proof(&paid, "preimage");
    assert_eq!(paid["amount_sat"], 7_654, "{paid}");
    let (id, amount) = wait_received(&lab.l, paid["payment_hash"].as_str().unwrap(), "its tips")?;
    assert_eq!(amount, 7_654_000);
    assert_l_offer_receive(&lab.l, id, &l_any, None);
    Ok(())
}

/// Splicing with ldk-node: X (boltd) takes 100,000 sat out of its channel to L (ldk-node
/// accepts the splice), and L adds 100,000 sat to its channel to X (boltd accepts it); both
/// channels pay afterwards.
#[test]
fn splicing_both_ways_with_ldk_node() -> Result<(), HarnessError> {
    let lab = lab()?;
    let l_id = lab.l_id();
    let x_channels = lab.x.channels()?;
    let ours = x_channels
        .iter()
        .find(|c| c["peer_node_id"] == l_id.as_str() && c["outbound"] == true)
        .expect("X's channel to L");
    let ours_id = ours["channel_id"].as_str().unwrap().to_string();
    let theirs_id = x_channels
        .iter()
        .find(|c| c["peer_node_id"] == l_id.as_str() && c["outbound"] == false)
        .expect("L's channel to X")["channel_id"]
        .as_str()
        .unwrap()
        .to_string();

    lab.x.ok(
        "splice-out",
        lab.x.post(
            "/api/v1/node/channels/splice-out",
            json!({ "channel_id": ours_id, "amount_sat": 100_000 }),
        ),
    )?;
    wait_until("X's splice in the mempool", DEFAULT_TIMEOUT, POLL, || {
        Ok((!lab.btc.get_raw_mempool()?.is_empty()).then_some(()))
    })?;
    let l_channel = lab
        .l
        .list_channels()
        .into_iter()
        .find(|c| c.is_outbound && c.counterparty_node_id == lab.x_id())
        .expect("L's channel to X");
    lab.l
        .splice_in(&l_channel.user_channel_id, lab.x_id(), 100_000)
        .map_err(ldk_err("splice_in"))?;
    wait_until("L's splice in the mempool", DEFAULT_TIMEOUT, POLL, || {
        Ok((lab.btc.get_raw_mempool()?.len() >= 2).then_some(()))
    })?;
    lab.mine_and_sync(6)?;
    let capacity = |id: &str| -> Result<u64, HarnessError> {
        let c = lab.x.channels()?.into_iter().find(|c| c["channel_id"] == id);
        Ok(c.and_then(|c| c["capacity_sat"].as_u64()).unwrap_or(0))
    };
    let (out, inn) = wait_until("both splices to lock at X", DEFAULT_TIMEOUT, POLL, || {
        let (out, inn) = (capacity(&ours_id)?, capacity(&theirs_id)?);
        Ok((out < CHANNEL_SAT && inn > CHANNEL_SAT).then_some((out, inn)))
    })?;
    assert!((CHANNEL_SAT - 101_000..CHANNEL_SAT - 100_000).contains(&out), "spliced out: {out}");
    assert_eq!(inn, CHANNEL_SAT + 100_000, "spliced in by ldk-node");
    wait_channels_usable(&lab)?;
    // Both channels still pay: X to L, then L to X.
    let desc = Bolt11InvoiceDescription::Direct(Description::new("after".into()).unwrap());
    let inv =
        lab.l.bolt11_payment().receive(50_000_000, &desc, 3600).map_err(ldk_err("receive"))?;
    assert_eq!(lab.x.pay(&inv.to_string())?["status"], "complete");
    let (x_inv, _) = lab.x.invoice(40_000, "after the splices")?;
    let x_inv = Bolt11Invoice::from_str(&x_inv).unwrap();
    let id = lab.l.bolt11_payment().send(&x_inv, None).map_err(ldk_err("send"))?;
    wait_sent(&lab.l, id, "the payment after the splices")?;
    Ok(())
}
