//! On-chain sends with an idempotency contract, and what is known of their broadcast.
//!
//! A send is recorded before it is broadcast, in one transaction on the wallet's connection:
//! BDK's changeset (the signed transaction as the wallet's, its inputs spent) and the
//! `onchain_sends` row (txid, the signed transaction, the client's idempotency key, the
//! request's fingerprint). Then bitcoind gets it, and its answer decides the row's state:
//!
//! - accepted (or already in a block): `broadcast`;
//! - refused (bitcoind's verdict: an invalid or conflicting transaction, a fee too low, a full
//!   mempool): `evicted`, and the wallet forgets the transaction (its inputs are free again);
//! - no verdict (a timeout, a transport error, bitcoind warming up): `unknown`. The transaction
//!   may have been accepted, so it stays the wallet's (its inputs stay spent) and the answer
//!   says so (barkd: 202). Each wallet sync round settles such sends ([`settle`]): found in
//!   bitcoind's mempool or in a block, `broadcast`; found in neither once the wallet has the
//!   chain's tip and [`EVICTION_GRACE_SECS`] have passed since the attempt, `evicted`.
//!
//! The same idempotency key with the same request returns the recorded send (a send still
//! `recorded` or `unknown` is broadcast again: the same transaction, never a new one); with a
//! different request it is a conflict ([`NodeError::IdempotencyConflict`]).

use std::collections::HashSet;

use bdk_bitcoind_rpc::bitcoincore_rpc::{self, jsonrpc, RpcApi};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Transaction, Txid};
use boltd_store::onchain::{self as rows, NewOnchainSend, OnchainSend, OnchainSendState};
use serde::Serialize;

use super::{check_amounts, now_secs, Coins, Inner, OnchainWallet, Outputs, WalletDbError};
use crate::error::{NodeError, NodeResult};
use crate::failstop::FatalKind;

/// How long after its last broadcast attempt a send that bitcoind has neither in its mempool
/// nor in a block is taken as evicted: well beyond an RPC call's timeout (15 s), so that a
/// transaction bitcoind accepts after the call timed out is not taken for a refused one.
pub const EVICTION_GRACE_SECS: u64 = 60;

/// What an on-chain send pays. Its JSON is the request's fingerprint for the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SendRequest {
    /// `amount_sat` to `address`.
    Send {
        /// The address.
        address: String,
        /// The amount.
        amount_sat: u64,
        /// The fee rate, if given (else the estimate at the time).
        fee_rate_sat_per_vb: Option<u64>,
        /// Spend confirmed coins only (Core Lightning's `minconf` 1); else unconfirmed ones too.
        /// Left out of the fingerprint when false, so earlier fingerprints stay the same.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirmed_only: bool,
    },
    /// Everything the wallet holds to `address`.
    Drain {
        /// The address.
        address: String,
        /// The fee rate, if given.
        fee_rate_sat_per_vb: Option<u64>,
        /// Spend confirmed coins only (as for [`SendRequest::Send`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirmed_only: bool,
    },
    /// One transaction paying each `(address, amount_sat)`.
    SendMany {
        /// The recipients.
        recipients: Vec<(String, u64)>,
        /// The fee rate, if given.
        fee_rate_sat_per_vb: Option<u64>,
    },
}

impl SendRequest {
    fn fingerprint(&self) -> [u8; 32] {
        let json = serde_json::to_vec(self).unwrap_or_default();
        sha256::Hash::hash(&json).to_byte_array()
    }

    fn fee_rate_sat_per_vb(&self) -> Option<u64> {
        match self {
            SendRequest::Send { fee_rate_sat_per_vb, .. }
            | SendRequest::Drain { fee_rate_sat_per_vb, .. }
            | SendRequest::SendMany { fee_rate_sat_per_vb, .. } => *fee_rate_sat_per_vb,
        }
    }

    fn coins(&self) -> Coins {
        match self {
            SendRequest::Send { confirmed_only: true, .. }
            | SendRequest::Drain { confirmed_only: true, .. } => Coins::Confirmed,
            _ => Coins::Any,
        }
    }
}

