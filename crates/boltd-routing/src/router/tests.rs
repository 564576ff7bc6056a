//! Tests of the policy router: the policy scorer's penalties, exclusions, riskfactor,
//! randomization, fee and delay limits.

use super::*;

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::constants::ChainHash;
use bitcoin::secp256k1::SecretKey;
use bitcoin::Network;
use lightning::ln::msgs::UnsignedChannelUpdate;
use lightning::routing::gossip::{EffectiveCapacity, NodeId};
use lightning::routing::router::{CandidateRouteHop, Path, PaymentParameters, PublicHopCandidate};
use lightning::routing::scoring::{
    ChannelUsage, FixedPenaltyScorer, ProbabilisticScorer, ProbabilisticScoringDecayParameters,
};
use lightning::types::features::ChannelFeatures;

use crate::policy::{
    channel_direction, parse_exclusion, risk_cost_msat, scid_from_str, scid_to_string, Exclusion,
    DEFAULT_RISKFACTOR, RANDOM_PENALTY_BASE_MSAT, RANDOM_PENALTY_PERCENT,
};

const AMOUNT_MSAT: u64 = 100_000_000; // 100 000 sat
const FINAL_CLTV: u32 = 18;
const CAPACITY_SAT: u64 = 1_000_000;

fn key(i: u8) -> PublicKey {
    let secp = Secp256k1::new();
    PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[i; 32]).unwrap())
}

fn dir(from: &PublicKey, to: &PublicKey) -> u8 {
    channel_direction(&NodeId::from_pubkey(from), &NodeId::from_pubkey(to))
}

/// Payer P, destination D, and two routes P-B-D and P-C-D.
struct Net {
    router: NodeRouter,
    p: PublicKey,
    b: PublicKey,
    c: PublicKey,
    d: PublicKey,
    pb: u64,
    bd: u64,
    pc: u64,
    cd: u64,
}

fn now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
}

fn add_channel(graph: &Graph, scid: u64, x: &PublicKey, y: &PublicKey) {
    let (x, y) = (NodeId::from_pubkey(x), NodeId::from_pubkey(y));
    let (one, two) = if x < y { (x, y) } else { (y, x) };
    graph
        .add_channel_from_partial_announcement(
            scid,
            Some(CAPACITY_SAT),
            now() as u64,
            ChannelFeatures::empty(),
            one,
            two,
        )
        .unwrap();
}

fn update(graph: &Graph, scid: u64, from: &PublicKey, to: &PublicKey, ppm: u32, cltv: u16) {
    graph
        .update_channel_unsigned(&UnsignedChannelUpdate {
            chain_hash: ChainHash::using_genesis_block(Network::Regtest),
            short_channel_id: scid,
            timestamp: now(),
            message_flags: 1,
            channel_flags: dir(from, to),
            cltv_expiry_delta: cltv,
            htlc_minimum_msat: 1,
            htlc_maximum_msat: CAPACITY_SAT * 1000,
            fee_base_msat: 0,
            fee_proportional_millionths: ppm,
            excess_data: Vec::new(),
        })
        .unwrap();
}

/// B charges `b_ppm` and needs `b_cltv` blocks towards D; C likewise. The payer's own
/// channels are free with 40 blocks; every channel has both directions.
fn net(b_ppm: u32, b_cltv: u16, c_ppm: u32, c_cltv: u16) -> Net {
    let logger = Arc::new(LdkLogger);
    let graph = Arc::new(Graph::new(Network::Regtest, Arc::clone(&logger)));
    let (p, b, c, d) = (key(1), key(2), key(3), key(4));
    let pb = scid_from_str("100x1x0").unwrap();
    let bd = scid_from_str("100x2x0").unwrap();
    let pc = scid_from_str("100x3x0").unwrap();
    let cd = scid_from_str("100x4x0").unwrap();
    for (scid, x, y) in [(pb, &p, &b), (bd, &b, &d), (pc, &p, &c), (cd, &c, &d)] {
        add_channel(&graph, scid, x, y);
    }
    update(&graph, pb, &p, &b, 0, 40);
    update(&graph, pb, &b, &p, 0, 40);
    update(&graph, pc, &p, &c, 0, 40);
    update(&graph, pc, &c, &p, 0, 40);
    update(&graph, bd, &b, &d, b_ppm, b_cltv);
    update(&graph, bd, &d, &b, 0, 40);
    update(&graph, cd, &c, &d, c_ppm, c_cltv);
    update(&graph, cd, &d, &c, 0, 40);
    let scorer = ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        Arc::clone(&graph),
        Arc::clone(&logger),
    );
    let keys = Arc::new(KeysManager::new(&[7; 32], 1, 2, true));
    let router = NodeRouter::new(
        graph,
        logger,
        keys,
        Arc::new(RwLock::new(scorer)),
        ProbabilisticScoringFeeParameters::default(),
    );
    Net { router, p, b, c, d, pb, bd, pc, cd }
}

