//! LSPS2 interoperability: a node built with the `ldk-node` crate (0.7.1) receives through a
//! boltd LSP. P (boltd, a payer with a channel to the LSP), L (boltd, `lsps2_service`) and K
//! (ldk-node, no channel and no coins, `set_liquidity_source_lsps2(L)`): K's
//! `receive_via_jit_channel` invoice for 100,000 sat, bought from L, is paid by P; L opens a
//! channel to K just in time and forwards the payment minus its 2,000 sat fee, which ldk-node
//! checks against its own limit and records as the skimmed fee.

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
use ldk_node::payment::{PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::{Builder, Event};

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