/// A send bitcoind accepted, or whose broadcast is not known yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnchainSent {
    /// The transaction.
    pub txid: Txid,
    /// `broadcast` or `unknown` (a refused send is [`NodeError::TransactionRejected`]).
    pub state: OnchainSendState,
    /// Why the state is `unknown`.
    pub reason: Option<String>,
    /// Whether this answers a repeated request (same idempotency key) with the first send.
    pub replayed: bool,
}

/// bitcoind's answer to `sendrawtransaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted, or already in a block.
    Accepted,
    /// Refused: it is not in the mempool.
    Refused(String),
    /// No verdict: it may or may not have been accepted.
    Unknown(String),
}

/// Reads bitcoind's answer: its JSON-RPC errors `RPC_VERIFY_ERROR` (-25: inputs missing or
/// spent), `RPC_VERIFY_REJECTED` (-26: policy, fee, mempool full) and `RPC_DESERIALIZATION_ERROR`
/// (-22) are refusals, `RPC_VERIFY_ALREADY_IN_CHAIN` (-27) an acceptance; anything else (a
/// timeout, a transport error, an HTTP error, another code such as -28 warming up) gives no
/// verdict.
pub(crate) fn verdict(result: Result<Txid, bitcoincore_rpc::Error>) -> Verdict {
    match result {
        Ok(_) => Verdict::Accepted,
        Err(bitcoincore_rpc::Error::JsonRpc(jsonrpc::error::Error::Rpc(e))) => match e.code {
            -27 => Verdict::Accepted,
            -25 | -26 | -22 => Verdict::Refused(format!("{} ({})", e.message, e.code)),
            _ => Verdict::Unknown(format!("bitcoind error {}: {}", e.code, e.message)),
        },
        Err(e) => Verdict::Unknown(e.to_string()),
    }
}

/// What a sync round learns of an unsettled send: `seen` (in bitcoind's mempool or a block the
/// wallet has), whether the wallet has bitcoind's tip (so a transaction in neither is not merely
/// in a block not read yet), and the seconds since its last broadcast attempt. `None`: no change.
pub(crate) fn settle(seen: bool, at_tip: bool, age_secs: u64) -> Option<OnchainSendState> {
    if seen {
        Some(OnchainSendState::Broadcast)
    } else if at_tip && age_secs >= EVICTION_GRACE_SECS {
        Some(OnchainSendState::Evicted)
    } else {
        None
    }
}

/// A database error of the wallet's connection: a persistence failure (disk full, I/O error)
/// stops the node, as for the wallet's own writes.
fn db_error(inner: &Inner, what: &str, e: WalletDbError) -> NodeError {
    if e.is_persistence_failure() {
        inner.fail_stop.fail(FatalKind::Storage, &format!("{what}: {e}"));
    }
    NodeError::Wallet(format!("{what}: {e}"))
}

