//! Core Lightning's `pay` over LDK: validation, the idempotent intent record, a pre-flight route
//! check (so fee and delay limits fail with 205/206 before any HTLC leaves), then LDK's payment
//! with the per-payment routing policy, and the result in Core Lightning's shape.

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use boltd_node::router::{fee_limit_msat, parse_exclusion, Exclusion, PaymentPolicy};
use boltd_store::{
    BeginOutgoing, FailureCode, NewOutgoing, PaymentKind, PaymentRecord, PaymentStatus,
};
use lightning::ln::channelmanager::{PaymentId, Retry};
use lightning::routing::router::{
    PaymentParameters, Route, RouteParameters, RouteParametersConfig,
};
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use serde::{Deserialize, Serialize};

use crate::error::PayError;
use crate::ledger::now_secs;
use crate::{Engine, PayContext};

/// Core Lightning's defaults for `pay`.
pub mod defaults {
    /// `riskfactor`.
    pub const RISKFACTOR: f64 = 10.0;
    /// `maxfeepercent`.
    pub const MAXFEEPERCENT: f64 = 0.5;
    /// `exemptfee`, in msat.
    pub const EXEMPTFEE_MSAT: u64 = 5000;
    /// `retry_for`, in seconds.
    pub const RETRY_FOR_SECS: u64 = 60;
    /// `maxdelay`, in blocks (Core Lightning's `max-locktime-blocks`).
    pub const MAXDELAY_BLOCKS: u32 = 2016;
}

/// A `pay` request, with Core Lightning's parameter names (amounts in msat).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The BOLT11 invoice.
    pub bolt11: String,
    /// Required exactly when the invoice has no amount.
    pub amount_msat: Option<u64>,
    /// A label stored with the payment.
    pub label: Option<String>,
    /// Risk factor (default 10).
    pub riskfactor: Option<f64>,
    /// Fee limit in percent of the amount (default 0.5).
    pub maxfeepercent: Option<f64>,
    /// Seconds to keep retrying (default 60).
    pub retry_for: Option<u64>,
    /// Maximum total CLTV delay in blocks (default 2016).
    pub maxdelay: Option<u32>,
    /// Fees up to this many msat are always allowed (default 5000).
    pub exemptfee: Option<u64>,
    /// Offer-related invoice request id (recorded).
    pub localinvreqid: Option<String>,
    /// Channels (`scid/direction`) and nodes to avoid.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Absolute fee limit in msat; excludes `maxfeepercent` and `exemptfee`.
    pub maxfee: Option<u64>,
    /// The description, required for (and checked against) description-hash invoices.
    pub description: Option<String>,
}

/// The result of `pay`, as Core Lightning returns it (plus the record id).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PayResult {
    /// The payment record's id.
    pub id: i64,
    /// Proof of payment (hex), once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_preimage: Option<String>,
    /// The payment hash (hex).
    pub payment_hash: String,
    /// When the payment was initiated (unix seconds).
    pub created_at: u64,
    /// How many parts (paths) it took.
    pub parts: u32,
    /// What the recipient gets.
    pub amount_msat: u64,
    /// What we sent, fees included.
    pub amount_sent_msat: u64,
    /// `complete`, `pending` or `failed`.
    #[schema(value_type = boltd_store::PaymentStatus)]
    pub status: String,
    /// The destination node id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Set when not all parts of a multi-part payment have completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning_partial_completion: Option<String>,
}

impl PayResult {
    pub(crate) fn from_record(r: &PaymentRecord, parts_seen: u32) -> Self {
        let fee = r.fee_msat.unwrap_or(0);
        Self {
            id: r.id,
            payment_preimage: r.preimage.map(hex::encode),
            payment_hash: r.payment_hash.map(hex::encode).unwrap_or_default(),
            created_at: r.created_at,
            parts: r.parts.unwrap_or(0).max(parts_seen),
            amount_msat: r.amount_msat,
            amount_sent_msat: r.amount_sent_msat.unwrap_or(r.amount_msat + fee),
            status: r.status.to_string(),
            destination: r.destination.clone(),
            warning_partial_completion: None,
        }
    }
}

