//! Unit tests of the search on small hand-made graphs, checked against LDK's `find_route` on
//! the same graphs.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::msgs::UnsignedChannelUpdate;
use lightning::routing::gossip::NodeId;
use lightning::routing::router::{
    find_route as ldk_find_route, InFlightHtlcs, Path, PaymentParameters, Route, RouteHint,
    RouteHintHop, RouteParameters,
};
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::types::features::{Bolt11InvoiceFeatures, ChannelFeatures};
use lightning::types::routing::RoutingFees;

use super::search::{self, Scratch, ERR_INSUFFICIENT, ERR_NO_PATH};
use super::{GraphView, InFlight, Request, RoutingEngine, SearchError};
use crate::logger::LdkLogger;
use crate::policy::{risk_cost_msat, Exclusion, PaymentPolicy};
use crate::types::Graph;

const FINAL_CLTV: u32 = 18;

pub(crate) fn key(i: usize) -> PublicKey {
    let secp = Secp256k1::new();
    let mut b = [0u8; 32];
    b[0] = 1;
    b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&b).unwrap())
}

fn now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
}

#[derive(Clone, Copy)]
struct Policy {
    base: u32,
    ppm: u32,
    cltv: u16,
    min: u64,
    max: Option<u64>,
    enabled: bool,
}

fn pol(base: u32, ppm: u32, cltv: u16) -> Policy {
    Policy { base, ppm, cltv, min: 1, max: None, enabled: true }
}

/// A graph of nodes `key(0..)` and channels added by the tests.
struct Net {
    graph: Arc<Graph>,
    next_scid: u64,
}

impl Net {
    fn new() -> Self {
        Net { graph: Arc::new(Graph::new(Network::Regtest, Arc::new(LdkLogger))), next_scid: 1 }
    }

    /// A channel a-b of `cap_sat` with policies a→b and b→a; returns its scid.
    fn chan(&mut self, a: usize, b: usize, cap_sat: u64, ab: Policy, ba: Policy) -> u64 {
        let scid = (100 + self.next_scid) << 40 | self.next_scid << 16;
        self.next_scid += 1;
        let (x, y) = (NodeId::from_pubkey(&key(a)), NodeId::from_pubkey(&key(b)));
        let (one, two) = if x < y { (x, y) } else { (y, x) };
        self.graph
            .add_channel_from_partial_announcement(
                scid,
                Some(cap_sat),
                now() as u64,
                ChannelFeatures::empty(),
                one,
                two,
            )
            .unwrap();
        self.update(scid, a, b, ab);
        self.update(scid, b, a, ba);
        scid
    }

    fn update(&self, scid: u64, from: usize, to: usize, p: Policy) {
        let dir = u8::from(NodeId::from_pubkey(&key(from)) > NodeId::from_pubkey(&key(to)));
        let cap = self.graph.read_only().channel(scid).unwrap().capacity_sats.unwrap();
        self.graph
            .update_channel_unsigned(&UnsignedChannelUpdate {
                chain_hash: ChainHash::using_genesis_block(Network::Regtest),
                short_channel_id: scid,
                timestamp: now(),
                message_flags: 1,
                channel_flags: dir | if p.enabled { 0 } else { 2 },
                cltv_expiry_delta: p.cltv,
                htlc_minimum_msat: p.min,
                htlc_maximum_msat: p.max.unwrap_or(cap * 1000),
                fee_base_msat: p.base,
                fee_proportional_millionths: p.ppm,
                excess_data: Vec::new(),
            })
            .unwrap();
    }

    fn view(&self) -> GraphView {
        GraphView::from_graph(&self.graph.read_only(), 0)
    }
}

fn params(payee: usize, amount_msat: u64, max_fee: Option<u64>) -> RouteParameters {
    let mut rp = RouteParameters::from_payment_params_and_value(
        PaymentParameters::from_node_id(key(payee), FINAL_CLTV),
        amount_msat,
    );
    rp.max_total_routing_fee_msat = max_fee;
    rp
}

