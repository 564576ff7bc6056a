//! Transactions made while bitcoind cannot be reached reach the chain once it is back. LDK
//! broadcasts a channel's funding and its cooperative closing once and never again; boltd's
//! broadcaster used to drop them on a refused connection ("broadcast failed (LDK retries)"), so
//! a channel opened while bitcoind was restarting stayed pending for good, and a cooperative
//! closing never reached the chain (found by the torture suite's bitcoind outage, T8). Real
//! bitcoind, stopped cleanly and started again on its data directory and ports; real nodes.

use std::time::Duration;

use bitcoin::{OutPoint, Txid};
use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};
use serde_json::json;

fn funding(channel: &serde_json::Value) -> OutPoint {
    channel["funding_outpoint"].as_str().unwrap().parse().unwrap()
}

#[test]
fn a_funding_and_a_closing_made_while_bitcoind_is_down_reach_the_chain() -> Result<(), HarnessError>
{
    let btc = Bitcoind::start_restartable()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    let old = open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;

    btc.shut_down()?;
    // A closes its channel cooperatively and opens another while nothing can take the
    // transactions.
    let body = json!({ "channel_id": old["channel_id"] });
    a.ok("close", a.post("/api/v1/node/channels/close", body))?;
    // Until it is gone from the list, the channel reads `closing`, not as a channel to wait for.
    for c in a.channels()? {
        if c["channel_id"] == old["channel_id"] {
            assert_eq!(c["state"], "closing", "a channel shutting down: {c}");
        }
    }
    let body = json!({ "node_id": b.node_id, "amount_sat": 500_000, "public": false });
    a.ok("open", a.post("/api/v1/node/channels/open", body))?;
    let new = wait_until(
        "A's new channel with B",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let channels = a.channels()?;
            Ok(channels.into_iter().find(|c| {
                c["channel_id"] != old["channel_id"] && c["state"] == "pending_confirmation"
            }))
        },
    )?;
    std::thread::sleep(Duration::from_secs(2));
    btc.start_again()?;

    // Both are broadcast again once bitcoind is back.
    let closing: Txid = wait_until(
        "the closing to reach bitcoind's mempool",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let op = funding(&old);
            let q = json!([{ "txid": op.txid.to_string(), "vout": op.vout }]);
            let r: serde_json::Value = btc
                .client()
                .call("gettxspendingprevout", &[q])
                .map_err(|e| HarnessError::rpc("gettxspendingprevout", e))?;
            Ok(r[0]["spendingtxid"].as_str().and_then(|t| t.parse().ok()))
        },
    )?;
    btc.wait_for_tx_in_mempool(&funding(&new).txid, Duration::from_secs(30))?;
    mine_and_sync(&btc, 6, &[&a, &b])?;
    a.wait_channel_state(&b, "ready")?;
    let info = btc
        .client()
        .get_raw_transaction_info(&closing, None)
        .map_err(|e| HarnessError::rpc("getrawtransaction", e))?;
    assert_eq!(info.confirmations, Some(6), "the closing {closing} is mined");
    Ok(())
}