/// Checked parameters of a payment.
struct Checked {
    invoice: Bolt11Invoice,
    amount_msat: u64,
    amount_arg: Option<u64>,
    payee: bitcoin::secp256k1::PublicKey,
    fee_limit_msat: u64,
    maxdelay: u32,
    retry_for: Duration,
    policy: PaymentPolicy,
    description: Option<String>,
}

/// What LDK's synchronous refusal to send means for the caller: the failure code to record
/// and the error to answer. No route is Core Lightning's 205 (a 4xx), as for a route search
/// that fails later; custom records that cannot fit the onion are bad input.
pub(crate) fn send_refused(
    e: &lightning::ln::channelmanager::RetryableSendFailure,
    reason: &str,
) -> (FailureCode, PayError) {
    use lightning::ln::channelmanager::RetryableSendFailure as F;
    match e {
        F::RouteNotFound => {
            (FailureCode::RouteNotFound, PayError::RouteNotFound { failures: vec![] })
        }
        F::OnionPacketSizeExceeded => (
            FailureCode::Other,
            invalid("the custom records and the route do not fit in the payment's onion"),
        ),
        F::PaymentExpired | F::DuplicatePayment => {
            (FailureCode::Other, PayError::Other(reason.to_string()))
        }
    }
}

fn invalid(msg: impl Into<String>) -> PayError {
    PayError::InvalidParams(msg.into())
}

/// A fingerprint of the request, to tell "same idempotency key, same request" from a conflict.
pub fn request_hash<T: Serialize>(req: &T) -> [u8; 32] {
    let json = serde_json::to_vec(req).unwrap_or_default();
    sha256::Hash::hash(&json).to_byte_array()
}

/// How long a payment waits for HTLC slots on busy channels before failing with
/// [`PayError::ChannelsBusy`] (at most its `retry_for`).
pub const HTLC_SLOT_WAIT: Duration = Duration::from_secs(10);

/// How often a payment waiting for HTLC slots looks again.
const HTLC_SLOT_POLL: Duration = Duration::from_millis(20);

/// What one usable channel can send, for [`sendable_verdict`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendableChannel {
    /// Balance less reserves and HTLCs in flight (LDK's `outbound_capacity_msat`).
    pub(crate) outbound_capacity_msat: u64,
    /// The largest new HTLC the channel accepts now: also bounded by the number and value of
    /// HTLCs in flight (LDK's `next_outbound_htlc_limit_msat`).
    pub(crate) next_outbound_htlc_limit_msat: u64,
    /// Our HTLCs in flight on it.
    pub(crate) in_flight_htlcs: usize,
    /// Their total amount.
    pub(crate) in_flight_msat: u64,
}

/// Whether `channels` can send `amount_msat` now. Short of it, the channels are busy (a
/// temporary state) when the balance is there and the HTLCs in flight, once resolved, would free
/// room enough under the per-HTLC limit; otherwise the balance, or a lasting limit such as the
/// commitment fee buffer or dust exposure, is to blame: insufficient balance.
pub(crate) fn sendable_verdict(
    channels: &[SendableChannel],
    amount_msat: u64,
) -> Result<(), PayError> {
    let sendable_msat: u64 = channels.iter().map(|c| c.next_outbound_htlc_limit_msat).sum();
    if sendable_msat >= amount_msat {
        return Ok(());
    }
    let capacity_msat: u64 = channels.iter().map(|c| c.outbound_capacity_msat).sum();
    let in_flight_htlcs: usize = channels.iter().map(|c| c.in_flight_htlcs).sum();
    let in_flight_msat: u64 = channels.iter().map(|c| c.in_flight_msat).sum();
    let room_when_resolved_msat = sendable_msat.saturating_add(in_flight_msat);
    if capacity_msat >= amount_msat && in_flight_htlcs > 0 && room_when_resolved_msat >= amount_msat
    {
        Err(PayError::ChannelsBusy { needed_msat: amount_msat, sendable_msat, in_flight_htlcs })
    } else {
        Err(PayError::InsufficientBalance {
            needed_msat: amount_msat,
            available_msat: sendable_msat,
        })
    }
}

