//! boltd's Lightning node: LDK (`lightning` 0.2) composed with a BDK on-chain wallet, bitcoind
//! for chain data, fees and broadcasting, and boltd's SQLite store.
//!
//! The entry point is [`Node::start`], configured by [`Config`].

#![deny(missing_docs)]

pub mod anchors;
pub mod archive;
pub mod backup;
pub mod chain;
pub mod error;
pub mod events;
pub mod failstop;
mod forwarder;
pub mod keys;
pub mod liquidity;
pub mod message;
pub mod message_router;
mod net;
pub mod node;
pub mod persist;
pub mod recovery;
pub mod restore;
pub mod seed_recovery;
pub mod types;
pub mod wallet;

pub use boltd_config::Config;
/// LDK's log records to `tracing` (the logger of every LDK component here; it lives in
/// `boltd-routing`, whose router type needs it).
pub use boltd_routing::logger;
pub use error::{NodeError, NodeResult};
pub use node::{role, Node, Role};

/// Re-exports of the crates in the node's public API.
pub mod deps {
    pub use bitcoin;
    pub use lightning;
    pub use lightning_invoice;
}
