//! Regtest lab for boltd: a real `bitcoind` on loopback and real boltd nodes (in-process or as child processes of the real binary), for
//! tests, benchmarks and the playground.
//!
//! Start a chain with [`Bitcoind::start`]; it is stopped and its data deleted on drop.
#![deny(missing_docs)]

pub mod bitcoind;
pub mod error;
pub mod lab;
pub mod node;
mod process;
pub mod torture;
pub mod wait;

pub use bdk_bitcoind_rpc::bitcoincore_rpc;
pub use bitcoind::{bitcoind_exe, op_true_script, Bitcoind};
/// A throwaway PostgreSQL cluster (initdb in a temporary directory, a free port, stopped on drop).
pub use boltd_store::pg_cluster::{pg_bin, PgCluster};
pub use error::HarnessError;
pub use lab::{fund, line_of_three, mine_and_sync, open_channel, ROUTE_PROBE_SAT};
pub use node::{free_port, regtest_config, ApiClient, ApiFailure, ChainAccess, TestNode};
pub use wait::wait_until;
