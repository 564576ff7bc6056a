//! The oracle and the flow computations on a hand-made graph.

use bitcoin::secp256k1::PublicKey;
use lightning::routing::router::{Path, RouteHop};
use lightning::types::features::{ChannelFeatures, NodeFeatures};

use super::flow::FlowNet;
use super::oracle::{Locks, Oracle};
use crate::gossmap::{Direction, Gossmap};
use crate::ldk::{node_key, scid};

/// Nodes 0..4; channels 0: 0-1, 1: 1-3, 2: 0-2, 3: 2-3, 1 000 sat each; hops into 3 cost a
/// base fee of 1 000 msat via 1 and 2 000 msat via 2, all others are free.
fn diamond() -> (Gossmap, Vec<PublicKey>) {
    let dir = |base: u64| Direction {
        disabled: false,
        htlc_min_msat: 1,
        htlc_max_msat: 1_000_000,
        fee_base_msat: base,
        fee_ppm: 0,
        cltv_delta: 40,
    };
    let map = Gossmap {
        node_count: 4,
        node1: vec![0, 1, 0, 2],
        node2: vec![1, 3, 2, 3],
        capacity_sat: vec![1_000; 4],
        // Per channel: node1 → node2, node2 → node1.
        directions: vec![dir(0), dir(0), dir(1_000), dir(0), dir(0), dir(0), dir(2_000), dir(0)],
    };
    let keys = (0..4).map(node_key).collect();
    (map, keys)
}

/// Every direction holds half the capacity.
fn halves(map: &Gossmap, keys: &[PublicKey]) -> Oracle {
    Oracle::from_split(map, keys, &[500_000; 4])
}

#[test]
fn max_flow_counts_hidden_liquidity_and_stops_at_the_limit() {
    let (map, keys) = diamond();
    let net = FlowNet::new(&map, &halves(&map, &keys));
    // Two paths of 500 sat into node 3 (the payer's own channels hold all 1 000 sat).
    assert_eq!(net.max_flow_msat(0, 3, 5_000_000), 1_000_000);
    assert_eq!(net.max_flow_msat(0, 3, 300_000), 300_000);
    assert_eq!(net.max_flow_msat(0, 0, 300_000), 0);
    // One end empty: channel 1 (1-3) holds nothing towards 3.
    let one_to_three = if keys[1] < keys[3] { 0 } else { 1_000_000 };
    let lopsided = Oracle::from_split(&map, &keys, &[500_000, one_to_three, 500_000, 500_000]);
    assert_eq!(FlowNet::new(&map, &lopsided).max_flow_msat(0, 3, 5_000_000), 500_000);
}

#[test]
fn cheapest_fee_prefers_one_path_then_splits() {
    let (map, keys) = diamond();
    let net = FlowNet::new(&map, &halves(&map, &keys));
    // 400 sat fit the cheap path: its base fee only (the payer's hop is free).
    assert_eq!(net.cheapest_fee_msat(0, 3, 400_000), Some(1_000));
    // 600 sat do not: 500 over the cheap path, 100 over the other.
    assert_eq!(net.cheapest_fee_msat(0, 3, 600_000), Some(3_000));
    // More than the flow: none.
    assert_eq!(net.cheapest_fee_msat(0, 3, 1_200_000), None);
}

#[test]
fn the_witness_carries_the_fees_the_max_flow_ignores() {
    let (map, keys) = diamond();
    // All of channel 1 (1-3) at node 1, nothing of channel 3 (2-3) at node 2: into 3 only via
    // 1, 1 000 sat.
    let all_at = |a: usize, b: usize| if keys[a] < keys[b] { 1_000_000 } else { 0 };
    let split = [500_000, all_at(1, 3), 500_000, all_at(3, 2)];
    let net = FlowNet::new(&map, &Oracle::from_split(&map, &keys, &split));
    // The max-flow delivers 1 000 sat, as if node 1 forwarded for free...
    assert_eq!(net.max_flow_msat(0, 3, 1_000_000), 1_000_000);
    // ...but the payer's hop would have to carry 1 000 sat and node 1's fee: 1 001 sat over a
    // 1 000 sat channel. Not payable; 999 sat are, for 1 sat of fees.
    assert_eq!(net.cheapest_fee_msat(0, 3, 1_000_000), None);
    assert_eq!(net.cheapest_fee_msat(0, 3, 999_000), Some(1_000));
    // A part over 1 → 3 with 1 000 msat of fees on top: fees on fees at 0 ppm are just the base.
    assert_eq!(net.cheapest_fee_msat(1, 3, 1_000_000), Some(0));
}