impl Net {
    fn params(&self, max_fee_msat: u64) -> RouteParameters {
        let mut params = RouteParameters::from_payment_params_and_value(
            PaymentParameters::from_node_id(self.d, FINAL_CLTV),
            AMOUNT_MSAT,
        );
        params.max_total_routing_fee_msat = Some(max_fee_msat);
        params
    }

    fn route(&self, policy: PaymentPolicy, params: &RouteParameters) -> Result<Route, &str> {
        let id = PaymentId([9; 32]);
        self.router.set_policy(id, policy);
        let r = self.router.find_route_with_id(
            &self.p,
            params,
            None,
            InFlightHtlcs::new(),
            PaymentHash([0; 32]),
            id,
        );
        self.router.clear_policy(&id);
        r
    }

    /// The intermediate node of a route found with `policy` and a generous fee limit.
    fn via(&self, policy: PaymentPolicy) -> PublicKey {
        let route = self.route(policy, &self.params(1_000_000)).unwrap();
        assert_eq!(route.paths.len(), 1);
        let hops = &route.paths[0].hops;
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1].pubkey, self.d);
        hops[0].pubkey
    }
}

fn fixed(riskfactor: f64) -> PaymentPolicy {
    PaymentPolicy { riskfactor, randomize: false, seed: 0, ..PaymentPolicy::default() }
}

fn excluding(s: &str) -> PaymentPolicy {
    let mut policy = fixed(0.0);
    policy.exclude(parse_exclusion(s).unwrap());
    policy
}

fn total_cltv(route: &Route) -> u32 {
    route.paths[0].hops.iter().map(|h| h.cltv_expiry_delta).sum()
}

#[test]
fn policy_scorer_penalties() {
    let n = net(100, 144, 100, 144);
    let graph = n.router.network_graph.read_only();
    let amount = AMOUNT_MSAT;
    let usage = ChannelUsage {
        amount_msat: amount,
        inflight_htlc_msat: 0,
        effective_capacity: EffectiveCapacity::Unknown,
    };
    let candidate = |scid: u64, from: &PublicKey| {
        let chan = graph.channel(scid).unwrap();
        let (info, _) = chan.as_directed_from(&NodeId::from_pubkey(from)).unwrap();
        CandidateRouteHop::PublicHop(PublicHopCandidate { info, short_channel_id: scid })
    };
    let bd = candidate(n.bd, &n.b);
    let db = candidate(n.bd, &n.d);
    let pb = candidate(n.pb, &n.p);
    let base = FixedPenaltyScorer::with_penalty(500);
    let score = |policy: &PaymentPolicy, c: &CandidateRouteHop| {
        PolicyScorer::new(&base, policy, &n.p, Some(&n.d)).channel_penalty_msat(c, usage, &())
    };

    // Risk: base + amount x 144 x riskfactor / 5 259 600.
    assert_eq!(score(&fixed(0.0), &bd), 500);
    assert_eq!(score(&fixed(10.0), &bd), 500 + risk_cost_msat(amount, 144, 10.0));

    // Directional channel exclusion.
    let mut p = fixed(10.0);
    p.exclude(Exclusion::Channel { scid: n.bd, direction: dir(&n.b, &n.d) });
    assert_eq!(score(&p, &bd), u64::MAX);
    assert_ne!(score(&p, &db), u64::MAX);

    // Node exclusion hits hops from and to the node; the payer and the destination are
    // never excluded by the scorer.
    let mut p = fixed(0.0);
    p.exclude(Exclusion::Node(n.b));
    assert_eq!(score(&p, &bd), u64::MAX);
    assert_eq!(score(&p, &pb), u64::MAX);
    let mut p = fixed(0.0);
    p.exclude(Exclusion::Node(n.p));
    p.exclude(Exclusion::Node(n.d));
    assert!(p.excludes_node(&n.d));
    assert_eq!(score(&p, &bd), 500);
    assert_eq!(score(&p, &pb), 500);

    // Randomization: deterministic per seed, bounded, and varying across seeds.
    let fee = amount * 100 / 1_000_000;
    let risk = risk_cost_msat(amount, 144, 10.0);
    let bound = (fee + 500 + risk) * RANDOM_PENALTY_PERCENT / 100 + RANDOM_PENALTY_BASE_MSAT;
    let mut seen = HashSet::new();
    for seed in 0..200 {
        let policy = PaymentPolicy { seed, ..fixed(10.0) };
        let policy = PaymentPolicy { randomize: true, ..policy };
        let s = score(&policy, &bd);
        assert_eq!(s, score(&policy, &bd));
        let extra = s - 500 - risk;
        assert!(extra <= bound, "seed {seed}: {extra} > {bound}");
        seen.insert(extra);
    }
    assert!(seen.len() > 150, "{}", seen.len());
}

