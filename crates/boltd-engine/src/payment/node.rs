//! [`Lightning`] over boltd's LDK node.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;

use boltd_node::Node;
use boltd_store::FailureCode;
use lightning::ln::channelmanager::{
    Bolt11PaymentError, OptionalOfferPaymentParams, PaymentId, RecentPaymentDetails, Retry,
};
use lightning::routing::router::{
    PaymentParameters, Route, RouteParameters, RouteParametersConfig,
};
use lightning::types::payment::PaymentPreimage;

use super::lightning::{
    send_refused, sendable_verdict, Bolt11Plan, Lightning, SendPlan, SendableChannel, Unsent,
};
use crate::error::PayError;

/// The payment flows' view of the node.
pub(crate) struct NodeLightning {
    node: Arc<Node>,
    /// The route each BOLT11 payment's pre-flight found, by payment hash, until its send
    /// offers it to the router for LDK's first search (`boltd_routing::offered`): the search
    /// is not made twice.
    preflight_routes: Mutex<HashMap<[u8; 32], (Route, Instant)>>,
}

/// How long a pre-flight route waits for its send.
const PREFLIGHT_ROUTE_TTL: Duration = boltd_routing::offered::OFFER_TTL;

impl NodeLightning {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node, preflight_routes: Mutex::new(HashMap::new()) }
    }

    fn preflight_routes(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Route, Instant)>> {
        // Every critical section leaves the map whole.
        self.preflight_routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the route the pre-flight of the payment with `hash` found, for its send.
    fn keep_preflight_route(&self, hash: [u8; 32], route: Route) {
        let now = Instant::now();
        let mut routes = self.preflight_routes();
        routes.retain(|_, (_, at)| now.saturating_duration_since(*at) < PREFLIGHT_ROUTE_TTL);
        routes.insert(hash, (route, now));
    }

    /// LDK's route parameters for a BOLT11 plan, with or without its fee and delay limits.
    fn route_params(plan: &Bolt11Plan, limits: bool) -> RouteParameters {
        let mut pp = PaymentParameters::from_bolt11_invoice(&plan.invoice);
        if limits {
            pp.max_total_cltv_expiry_delta = plan.maxdelay;
        }
        let mut rp = RouteParameters::from_payment_params_and_value(pp, plan.amount_msat);
        if limits {
            rp.max_total_routing_fee_msat = Some(plan.fee_limit_msat);
        }
        rp
    }

    /// A route for the plan over our usable channels, with the payment's policy.
    pub(crate) fn find_route(&self, plan: &Bolt11Plan, limits: bool) -> Result<Route, String> {
        let cm = self.node.channel_manager();
        let usable = cm.list_usable_channels();
        let first_hops: Vec<_> = usable.iter().collect();
        self.node
            .router()
            .find_route_with_policy(
                &self.node.node_id(),
                &Self::route_params(plan, limits),
                Some(&first_hops),
                cm.compute_inflight_htlcs(),
                &plan.policy,
            )
            .map_err(|e| e.to_string())
    }

    /// Whether the usable channels can send `amount_msat` now.
    fn check_sendable(&self, amount_msat: u64) -> Result<(), Unsent> {
        sendable_verdict(&self.sendable_channels(), amount_msat).map_err(|e| {
            let busy = matches!(e, PayError::ChannelsBusy { .. });
            let unsent = Unsent::new(FailureCode::RouteNotFound, e);
            if busy {
                unsent
            } else {
                unsent.until_peer()
            }
        })
    }

    /// Before any HTLC leaves: is there a route within the limits? If not, is there one at all
    /// (then the limits are the problem: 206) or none (205)?
    fn preflight_bolt11(&self, plan: &Bolt11Plan) -> Result<(), Unsent> {
        if plan.policy.excludes_node(&plan.payee) {
            let error = PayError::RouteNotFound { failures: vec![] };
            return Err(Unsent::new(FailureCode::RouteNotFound, error));
        }
        self.check_sendable(plan.amount_msat)?;
        if let Ok(route) = self.find_route(plan, true) {
            self.keep_preflight_route(plan.invoice.payment_hash().to_byte_array(), route);
            return Ok(());
        }
        match self.find_route(plan, false) {
            Ok(route) => {
                let fee_msat = route.get_total_fees();
                let feepercent = fee_msat as f64 * 100.0 / plan.amount_msat as f64;
                let error = PayError::RouteTooExpensive {
                    fee_msat,
                    feepercent,
                    delay: route_delay(&route),
                };
                Err(Unsent::new(FailureCode::RouteTooExpensive, error))
            }
            Err(e) => {
                let channels = self.node.network_graph().read_only().channels().len();
                tracing::info!(
                    payee = %plan.payee,
                    graph_channels = channels,
                    "no route to the payee now: {e}"
                );
                let error = PayError::RouteNotFound { failures: vec![] };
                Err(Unsent::new(FailureCode::RouteNotFound, error).until_peer())
            }
        }
    }
}