impl OnchainWallet {
    /// Sends on chain as `req` says (blocking: records, then broadcasts through bitcoind).
    /// With an idempotency `key`, a repeated request returns the first send (see the module
    /// documentation); everything is checked before anything is signed or recorded. A send
    /// that would leave less than `reserve_sat` (the anchor channels' reserve) is refused.
    pub fn send_request(
        &self,
        req: &SendRequest,
        key: Option<&str>,
        reserve_sat: u64,
    ) -> NodeResult<OnchainSent> {
        let outputs = match req {
            SendRequest::Send { address, amount_sat, .. } => {
                check_amounts([(address.as_str(), *amount_sat)])?;
                Outputs::Pay(vec![(self.parse_address(address)?.script_pubkey(), *amount_sat)])
            }
            SendRequest::Drain { address, .. } => {
                Outputs::Drain(self.parse_address(address)?.script_pubkey())
            }
            SendRequest::SendMany { recipients, .. } => {
                if recipients.is_empty() {
                    return Err(NodeError::InvalidInput("no recipients".into()));
                }
                check_amounts(recipients.iter().map(|(a, v)| (a.as_str(), *v)))?;
                let mut outputs = Vec::with_capacity(recipients.len());
                for (address, amount_sat) in recipients {
                    outputs.push((self.parse_address(address)?.script_pubkey(), *amount_sat));
                }
                Outputs::Pay(outputs)
            }
        };
        let fee_rate = self.fee_rate(req.fee_rate_sat_per_vb())?;
        let request_hash = req.fingerprint();
        let tx = {
            let mut inner = self.inner.lock().unwrap();
            if let Some(key) = key {
                let earlier = inner
                    .db
                    .read(|c| rows::onchain_send_by_key(c, key))
                    .map_err(|e| db_error(&inner, "reading the on-chain sends", e))?;
                if let Some(earlier) = earlier {
                    drop(inner);
                    if earlier.request_hash != request_hash {
                        return Err(NodeError::IdempotencyConflict { txid: earlier.txid });
                    }
                    return self.replay(earlier);
                }
            }
            let tx =
                self.build_signed_to(&mut inner, outputs, fee_rate, req.coins(), reserve_sat)?;
            let new = NewOnchainSend {
                txid: tx.compute_txid().to_string(),
                tx: bitcoin::consensus::serialize(&tx),
                idempotency_key: key.map(String::from),
                request_hash,
            };
            record(&mut inner, &new)?;
            tx
        };
        self.broadcast_send(&tx, false)
    }

    /// The signed transaction of the recorded send `txid`, if it is one.
    pub fn recorded_send_tx(&self, txid: &Txid) -> NodeResult<Option<Transaction>> {
        let inner = self.inner.lock().unwrap();
        let send = inner
            .db
            .read(|c| rows::onchain_send_by_txid(c, &txid.to_string()))
            .map_err(|e| db_error(&inner, "reading the on-chain sends", e))?;
        drop(inner);
        send.map(|s| {
            bitcoin::consensus::deserialize(&s.tx)
                .map_err(|e| NodeError::Wallet(format!("recorded transaction {txid}: {e}")))
        })
        .transpose()
    }

    /// A repeated request's answer: the recorded send's state; a send whose broadcast is not
    /// known to have happened is broadcast again (the same transaction).
    fn replay(&self, earlier: OnchainSend) -> NodeResult<OnchainSent> {
        let txid: Txid = earlier
            .txid
            .parse()
            .map_err(|e| NodeError::Wallet(format!("recorded txid {}: {e}", earlier.txid)))?;
        match earlier.state {
            OnchainSendState::Broadcast => {
                Ok(OnchainSent { txid, state: earlier.state, reason: None, replayed: true })
            }
            OnchainSendState::Evicted => Err(NodeError::TransactionRejected {
                txid: earlier.txid,
                reason: earlier.reason.unwrap_or_else(|| "evicted".into()),
            }),
            OnchainSendState::Recorded | OnchainSendState::Unknown => {
                // Already in a block the wallet has: nothing to broadcast (bitcoind could even
                // refuse it, its outputs being spent).
                let inner = self.inner.lock().unwrap();
                if inner.wallet.get_tx(txid).is_some_and(|t| t.chain_position.is_confirmed()) {
                    let state = OnchainSendState::Broadcast;
                    inner
                        .db
                        .write(|c| {
                            rows::set_onchain_send_state(c, &earlier.txid, state, None, now_secs())
                        })
                        .map_err(|e| db_error(&inner, "recording an on-chain send", e))?;
                    return Ok(OnchainSent { txid, state, reason: None, replayed: true });
                }
                drop(inner);
                let tx: Transaction = bitcoin::consensus::deserialize(&earlier.tx)
                    .map_err(|e| NodeError::Wallet(format!("recorded transaction {txid}: {e}")))?;
                self.broadcast_send(&tx, true)
            }
        }
    }