fn mpp_params(payee: usize, amount_msat: u64, max_fee: Option<u64>) -> RouteParameters {
    let mut f = Bolt11InvoiceFeatures::empty();
    f.set_variable_length_onion_required();
    f.set_payment_secret_required();
    f.set_basic_mpp_optional();
    let pp =
        PaymentParameters::from_node_id(key(payee), FINAL_CLTV).with_bolt11_features(f).unwrap();
    let mut rp = RouteParameters::from_payment_params_and_value(pp, amount_msat);
    rp.max_total_routing_fee_msat = max_fee;
    rp
}

fn fixed(riskfactor: f64) -> PaymentPolicy {
    PaymentPolicy { riskfactor, randomize: false, seed: 0, ..PaymentPolicy::default() }
}

fn ours_with(
    view: &GraphView,
    payer: usize,
    rp: &RouteParameters,
    policy: &PaymentPolicy,
    first_hops: Option<&[&ChannelDetails]>,
    seed: [u8; 32],
) -> Result<Route, SearchError> {
    let inflight = InFlight::default();
    let req = Request {
        payer: key(payer),
        route_params: rp,
        first_hops,
        inflight: &inflight,
        policy,
        random_seed_bytes: seed,
        learned: None,
        learned_cap: Default::default(),
    };
    search::find_route(view, &mut Scratch::default(), &req)
}

fn ours(
    view: &GraphView,
    payer: usize,
    rp: &RouteParameters,
    policy: &PaymentPolicy,
) -> Result<Route, SearchError> {
    ours_with(view, payer, rp, policy, None, [3; 32])
}

fn ldk(
    net: &Net,
    payer: usize,
    rp: &RouteParameters,
    first_hops: Option<&[&ChannelDetails]>,
    seed: [u8; 32],
) -> Result<Route, &'static str> {
    let logger = Arc::new(LdkLogger);
    let scorer = ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        Arc::clone(&net.graph),
        Arc::clone(&logger),
    );
    ldk_find_route(
        &key(payer),
        rp,
        &net.graph,
        first_hops,
        &*logger,
        &scorer,
        &ProbabilisticScoringFeeParameters::default(),
        &seed,
    )
}

fn total_cltv(p: &Path) -> u32 {
    p.hops.iter().map(|h| h.cltv_expiry_delta).sum()
}

fn nodes_of(p: &Path) -> Vec<PublicKey> {
    p.hops.iter().map(|h| h.pubkey).collect()
}

/// Payer 0, payee 5: a line 0-1-2-3-5 with uneven fees, HTLC minimums and CLTV deltas, and a
/// side branch 3-4 for the shadow walk.
fn line() -> Net {
    let mut n = Net::new();
    let back = pol(0, 0, 40);
    n.chan(0, 1, 2_000_000, pol(7, 3, 40), back);
    n.chan(1, 2, 2_000_000, pol(1_000, 250, 144), back);
    n.chan(2, 3, 3_000_000, Policy { min: 10_000, ..pol(3_333, 1, 80) }, back);
    n.chan(3, 5, 1_500_000, pol(0, 1_234, 34), pol(0, 0, 12));
    n.chan(3, 4, 1_000_000, pol(10, 10, 99), pol(0, 0, 77));
    n.chan(4, 5, 1_000_000, pol(50_000, 5_000, 200), pol(0, 0, 55));
    n
}