impl Engine {
    fn check_pay(&self, req: &PayRequest) -> Result<Checked, PayError> {
        let invoice: Bolt11Invoice =
            req.bolt11.trim().parse().map_err(|e| invalid(format!("invalid bolt11: {e}")))?;
        let network = self.node.config().network;
        if invoice.network() != network {
            return Err(invalid(format!(
                "invoice is for network {}, this node runs on {network}",
                invoice.network()
            )));
        }
        let now = now_secs();
        let expiry = (invoice.duration_since_epoch() + invoice.expiry_time()).as_secs();
        if expiry <= now {
            return Err(PayError::InvoiceExpired { now, expiry });
        }
        let (amount_msat, amount_arg) = match (invoice.amount_milli_satoshis(), req.amount_msat) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "amount_msat parameter unnecessary: the invoice fixes the amount",
                ))
            }
            (None, None) => {
                return Err(invalid("amount_msat parameter required: the invoice has no amount"))
            }
            (_, Some(0)) | (Some(0), _) => return Err(invalid("amount must be positive")),
            (Some(a), None) => (a, None),
            (None, Some(a)) => (a, Some(a)),
        };
        if req.maxfee.is_some() && (req.maxfeepercent.is_some() || req.exemptfee.is_some()) {
            return Err(invalid("maxfee cannot be given together with maxfeepercent or exemptfee"));
        }
        let pct = req.maxfeepercent.unwrap_or(defaults::MAXFEEPERCENT);
        if !(0.0..=100.0).contains(&pct) || pct.is_nan() {
            return Err(invalid("maxfeepercent must be between 0 and 100"));
        }
        let riskfactor = req.riskfactor.unwrap_or(defaults::RISKFACTOR);
        if riskfactor < 0.0 || !riskfactor.is_finite() {
            return Err(invalid("riskfactor must be a non-negative number"));
        }
        let maxdelay = req.maxdelay.unwrap_or(defaults::MAXDELAY_BLOCKS);
        if maxdelay == 0 {
            return Err(invalid("maxdelay must be positive"));
        }
        let description = match invoice.description() {
            Bolt11InvoiceDescriptionRef::Hash(h) => {
                let d = req.description.as_ref().ok_or_else(|| {
                    invalid("description required: the invoice commits to a description hash")
                })?;
                if sha256::Hash::hash(d.as_bytes()) != h.0 {
                    return Err(invalid(
                        "description does not match the invoice's description hash",
                    ));
                }
                Some(d.clone())
            }
            Bolt11InvoiceDescriptionRef::Direct(d) => {
                let d = d.to_string();
                if let Some(given) = &req.description {
                    if *given != d {
                        return Err(invalid("description differs from the invoice's description"));
                    }
                }
                Some(d)
            }
        };
        let payee =
            invoice.payee_pub_key().copied().unwrap_or_else(|| invoice.recover_payee_pub_key());
        if payee == self.node.node_id() {
            return Err(invalid("cannot pay an invoice of this node"));
        }
        let mut policy = PaymentPolicy { riskfactor, ..Default::default() };
        for e in &req.exclude {
            let ex: Exclusion = parse_exclusion(e).map_err(invalid)?;
            policy.exclude(ex);
        }
        let fee_limit_msat = fee_limit_msat(
            amount_msat,
            pct,
            req.exemptfee.unwrap_or(defaults::EXEMPTFEE_MSAT),
            req.maxfee,
        );
        Ok(Checked {
            invoice,
            amount_msat,
            amount_arg,
            payee,
            fee_limit_msat,
            maxdelay,
            retry_for: Duration::from_secs(req.retry_for.unwrap_or(defaults::RETRY_FOR_SECS)),
            policy,
            description,
        })
    }

    fn route_params(&self, c: &Checked, limits: bool) -> RouteParameters {
        let mut pp = PaymentParameters::from_bolt11_invoice(&c.invoice);
        let mut rp = RouteParameters::from_payment_params_and_value(pp.clone(), c.amount_msat);
        if limits {
            pp.max_total_cltv_expiry_delta = c.maxdelay;
            rp = RouteParameters::from_payment_params_and_value(pp, c.amount_msat);
            rp.max_total_routing_fee_msat = Some(c.fee_limit_msat);
        }
        rp
    }

    fn find_route(&self, c: &Checked, limits: bool) -> Result<Route, String> {
        let cm = self.node.channel_manager();
        let usable = cm.list_usable_channels();
        let first_hops: Vec<_> = usable.iter().collect();
        let params = self.route_params(c, limits);
        self.node
            .router()
            .find_route_with_policy(
                &self.node.node_id(),
                &params,
                Some(&first_hops),
                cm.compute_inflight_htlcs(),
                &c.policy,
            )
            .map_err(|e| e.to_string())
    }

    /// Can our usable channels send `amount_msat` in new HTLCs now? If not, says whether the
    /// balance is short ([`PayError::InsufficientBalance`]) or the channels are busy with HTLCs
    /// in flight ([`PayError::ChannelsBusy`]).
    pub(crate) fn check_sendable(&self, amount_msat: u64) -> Result<(), PayError> {
        let channels: Vec<SendableChannel> = self
            .node
            .channel_manager()
            .list_usable_channels()
            .iter()
            .map(|ch| SendableChannel {
                outbound_capacity_msat: ch.outbound_capacity_msat,
                next_outbound_htlc_limit_msat: ch.next_outbound_htlc_limit_msat,
                in_flight_htlcs: ch.pending_outbound_htlcs.len(),
                in_flight_msat: ch.pending_outbound_htlcs.iter().map(|h| h.amount_msat).sum(),
            })
            .collect();
        sendable_verdict(&channels, amount_msat)
    }

    /// Records that the payment `payment_id` failed before any HTLC left (`retryable`: paying
    /// the same invoice again may start a new attempt), then answers `err`. The record is
    /// flushed before the caller hears of the failure.
    pub(crate) async fn fail_unsent<T>(
        &self,
        payment_id: PaymentId,
        code: FailureCode,
        reason: String,
        retryable: bool,
        err: PayError,
    ) -> Result<T, PayError> {
        self.blocking(move |s| {
            s.fail_outgoing(&payment_id.0, code, Some(&reason), retryable, now_secs())
        })
        .await?;
        Err(err)
    }

    /// While the channels are busy ([`PayError::ChannelsBusy`]: the balance is there but the
    /// HTLCs in flight leave no room for this one), waits for payments in flight to resolve,
    /// for at most [`HTLC_SLOT_WAIT`] or `retry_for`, whichever is shorter. A burst of payments
    /// over the channels' 483 HTLC slots then queues rather than fails.
    pub(crate) async fn wait_for_htlc_slots(&self, amount_msat: u64, retry_for: Duration) {
        let deadline = tokio::time::Instant::now() + retry_for.min(HTLC_SLOT_WAIT);
        while let Err(PayError::ChannelsBusy { .. }) = self.check_sendable(amount_msat) {
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(HTLC_SLOT_POLL).await;
        }
    }

    /// Before any HTLC leaves: is there a route within the limits? If not, is there one at all
    /// (then the limits are the problem: 206) or none (205)?
    fn preflight(&self, c: &Checked) -> Result<(), (FailureCode, PayError)> {
        if c.policy.excludes_node(&c.payee) {
            return Err((FailureCode::RouteNotFound, PayError::RouteNotFound { failures: vec![] }));
        }
        self.check_sendable(c.amount_msat).map_err(|e| (FailureCode::RouteNotFound, e))?;
        if self.find_route(c, true).is_ok() {
            return Ok(());
        }
        match self.find_route(c, false) {
            Ok(route) => {
                let fee_msat = route.get_total_fees();
                let delay = route
                    .paths
                    .iter()
                    .map(|p| p.hops.iter().map(|h| h.cltv_expiry_delta).sum::<u32>())
                    .max()
                    .unwrap_or(0);
                let feepercent = fee_msat as f64 * 100.0 / c.amount_msat as f64;
                Err((
                    FailureCode::RouteTooExpensive,
                    PayError::RouteTooExpensive { fee_msat, feepercent, delay },
                ))
            }
            Err(_) => {
                Err((FailureCode::RouteNotFound, PayError::RouteNotFound { failures: vec![] }))
            }
        }
    }

    /// Pays a BOLT11 invoice with Core Lightning's `pay` semantics. `idempotency_key`, when
    /// given, makes a repeated call return the first call's payment (a different request with
    /// the same key is a conflict). Paying an invoice again returns the earlier success; while
    /// it is pending, the same pending payment (never a second set of HTLCs).
    pub async fn pay(
        &self,
        req: PayRequest,
        ctx: PayContext,
        metadata: Option<String>,
    ) -> Result<PayResult, PayError> {
        let c = self.check_pay(&req)?;
        let hash = *c.invoice.payment_hash();
        let hash_bytes = hash.to_byte_array();
        let payment_id = PaymentId(rand::random());
        let mut intent =
            NewOutgoing::new(PaymentKind::Bolt11, Some(hash_bytes), payment_id.0, c.amount_msat);
        intent.destination = Some(c.payee.to_string());
        intent.invoice = Some(req.bolt11.trim().to_string());
        intent.description = c.description.clone();
        intent.label = req.label.clone();
        intent.metadata = metadata;
        ctx.apply(&mut intent);
        intent.fee_limit_msat = Some(c.fee_limit_msat);
        intent.request_hash = Some(request_hash(&req));
        intent.expires_at =
            Some((c.invoice.duration_since_epoch() + c.invoice.expiry_time()).as_secs());
        // Before the intent is recorded: a caller that gives up while waiting leaves nothing.
        self.wait_for_htlc_slots(c.amount_msat, c.retry_for).await;
        let begin = self.blocking(move |store| store.begin_outgoing(intent, now_secs())).await?;
        let record = match begin {
            BeginOutgoing::Started(r) | BeginOutgoing::Retrying(r) => r,
            BeginOutgoing::Existing(r) => {
                return self.await_result(r, ctx.wait_for(c.retry_for)).await
            }
            BeginOutgoing::KeyConflict(r) => {
                return Err(PayError::IdempotencyConflict { payment_id: r.id })
            }
            BeginOutgoing::AlreadyPaidDifferently(r) => {
                return Err(PayError::AlreadyPaid { payment_id: r.id })
            }
            BeginOutgoing::Refused(refusal) => return Err(refusal.into()),
        };
        let payment_id = PaymentId(record.payment_id.unwrap_or(payment_id.0));

        if let Err((code, err)) = self.preflight(&c) {
            return self.fail_unsent(payment_id, code, err.to_string(), true, err).await;
        }
        self.node.router().set_policy(payment_id, c.policy.clone());
        let config = RouteParametersConfig {
            max_total_routing_fee_msat: Some(c.fee_limit_msat),
            max_total_cltv_expiry_delta: c.maxdelay,
            ..Default::default()
        };
        let sent = self.node.channel_manager().pay_for_bolt11_invoice(
            &c.invoice,
            payment_id,
            c.amount_arg,
            config,
            Retry::Timeout(c.retry_for),
        );
        if let Err(e) = sent {
            self.node.router().clear_policy(&payment_id);
            let reason = format!("LDK refused the payment: {e:?}");
            let (code, err) = match &e {
                lightning::ln::channelmanager::Bolt11PaymentError::SendingFailed(f) => {
                    send_refused(f, &reason)
                }
                lightning::ln::channelmanager::Bolt11PaymentError::InvalidAmount => {
                    (FailureCode::Other, invalid("the amount is below the invoice's"))
                }
            };
            return self.fail_unsent(payment_id, code, reason, true, err).await;
        }
        let window = c.retry_for + Duration::from_secs(5);
        let result = self.await_result(record, ctx.wait_for(window)).await;
        match &result {
            // The caller stopped waiting; LDK may still retry, with this payment's policy.
            Ok(r) if r.status == PaymentStatus::Pending.as_str() => {
                let node = std::sync::Arc::clone(&self.node);
                tokio::spawn(async move {
                    let hash = lightning::types::payment::PaymentHash(hash_bytes);
                    node.payment_tracker().wait_final(hash, window).await;
                    node.router().clear_policy(&payment_id);
                });
            }
            _ => self.node.router().clear_policy(&payment_id),
        }
        result
    }

    /// Waits (up to `wait`) for a payment to leave `pending`, then answers Core Lightning's way.
    pub(crate) async fn await_result(
        &self,
        record: PaymentRecord,
        wait: Duration,
    ) -> Result<PayResult, PayError> {
        if record.status == PaymentStatus::Pending {
            if let Some(h) = record.payment_hash {
                let hash = lightning::types::payment::PaymentHash(h);
                self.node.payment_tracker().wait_final(hash, wait).await;
            }
        }
        let id = record.id;
        let record = self
            .blocking(move |s| s.payment_by_id(id))
            .await?
            .ok_or_else(|| PayError::Other(format!("payment {id} vanished")))?;
        let pid = PaymentId(record.payment_id.unwrap_or_default());
        let mut stats = self.ledger.path_stats(&pid);
        stats.succeeded = stats.succeeded.max(self.node.router().attempted_parts(&pid));
        match record.status {
            PaymentStatus::Complete | PaymentStatus::Pending => {
                Ok(PayResult::from_record(&record, stats.succeeded))
            }
            PaymentStatus::Failed => {
                let failures = stats.failures;
                let reason = record.failure_reason.clone().unwrap_or_default();
                Err(match record.failure_code {
                    Some(FailureCode::DestinationPermanentFailure) => {
                        PayError::DestinationRejected { failures }
                    }
                    Some(FailureCode::RouteNotFound) => PayError::RouteNotFound { failures },
                    Some(FailureCode::StoppedRetrying) => PayError::Timeout { failures },
                    Some(FailureCode::InvoiceExpired) => PayError::InvoiceExpired {
                        now: now_secs(),
                        expiry: record.expires_at.unwrap_or(0),
                    },
                    Some(FailureCode::RouteTooExpensive) => PayError::Other(reason),
                    Some(FailureCode::AlreadyPaidDifferently) | Some(FailureCode::Other) | None => {
                        PayError::Other(if reason.is_empty() {
                            "payment failed".into()
                        } else {
                            reason
                        })
                    }
                })
            }
        }
    }
}

