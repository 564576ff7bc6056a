//! Recovery from a stale backup: `boltd restore --recover`.
//!
//! A node restored from an archive older than its channels' state must never use that state: its
//! commitments are revoked, and broadcasting one hands the whole channel to the peer. LDK
//! detects it when the peer reconnects (its `channel_reestablish` proves we are behind) and
//! panics rather than go on; boltd's fail-stop ends the process there, before anything is
//! broadcast. To get the funds back, LDK's procedure is: start with no channel manager and no
//! monitors, let the peers close the channels (with their latest state), then load the monitors
//! once the closing transactions have confirmed, to claim our outputs of them.
//!
//! `boltd restore --recover` does that with one data directory:
//! - it drops the restored channel manager and records every restored monitor as stale
//!   (`boltd/stale_monitors`);
//! - at start the node makes a new, empty channel manager, and leaves out every stale monitor
//!   whose funding output is still unspent in the chain; it connects to those channels' peers
//!   (from the stored peer addresses), whose `channel_reestablish` LDK answers with a bogus one
//!   that makes them close the channel and broadcast their latest commitment;
//! - a stale monitor whose funding output is spent in a block (the peer's close confirmed) is
//!   loaded: it replays the blocks since its last one, finds the closing transaction and claims
//!   our outputs (boltd's channels use static remote keys, so our output of the peer's
//!   commitment is claimable from any of its states); the sweeper moves them to the wallet.
//!   Restarting the node is what loads them (the log says which monitors wait).
//!
//! What cannot come back: HTLCs in flight in the lost state, and anything if a peer is gone for
//! good (then only the peer's own timeout closes the channel, and the stale monitor is loaded
//! once its close confirms).

use std::collections::HashSet;

use bdk_bitcoind_rpc::bitcoincore_rpc::{self, RpcApi};
use bitcoin::secp256k1::PublicKey;
use bitcoin::BlockHash;
use boltd_store::{KvOp, Store};
use lightning::chain::channelmonitor::ChannelMonitor;
use lightning::sign::InMemorySigner;
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
};

use crate::error::{NodeError, NodeResult};

/// KV namespace and key of the list of stale monitors (one monitor name a line).
const NAMESPACE: &str = "boltd";
const STALE_MONITORS_KEY: &str = "stale_monitors";

/// A channel monitor as the persister reads it.
pub type Monitor = (BlockHash, ChannelMonitor<InMemorySigner>);

/// Marks a restored database for recovery: drops its channel manager and records its monitors
/// as stale, in one transaction. Returns how many monitors.
pub fn mark(store: &Store) -> NodeResult<usize> {
    let monitors = KVStoreSync::list(
        store,
        CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
    )?;
    let ops = [
        KvOp::Remove {
            primary: CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE.into(),
            secondary: CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE.into(),
            key: CHANNEL_MANAGER_PERSISTENCE_KEY.into(),
        },
        KvOp::Write {
            primary: NAMESPACE.into(),
            secondary: String::new(),
            key: STALE_MONITORS_KEY.into(),
            value: monitors.join("\n").into_bytes(),
        },
    ];
    store.write_batch(&ops)?;
    Ok(monitors.len())
}

/// The monitors recorded as stale (empty for a node not in recovery).
pub fn stale_monitors(store: &Store) -> NodeResult<HashSet<String>> {
    match KVStoreSync::read(store, NAMESPACE, "", STALE_MONITORS_KEY) {
        Ok(v) => Ok(String::from_utf8_lossy(&v).lines().map(str::to_string).collect()),
        Err(e) if e.kind() == lightning::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e.into()),
    }
}

/// Of `monitors`, those to load: every one that is not stale, and the stale ones whose funding
/// output is spent in a block. Also returns the peers of the stale ones left out (to connect
/// to, so that they close).
pub fn filter(
    monitors: Vec<Monitor>,
    stale: &HashSet<String>,
    client: &bitcoincore_rpc::Client,
) -> NodeResult<(Vec<Monitor>, Vec<PublicKey>)> {
    let mut load = Vec::with_capacity(monitors.len());
    let mut waiting = Vec::new();
    for (hash, monitor) in monitors {
        let name = monitor.persistence_key().to_string();
        if !stale.contains(&name) {
            load.push((hash, monitor));
            continue;
        }
        let funding = monitor.get_funding_txo();
        let unspent = client
            .get_tx_out(&funding.txid, funding.index.into(), Some(false))
            .map_err(|e| NodeError::Chain(format!("gettxout {funding}: {e}")))?
            .is_some();
        if unspent {
            tracing::warn!(
                monitor = %name,
                peer = %monitor.get_counterparty_node_id(),
                "recovery: stale channel still open; asking the peer to close it (its monitor \
                 is loaded at the first start after the close confirms)"
            );
            waiting.push(monitor.get_counterparty_node_id());
        } else {
            tracing::info!(monitor = %name, "recovery: stale channel closed on chain; claiming");
            load.push((hash, monitor));
        }
    }
    Ok((load, waiting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marking_drops_the_manager_and_lists_the_monitors_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(stale_monitors(&store).unwrap().is_empty(), "not in recovery");
        for key in ["aa_0", "bb_1"] {
            KVStoreSync::write(
                &store,
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                "",
                key,
                vec![1],
            )
            .unwrap();
        }
        KVStoreSync::write(&store, "", "", CHANNEL_MANAGER_PERSISTENCE_KEY, vec![2]).unwrap();
        assert_eq!(mark(&store).unwrap(), 2);
        let stale = stale_monitors(&store).unwrap();
        assert_eq!(stale, HashSet::from(["aa_0".to_string(), "bb_1".to_string()]));
        assert!(KVStoreSync::read(&store, "", "", CHANNEL_MANAGER_PERSISTENCE_KEY).is_err());
        assert!(crate::backup::is_copied(NAMESPACE, "", STALE_MONITORS_KEY), "backed up too");
    }
}