#[test]
fn exclusions_steer_the_route() {
    // B is cheaper (100 ppm vs 200 ppm), same delays.
    let n = net(100, 40, 200, 40);
    assert_eq!(n.via(fixed(0.0)), n.b);

    let pb_fwd = format!("{}/{}", scid_to_string(n.pb), dir(&n.p, &n.b));
    let pb_back = format!("{}/{}", scid_to_string(n.pb), dir(&n.b, &n.p));
    let bd_fwd = format!("{}/{}", scid_to_string(n.bd), dir(&n.b, &n.d));
    assert_eq!(n.via(excluding(&pb_fwd)), n.c);
    assert_eq!(n.via(excluding(&bd_fwd)), n.c);
    // The other direction of the same channel is not excluded.
    assert_eq!(n.via(excluding(&pb_back)), n.b);
    // Excluding a node.
    assert_eq!(n.via(excluding(&n.b.to_string())), n.c);
    // Excluding C instead leaves the cheap route.
    assert_eq!(n.via(excluding(&n.c.to_string())), n.b);
    // Excluding the payer is ignored.
    assert_eq!(n.via(excluding(&n.p.to_string())), n.b);
    // Excluding both intermediaries leaves no route.
    let mut both = excluding(&n.b.to_string());
    both.exclude(Exclusion::Node(n.c));
    assert!(n.route(both, &n.params(1_000_000)).is_err());
    let pc_fwd = format!("{}/{}", scid_to_string(n.pc), dir(&n.p, &n.c));
    let mut both = excluding(&n.b.to_string());
    both.exclude(parse_exclusion(&pc_fwd).unwrap());
    assert!(n.route(both, &n.params(1_000_000)).is_err());
    let cd_fwd = format!("{}/{}", scid_to_string(n.cd), dir(&n.c, &n.d));
    let mut both = excluding(&bd_fwd);
    both.exclude(parse_exclusion(&cd_fwd).unwrap());
    assert!(n.route(both, &n.params(1_000_000)).is_err());
    // Excluding the destination fails early with a clear error.
    let policy = excluding(&n.d.to_string());
    assert!(policy.excludes_node(&n.d));
    assert_eq!(n.route(policy, &n.params(1_000_000)).unwrap_err(), ERR_DESTINATION_EXCLUDED);
    // With the policy cleared, the id routes with the default policy again.
    assert!(n.router.policy(&PaymentId([9; 32])).is_none());
}

#[test]
fn riskfactor_trades_fees_against_delay() {
    // B: 10 000 msat fee, 400 blocks; C: 20 000 msat fee, 40 blocks. The risk difference is
    // about 6 845 msat per unit of riskfactor.
    let n = net(100, 400, 200, 40);
    assert_eq!(n.via(fixed(0.0)), n.b);
    assert_eq!(n.via(fixed(1.0)), n.b);
    assert_eq!(n.via(fixed(DEFAULT_RISKFACTOR)), n.c);
    assert_eq!(n.via(fixed(100.0)), n.c);
    // The fee of the cheap route is what LDK reports.
    let route = n.route(fixed(0.0), &n.params(1_000_000)).unwrap();
    assert_eq!(route.get_total_fees(), 10_000);
}

#[test]
fn randomization_varies_equal_routes_by_seed() {
    let n = net(100, 40, 100, 40);
    let mut seen = HashSet::new();
    for seed in 0..64 {
        let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
        let via = n.via(policy.clone());
        // Same seed, same route.
        assert_eq!(n.via(policy), via);
        seen.insert(via);
    }
    assert_eq!(seen, HashSet::from([n.b, n.c]));
    // Without randomization the choice does not depend on the seed.
    let first = n.via(fixed(10.0));
    for seed in 0..16 {
        assert_eq!(n.via(PaymentPolicy { seed, ..fixed(10.0) }), first);
    }
}