/// What paying would cost, from a route computed now (nothing is sent).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FeeQuote {
    /// Amount the recipient would get.
    pub amount_msat: u64,
    /// Routing fees of the route found.
    pub fee_msat: u64,
    /// Total CLTV delay of the route, in blocks.
    pub delay_blocks: u32,
    /// Paths (parts) of the route.
    pub parts: u32,
    /// Hops of the longest path.
    pub hops: u32,
    /// Whether the route fits the default (or given) fee and delay limits.
    pub within_limits: bool,
    /// The fee limit that applies.
    pub fee_limit_msat: u64,
}

impl Engine {
    /// barkd's fee quote: the routing fee of paying a BOLT11 `destination` now; `amount_msat`
    /// only counts for an invoice without an amount.
    pub fn quote_invoice(
        &self,
        destination: &str,
        amount_msat: Option<u64>,
    ) -> Result<FeeQuote, PayError> {
        let fixed = destination
            .trim()
            .parse::<Bolt11Invoice>()
            .map_err(|e| invalid(format!("not a BOLT11 invoice: {e}")))?
            .amount_milli_satoshis();
        let amount_msat = if fixed.is_some() { None } else { amount_msat };
        self.quote(&PayRequest {
            bolt11: destination.trim().to_string(),
            amount_msat,
            ..Default::default()
        })
    }