/// The total CLTV delay of a route's longest path, in blocks.
pub(crate) fn route_delay(route: &Route) -> u32 {
    route
        .paths
        .iter()
        .map(|p| p.hops.iter().fold(0u32, |a, h| a.saturating_add(h.cltv_expiry_delta)))
        .max()
        .unwrap_or(0)
}

impl Lightning for NodeLightning {
    fn sendable_channels(&self) -> Vec<SendableChannel> {
        self.node
            .channel_manager()
            .list_usable_channels()
            .iter()
            .map(|ch| SendableChannel {
                outbound_capacity_msat: ch.outbound_capacity_msat,
                next_outbound_htlc_limit_msat: ch.next_outbound_htlc_limit_msat,
                in_flight_htlcs: ch.pending_outbound_htlcs.len(),
                in_flight_msat: ch
                    .pending_outbound_htlcs
                    .iter()
                    .fold(0u64, |a, h| a.saturating_add(h.amount_msat)),
            })
            .collect()
    }

    fn offline_outbound_msat(&self) -> u64 {
        self.node
            .channel_manager()
            .list_channels()
            .iter()
            .filter(|c| c.is_channel_ready && !c.is_usable)
            .fold(0u64, |a, c| a.saturating_add(c.outbound_capacity_msat))
    }

    fn preflight(&self, plan: &SendPlan) -> Result<(), Unsent> {
        match plan {
            SendPlan::Bolt11(p) => self.preflight_bolt11(p),
            SendPlan::Keysend(p) => self.check_sendable(p.amount_msat),
            SendPlan::Offer(p) => self.check_sendable(p.amount_msat),
        }
    }

    fn send(&self, id: PaymentId, plan: &SendPlan, retry_for: Duration) -> Result<(), Unsent> {
        let cm = self.node.channel_manager();
        match plan {
            SendPlan::Bolt11(p) => {
                self.node.router().set_policy(id, p.policy.clone());
                let hash = p.invoice.payment_hash().to_byte_array();
                if let Some((route, _)) = self.preflight_routes().remove(&hash) {
                    self.node.router().offer_route(id, route);
                }
                let config = RouteParametersConfig {
                    max_total_routing_fee_msat: Some(p.fee_limit_msat),
                    max_total_cltv_expiry_delta: p.maxdelay,
                    ..Default::default()
                };
                let sent = cm.pay_for_bolt11_invoice(
                    &p.invoice,
                    id,
                    p.amount_arg,
                    config,
                    Retry::Timeout(retry_for),
                );
                sent.map_err(|e| {
                    self.forget(id);
                    let reason = format!("LDK refused the payment: {e:?}");
                    match &e {
                        Bolt11PaymentError::SendingFailed(f) => send_refused(f, &reason),
                        Bolt11PaymentError::InvalidAmount => Unsent {
                            reason,
                            ..Unsent::new(
                                FailureCode::Other,
                                PayError::InvalidParams("the amount is below the invoice's".into()),
                            )
                        },
                    }
                })
            }
            SendPlan::Keysend(p) => cm
                .send_spontaneous_payment(
                    Some(PaymentPreimage(p.preimage)),
                    p.onion.clone(),
                    id,
                    p.route_params.clone(),
                    Retry::Timeout(retry_for),
                )
                .map(|_| ())
                .map_err(|e| send_refused(&e, &format!("LDK refused the keysend: {e:?}"))),
            SendPlan::Offer(p) => {
                let params = OptionalOfferPaymentParams {
                    payer_note: p.payer_note.clone(),
                    route_params_config: RouteParametersConfig {
                        max_total_routing_fee_msat: Some(p.fee_limit_msat),
                        ..Default::default()
                    },
                    retry_strategy: Retry::Timeout(retry_for),
                };
                cm.pay_for_offer(&p.offer, p.amount_arg, id, params).map_err(|e| {
                    let error = crate::offer::semantic_error(e, Some(&p.offer));
                    Unsent {
                        reason: format!("LDK refused to pay the offer: {error}"),
                        retryable: false,
                        ..Unsent::new(FailureCode::Other, error)
                    }
                })
            }
        }
    }

    fn forget(&self, id: PaymentId) {
        self.node.router().clear_policy(&id);
    }

    fn attempted_parts(&self, id: PaymentId) -> u32 {
        self.node.router().attempted_parts(&id)
    }

    fn known_sends(&self) -> HashSet<PaymentId> {
        self.node
            .channel_manager()
            .list_recent_payments()
            .into_iter()
            .map(|p| match p {
                RecentPaymentDetails::AwaitingInvoice { payment_id }
                | RecentPaymentDetails::Pending { payment_id, .. }
                | RecentPaymentDetails::Fulfilled { payment_id, .. }
                | RecentPaymentDetails::Abandoned { payment_id, .. } => payment_id,
            })
            .collect()
    }
}
