//! The error type shared by the whole harness crate.

use std::time::Duration;

use bdk_bitcoind_rpc::bitcoincore_rpc;

/// Everything that can go wrong while running the regtest lab.
///
/// Every message says what was being done or awaited, so a failing test explains itself.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `scripts/bitcoind.sh` could not find or build a `bitcoind` binary.
    #[error("could not find or build bitcoind: {0}")]
    BitcoindExe(String),

    /// `bitcoind` could not be started, or did not become ready.
    #[error("could not start bitcoind: {0}")]
    BitcoindStart(String),

    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "creating the bitcoind data directory".
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A bitcoind JSON-RPC call failed.
    #[error("bitcoind RPC `{method}` failed: {source}")]
    Rpc {
        /// The RPC method that was called.
        method: String,
        /// The underlying error.
        #[source]
        source: bitcoincore_rpc::Error,
    },

    /// A condition did not become true in time (see [`crate::wait_until`]).
    #[error(
        "timed out after {} waiting for {what}{}",
        fmt_duration(*.timeout),
        .last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        timeout: Duration,
        /// The last error seen while polling, if any.
        last_error: Option<String>,
    },

    /// Something unexpected happened; the message says what.
    #[error("{0}")]
    Other(String),
}

impl HarnessError {
    /// Builds a [`HarnessError::Io`] from a description of what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io { what: what.into(), source }
    }

    /// Builds a [`HarnessError::Rpc`] for the RPC `method`.
    pub fn rpc(method: impl Into<String>, source: bitcoincore_rpc::Error) -> Self {
        HarnessError::Rpc { method: method.into(), source }
    }
}

/// Formats a duration as whole seconds ("60s") when it is one, else with milliseconds ("0.25s").
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let secs = format!("{:.3}", d.as_secs_f64());
        format!("{}s", secs.trim_end_matches('0').trim_end_matches('.'))
    }
}