#[test]
fn a_unique_route_equals_ldks_hop_for_hop() {
    let n = line();
    let view = n.view();
    for amount in [12_345, 12_345_678, 100_000_000] {
        let rp = params(5, amount, None);
        for s in 0..24u8 {
            let seed = [s; 32];
            let a = ldk(&n, 0, &rp, None, seed).unwrap();
            let b = ours_with(&view, 0, &rp, &fixed(0.0), None, seed).unwrap();
            // Same hops, fees, CLTV deltas (shadow offset included), features and flags.
            assert_eq!(a, b, "amount {amount}, seed {s}");
        }
    }
    // The fees are the hops' own arithmetic: hop i pays hop i+1's fee on what it forwards.
    let r = ours(&view, 0, &params(5, 100_000_000, None), &fixed(0.0)).unwrap();
    let h = &r.paths[0].hops;
    assert_eq!(nodes_of(&r.paths[0]), vec![key(1), key(2), key(3), key(5)]);
    let to5 = 100_000_000u64;
    let f35 = 1_234 * to5 / 1_000_000;
    let f23 = 3_333 + (to5 + f35) / 1_000_000;
    let f12 = 1_000 + (to5 + f35 + f23) * 250 / 1_000_000;
    assert_eq!([h[0].fee_msat, h[1].fee_msat, h[2].fee_msat, h[3].fee_msat], [f12, f23, f35, to5]);
    assert_eq!(
        [h[0].cltv_expiry_delta, h[1].cltv_expiry_delta, h[2].cltv_expiry_delta],
        [144, 80, 34]
    );
    assert!(h[3].cltv_expiry_delta >= FINAL_CLTV);
}

#[test]
fn route_hints_and_first_hops_equal_ldks() {
    let mut n = line();
    // A private node 9 behind 5 (hint), and our first hop to 1 (its real outbound limit).
    let hint = RouteHint(vec![RouteHintHop {
        src_node_id: key(5),
        short_channel_id: 999 << 40,
        fees: RoutingFees { base_msat: 21, proportional_millionths: 321 },
        cltv_expiry_delta: 66,
        htlc_minimum_msat: None,
        htlc_maximum_msat: Some(500_000_000),
    }]);
    let _ = &mut n;
    let view = n.view();
    let pp =
        PaymentParameters::from_node_id(key(9), FINAL_CLTV).with_route_hints(vec![hint]).unwrap();
    let rp = RouteParameters::from_payment_params_and_value(pp, 42_000_000);
    let chan01 = view.chan_scids[0];
    let fh = first_hop(1, chan01, 900_000_000, 1_000);
    let hops = [&fh];
    for s in 0..8u8 {
        let a = ldk(&n, 0, &rp, Some(&hops), [s; 32]).unwrap();
        let b = ours_with(&view, 0, &rp, &fixed(0.0), Some(&hops), [s; 32]).unwrap();
        assert_eq!(a, b, "seed {s}");
        assert_eq!(b.paths[0].hops.last().unwrap().pubkey, key(9));
        assert_eq!(b.paths[0].hops.last().unwrap().short_channel_id, 999 << 40);
    }
    // The first hop's limit is real: below the amount, no route (the graph's own view of that
    // channel is ignored when first hops are given).
    let small = first_hop(1, chan01, 1_000_000, 1);
    let r = ours_with(&view, 0, &rp, &fixed(0.0), Some(&[&small]), [0; 32]);
    assert_eq!(r.unwrap_err(), SearchError::Failed(ERR_NO_PATH));
    assert!(ldk(&n, 0, &rp, Some(&[&small]), [0; 32]).is_err());
}

pub(crate) fn first_hop(peer: usize, scid: u64, limit_msat: u64, min_msat: u64) -> ChannelDetails {
    crate::types::usable_channel(key(peer), scid, 2_000_000, limit_msat, min_msat)
}

/// Payer 0, payee 9, and `k` parallel routes 0-(10+i)-9 of capacity `cap_sat` each, route i
/// charging `base_i` + `ppm_i`.
fn parallel(k: usize, cap_sat: u64, fee: impl Fn(usize) -> (u32, u32)) -> (Net, Vec<(u64, u64)>) {
    let mut n = Net::new();
    let mut scids = Vec::new();
    for i in 0..k {
        let (base, ppm) = fee(i);
        let a = n.chan(0, 10 + i, cap_sat * 4, pol(0, 0, 40), pol(0, 0, 40));
        let b = n.chan(10 + i, 9, cap_sat, pol(base, ppm, 40), pol(0, 0, 40));
        scids.push((a, b));
    }
    (n, scids)
}

