//! LSPS2 interoperability: a node built with the `ldk-node` crate (0.7.1) receives through a
//! boltd LSP. P (boltd, a payer with a channel to the LSP), L (boltd, `lsps2_service`) and K
//! (ldk-node, no channel and no coins, `set_liquidity_source_lsps2(L)`): K's
//! `receive_via_jit_channel` invoice for 100,000 sat, bought from L, is paid by P; L opens a
//! channel to K just in time and forwards the payment minus its 2,000 sat fee, which ldk-node
//! checks against its own limit and records as the skimmed fee.
//!
//! And the other way round: a boltd node C receives through an ldk-node LSP K2
//! (`set_liquidity_provider_lsps2`): C's invoice (automatically through K2: C has no channel)
//! shows K2's fee, P pays it, K2 opens the channel, C records the fee K2 took.

use std::str::FromStr;
use std::time::Duration;

use boltd_harness::node::DEFAULT_TIMEOUT;
use boltd_harness::{
    free_port, fund, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError, TestNode,
};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description};
use ldk_node::liquidity::LSPS2ServiceConfig;
use ldk_node::payment::{PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::{Builder, Event};
use serde_json::json;

const POLL: Duration = Duration::from_millis(100);

#[test]
fn ldk_node_receives_through_a_boltd_lsp() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let p = TestNode::start_in_process("payer", &dir.path().join("p"), &chain, free_port()?)?;
    let l =
        TestNode::start_in_process_with("lsp", &dir.path().join("l"), &chain, free_port()?, |c| {
            c.lsps2_service = Some(true);
        })?;

    let mut builder = Builder::new();
    builder
        .set_network(Network::Regtest)
        .set_storage_dir_path(dir.path().join("k").to_string_lossy().into_owned())
        .set_chain_source_bitcoind_rpc(
            "127.0.0.1".into(),
            btc.rpc_port(),
            btc.rpc_user().into(),
            btc.rpc_password().into(),
        );
    let lsp_id = PublicKey::from_str(&l.node_id).unwrap();
    let lsp_addr = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: l.p2p_addr.port() };
    builder.set_liquidity_source_lsps2(lsp_id, lsp_addr, None);
    let k = builder.build().map_err(|e| HarnessError::Other(format!("ldk-node build: {e:?}")))?;
    k.start().map_err(|e| HarnessError::Other(format!("ldk-node start: {e:?}")))?;

    btc.mine(101)?;
    fund(&btc, &p, &[&l])?;
    fund(&btc, &l, &[&p])?;
    open_channel(&btc, &p, &l, 1_000_000, 0, &[&p, &l])?;
    let h = btc.height()?;
    wait_until("ldk-node to sync", DEFAULT_TIMEOUT, POLL, || {
        Ok((k.status().current_best_block.height >= h).then_some(()))
    })?;
    assert!(k.list_channels().is_empty());

    let desc = Bolt11InvoiceDescription::Direct(Description::new("jit".into()).unwrap());
    let invoice = k
        .bolt11_payment()
        .receive_via_jit_channel(100_000_000, &desc, 3600, Some(5_000_000))
        .map_err(|e| HarnessError::Other(format!("ldk-node receive_via_jit_channel: {e:?}")))?;
    let paid = p.pay(&invoice.to_string())?;
    assert_eq!(paid["status"], "complete", "{paid}");

    let received = wait_until("ldk-node to receive", DEFAULT_TIMEOUT, POLL, || {
        let Some(event) = k.next_event() else { return Ok(None) };
        k.event_handled().map_err(|e| HarnessError::Other(format!("{e:?}")))?;
        Ok(match event {
            Event::PaymentReceived { amount_msat, payment_id, .. } => {
                Some((amount_msat, payment_id))
            }
            _ => None,
        })
    })?;
    assert_eq!(received.0, 98_000_000, "100,000 sat minus the LSP's 2,000 sat fee");
    let details = k.payment(&received.1.unwrap()).unwrap();
    assert_eq!(details.direction, PaymentDirection::Inbound);
    assert_eq!(details.status, PaymentStatus::Succeeded);
    match details.kind {
        PaymentKind::Bolt11Jit { counterparty_skimmed_fee_msat, .. } => {
            assert_eq!(counterparty_skimmed_fee_msat, Some(2_000_000))
        }
        other => panic!("not a JIT receive: {other:?}"),
    }
    let chans = k.list_channels();
    assert_eq!(chans.len(), 1, "{chans:?}");
    assert_eq!(chans[0].counterparty_node_id, lsp_id);
    assert_eq!(chans[0].channel_value_sats, 107_800);
    k.stop().map_err(|e| HarnessError::Other(format!("ldk-node stop: {e:?}")))?;
    Ok(())
}

