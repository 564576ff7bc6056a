//! B5 (issue 16): payment success with hidden liquidity (the `bench_success` binary).
//!
//! Every channel of a mainnet snapshot gets a hidden split of its capacity between its two ends
//! ([`oracle::Oracle`], seeded; [`oracle::Distribution`]: uniform, or "depleted edges" with most
//! liquidity at one end). The payer does not see it. A payment is paid in rounds
//! ([`sim::pay`]): the router finds a route for what is left, every part is sent over the
//! oracle, a part arrives when every hop has the liquidity for what it forwards (on top of the
//! payment's parts already held), and fails at the first hop that lacks it, which is reported
//! to the payer as the network does (the failing channel). What the router learns from that
//! ([`sim::Kind`]): LDK's `ProbabilisticScorer` (the anchor), nothing across payments (boltd's
//! router as the node uses it today), or [`boltd_routing::LiquidityBounds`].
//!
//! The oracle also knows whether a payment may be feasible at all (a max-flow of the amount over
//! the hidden liquidity, fees ignored), and a route proving it can be made with its fee, which
//! makes it *payable* when that fee is within the payer's limit ([`flow::FlowNet`]); the
//! figures per workload are in [`report::Cell`].
//!
//! Payments are independent: balances are not moved by successful payments (each payment sees
//! the same hidden state; a learner is told the truth of that state).

pub mod flow;
pub mod oracle;
pub mod report;
pub mod sim;

#[cfg(test)]
mod tests;