#[test]
fn the_fee_limit_holds_with_randomization() {
    // Eight routes, fees 10 000 + 1 000·i msat for 10 000 sat.
    let (n, _) = parallel(8, 1_000_000, |i| (10_000 + 1_000 * i as u32, 0));
    let view = n.view();
    let mut seen = HashSet::new();
    for seed in 0..300 {
        let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
        let limit = 12_000;
        let r = ours(&view, 0, &params(9, 10_000_000, Some(limit)), &policy).unwrap();
        assert!(r.get_total_fees() <= limit, "seed {seed}: {}", r.get_total_fees());
        seen.insert(r.get_total_fees());
        // A limit of exactly the cheapest route's fee leaves only that route.
        let r = ours(&view, 0, &params(9, 10_000_000, Some(10_000)), &policy).unwrap();
        assert_eq!(r.get_total_fees(), 10_000);
        // Below every route: none.
        let e = ours(&view, 0, &params(9, 10_000_000, Some(9_999)), &policy).unwrap_err();
        assert_eq!(e, SearchError::Failed(ERR_NO_PATH));
    }
    // Randomization does pick among the routes within the limit.
    assert_eq!(seen, HashSet::from([10_000, 11_000, 12_000]));
}

#[test]
fn exclusions_apply_per_direction() {
    // 0-1-2 and 0-3-2; route via 1 is cheaper. Pay 0→2 and 2→0.
    let mut n = Net::new();
    let c01 = n.chan(0, 1, 1_000_000, pol(0, 100, 40), pol(0, 100, 40));
    let c12 = n.chan(1, 2, 1_000_000, pol(0, 100, 40), pol(0, 100, 40));
    n.chan(0, 3, 1_000_000, pol(0, 900, 40), pol(0, 900, 40));
    n.chan(3, 2, 1_000_000, pol(0, 900, 40), pol(0, 900, 40));
    let view = n.view();
    let dir =
        |a: usize, b: usize| u8::from(NodeId::from_pubkey(&key(a)) > NodeId::from_pubkey(&key(b)));
    let via = |payer: usize, payee: usize, p: &PaymentPolicy| {
        let r = ours(&view, payer, &params(payee, 1_000_000, None), p).unwrap();
        r.paths[0].hops[0].pubkey
    };
    let excluding = |e: Exclusion| {
        let mut p = fixed(0.0);
        p.exclude(e);
        p
    };
    assert_eq!(via(0, 2, &fixed(0.0)), key(1));
    assert_eq!(via(2, 0, &fixed(0.0)), key(1));
    // 1→2 excluded: 0→2 avoids it, 2→0 (over 2→1) does not.
    let p = excluding(Exclusion::Channel { scid: c12, direction: dir(1, 2) });
    assert_eq!(via(0, 2, &p), key(3));
    assert_eq!(via(2, 0, &p), key(1));
    // 2→1 excluded: the other way round.
    let p = excluding(Exclusion::Channel { scid: c12, direction: dir(2, 1) });
    assert_eq!(via(0, 2, &p), key(1));
    assert_eq!(via(2, 0, &p), key(3));
    // The payer's own channel, one direction.
    let p = excluding(Exclusion::Channel { scid: c01, direction: dir(0, 1) });
    assert_eq!(via(0, 2, &p), key(3));
    // A node, both ways.
    let p = excluding(Exclusion::Node(key(1)));
    assert_eq!(via(0, 2, &p), key(3));
    assert_eq!(via(2, 0, &p), key(3));
    // Both routes cut: no route.
    let mut p = excluding(Exclusion::Node(key(1)));
    p.exclude(Exclusion::Node(key(3)));
    let e = ours(&view, 0, &params(2, 1_000_000, None), &p).unwrap_err();
    assert_eq!(e, SearchError::Failed(ERR_NO_PATH));
    // LDK's previously failed channels are avoided in both directions.
    let mut rp = params(2, 1_000_000, None);
    rp.payment_params.previously_failed_channels.push(c12);
    assert_eq!(ours(&view, 0, &rp, &fixed(0.0)).unwrap().paths[0].hops[0].pubkey, key(3));
    let mut rp = params(0, 1_000_000, None);
    rp.payment_params.previously_failed_channels.push(c12);
    assert_eq!(ours(&view, 2, &rp, &fixed(0.0)).unwrap().paths[0].hops[0].pubkey, key(3));
}

