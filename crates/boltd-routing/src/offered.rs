//! Routes found for a payment just before it is handed to LDK, reused for LDK's first search.
//!
//! The payment engine checks, before anything leaves, that a route within the payment's limits
//! exists (its pre-flight); LDK's `pay_for_bolt11_invoice` then asks the router for a route
//! again, a moment later, for the same payment. On a mainnet-size graph a search takes about a
//! millisecond: the engine offers the route it found ([`crate::router::PolicyRouter::offer_route`])
//! and the router answers LDK's first search for that payment with it, when it still fits:
//! - the same request: the payee and amount, no channel failed since, within LDK's fee limit and
//!   the delay limit;
//! - every first hop still one of our usable channels, able to carry what the route puts on it
//!   now (another payment may have taken the room meanwhile);
//! - offered at most [`OFFER_TTL`] ago.
//!
//! Otherwise (and for every later search: LDK's retries) the router searches as always. An
//! offered route is used once; offers nobody took are dropped after [`OFFER_TTL`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::PaymentId;
use lightning::routing::router::{Route, RouteParameters};

/// How long an offered route stays usable.
pub const OFFER_TTL: Duration = Duration::from_secs(2);

/// The offered routes, by payment id.
#[derive(Default)]
pub(crate) struct OfferedRoutes {
    routes: Mutex<HashMap<PaymentId, (Route, Instant)>>,
    /// Offered routes used, since the start.
    used: std::sync::atomic::AtomicU64,
}

impl OfferedRoutes {
    fn lock(&self) -> MutexGuard<'_, HashMap<PaymentId, (Route, Instant)>> {
        // Every critical section leaves the map whole.
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Offers `route` for payment `id`'s next search.
    pub(crate) fn offer(&self, id: PaymentId, route: Route) {
        let now = Instant::now();
        let mut routes = self.lock();
        routes.retain(|_, (_, at)| now.saturating_duration_since(*at) < OFFER_TTL);
        routes.insert(id, (route, now));
    }

    /// Forgets the offer for payment `id`, if any.
    pub(crate) fn forget(&self, id: &PaymentId) {
        self.lock().remove(id);
    }

    /// The route offered for payment `id` if it fits this search (see the module
    /// documentation); the offer is gone either way.
    pub(crate) fn take(
        &self,
        id: &PaymentId,
        params: &RouteParameters,
        first_hops: Option<&[&ChannelDetails]>,
    ) -> Option<Route> {
        let (mut route, at) = self.lock().remove(id)?;
        if at.elapsed() >= OFFER_TTL || !fits(&route, params, first_hops) {
            return None;
        }
        route.route_params = Some(params.clone());
        self.used.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(route)
    }

