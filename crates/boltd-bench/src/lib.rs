//! boltd's benchmarks (issue 6).
//!
//! B1, route finding on real mainnet graph snapshots: LDK's `find_route` with a default
//! `ProbabilisticScorer` (the anchor) against boltd's policy router
//! (`boltd_routing::router::PolicyRouter`) as used for real payments (the `bench_routes` binary):
//!
//! - [`gossmap`]: parser of Core Lightning's `GOSSMAP_COMPRESSv1` snapshots;
//! - [`ldk`]: loading a snapshot into LDK's `NetworkGraph`;
//! - [`core`]: the strongly connected core of routable directions and seeded pair sampling;
//! - [`stats`]: percentiles and summaries of the measurements.
//!
//! B2-B4 on a regtest chain (the `bench_node` binary, [`suite`]):
//!
//! - [`payments`]: B2, payment throughput over one channel between two `boltd` daemons, and
//!   B4, the daemon's memory and start-up;
//! - [`anchor`]: B2 with two `ldk-node` 0.7.1 nodes, the anchor;
//! - [`multihop`]: B3, latency over A-B-C-D and the engine's overhead against LDK's
//!   `ChannelManager`;
//! - [`memory`]: B6 (B5 before issue 16), the daemons' memory over 100,000 payments (`--only b6`);
//! - [`load`]: the closed-loop load generator; [`fsyncs`]: exact counts of durability system
//!   calls; [`machine`]: CPU, commit, the disk's fsync rate, process memory; [`http`]: JSON
//!   over HTTP for the workers.
//!
//! B5 (issue 16), payment success with hidden liquidity over the same snapshots (the
//! `bench_success` binary, [`success`]).
//!
//! B7, the store on PostgreSQL beside SQLite and failover with a standby (the `bench_store`
//! binary, [`store`]).
//!
//! `scripts/bench.sh` runs them and writes the report under `bench/results/`.
#![deny(missing_docs)]

pub mod anchor;
pub mod core;
pub mod fsyncs;
pub mod gossmap;
pub mod http;
pub mod ldk;
pub mod load;
pub mod machine;
pub mod memory;
pub mod multihop;
pub mod payments;
pub mod stats;
pub mod store;
pub mod success;
pub mod suite;