#[test]
fn maxdelay_bounds_route_and_shadow() {
    // Via 1: cheap but 400 blocks; via 3: 40 blocks.
    let mut n = Net::new();
    n.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(1, 2, 1_000_000, pol(0, 100, 400), pol(0, 0, 40));
    n.chan(0, 3, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(3, 2, 1_000_000, pol(0, 200, 40), pol(0, 0, 40));
    // Side channels so the shadow walk has somewhere to go.
    n.chan(2, 4, 1_000_000, pol(0, 0, 144), pol(0, 0, 144));
    n.chan(4, 5, 1_000_000, pol(0, 0, 144), pol(0, 0, 144));
    let view = n.view();
    assert_eq!(
        ours(&view, 0, &params(2, 1_000_000, None), &fixed(0.0)).unwrap().paths[0].hops[0].pubkey,
        key(1)
    );
    let mut shadowed = 0;
    for max in [200u32, 333, 1008] {
        let mut rp = params(2, 1_000_000, None);
        rp.payment_params.max_total_cltv_expiry_delta = max;
        for s in 0..50u8 {
            let policy = PaymentPolicy { seed: u64::from(s), ..fixed(0.0) };
            let r = ours_with(&view, 0, &rp, &policy, None, [s; 32]).unwrap();
            let total = total_cltv(&r.paths[0]);
            assert!(total <= max, "max {max}, seed {s}: {total}");
            if max < 400 + FINAL_CLTV + 80 {
                assert_eq!(r.paths[0].hops[0].pubkey, key(3));
            }
            if total > 40 + FINAL_CLTV && r.paths[0].hops[0].pubkey == key(3) {
                shadowed += 1;
            }
            // The same random bytes give LDK's route (its scorer prefers the same hop here).
            if max < 400 {
                assert_eq!(r, ldk(&n, 0, &rp, None, [s; 32]).unwrap());
            }
        }
    }
    assert!(shadowed > 0);
    // A bound no route fits.
    let mut rp = params(2, 1_000_000, None);
    rp.payment_params.max_total_cltv_expiry_delta = FINAL_CLTV + 39;
    assert!(ours(&view, 0, &rp, &fixed(0.0)).is_err());
    rp.payment_params.max_total_cltv_expiry_delta = FINAL_CLTV;
    assert!(matches!(ours(&view, 0, &rp, &fixed(0.0)), Err(SearchError::Failed(_))));
}

#[test]
fn htlc_minimum_and_maximum_are_respected() {
    // Via 1: cheap, htlc_min 5 000 sat, htlc_max 20 000 sat; via 3: pricier, no limits.
    let mut n = Net::new();
    n.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(
        1,
        2,
        1_000_000,
        Policy { min: 5_000_000, max: Some(20_000_000), ..pol(0, 10, 40) },
        pol(0, 0, 40),
    );
    n.chan(0, 3, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(3, 2, 1_000_000, pol(0, 900, 40), pol(0, 0, 40));
    let view = n.view();
    let via = |amount: u64| {
        ours(&view, 0, &params(2, amount, None), &fixed(0.0)).unwrap().paths[0].hops[0].pubkey
    };
    assert_eq!(via(4_999_999), key(3));
    assert_eq!(via(5_000_000), key(1));
    assert_eq!(via(20_000_000), key(1));
    assert_eq!(via(20_000_001), key(3));
    // Channel saturation: at most a quarter of the 1M sat channel per path first; a path that
    // needs more is still found once no path fits (LDK relaxes the same way).
    let one = Net::new();
    let _ = one;
    let mut m = Net::new();
    m.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    m.chan(1, 2, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    let v = m.view();
    let r = ours(&v, 0, &params(2, 600_000_000, None), &fixed(0.0)).unwrap();
    assert_eq!(r.paths.len(), 1);
    assert!(ours(&v, 0, &params(2, 1_000_000_001, None), &fixed(0.0)).is_err());
}

#[test]
fn unreachable_payees_fail_cleanly() {
    let mut n = line();
    // 7-8 is an island.
    n.chan(7, 8, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    // 6 hangs off 5 by a channel only one side has updated: LDK does not route over it.
    let scid = (500u64) << 40;
    let (x, y) = (NodeId::from_pubkey(&key(5)), NodeId::from_pubkey(&key(6)));
    let (one, two) = if x < y { (x, y) } else { (y, x) };
    n.graph
        .add_channel_from_partial_announcement(
            scid,
            Some(1_000_000),
            now() as u64,
            ChannelFeatures::empty(),
            one,
            two,
        )
        .unwrap();
    n.update(scid, 5, 6, pol(0, 0, 40));
    let view = n.view();
    for payee in [8, 6, 42] {
        let e = ours(&view, 0, &params(payee, 1_000, None), &fixed(0.0)).unwrap_err();
        assert_eq!(e, SearchError::Failed(ERR_NO_PATH), "payee {payee}");
        assert!(ldk(&n, 0, &params(payee, 1_000, None), None, [0; 32]).is_err());
    }
    // A disabled direction is not used.
    let mut m = Net::new();
    m.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    m.chan(1, 2, 1_000_000, Policy { enabled: false, ..pol(0, 0, 40) }, pol(0, 0, 40));
    let v = m.view();
    assert!(ours(&v, 0, &params(2, 1_000, None), &fixed(0.0)).is_err());
    assert!(ours(&v, 2, &params(0, 1_000, None), &fixed(0.0)).is_ok());
    // LDK's preconditions, with its messages.
    let e = ours(&view, 0, &params(0, 1_000, None), &fixed(0.0)).unwrap_err();
    assert_eq!(e, SearchError::Failed("Cannot generate a route to ourselves"));
    let e = ours(&view, 0, &params(5, 0, None), &fixed(0.0)).unwrap_err();
    assert_eq!(e, SearchError::Failed("Cannot send a payment of 0 msat"));
}

#[test]
fn riskfactor_prices_delay() {
    // Via 1: 10 000 msat fee, 400 blocks; via 3: 20 000 msat, 40 blocks (100 000 sat).
    let mut n = Net::new();
    n.chan(0, 1, 10_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(1, 2, 10_000_000, pol(0, 100, 400), pol(0, 0, 40));
    n.chan(0, 3, 10_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(3, 2, 10_000_000, pol(0, 200, 40), pol(0, 0, 40));
    let view = n.view();
    let via = |rf: f64| {
        ours(&view, 0, &params(2, 100_000_000, None), &fixed(rf)).unwrap().paths[0].hops[0].pubkey
    };
    // The risk difference is about 6 845 msat per unit of riskfactor.
    assert!(risk_cost_msat(100_000_000, 400, 1.0) - risk_cost_msat(100_000_000, 40, 1.0) > 6_800);
    assert_eq!(via(0.0), key(1));
    assert_eq!(via(1.0), key(1));
    assert_eq!(via(10.0), key(3));
}

#[test]
fn inflight_htlcs_are_read_and_lower_the_probability() {
    let mut inflight = InFlightHtlcs::new();
    let (a, b) = (NodeId::from_pubkey(&key(1)), NodeId::from_pubkey(&key(2)));
    inflight.add_inflight_htlc(&a, &b, 77, 1_000);
    inflight.add_inflight_htlc(&b, &a, 77, 2_000);
    inflight.add_inflight_htlc(&a, &b, 88, 5);
    let read = InFlight::from_ldk(&inflight);
    assert_eq!(read.0.len(), 3);
    assert_eq!(read.0[&(77, a < b)], 1_000);
    assert_eq!(read.0[&(77, b < a)], 2_000);
    assert_eq!(read.0[&(88, a < b)], 5);

    // Two equal routes; a large HTLC in flight on one of them moves the payment to the other.
    let (n, scids) = parallel(2, 1_000_000, |_| (0, 100));
    let view = n.view();
    let rp = params(9, 100_000_000, None);
    let first = ours(&view, 0, &rp, &fixed(0.0)).unwrap();
    let used = first.paths[0].hops[1].short_channel_id;
    let mid = first.paths[0].hops[0].pubkey;
    let mut inflight = InFlightHtlcs::new();
    inflight.add_inflight_htlc(
        &NodeId::from_pubkey(&mid),
        &NodeId::from_pubkey(&key(9)),
        used,
        800_000_000,
    );
    let read = InFlight::from_ldk(&inflight);
    let req = Request {
        payer: key(0),
        route_params: &rp,
        first_hops: None,
        inflight: &read,
        policy: &fixed(0.0),
        random_seed_bytes: [0; 32],
        learned: None,
        learned_cap: Default::default(),
    };
    let second = search::find_route(&view, &mut Scratch::default(), &req).unwrap();
    assert_ne!(second.paths[0].hops[1].short_channel_id, used);
    assert!(scids.iter().any(|(_, b)| *b == second.paths[0].hops[1].short_channel_id));
}

#[test]
fn the_view_round_trips_and_rejects_bad_bytes() {
    let n = line();
    let view = n.view();
    let bytes = view.to_bytes();
    let back = GraphView::from_bytes(&bytes).unwrap();
    assert_eq!(back, view);
    assert_eq!(view.node_count(), 6);
    assert_eq!(view.channel_count(), 6);
    // Each channel has both directions enabled: 12 routable directions.
    assert_eq!(view.edge_count(), 12);
    assert!(view.heap_bytes() > 0);
    // Truncated, flipped, or not a view at all: errors, no panics.
    assert!(GraphView::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        assert!(GraphView::from_bytes(&b).is_err(), "flip at {i}");
    }
    assert!(GraphView::from_bytes(b"BOLTDRV1").is_err());
    assert!(GraphView::from_bytes(&[]).is_err());
    // The same route from the read-back view.
    let rp = params(5, 1_000_000, None);
    assert_eq!(ours(&back, 0, &rp, &fixed(0.0)), ours(&view, 0, &rp, &fixed(0.0)));
}

#[test]
fn the_engine_follows_a_small_graph_synchronously() {
    let mut n = Net::new();
    n.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    let engine = RoutingEngine::from_graph(&n.graph);
    assert!(engine.is_fresh());
    let rp = params(2, 1_000, None);
    assert!(ours(&engine.view_for_search(&n.graph), 0, &rp, &fixed(0.0)).is_err());
    // A new channel, counted as a change: the next search sees it.
    n.chan(1, 2, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    engine.graph_changed();
    assert!(!engine.is_fresh());
    let view = engine.view_for_search(&n.graph);
    assert!(engine.is_fresh());
    assert!(ours(&view, 0, &rp, &fixed(0.0)).is_ok());
    // An older view never replaces a newer one.
    let old = GraphView::empty();
    engine.install(old);
    assert_eq!(engine.view().channel_count(), 2);
}

fn ours_learned(
    view: &GraphView,
    rp: &RouteParameters,
    learned: &crate::LiquidityBounds,
) -> Result<Route, SearchError> {
    let inflight = InFlight::default();
    let req = Request {
        payer: key(0),
        route_params: rp,
        first_hops: None,
        inflight: &inflight,
        policy: &fixed(0.0),
        random_seed_bytes: [0; 32],
        learned: Some(learned),
        learned_cap: Default::default(),
    };
    search::find_route(view, &mut Scratch::default(), &req)
}

fn dir_key(from: usize, to: usize) -> bool {
    NodeId::from_pubkey(&key(from)) < NodeId::from_pubkey(&key(to))
}

#[test]
fn learned_bounds_steer_the_search() {
    // 0-1-3 is cheaper than 0-2-3; both 1 000 000 sat.
    let mut net = Net::new();
    let _a = net.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    let b = net.chan(1, 3, 1_000_000, pol(1000, 100, 40), pol(1000, 100, 40));
    let _c = net.chan(0, 2, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    let d = net.chan(2, 3, 1_000_000, pol(2000, 200, 40), pol(2000, 200, 40));
    let view = net.view();
    let amount = 100_000_000; // 100 000 sat
    let rp = params(3, amount, None);
    let via = |r: &Route| r.paths[0].hops[1].short_channel_id;
    let mut learned = crate::LiquidityBounds::new();
    // Nothing learned: the cheap route.
    assert_eq!(via(&ours_with(&view, 0, &rp, &fixed(0.0), None, [0; 32]).unwrap()), b);
    assert_eq!(via(&ours_learned(&view, &rp, &learned).unwrap()), b);
    // 1→3 failed at 100 000 sat: the other route, though dearer.
    learned.path_failed(
        &[crate::HopAmount { scid: b, dir_key: dir_key(1, 3), amount_msat: amount }],
        0,
    );
    assert_eq!(via(&ours_learned(&view, &rp, &learned).unwrap()), d);
    // The other direction of the failed channel is not affected.
    assert!(learned.bounds(b, !dir_key(1, 3)).is_none());
    // A smaller amount well below the upper bound still takes the cheap route.
    let small = params(3, amount / 100, None);
    assert_eq!(via(&ours_learned(&view, &small, &learned).unwrap()), b);
    // LDK's retry bans the failed channel: without bounds for it the search avoids it at any
    // amount; with them, the bound decides.
    let mut banned = small.clone();
    banned.payment_params.previously_failed_channels.push(b);
    let nothing = crate::LiquidityBounds::new();
    assert_eq!(via(&ours_learned(&view, &banned, &nothing).unwrap()), d);
    assert_eq!(via(&ours_learned(&view, &banned, &learned).unwrap()), b);
    let mut banned_big = rp.clone();
    banned_big.payment_params.previously_failed_channels.push(b);
    assert_eq!(via(&ours_learned(&view, &banned_big, &learned).unwrap()), d);
}

#[test]
fn learned_upper_bound_caps_what_a_direction_carries() {
    // One route 0-1-2 over a 100 000 sat channel 1-2. Known to hold the amount: one part.
    let mut net = Net::new();
    let _a = net.chan(0, 1, 1_000_000, pol(0, 0, 40), pol(0, 0, 40));
    let b = net.chan(1, 2, 100_000, pol(0, 10, 40), pol(0, 10, 40));
    let view = net.view();
    let amount = 60_000_000;
    let rp = mpp_params(2, amount, None);
    let mut learned = crate::LiquidityBounds::new();
    learned.path_succeeded(&[crate::HopAmount {
        scid: b,
        dir_key: dir_key(1, 2),
        amount_msat: amount,
    }]);
    let r = ours_learned(&view, &rp, &learned).unwrap();
    assert_eq!(r.paths.len(), 1);
    assert_eq!(r.get_total_amount(), amount);
    // Known to hold less than the amount: no route at all (one channel into the payee).
    let mut short = crate::LiquidityBounds::new();
    short.path_failed(
        &[crate::HopAmount { scid: b, dir_key: dir_key(1, 2), amount_msat: 50_000_000 }],
        0,
    );
    let r = ours_learned(&view, &rp, &short);
    assert!(r.is_err(), "{r:?}");
}

mod split;
