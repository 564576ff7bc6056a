//! Chain helpers of the chain-chaos scenarios (T8): reorgs made by hand on the regtest bitcoind
//! (`invalidateblock`, then a longer branch with or without the transactions that were in the
//! invalidated blocks), finding transactions in blocks and the mempool, fees from the chain,
//! and what the daemons report of the chain (heights, channels, wallets, closings).

use std::time::Duration;

use bdk_bitcoind_rpc::bitcoincore_rpc::RpcApi;
use bitcoin::{Address, BlockHash, Network, OutPoint, ScriptBuf, Transaction, Txid};
use serde_json::{json, Value};

use super::daemon::Daemon;
use crate::{wait_until, Bitcoind, HarnessError};

fn rpc<T: serde::de::DeserializeOwned>(
    btc: &Bitcoind,
    method: &str,
    args: &[Value],
) -> Result<T, HarnessError> {
    btc.client().call(method, args).map_err(|e| HarnessError::rpc(method, e))
}

/// `invalidateblock`: `hash` and every block after it leave the active chain; their
/// transactions go back to the mempool.
pub fn invalidate(btc: &Bitcoind, hash: &BlockHash) -> Result<(), HarnessError> {
    rpc::<Value>(btc, "invalidateblock", &[json!(hash.to_string())]).map(|_| ())
}

/// Where the blocks of a replacement branch pay their coinbase: not the usual mining address,
/// so that a block mined again on the same parent with the same transactions is not the very
/// block that was invalidated (on a fast regtest chain the block time is the median time past
/// plus one, the same again, and so is the hash).
pub fn branch_address() -> Address {
    let script = ScriptBuf::from_bytes(vec![0x52, 0x75, 0x51]); // OP_2 OP_DROP OP_TRUE
    Address::p2wsh(&script, Network::Regtest)
}

/// Mines `n` blocks of a replacement branch (see [`branch_address`]), with the mempool's
/// transactions.
pub fn mine_branch(btc: &Bitcoind, n: u32) -> Result<Vec<BlockHash>, HarnessError> {
    btc.mine_to(&branch_address(), n)
}

/// Mines `n` blocks of a replacement branch with no transaction but their coinbase
/// (`generateblock` with an empty list): the mempool stays as it is.
pub fn mine_empty(btc: &Bitcoind, n: u32) -> Result<Vec<BlockHash>, HarnessError> {
    let address = branch_address().to_string();
    (0..n)
        .map(|_| {
            let r: Value = rpc(btc, "generateblock", &[json!(address), json!([])])?;
            r["hash"]
                .as_str()
                .and_then(|h| h.parse().ok())
                .ok_or_else(|| HarnessError::Other(format!("generateblock answered {r}")))
        })
        .collect()
}

/// Whether the block `hash` holds the transaction `txid`.
pub fn block_has(btc: &Bitcoind, hash: &BlockHash, txid: &Txid) -> Result<bool, HarnessError> {
    let block = btc.client().get_block(hash).map_err(|e| HarnessError::rpc("getblock", e))?;
    Ok(block.txdata.iter().any(|t| t.compute_txid() == *txid))
}

/// Whether `txid` is in bitcoind's mempool.
pub fn in_mempool(btc: &Bitcoind, txid: &Txid) -> Result<bool, HarnessError> {
    Ok(btc.get_raw_mempool()?.contains(txid))
}

/// Waits until `txid` is in bitcoind's mempool.
pub fn wait_mempool(btc: &Bitcoind, txid: &Txid) -> Result<(), HarnessError> {
    btc.wait_for_tx_in_mempool(txid, Duration::from_secs(30))
}

/// The transaction `txid` (bitcoind has a transaction index).
pub fn tx(btc: &Bitcoind, txid: &Txid) -> Result<Transaction, HarnessError> {
    btc.client()
        .get_raw_transaction(txid, None)
        .map_err(|e| HarnessError::rpc("getrawtransaction", e))
}

/// The fee `t` pays: what its inputs spend (looked up in the chain) less what it creates.
pub fn fee_sat(btc: &Bitcoind, t: &Transaction) -> Result<u64, HarnessError> {
    let mut inputs = 0;
    for i in &t.input {
        let prev = tx(btc, &i.previous_output.txid)?;
        inputs += prev.output[i.previous_output.vout as usize].value.to_sat();
    }
    let outputs: u64 = t.output.iter().map(|o| o.value.to_sat()).sum();
    inputs.checked_sub(outputs).ok_or_else(|| {
        HarnessError::Other(format!("{} creates more than it spends", t.compute_txid()))
    })
}