    /// Broadcasts a recorded send and records bitcoind's verdict.
    fn broadcast_send(&self, tx: &Transaction, replayed: bool) -> NodeResult<OnchainSent> {
        let txid = tx.compute_txid();
        let result = match self.auth.blocking_client() {
            Ok(client) => verdict(client.send_raw_transaction(tx)),
            Err(e) => Verdict::Unknown(e.to_string()),
        };
        let mut inner = self.inner.lock().unwrap();
        let (state, reason) = match &result {
            Verdict::Accepted => (OnchainSendState::Broadcast, None),
            Verdict::Refused(why) => {
                // bitcoind does not have it: its inputs are free again.
                inner.wallet.apply_evicted_txs([(txid, now_secs())]);
                inner.persist()?;
                (OnchainSendState::Evicted, Some(why.clone()))
            }
            Verdict::Unknown(why) => (OnchainSendState::Unknown, Some(why.clone())),
        };
        let stored = inner.db.write(|c| {
            rows::set_onchain_send_state(c, &txid.to_string(), state, reason.as_deref(), now_secs())
        });
        if let Err(e) = stored {
            // The sync rounds settle it from bitcoind's view; the verdict stands.
            let e = db_error(&inner, "recording the broadcast of an on-chain send", e);
            tracing::error!(%txid, "{e}");
        }
        drop(inner);
        match result {
            Verdict::Accepted => {
                tracing::info!(%txid, replayed, "on-chain send broadcast");
                Ok(OnchainSent { txid, state, reason, replayed })
            }
            Verdict::Refused(why) => {
                tracing::warn!(%txid, "bitcoind refused an on-chain send: {why}");
                Err(NodeError::TransactionRejected { txid: txid.to_string(), reason: why })
            }
            Verdict::Unknown(why) => {
                tracing::warn!(%txid, "on-chain send: bitcoind's answer is unknown ({why})");
                Ok(OnchainSent { txid, state, reason, replayed })
            }
        }
    }

    /// Settles sends whose broadcast is not known (see [`settle`]), after a sync round applied
    /// bitcoind's blocks and its mempool (`in_mempool`); `at_tip`: the wallet has bitcoind's tip.
    pub(super) fn settle_unsettled(
        &self,
        inner: &mut Inner,
        in_mempool: &HashSet<Txid>,
        at_tip: bool,
    ) -> NodeResult<()> {
        let unsettled = inner
            .db
            .read(rows::unsettled_onchain_sends)
            .map_err(|e| db_error(inner, "reading the on-chain sends", e))?;
        let now = now_secs();
        for send in unsettled {
            let Ok(txid) = send.txid.parse::<Txid>() else { continue };
            let confirmed =
                inner.wallet.get_tx(txid).is_some_and(|t| t.chain_position.is_confirmed());
            let age_secs = now.saturating_sub(send.updated_at);
            let reason = match settle(confirmed || in_mempool.contains(&txid), at_tip, age_secs) {
                None => continue,
                Some(OnchainSendState::Evicted) => {
                    inner.wallet.apply_evicted_txs([(txid, now)]);
                    inner.persist()?;
                    let why = format!(
                        "neither in bitcoind's mempool nor in a block {age_secs} s after it was \
                         sent ({})",
                        send.reason.as_deref().unwrap_or("no answer")
                    );
                    tracing::warn!(%txid, "on-chain send evicted: {why}");
                    Some(why)
                }
                Some(_) => {
                    tracing::info!(%txid, "on-chain send found in bitcoind's mempool or a block");
                    None
                }
            };
            let state = if reason.is_some() {
                OnchainSendState::Evicted
            } else {
                OnchainSendState::Broadcast
            };
            inner
                .db
                .write(|c| {
                    rows::set_onchain_send_state(c, &send.txid, state, reason.as_deref(), now)
                })
                .map_err(|e| db_error(inner, "recording an on-chain send", e))?;
        }
        Ok(())
    }
}