#[test]
fn randomization_never_exceeds_the_fee_limit() {
    // B: 10 000 msat, C: 10 100 msat. Randomization sometimes prefers C, but never above
    // the limit.
    let n = net(100, 40, 101, 40);
    let generous = n.params(1_000_000);
    let mut seen = HashSet::new();
    for seed in 0..64 {
        let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
        let route = n.route(policy, &generous).unwrap();
        assert!(route.get_total_fees() <= 1_000_000);
        seen.insert(route.get_total_fees());
    }
    assert_eq!(seen, HashSet::from([10_000, 10_100]));

    // A limit of exactly B's fee: every seed, every riskfactor, only B.
    let tight = n.params(10_000);
    for seed in 0..64 {
        for riskfactor in [0.0, 10.0, 1_000.0] {
            let policy = PaymentPolicy { seed, riskfactor, ..PaymentPolicy::default() };
            let route = n.route(policy, &tight).unwrap();
            assert_eq!(route.get_total_fees(), 10_000);
            assert_eq!(route.paths[0].hops[0].pubkey, n.b);
        }
    }
    // Below every route's fee: no route rather than a too expensive one.
    let impossible = n.params(9_999);
    for seed in 0..16 {
        let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
        assert!(n.route(policy, &impossible).is_err());
    }
}

#[test]
fn max_total_cltv_bounds_route_and_shadow() {
    // B is cheaper but needs 400 blocks; C needs 40.
    let n = net(100, 400, 200, 40);
    assert_eq!(n.via(fixed(0.0)), n.b);

    let max_total = 200;
    let mut params = n.params(1_000_000);
    params.payment_params.max_total_cltv_expiry_delta = max_total;
    let mut shadowed = 0;
    for seed in 0..100 {
        // Each search draws fresh random bytes for the shadow offset from the keys manager.
        let route = n.route(PaymentPolicy { seed, ..fixed(0.0) }, &params).unwrap();
        assert_eq!(route.paths[0].hops[0].pubkey, n.c);
        let total = total_cltv(&route);
        assert!(total <= max_total, "seed {seed}: total CLTV {total} > {max_total}");
        // C's 40 blocks plus the final 18, plus the shadow offset.
        assert!(total >= 40 + FINAL_CLTV);
        if total > 40 + FINAL_CLTV {
            shadowed += 1;
        }
    }
    assert!(shadowed > 0, "no shadow offset was ever added");

    // Without a tight bound the shadow offset is still capped by the default bound.
    let route = n.route(fixed(0.0), &n.params(1_000_000)).unwrap();
    assert!(
        total_cltv(&route)
            <= route.route_params.unwrap().payment_params.max_total_cltv_expiry_delta
    );

    // A bound no route fits: an error, not a longer route.
    params.payment_params.max_total_cltv_expiry_delta = FINAL_CLTV + 1;
    assert!(n.route(fixed(0.0), &params).is_err());
}

#[test]
fn router_without_policy_uses_the_default() {
    let n = net(100, 40, 100, 40);
    let params = n.params(1_000_000);
    let route = n.router.find_route(&n.p, &params, None, InFlightHtlcs::new()).unwrap();
    assert!(route.get_total_fees() <= 1_000_000);
    let route = n
        .router
        .find_route_with_id(
            &n.p,
            &params,
            None,
            InFlightHtlcs::new(),
            PaymentHash([0; 32]),
            PaymentId([1; 32]),
        )
        .unwrap();
    assert_eq!(route.paths[0].hops.len(), 2);
    let default = PaymentPolicy::default();
    assert_eq!(default.riskfactor, 10.0);
    assert!(default.randomize);
    assert!(default.exclude_channels.is_empty() && default.exclude_nodes.is_empty());
    assert_ne!(default.seed, PaymentPolicy::default().seed);
}