/// The transaction that spends `outpoint`: in the mempool, or in a block of the active chain
/// from height `from` on. `None`: nothing spends it (yet).
pub fn spender(
    btc: &Bitcoind,
    outpoint: &OutPoint,
    from: u32,
) -> Result<Option<Transaction>, HarnessError> {
    let q = json!([{ "txid": outpoint.txid.to_string(), "vout": outpoint.vout }]);
    let r: Value = rpc(btc, "gettxspendingprevout", &[q])?;
    if let Some(txid) = r[0]["spendingtxid"].as_str().and_then(|t| t.parse().ok()) {
        return tx(btc, &txid).map(Some);
    }
    for h in from..=btc.height()? {
        let hash = btc
            .client()
            .get_block_hash(h.into())
            .map_err(|e| HarnessError::rpc("getblockhash", e))?;
        let block = btc.client().get_block(&hash).map_err(|e| HarnessError::rpc("getblock", e))?;
        if let Some(t) = block
            .txdata
            .into_iter()
            .find(|t| t.input.iter().any(|i| i.previous_output == *outpoint))
        {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Waits until every daemon of `nodes` has processed height `height` (LDK and the wallet).
/// After a reorg to a longer branch, a height the old branch never had means the daemon
/// follows the new one.
pub fn wait_height(nodes: &[&Daemon], height: u32) -> Result<(), HarnessError> {
    for d in nodes {
        wait_until(
            &format!("{} to process height {height}", d.name),
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let i =
                    d.get("/api/v1/node/info").map_err(|e| HarnessError::Other(e.to_string()))?;
                let at = |k: &str| i[k].as_u64().unwrap_or(0) >= u64::from(height);
                Ok((at("block_height") && at("wallet_height")).then_some(()))
            },
        )?;
    }
    Ok(())
}

/// The channel of `d` funded by `funding` (its funding outpoint's txid), if it lists one.
pub fn channel(d: &Daemon, funding: &Txid) -> Result<Option<Value>, HarnessError> {
    let list = d
        .get("/api/v1/node/channels")
        .map_err(|e| HarnessError::Other(format!("{}: {e}", d.name)))?;
    let prefix = format!("{funding}:");
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["funding_outpoint"].as_str().is_some_and(|o| o.starts_with(&prefix)))
        .cloned())
}

/// Waits until `d`'s channel funded by `funding` satisfies `ok`; returns it.
pub fn wait_channel(
    d: &Daemon,
    funding: &Txid,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Result<Value, HarnessError> {
    wait_until(
        &format!("{}'s channel {funding} to be {what}", d.name),
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok(channel(d, funding)?.filter(|c| ok(c))),
    )
}

/// `d`'s on-chain balance (`GET /api/v1/onchain/balance`).
pub fn balance(d: &Daemon) -> Result<Value, HarnessError> {
    d.get("/api/v1/onchain/balance")
        .map_err(|e| HarnessError::Other(format!("{}: balance: {e}", d.name)))
}

/// `d`'s on-chain wallet total, in sat (confirmed or not).
pub fn onchain_sat(d: &Daemon) -> Result<u64, HarnessError> {
    Ok(balance(d)?["total_sat"].as_u64().unwrap_or(0))
}

/// What `d` would get on chain for its channels now (`lightning_sat` of
/// `GET /api/v1/wallet/balance`,
/// LDK's claimable balances).
pub fn claimable_sat(d: &Daemon) -> Result<u64, HarnessError> {
    let b = d
        .get("/api/v1/wallet/balance")
        .map_err(|e| HarnessError::Other(format!("{}: balance: {e}", d.name)))?;
    Ok(b["lightning_sat"].as_u64().unwrap_or(0))
}

/// `d`'s wallet output `outpoint`, if the wallet has it unspent.
pub fn utxo(d: &Daemon, outpoint: &OutPoint) -> Result<Option<Value>, HarnessError> {
    let list = d
        .get("/api/v1/onchain/utxos")
        .map_err(|e| HarnessError::Other(format!("{}: utxos: {e}", d.name)))?;
    let op = outpoint.to_string();
    Ok(list.as_array().into_iter().flatten().find(|u| u["outpoint"] == op.as_str()).cloned())
}

/// The `channel_closed` events of `d`'s event log.
pub fn closed_events(d: &Daemon) -> Result<Vec<Value>, HarnessError> {
    let e = d
        .get("/api/v1/notifications/wait?types=channel_closed&timeout_secs=0&limit=1000")
        .map_err(|e| HarnessError::Other(format!("{}: events: {e}", d.name)))?;
    Ok(e["notifications"].as_array().cloned().unwrap_or_default())
}

/// The `channel_closed` events of `d` for the channel `channel_id`.
pub fn closed(d: &Daemon, channel_id: &str) -> Result<Vec<Value>, HarnessError> {
    Ok(closed_events(d)?.into_iter().filter(|e| e["channel"]["channel_id"] == channel_id).collect())
}

/// Which transaction spends which output, in the blocks of the active chain from a height on
/// (built as the chain grows: [`Spends::update`]; for a chain that no longer reorgs).
#[derive(Debug, Default)]
pub struct Spends {
    next: u32,
    by_outpoint: std::collections::HashMap<OutPoint, Txid>,
}

impl Spends {
    /// An index of the blocks from height `from` on (none read yet).
    pub fn from(from: u32) -> Spends {
        Spends { next: from, by_outpoint: Default::default() }
    }

    /// Reads the blocks up to bitcoind's tip.
    pub fn update(&mut self, btc: &Bitcoind) -> Result<(), HarnessError> {
        let tip = btc.height()?;
        while self.next <= tip {
            let c = btc.client();
            let hash = c
                .get_block_hash(self.next.into())
                .map_err(|e| HarnessError::rpc("getblockhash", e))?;
            let block = c.get_block(&hash).map_err(|e| HarnessError::rpc("getblock", e))?;
            for t in block.txdata {
                let txid = t.compute_txid();
                for i in t.input {
                    self.by_outpoint.insert(i.previous_output, txid);
                }
            }
            self.next += 1;
        }
        Ok(())
    }

    /// The confirmed transaction that spends `outpoint`, if any.
    pub fn of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.by_outpoint.get(outpoint).copied()
    }
}