/// Persists the wallet's staged changes (the new transaction) and the send's row in one
/// transaction. On failure nothing is recorded, and the wallet forgets the transaction in
/// memory too (its inputs stay free).
fn record(inner: &mut Inner, new: &NewOnchainSend) -> NodeResult<()> {
    let written = inner.db.record(inner.wallet.staged(), |c| {
        rows::insert_onchain_send(c, new, now_secs()).map(|_| ())
    });
    match written {
        Ok(()) => {
            inner.wallet.take_staged();
            Ok(())
        }
        Err(e) => {
            if let Ok(txid) = new.txid.parse::<Txid>() {
                inner.wallet.apply_evicted_txs([(txid, now_secs())]);
            }
            Err(db_error(inner, "recording the on-chain send", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc_error(code: i32, message: &str) -> bitcoincore_rpc::Error {
        bitcoincore_rpc::Error::JsonRpc(jsonrpc::error::Error::Rpc(jsonrpc::error::RpcError {
            code,
            message: message.into(),
            data: None,
        }))
    }

    #[test]
    fn only_bitcoinds_verdict_is_a_refusal() {
        let txid = Txid::all_zeros();
        assert_eq!(verdict(Ok(txid)), Verdict::Accepted);
        assert_eq!(verdict(Err(rpc_error(-27, "already in block chain"))), Verdict::Accepted);
        for code in [-25, -26, -22] {
            assert!(matches!(verdict(Err(rpc_error(code, "no"))), Verdict::Refused(_)), "{code}");
        }
        // A timeout or a dropped connection after bitcoind took it: no verdict, not evicted.
        let timeout = bitcoincore_rpc::Error::JsonRpc(jsonrpc::error::Error::Transport(Box::new(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
        )));
        assert!(matches!(verdict(Err(timeout)), Verdict::Unknown(m) if m.contains("timed out")));
        assert!(matches!(verdict(Err(rpc_error(-28, "Loading block index"))), Verdict::Unknown(_)));
        let io = bitcoincore_rpc::Error::Io(std::io::Error::other("connection reset"));
        assert!(matches!(verdict(Err(io)), Verdict::Unknown(_)));
    }

    #[test]
    fn an_unknown_send_is_evicted_only_when_bitcoind_has_it_nowhere_later() {
        use OnchainSendState::*;
        // Seen in the mempool or a block: broadcast, whatever the age.
        assert_eq!(settle(true, false, 0), Some(Broadcast));
        assert_eq!(settle(true, true, 1000), Some(Broadcast));
        // Not seen: evicted only at the tip and after the grace period.
        assert_eq!(settle(false, true, EVICTION_GRACE_SECS - 1), None);
        assert_eq!(settle(false, false, 10 * EVICTION_GRACE_SECS), None);
        assert_eq!(settle(false, true, EVICTION_GRACE_SECS), Some(Evicted));
    }

    #[test]
    fn the_fingerprint_tells_requests_apart() {
        let send = |amount_sat| SendRequest::Send {
            address: "bcrt1q".into(),
            amount_sat,
            fee_rate_sat_per_vb: None,
            confirmed_only: false,
        };
        assert_eq!(send(1).fingerprint(), send(1).fingerprint());
        assert_ne!(send(1).fingerprint(), send(2).fingerprint());
        let drain = SendRequest::Drain {
            address: "bcrt1q".into(),
            fee_rate_sat_per_vb: None,
            confirmed_only: false,
        };
        assert_ne!(send(1).fingerprint(), drain.fingerprint());
        // Confirmed coins only is another request; without it, the fingerprint is as before.
        let confirmed = SendRequest::Send {
            address: "bcrt1q".into(),
            amount_sat: 1,
            fee_rate_sat_per_vb: None,
            confirmed_only: true,
        };
        assert_ne!(send(1).fingerprint(), confirmed.fingerprint());
        let before =
            br#"{"kind":"send","address":"bcrt1q","amount_sat":1,"fee_rate_sat_per_vb":null}"#;
        assert_eq!(serde_json::to_vec(&send(1)).unwrap(), before.to_vec());
    }
}
