//! Core Lightning's `pay` over LDK: validation, then the outgoing payment's state machine
//! (`crate::payment`: the idempotent intent record, a pre-flight route check so fee and delay
//! limits fail with 205/206 before any HTLC leaves, LDK's payment with the per-payment routing
//! policy), and the result in Core Lightning's shape.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use boltd_routing::policy::{fee_limit_msat, parse_exclusion, Exclusion, PaymentPolicy};
use boltd_store::{FailureCode, NewOutgoing, PaymentKind, PaymentRecord, PaymentStatus};
use lightning::ln::channelmanager::PaymentId;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use serde::{Deserialize, Serialize};

use crate::error::{PayError, RoutingFailure};
use crate::ledger::now_secs;
use crate::payment::lightning::{Bolt11Plan, SendPlan};
use crate::payment::node::{route_delay, NodeLightning};
use crate::payment::outgoing::Begun;
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
    /// The longest `retry_for` accepted, in seconds: one day. Core Lightning sets no maximum;
    /// boltd refuses more with a 400 naming the parameter, before anything is recorded or sent
    /// (a payment that retries for longer than a day is almost surely a mistake, and its
    /// deadline must stay representable).
    pub const MAX_RETRY_FOR_SECS: u64 = 86_400;
}

/// How long a payment retries: `secs` (default [`defaults::RETRY_FOR_SECS`]), refused above
/// [`defaults::MAX_RETRY_FOR_SECS`] with an error naming the parameter `name`.
pub(crate) fn retry_window(name: &str, secs: Option<u64>) -> Result<Duration, PayError> {
    let secs = secs.unwrap_or(defaults::RETRY_FOR_SECS);
    if secs > defaults::MAX_RETRY_FOR_SECS {
        return Err(invalid(format!(
            "{name} must be at most {} seconds (one day); got {secs}",
            defaults::MAX_RETRY_FOR_SECS
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// How long a caller waits for a payment that retries for `retry_for`: [`RESULT_GRACE`] longer,
/// so the last attempt's outcome arrives (never overflows).
pub(crate) fn result_window(retry_for: Duration) -> Duration {
    retry_for.saturating_add(RESULT_GRACE)
}

/// How far away [`deadline_in`] puts a deadline whose timeout is too long to represent: about
/// 30 years, as tokio's own `sleep` does.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The instant `timeout` from now, without overflowing: a timeout too long for an `Instant`
/// (`Instant::now() + timeout` would panic) is [`FAR_FUTURE`] instead.
pub(crate) fn deadline_in(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + FAR_FUTURE)
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
    /// Seconds to keep retrying (default 60, at most [`defaults::MAX_RETRY_FOR_SECS`]).
    pub retry_for: Option<u64>,
    /// Maximum total CLTV delay in blocks (default 2016).
    pub maxdelay: Option<u32>,
    /// Fees up to this many msat are always allowed (default 5000).
    pub exemptfee: Option<u64>,
    /// Core Lightning's link of the payment to a local `invoicerequest`: boltd has no
    /// invoice requests of its own, so a payment giving one is refused (-32602) rather than
    /// made without the single-payment guarantee it asks for.
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
    /// How many parts (paths) failed before the payment completed (Core Lightning's `xpay`
    /// answers it); not part of `pay`'s answer.
    #[serde(skip)]
    pub failed_parts: u32,
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
            failed_parts: 0,
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

impl Engine {
    /// Checks a `pay` request before anything is recorded; returns the plan and the
    /// description to record.
    fn check_pay(&self, req: &PayRequest) -> Result<(Bolt11Plan, Option<String>), PayError> {
        if req.localinvreqid.is_some() {
            return Err(invalid(
                "localinvreqid is not supported by boltd: it has no local invoice requests to \
                 link the payment to; pay without it",
            ));
        }
        let invoice: Bolt11Invoice =
            req.bolt11.trim().parse().map_err(|e| invalid(format!("invalid bolt11: {e}")))?;
        let network = self.node.config().network;
        if invoice.network() != network {
            return Err(invalid(format!(
                "invoice is for network {}, this node runs on {network}",
                invoice.network()
            )));
        }
        let retry_for = retry_window("retry_for", req.retry_for)?;
        let now = now_secs();
        let expiry = invoice_expiry_secs(&invoice);
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
        crate::amount::at_most_supply(
            if amount_arg.is_some() { "amount_msat" } else { "the invoice's amount" },
            amount_msat,
        )
        .map_err(invalid)?;
        for (name, fee) in [("maxfee", req.maxfee), ("exemptfee", req.exemptfee)] {
            if let Some(f) = fee {
                crate::amount::at_most_supply(name, f).map_err(invalid)?;
            }
        }
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
        let plan = Bolt11Plan {
            invoice,
            amount_msat,
            amount_arg,
            payee,
            fee_limit_msat,
            maxdelay,
            retry_for,
            policy,
        };
        Ok((plan, description))
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
        let started = std::time::Instant::now();
        let (plan, description) = self.check_pay(&req)?;
        let hash = plan.invoice.payment_hash().to_byte_array();
        let mut intent =
            NewOutgoing::new(PaymentKind::Bolt11, Some(hash), rand::random(), plan.amount_msat);
        intent.destination = Some(plan.payee.to_string());
        intent.invoice = Some(req.bolt11.trim().to_string());
        intent.description = description;
        intent.label = req.label.clone();
        intent.metadata = metadata;
        ctx.apply(&mut intent);
        intent.fee_limit_msat = Some(plan.fee_limit_msat);
        intent.request_hash = Some(request_hash(&req));
        intent.expires_at = Some(invoice_expiry_secs(&plan.invoice));
        let wait = ctx.wait_for(result_window(plan.retry_for));
        let plan = SendPlan::Bolt11(Box::new(plan));
        intent.send_plan = crate::payment::resume::stored(&plan);
        self.pay_outgoing(intent, plan, wait, started).await
    }

    /// Records an outgoing payment and has it driven to the node (see [`crate::payment`]),
    /// then waits up to `wait` for its result. A new payment first waits (briefly) for HTLC
    /// slots when the channels are busy, before anything is recorded. `started`: when the
    /// engine's method was called (the payment's spans, [`Engine::pay_spans`], start there).
    pub(crate) async fn pay_outgoing(
        &self,
        intent: NewOutgoing,
        plan: SendPlan,
        wait: Duration,
        started: std::time::Instant,
    ) -> Result<PayResult, PayError> {
        self.payments.wait_for_htlc_slots(plan.amount_msat(), plan.retry_for()).await;
        match self.payments.begin(intent, plan).await? {
            Begun::Existing(record) => self.await_result(record, wait).await,
            Begun::Sending { record, unsent } => {
                let hash = record.payment_hash;
                let result = self.await_result(record, wait).await;
                if let (Some(hash), Ok(r)) = (hash, &result) {
                    if r.status == "complete" {
                        self.payments.registry.spans.finish(hash, started);
                    }
                }
                if result.is_err() {
                    // Failed before anything left: the driver says why, in full (the record
                    // only has Core Lightning's code for it), right after the record is durable.
                    if let Ok(Ok(error)) = tokio::time::timeout(UNSENT_WAIT, unsent).await {
                        return Err(error);
                    }
                }
                result
            }
        }
    }

    /// Waits (up to `wait`) for a payment to leave `pending`, then answers Core Lightning's way.
    pub(crate) async fn await_result(
        &self,
        record: PaymentRecord,
        wait: Duration,
    ) -> Result<PayResult, PayError> {
        let id = record.id;
        // The record and, once final, its parts in one trip to the store.
        let (record, parts) = self
            .payments
            .registry
            .wait_final_with(self.store(), id, wait, |s, r| s.payment_parts(r.id))
            .await?
            .ok_or_else(|| PayError::storage(format!("payment {id} vanished")))?;
        let parts = match parts {
            Some(parts) => parts,
            None => self.blocking(move |s| s.payment_parts(id)).await?,
        };
        let succeeded = parts.iter().filter(|p| p.succeeded).count() as u32;
        let attempted = record
            .payment_id
            .map_or(0, |send| self.payments.lightning.attempted_parts(PaymentId(send)));
        match record.status {
            PaymentStatus::Complete | PaymentStatus::Pending => {
                let mut result = PayResult::from_record(&record, succeeded.max(attempted));
                result.failed_parts = (parts.len() as u32).saturating_sub(succeeded);
                Ok(result)
            }
            PaymentStatus::Failed => Err(recorded_failure(&record, &parts)),
        }
    }
}

/// The error a failed payment's record answers with, read back (a payment that failed while
/// the caller waited, or a replay of one that failed before): the failure its code names,
/// with the failures of its persisted parts; a failure whose details are not kept (a route too
/// expensive, a hash already paid differently) keeps its recorded code
/// ([`PayError::Recorded`]).
pub(crate) fn recorded_failure(
    record: &PaymentRecord,
    parts: &[boltd_store::PartRecord],
) -> PayError {
    let failures: Vec<RoutingFailure> =
        parts.iter().filter_map(|p| p.failure.as_ref()).map(RoutingFailure::from).collect();
    let reason = record.failure_reason.clone().unwrap_or_default();
    match record.failure_code {
        Some(FailureCode::DestinationPermanentFailure) => {
            PayError::DestinationRejected { failures }
        }
        Some(FailureCode::RouteNotFound) => PayError::RouteNotFound { failures },
        Some(FailureCode::StoppedRetrying) => PayError::Timeout { failures },
        Some(FailureCode::InvoiceExpired) => {
            PayError::InvoiceExpired { now: now_secs(), expiry: record.expires_at.unwrap_or(0) }
        }
        Some(code @ FailureCode::RouteTooExpensive)
        | Some(code @ FailureCode::AlreadyPaidDifferently) => PayError::Recorded { code, reason },
        Some(FailureCode::Other) | None => {
            PayError::Other(if reason.is_empty() { "payment failed".into() } else { reason })
        }
    }
}

/// When a BOLT11 invoice expires (unix seconds), saturating: an expiry past the end of time is
/// "never" rather than an overflow, and "never" is `i64::MAX`, the latest a SQLite integer (the
/// payment and receive records) holds (`u64::MAX` failed to be recorded).
pub(crate) fn invoice_expiry_secs(invoice: &Bolt11Invoice) -> u64 {
    const NEVER: u64 = i64::MAX as u64;
    invoice
        .duration_since_epoch()
        .checked_add(invoice.expiry_time())
        .map_or(NEVER, |d| d.as_secs().min(NEVER))
}

/// How long a caller whose payment failed waits for the driver's full account of a failure
/// before anything left (it comes right after the failure is recorded).
const UNSENT_WAIT: Duration = Duration::from_secs(5);

/// How long a caller waits beyond a payment's retry window for LDK's last word.
pub(crate) const RESULT_GRACE: Duration = Duration::from_secs(5);

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

/// The fee limit a payment of `amount_msat` gets when the caller sets none (Core Lightning's
/// defaults: `maxfeepercent` 0.5, `exemptfee` 5000 msat): the most it may cost in fees.
pub fn default_fee_limit_msat(amount_msat: u64) -> u64 {
    boltd_routing::policy::fee_limit_msat(
        amount_msat,
        defaults::MAXFEEPERCENT,
        defaults::EXEMPTFEE_MSAT,
        None,
    )
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
        let (plan, _) = self.check_pay(req)?;
        if plan.policy.excludes_node(&plan.payee) {
            return Err(PayError::RouteNotFound { failures: vec![] });
        }
        let node = NodeLightning::new(Arc::clone(&self.node));
        let (route, within_limits) = match node.find_route(&plan, true) {
            Ok(r) => (r, true),
            Err(_) => (
                node.find_route(&plan, false)
                    .map_err(|_| PayError::RouteNotFound { failures: vec![] })?,
                false,
            ),
        };
        Ok(FeeQuote {
            amount_msat: plan.amount_msat,
            fee_msat: route.get_total_fees(),
            delay_blocks: route_delay(&route),
            parts: route.paths.len() as u32,
            hops: route.paths.iter().map(|p| p.hops.len() as u32).max().unwrap_or(0),
            within_limits,
            fee_limit_msat: plan.fee_limit_msat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice_expiring_in(expiry_secs: u64) -> Bolt11Invoice {
        use bitcoin::secp256k1::{Secp256k1, SecretKey};
        use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
        let key = SecretKey::from_slice(&[7; 32]).unwrap();
        InvoiceBuilder::new(Currency::Regtest)
            .description("x".into())
            .payment_hash(sha256::Hash::hash(b"x"))
            .payment_secret(PaymentSecret([1; 32]))
            .duration_since_epoch(Duration::from_secs(1_700_000_000))
            .expiry_time(Duration::from_secs(expiry_secs))
            .min_final_cltv_expiry_delta(144)
            .build_signed(|h| Secp256k1::new().sign_ecdsa_recoverable(h, &key))
            .unwrap()
    }

    /// A failure read back from its record answers as it did when it happened: a route too
    /// expensive stays 206 and a hash paid differently 201 (they were `Other`, -1), the others
    /// keep their variants.
    #[test]
    fn a_recorded_failure_keeps_its_code() {
        use boltd_store::{BeginOutgoing, NewOutgoing, PaymentKind, Store};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let failed = |n: u8, code: FailureCode| {
            let intent = NewOutgoing::new(PaymentKind::Bolt11, Some([n; 32]), [n; 32], 1000);
            let BeginOutgoing::Started(_) = store.begin_outgoing(intent, 10).unwrap() else {
                panic!("started")
            };
            store.fail_outgoing(&[n; 32], code, Some("why"), false, 11).unwrap().unwrap()
        };
        let e = recorded_failure(&failed(1, FailureCode::RouteTooExpensive), &[]);
        assert!(
            matches!(&e, PayError::Recorded { code: FailureCode::RouteTooExpensive, reason }
            if reason == "why"),
            "{e:?}"
        );
        let e = recorded_failure(&failed(2, FailureCode::AlreadyPaidDifferently), &[]);
        assert!(matches!(e, PayError::Recorded { code: FailureCode::AlreadyPaidDifferently, .. }));
        let e = recorded_failure(&failed(3, FailureCode::RouteNotFound), &[]);
        assert!(matches!(e, PayError::RouteNotFound { .. }), "{e:?}");
        let e = recorded_failure(&failed(4, FailureCode::Other), &[]);
        assert!(matches!(&e, PayError::Other(r) if r == "why"), "{e:?}");
    }

    #[test]
    fn an_expiry_past_the_end_of_time_is_never_and_can_be_recorded() {
        assert_eq!(invoice_expiry_secs(&invoice_expiring_in(3600)), 1_700_003_600);
        // timestamp + u64::MAX overflows (the unchecked sum panicked); past i64::MAX the store
        // cannot keep it (u64::MAX failed to be recorded): "never" is i64::MAX.
        for expiry in [u64::MAX, u64::MAX - 1_700_000_000, i64::MAX as u64] {
            let at = invoice_expiry_secs(&invoice_expiring_in(expiry));
            assert_eq!(at, i64::MAX as u64, "expiry {expiry}");
        }
    }

    #[test]
    fn retry_for_is_at_most_a_day_and_named() {
        assert_eq!(retry_window("retry_for", None).unwrap(), Duration::from_secs(60));
        assert_eq!(retry_window("retry_for", Some(86_400)).unwrap(), Duration::from_secs(86_400));
        for (name, secs) in [("retry_for", 86_401), ("retry_for_secs", u64::MAX)] {
            match retry_window(name, Some(secs)) {
                Err(PayError::InvalidParams(m)) => {
                    assert!(m.starts_with(&format!("{name} must be at most 86400")), "{m}")
                }
                other => panic!("{other:?}"),
            }
        }
        // The caller's wait beyond the retry window saturates instead of overflowing.
        assert_eq!(result_window(Duration::from_secs(60)), Duration::from_secs(65));
        assert_eq!(result_window(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn a_deadline_never_overflows() {
        let now = tokio::time::Instant::now();
        let soon = deadline_in(Duration::from_secs(5));
        assert!(soon >= now + Duration::from_secs(5) && soon < now + Duration::from_secs(60));
        // `Instant::now() + Duration::MAX` panics; the deadline is far away instead.
        assert!(deadline_in(Duration::MAX) >= now + FAR_FUTURE);
        assert!(deadline_in(Duration::from_secs(u64::MAX)) > now + Duration::from_secs(86_400));
    }
}
