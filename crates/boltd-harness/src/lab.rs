//! The usual lab: mining and syncing, funding wallets, opening channels, the line of three
//! nodes, and waiting until a payee is reachable.

use serde_json::{json, Value};

use crate::node::{DEFAULT_TIMEOUT, POLL};
use crate::{wait_until, Bitcoind, HarnessError, TestNode};

/// Mines `n` blocks and waits until every node has processed them.
pub fn mine_and_sync(
    bitcoind: &Bitcoind,
    n: u32,
    nodes: &[&TestNode],
) -> Result<u32, HarnessError> {
    bitcoind.mine(n)?;
    let h = bitcoind.height()?;
    for node in nodes {
        node.wait_synced(h)?;
    }
    Ok(h)
}

/// Funds a node's wallet with one mature coinbase (50 BTC on a young regtest chain) and waits
/// until the wallet sees it confirmed. Returns the confirmed balance.
pub fn fund(
    bitcoind: &Bitcoind,
    node: &TestNode,
    others: &[&TestNode],
) -> Result<u64, HarnessError> {
    let before = node.onchain_confirmed_sat()?;
    let addr = node.new_address()?;
    bitcoind.fund_address(&addr, 1)?;
    let h = bitcoind.height()?;
    node.wait_synced(h)?;
    for o in others {
        o.wait_synced(h)?;
    }
    wait_until(&format!("{}'s wallet to see its funds", node.name), DEFAULT_TIMEOUT, POLL, || {
        let now = node.onchain_confirmed_sat()?;
        Ok((now > before).then_some(now))
    })
}

/// Opens a channel from `from` to `to` and waits until both see it usable. Mines the blocks the
/// channel needs (6, so it can be announced). Returns the opener's view of the channel.
pub fn open_channel(
    bitcoind: &Bitcoind,
    from: &TestNode,
    to: &TestNode,
    amount_sat: u64,
    push_msat: u64,
    all: &[&TestNode],
) -> Result<Value, HarnessError> {
    from.connect(to)?;
    let body = json!({ "node_id": to.node_id, "amount_sat": amount_sat, "push_msat": push_msat, "public": true });
    from.ok("open channel", from.post("/api/v1/node/channels/open", body))?;
    from.wait_channel_state(to, "pending_confirmation")?;
    // The funding transaction must be in the mempool before mining.
    wait_until("the funding transaction to reach the mempool", DEFAULT_TIMEOUT, POLL, || {
        Ok((!bitcoind.get_raw_mempool()?.is_empty()).then_some(()))
    })?;
    mine_and_sync(bitcoind, 6, all)?;
    to.wait_channel_state(from, "ready")?;
    from.wait_channel_state(to, "ready")
}

/// The usual three-node lab: mines the first 101 blocks, funds `a` and `b`, opens public channels
/// `a` → `b` and `b` → `c` of `capacity_sat` each (`b` pushes `push_bc_msat` to `c`, so `c` can
/// pay back), waits until `a` has a route to `c` (see [`TestNode::wait_for_route`]: a count of
/// known channels is not enough, a channel can be known before the update for the direction a
/// payment needs), and mines one more block with every node synced to it. Returns the chain
/// height.
pub fn line_of_three(
    btc: &Bitcoind,
    [a, b, c]: [&TestNode; 3],
    capacity_sat: u64,
    push_bc_msat: u64,
) -> Result<u32, HarnessError> {
    btc.mine(101)?;
    fund(btc, a, &[b, c])?;
    fund(btc, b, &[a, c])?;
    open_channel(btc, a, b, capacity_sat, 0, &[a, b, c])?;
    open_channel(btc, b, c, capacity_sat, push_bc_msat, &[a, b, c])?;
    a.wait_for_route(c, ROUTE_PROBE_SAT)?;
    mine_and_sync(btc, 1, &[a, b, c])
}

/// The amount [`line_of_three`] checks a route for, in sats.
pub const ROUTE_PROBE_SAT: u64 = 10_000;

impl TestNode {
    /// Waits until this node can pay `payee` `amount_sat`: `payee` makes an invoice (a receive
    /// in its records, described "lab: route probe", never paid) and this node asks for a fee
    /// quote for it (`GET /api/v1/fees/lightning/pay`: the payment path's own checks and route
    /// search, nothing sent) until one comes back within the fee limits. This is what a first
    /// payment needs: a channel known from gossip is not yet usable for a direction whose
    /// `channel_update` has not arrived. Returns the quote.
    pub fn wait_for_route(&self, payee: &TestNode, amount_sat: u64) -> Result<Value, HarnessError> {
        let (invoice, _) = payee.invoice(amount_sat, "lab: route probe")?;
        let path = format!("/api/v1/fees/lightning/pay?destination={invoice}");
        wait_until(
            &format!("{} to find a route to {} for {amount_sat} sat", self.name, payee.name),
            DEFAULT_TIMEOUT,
            POLL,
            || {
                let quote = self.ok("fee quote", self.get(&path))?;
                if quote["within_limits"] == json!(true) {
                    Ok(Some(quote))
                } else {
                    Err(HarnessError::Other(format!("a route, over the fee limits: {quote}")))
                }
            },
        )
    }
}
