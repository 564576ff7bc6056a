//! boltd's benchmarks (issue 6). B1: route finding on real mainnet graph snapshots, LDK's
//! `find_route` with a default `ProbabilisticScorer` (the anchor) against boltd's policy router
//! (`boltd_node::router::PolicyRouter`) as used for real payments.
//!
//! - [`gossmap`]: parser of Core Lightning's `GOSSMAP_COMPRESSv1` snapshots;
//! - [`ldk`]: loading a snapshot into LDK's `NetworkGraph`;
//! - [`core`]: the strongly connected core of routable directions and seeded pair sampling;
//! - [`stats`]: percentiles and summaries of the measurements.
//!
//! The `bench_routes` binary runs the benchmark (`scripts/bench.sh`).
#![deny(missing_docs)]

pub mod core;
pub mod gossmap;
pub mod ldk;
pub mod stats;