#[test]
fn boltd_receives_through_an_ldk_node_lsp() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let p = TestNode::start_in_process("payer", &dir.path().join("p"), &chain, free_port()?)?;

    let port = free_port()?;
    let mut builder = Builder::new();
    builder
        .set_network(Network::Regtest)
        .set_storage_dir_path(dir.path().join("k2").to_string_lossy().into_owned())
        .set_chain_source_bitcoind_rpc(
            "127.0.0.1".into(),
            btc.rpc_port(),
            btc.rpc_user().into(),
            btc.rpc_password().into(),
        );
    builder
        .set_listening_addresses(vec![SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port }])
        .and_then(|b| b.set_node_alias("ldk-node-lsp".into()))
        .map_err(|e| HarnessError::Other(format!("ldk-node builder: {e:?}")))?;
    builder.set_liquidity_provider_lsps2(LSPS2ServiceConfig {
        require_token: None,
        advertise_service: false,
        channel_opening_fee_ppm: 10_000,
        channel_over_provisioning_ppm: 100_000,
        min_channel_opening_fee_msat: 3_000_000,
        min_channel_lifetime: 100,
        max_client_to_self_delay: 1024,
        min_payment_size_msat: 1_000_000,
        max_payment_size_msat: 1_000_000_000,
        client_trusts_lsp: false,
    });
    let k = builder.build().map_err(|e| HarnessError::Other(format!("ldk-node build: {e:?}")))?;
    k.start().map_err(|e| HarnessError::Other(format!("ldk-node start: {e:?}")))?;
    let k_id = k.node_id().to_string();
    let c = TestNode::start_in_process_with(
        "client",
        &dir.path().join("c"),
        &chain,
        free_port()?,
        |c| {
            c.lsps = Some(vec![format!("{k_id}@127.0.0.1:{port}")]);
        },
    )?;

    btc.mine(101)?;
    fund(&btc, &p, &[&c])?;
    let k_addr =
        k.onchain_payment().new_address().map_err(|e| HarnessError::Other(format!("{e:?}")))?;
    btc.fund_address(&k_addr, 1)?;
    let h = btc.height()?;
    wait_until("ldk-node's wallet to see its funds", DEFAULT_TIMEOUT, POLL, || {
        Ok((k.status().current_best_block.height >= h
            && k.list_balances().spendable_onchain_balance_sats > 0)
            .then_some(()))
    })?;
    // P opens a channel to K2 (ldk-node announces nothing without one).
    p.ok(
        "connect",
        p.post(
            "/api/v1/node/peers/connect",
            json!({ "node_id": k_id, "address": format!("127.0.0.1:{port}") }),
        ),
    )?;
    p.ok(
        "open",
        p.post(
            "/api/v1/node/channels/open",
            json!({ "node_id": k_id, "amount_sat": 1_000_000, "push_msat": 0, "public": true }),
        ),
    )?;
    wait_until("the funding transaction to reach the mempool", DEFAULT_TIMEOUT, POLL, || {
        Ok((!btc.get_raw_mempool()?.is_empty()).then_some(()))
    })?;
    btc.mine(6)?;
    let h = btc.height()?;
    p.wait_synced(h)?;
    c.wait_synced(h)?;
    wait_until("P's channel to K2 to be usable", DEFAULT_TIMEOUT, POLL, || {
        Ok(k.list_channels().iter().any(|ch| ch.is_usable).then_some(()))
    })?;
    wait_until("P's channel to K2 to be ready at P", DEFAULT_TIMEOUT, POLL, || {
        Ok(p.channels()?.iter().any(|ch| ch["state"] == "ready").then_some(()))
    })?;

    let inv = c.ok(
        "invoice through ldk-node",
        c.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 100_000 })),
    )?;
    // K2's fee: its 3,000 sat minimum, above 1 % of 100,000 sat.
    assert_eq!(inv["lsp"]["opening_fee_msat"], 3_000_000, "{inv}");
    assert_eq!(inv["lsp"]["lsp_node_id"], k_id.as_str(), "{inv}");
    let paid = p.pay(inv["invoice"].as_str().unwrap())?;
    assert_eq!(paid["status"], "complete", "{paid}");
    let hash = inv["payment_hash"].as_str().unwrap();
    let r = wait_until("C's receive to settle", DEFAULT_TIMEOUT, POLL, || {
        let r = c.get(&format!("/api/v1/lightning/receives/{hash}")).unwrap();
        Ok((r["state"] == "settled").then_some(r))
    })?;
    assert_eq!(r["received_msat"], 97_000_000, "{r}");
    assert_eq!(r["lsp"]["skimmed_fee_msat"], 3_000_000, "{r}");
    let chans: Vec<_> =
        c.channels()?.into_iter().filter(|ch| ch["peer_node_id"] == k_id.as_str()).collect();
    assert_eq!(chans.len(), 1, "{chans:?}");
    k.stop().map_err(|e| HarnessError::Other(format!("ldk-node stop: {e:?}")))?;
    Ok(())
}