#[test]
fn path_events_teach_the_search_when_bounds_are_set() {
    let n = net(100, 40, 100, 40);
    let params = n.params(1_000_000);
    let route = |n: &Net| {
        n.router
            .find_route_with_policy(&n.p, &params, None, InFlightHtlcs::new(), &fixed(0.0))
            .unwrap()
    };
    let first = route(&n).paths.remove(0);
    let last_hop = first.hops[1].short_channel_id;
    let scids = |p: &Path| p.hops.iter().map(|h| h.short_channel_id).collect::<Vec<_>>();
    // Without bounds nothing is learned: the same channels again (the shadow offset varies).
    n.router.learn_from_path(&n.p, &first, Some(last_hop));
    assert_eq!(scids(&route(&n).paths[0]), scids(&first));

    let bounds = Arc::new(RwLock::new(LiquidityBounds::new()));
    n.router.set_liquidity_bounds(Some(Arc::clone(&bounds)));
    n.router.learn_from_path(&n.p, &first, Some(last_hop));
    {
        let b = bounds.read().unwrap();
        let hops = crate::HopAmount::of_path(&n.p, &first);
        // The failing hop is bounded from above, the one before it from below.
        assert_eq!(b.bounds(hops[1].scid, hops[1].dir_key), Some((0, AMOUNT_MSAT - 1)));
        assert_eq!(b.bounds(hops[0].scid, hops[0].dir_key), Some((hops[0].amount_msat, u64::MAX)));
    }
    // The next search avoids the channel that could not carry the amount.
    let second = route(&n).paths.remove(0);
    assert_ne!(second.hops[1].short_channel_id, last_hop);
    // A success raises every hop's lower bound; a channel not on the path teaches nothing.
    n.router.learn_from_path(&n.p, &second, None);
    n.router.learn_from_path(&n.p, &second, Some(999));
    let b = bounds.read().unwrap();
    for h in crate::HopAmount::of_path(&n.p, &second) {
        assert_eq!(b.bounds(h.scid, h.dir_key), Some((h.amount_msat, u64::MAX)));
    }
    assert_eq!(b.len(), 4);
    drop(b);
    // Both ways to D failed at the amount, and D takes one part only: the bounds allow at most
    // fifteen sixteenths of it on either (in the widest of the searches with them); the router
    // then searches without them (a bound may be stale, or its failure not one of liquidity)
    // rather than find no route.
    n.router.learn_from_path(&n.p, &second, Some(second.hops[1].short_channel_id));
    let third = route(&n);
    assert_eq!(third.paths.iter().map(|p| p.final_value_msat()).sum::<u64>(), AMOUNT_MSAT);
}

#[test]
fn when_the_bounds_leave_no_route_more_of_them_is_trusted_before_they_are_dropped() {
    let n = net(100, 40, 100, 40);
    let bounds = Arc::new(RwLock::new(LiquidityBounds::new()));
    n.router.set_liquidity_bounds(Some(Arc::clone(&bounds)));
    let mut f = lightning::types::features::Bolt11InvoiceFeatures::empty();
    f.set_variable_length_onion_required();
    f.set_payment_secret_required();
    f.set_basic_mpp_optional();
    let pp = PaymentParameters::from_node_id(n.d, FINAL_CLTV).with_bolt11_features(f).unwrap();
    let mut params = RouteParameters::from_payment_params_and_value(pp, AMOUNT_MSAT);
    params.max_total_routing_fee_msat = Some(1_000_000);
    // B - D failed at the whole amount, C - D at half of it.
    {
        let mut b = bounds.write().unwrap();
        b.path_failed(
            &[crate::HopAmount {
                scid: n.bd,
                dir_key: dir(&n.b, &n.d) == 0,
                amount_msat: AMOUNT_MSAT,
            }],
            0,
        );
        b.path_failed(
            &[crate::HopAmount {
                scid: n.cd,
                dir_key: dir(&n.c, &n.d) == 0,
                amount_msat: AMOUNT_MSAT / 2,
            }],
            0,
        );
    }
    // At the middles (1/2 and 1/4 of the amount) there is no route; at three quarters of what
    // is possible (3/4 and 3/8) there is, and no part sends more than that.
    let route = n
        .router
        .find_route_with_policy(&n.p, &params, None, InFlightHtlcs::new(), &fixed(0.0))
        .unwrap();
    assert_eq!(route.paths.iter().map(|p| p.final_value_msat()).sum::<u64>(), AMOUNT_MSAT);
    for p in &route.paths {
        let last = p.hops.last().unwrap();
        let cap =
            if last.short_channel_id == n.bd { AMOUNT_MSAT * 3 / 4 } else { AMOUNT_MSAT * 3 / 8 };
        assert!(p.final_value_msat() <= cap, "{route:?}");
    }
}