    /// Quotes the routing fee of paying `req` now, without paying: the same checks and
    /// routing policy as [`Engine::pay`], then one route computation.
    pub fn quote(&self, req: &PayRequest) -> Result<FeeQuote, PayError> {
        let c = self.check_pay(req)?;
        if c.policy.excludes_node(&c.payee) {
            return Err(PayError::RouteNotFound { failures: vec![] });
        }
        let (route, within_limits) = match self.find_route(&c, true) {
            Ok(r) => (r, true),
            Err(_) => (
                self.find_route(&c, false)
                    .map_err(|_| PayError::RouteNotFound { failures: vec![] })?,
                false,
            ),
        };
        Ok(FeeQuote {
            amount_msat: c.amount_msat,
            fee_msat: route.get_total_fees(),
            delay_blocks: route
                .paths
                .iter()
                .map(|p| p.hops.iter().map(|h| h.cltv_expiry_delta).sum::<u32>())
                .max()
                .unwrap_or(0),
            parts: route.paths.len() as u32,
            hops: route.paths.iter().map(|p| p.hops.len() as u32).max().unwrap_or(0),
            within_limits,
            fee_limit_msat: c.fee_limit_msat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(capacity_msat: u64, limit_msat: u64, in_flight_htlcs: usize) -> SendableChannel {
        SendableChannel {
            outbound_capacity_msat: capacity_msat,
            next_outbound_htlc_limit_msat: limit_msat,
            in_flight_htlcs,
            in_flight_msat: in_flight_htlcs as u64 * 5_000_000,
        }
    }

    #[test]
    fn a_payment_the_channels_can_carry_passes() {
        let channels = [channel(600_000, 500_000, 3), channel(200_000, 200_000, 0)];
        assert!(sendable_verdict(&channels, 700_000).is_ok());
        assert!(sendable_verdict(&channels, 700_001).is_err());
    }

    #[test]
    fn a_short_balance_is_insufficient_balance() {
        let channels = [channel(100_000, 100_000, 0)];
        match sendable_verdict(&channels, 150_000) {
            Err(PayError::InsufficientBalance { needed_msat, available_msat }) => {
                assert_eq!((needed_msat, available_msat), (150_000, 100_000));
            }
            other => panic!("expected insufficient balance, got {other:?}"),
        }
        // HTLCs in flight do not make a short balance "busy".
        let channels = [channel(100_000, 0, 483)];
        assert!(matches!(
            sendable_verdict(&channels, 150_000),
            Err(PayError::InsufficientBalance { .. })
        ));
        assert!(matches!(sendable_verdict(&[], 1), Err(PayError::InsufficientBalance { .. })));
    }

    #[test]
    fn full_htlc_slots_with_the_balance_there_are_channels_busy() {
        // The balance is there, but 483 HTLCs in flight leave no room for another.
        let channels = [channel(5_000_000, 0, 483)];
        let err = sendable_verdict(&channels, 10_000).unwrap_err();
        match &err {
            PayError::ChannelsBusy { needed_msat, sendable_msat, in_flight_htlcs } => {
                assert_eq!((*needed_msat, *sendable_msat, *in_flight_htlcs), (10_000, 0, 483));
            }
            other => panic!("expected channels busy, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("483 HTLCs are in flight"), "{message}");
        assert!(message.contains("retry"), "{message}");
        assert_eq!(err.code(), 205);
        assert_eq!(err.data()["in_flight_htlcs"], 483);
    }

    #[test]
    fn a_lasting_limit_is_not_busy_even_with_htlcs_in_flight() {
        // The per-HTLC limit sits below the balance for a lasting reason (fee buffer, dust
        // exposure), and the one small HTLC in flight could not free room enough: no waiting.
        let channels = [SendableChannel {
            outbound_capacity_msat: 10_000_000,
            next_outbound_htlc_limit_msat: 6_000_000,
            in_flight_htlcs: 1,
            in_flight_msat: 1_000,
        }];
        assert!(matches!(
            sendable_verdict(&channels, 9_000_000),
            Err(PayError::InsufficientBalance { .. })
        ));
    }
}