    /// How many offered routes answered a search, since the start.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whether `route` answers a search for `params` over `first_hops` now.
pub(crate) fn fits(
    route: &Route,
    params: &RouteParameters,
    first_hops: Option<&[&ChannelDetails]>,
) -> bool {
    let Some(found_for) = &route.route_params else { return false };
    let pp = &params.payment_params;
    let same_request = found_for.payment_params.payee == pp.payee
        && found_for.final_value_msat == params.final_value_msat
        && pp.previously_failed_channels.is_empty()
        && pp.previously_failed_blinded_path_idxs.is_empty()
        && route.get_total_amount() == params.final_value_msat
        && params.max_total_routing_fee_msat.is_none_or(|max| route.get_total_fees() <= max);
    if !same_request || route.paths.is_empty() {
        return false;
    }
    let within_delay = route.paths.iter().all(|p| {
        let delay = p.hops.iter().fold(0u32, |a, h| a.saturating_add(h.cltv_expiry_delta));
        delay <= pp.max_total_cltv_expiry_delta
    });
    if !within_delay {
        return false;
    }
    // What the route puts on each first hop, against what the channel can carry now.
    let Some(first_hops) = first_hops else { return false };
    // Per first hop: (the sum of its paths' amounts, the smallest path).
    let mut load: HashMap<u64, (u64, u64)> = HashMap::new();
    for path in &route.paths {
        let Some(first) = path.hops.first() else { return false };
        let amount = path.final_value_msat().saturating_add(path.fee_msat());
        let l = load.entry(first.short_channel_id).or_insert((0, u64::MAX));
        *l = (l.0.saturating_add(amount), l.1.min(amount));
    }
    load.iter().all(|(scid, (sum, smallest))| {
        first_hops.iter().any(|c| {
            (c.short_channel_id == Some(*scid) || c.outbound_scid_alias == Some(*scid))
                && c.next_outbound_htlc_limit_msat >= *sum
                && c.next_outbound_htlc_minimum_msat <= *smallest
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{first_hop, key};
    use lightning::routing::router::{Path, PaymentParameters, RouteHop};
    use lightning::types::features::{ChannelFeatures, NodeFeatures};

    const AMOUNT_MSAT: u64 = 50_000_000;

    fn hop(peer: usize, scid: u64, fee_msat: u64, cltv: u32) -> RouteHop {
        RouteHop {
            pubkey: key(peer),
            node_features: NodeFeatures::empty(),
            short_channel_id: scid,
            channel_features: ChannelFeatures::empty(),
            fee_msat,
            cltv_expiry_delta: cltv,
            maybe_announced_channel: true,
        }
    }

    fn params(payee: usize) -> RouteParameters {
        let mut p = RouteParameters::from_payment_params_and_value(
            PaymentParameters::from_node_id(key(payee), 18),
            AMOUNT_MSAT,
        );
        p.max_total_routing_fee_msat = Some(100_000);
        p
    }

    /// Payer - 1 (channel 11, fee 1,000 msat) - payee 9 (channel 19).
    fn route() -> Route {
        let path = Path {
            hops: vec![hop(1, 11, 1_000, 40), hop(9, 19, AMOUNT_MSAT, 18)],
            blinded_tail: None,
        };
        Route { paths: vec![path], route_params: Some(params(9)) }
    }

    #[test]
    fn an_offered_route_answers_the_same_search_once_while_it_fits() {
        let roomy = first_hop(1, 11, 100_000_000, 1);
        let offers = OfferedRoutes::default();
        let id = PaymentId([1; 32]);
        offers.offer(id, route());
        let mut ldk_params = params(9);
        ldk_params.max_total_routing_fee_msat = Some(2_000);
        let taken = offers.take(&id, &ldk_params, Some(&[&roomy])).unwrap();
        assert_eq!(taken.paths, route().paths);
        assert_eq!(taken.route_params, Some(ldk_params.clone()), "carries LDK's parameters");
        assert!(offers.take(&id, &ldk_params, Some(&[&roomy])).is_none(), "used once");
        assert_eq!(offers.used(), 1);
        assert!(offers.take(&PaymentId([2; 32]), &ldk_params, Some(&[&roomy])).is_none());
    }

    #[test]
    fn a_route_that_no_longer_fits_is_not_used() {
        let r = route();
        let p = params(9);
        let roomy = first_hop(1, 11, 100_000_000, 1);
        assert!(fits(&r, &p, Some(&[&roomy])));
        // The first hop's room went to another payment meanwhile, or the channel is gone.
        let tight = first_hop(1, 11, AMOUNT_MSAT, 1);
        assert!(!fits(&r, &p, Some(&[&tight])), "amount + fee does not fit");
        assert!(!fits(&r, &p, Some(&[&first_hop(1, 12, 100_000_000, 1)])));
        assert!(!fits(&r, &p, None));
        let picky = first_hop(1, 11, 100_000_000, AMOUNT_MSAT + 1_001);
        assert!(!fits(&r, &p, Some(&[&picky])), "below the channel's HTLC minimum");
        // Another request: payee, amount, a failed channel since, a lower fee or delay limit.
        assert!(!fits(&r, &params(8), Some(&[&roomy])));
        let mut other = p.clone();
        other.final_value_msat += 1;
        assert!(!fits(&r, &other, Some(&[&roomy])));
        let mut failed = p.clone();
        failed.payment_params.previously_failed_channels.push(19);
        assert!(!fits(&r, &failed, Some(&[&roomy])));
        let mut cheap = p.clone();
        cheap.max_total_routing_fee_msat = Some(999);
        assert!(!fits(&r, &cheap, Some(&[&roomy])));
        let mut short = p.clone();
        short.payment_params.max_total_cltv_expiry_delta = 57;
        assert!(!fits(&r, &short, Some(&[&roomy])));
        // A route too old is not used either.
        let offers = OfferedRoutes::default();
        let id = PaymentId([3; 32]);
        offers.lock().insert(id, (route(), Instant::now() - OFFER_TTL));
        assert!(offers.take(&id, &p, Some(&[&roomy])).is_none());
    }
}
