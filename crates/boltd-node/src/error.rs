//! The node's domain error.

use std::path::PathBuf;

/// Everything that can go wrong in the node. Messages are meant for operators: they name the
/// problem and never contain secrets (seed, preimages, tokens).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The data directory is in use, or its stored state cannot be read.
    #[error(transparent)]
    Store(#[from] boltd_store::StoreError),
    /// Stored state exists but cannot be read; the node refuses to start rather than overwrite it.
    #[error("refusing to start: {what} at {path} cannot be read: {reason}")]
    UnreadableState {
        /// What could not be read (e.g. "channel manager").
        what: &'static str,
        /// Where it lives.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// bitcoind could not be reached or answered with an error.
    #[error("bitcoind: {0}")]
    Chain(String),
    /// The on-chain wallet failed.
    #[error("wallet: {0}")]
    Wallet(String),
    /// Not enough funds for the requested operation; nothing was broadcast.
    #[error("{}", insufficient_funds(*needed_sat, *available_sat, *reserve_sat))]
    InsufficientFunds {
        /// What the operation needs, fees and the anchor reserve included where known.
        needed_sat: u64,
        /// What the wallet can spend.
        available_sat: u64,
        /// Of what it needs, the on-chain reserve kept for anchor channels' fee bumps (0 when
        /// the reserve is not what is missing).
        reserve_sat: u64,
    },
    /// The request is invalid (bad address, unknown channel, wrong network...).
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// An LSP refused what was asked (its limits, its token, its fee above ours).
    #[error("{0}")]
    LspRefused(String),
    /// A peer could not be connected.
    #[error("peer connection failed: {0}")]
    Connection(String),
    /// LDK refused a channel or payment operation.
    #[error("lightning: {0}")]
    Lightning(String),
    /// The idempotency key was used with a different request (an on-chain send).
    #[error("idempotency key reused with a different request (it sent {txid})")]
    IdempotencyConflict {
        /// The transaction the key's first request sent.
        txid: String,
    },
    /// bitcoind refused the transaction, or it later left its mempool without confirming: it
    /// will not confirm, and its inputs are free again.
    #[error("transaction {txid} was not accepted by bitcoind: {reason}; nothing was spent")]
    TransactionRejected {
        /// The transaction.
        txid: String,
        /// bitcoind's words, or why it is taken as evicted.
        reason: String,
    },
    /// The requested thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An I/O error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<lightning::io::Error> for NodeError {
    fn from(e: lightning::io::Error) -> Self {
        NodeError::Io(std::io::Error::other(e.to_string()))
    }
}

/// Result type of the node.
pub type NodeResult<T> = Result<T, NodeError>;

fn insufficient_funds(needed_sat: u64, available_sat: u64, reserve_sat: u64) -> String {
    let mut text =
        format!("insufficient funds: {needed_sat} sat needed, {available_sat} sat available");
    if reserve_sat > 0 {
        text.push_str(&format!(
            " ({reserve_sat} sat of it is the on-chain reserve kept to fee-bump the force close \
             of anchor channels; see anchor_reserve_per_channel_sat)"
        ));
    }
    text
}