fn path(keys: &[PublicKey], hops: &[(usize, usize)], value_msat: u64, fee_msat: u64) -> Path {
    let n = hops.len();
    Path {
        hops: hops
            .iter()
            .enumerate()
            .map(|(i, &(channel, to))| RouteHop {
                pubkey: keys[to],
                node_features: NodeFeatures::empty(),
                short_channel_id: scid(channel),
                channel_features: ChannelFeatures::empty(),
                fee_msat: if i + 1 == n { value_msat } else { fee_msat },
                cltv_expiry_delta: 40,
                maybe_announced_channel: true,
            })
            .collect(),
        blinded_tail: None,
    }
}

#[test]
fn parts_hold_liquidity_and_fail_at_the_first_short_hop() {
    let (map, keys) = diamond();
    let oracle = halves(&map, &keys);
    let mut locks = Locks::new();
    // 0 → 1 → 3: 400 sat plus node 1's fee arrive.
    let p = path(&keys, &[(0, 1), (1, 3)], 400_000, 1_000);
    assert_eq!(oracle.send(&keys[0], &p, &mut locks), Ok(()));
    // A second part of 200 sat: hop 1 (1 → 3) has 100 sat left.
    let q = path(&keys, &[(0, 1), (1, 3)], 200_000, 1_000);
    let failure = oracle.send(&keys[0], &q, &mut locks).unwrap_err();
    assert_eq!((failure.hop, failure.scid), (1, scid(1)));
    // Nothing of the failed part is held: 100 sat still pass.
    let r = path(&keys, &[(0, 1), (1, 3)], 99_000, 1_000);
    assert_eq!(oracle.send(&keys[0], &r, &mut locks), Ok(()));
    // The payer's own channel holds its capacity: 1 000 sat, 401 + 100 held, 499 left.
    let s = path(&keys, &[(0, 1)], 500_000, 0);
    assert_eq!(oracle.send(&keys[0], &s, &mut locks).map_err(|f| f.hop), Err(0));
    let t = path(&keys, &[(0, 1)], 499_000, 0);
    assert_eq!(oracle.send(&keys[0], &t, &mut locks), Ok(()));
}

#[test]
fn first_hops_are_the_payers_channels_less_what_the_payment_holds() {
    let (map, keys) = diamond();
    let oracle = halves(&map, &keys);
    let mut locks = Locks::new();
    let free = |locks: &Locks| {
        let mut v: Vec<(u64, u64)> = oracle
            .first_hops(&keys[0], locks)
            .iter()
            .map(|c| (c.short_channel_id.unwrap(), c.next_outbound_htlc_limit_msat))
            .collect();
        v.sort_unstable();
        v
    };
    // Node 0's channels 0 (to 1) and 2 (to 2), all 1 000 sat on its side.
    assert_eq!(free(&locks), vec![(scid(0), 1_000_000), (scid(2), 1_000_000)]);
    let p = path(&keys, &[(0, 1), (1, 3)], 400_000, 1_000);
    oracle.send(&keys[0], &p, &mut locks).unwrap();
    assert_eq!(free(&locks), vec![(scid(0), 599_000), (scid(2), 1_000_000)]);
    // Node 3 has channels too; a key outside the map has none.
    assert_eq!(oracle.first_hops(&keys[3], &locks).len(), 2);
    assert!(oracle.first_hops(&node_key(99), &locks).is_empty());
}
