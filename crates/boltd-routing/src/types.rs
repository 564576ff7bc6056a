//! The concrete LDK graph and scorer the node routes over (the node re-exports them in its own
//! `types`).

use std::sync::Arc;

use lightning::routing::gossip::NetworkGraph;
use lightning::routing::scoring::ProbabilisticScorer;

use crate::logger::LdkLogger;

/// The network graph.
pub type Graph = NetworkGraph<Arc<LdkLogger>>;

/// The payment scorer.
pub type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<LdkLogger>>;
