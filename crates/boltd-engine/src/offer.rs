//! BOLT12 offers: creating offers (fixed or any amount, optional expiry) and paying them.
//!
//! Offers are stateless in LDK: the offer carries what LDK needs to recognise the invoice
//! requests for it, so creating one records nothing. Paying one records the intent first (kind
//! `bolt12`, no payment hash yet: the hash comes with the issuer's invoice and is filled in from
//! the preimage on completion), then LDK requests the invoice over onion messages and pays it.
//! Without a payment hash up front, a repeated request is only recognised by the client's
//! idempotency key; every call without one is a new payment.

use std::str::FromStr;
use std::time::Duration;

use boltd_routing::policy::fee_limit_msat;
use boltd_store::{NewOutgoing, PaymentKind};
use lightning::bitcoin::constants::ChainHash;
use lightning::offers::offer::{Amount, Offer};
use lightning::offers::parse::Bolt12SemanticError;
use serde::{Deserialize, Serialize};

use crate::error::PayError;
use crate::ledger::now_secs;
use crate::pay::{defaults, request_hash, PayResult};
use crate::payment::lightning::{OfferPlan, SendPlan};
use crate::{Engine, PayContext};

/// Time allowed beyond `retry_for` for the invoice request and the issuer's answer.
pub const INVOICE_EXCHANGE_SECS: u64 = 10;
/// The longest payer note accepted, in bytes (BOLT12 allows more; this keeps records small).
pub const MAX_PAYER_NOTE_BYTES: usize = 512;

/// A request for an offer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// Amount in msat; `None` for an offer the payer chooses the amount of.
    pub amount_msat: Option<u64>,
    /// Description shown to the payer (required by BOLT12 when there is an amount).
    pub description: String,
    /// Seconds until the offer expires; `None` for an offer that does not expire.
    pub expiry_secs: Option<u64>,
}

/// A created offer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OfferInfo {
    /// The offer (`lno1...`).
    pub offer: String,
    /// The offer's id (hex).
    pub offer_id: String,
    /// Its amount, if fixed.
    pub amount_msat: Option<u64>,
    /// Its description.
    pub description: String,
    /// When it expires (unix seconds), if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// A request to pay an offer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferPayRequest {
    /// The offer (`lno1...`).
    pub offer: String,
    /// Amount in msat: required when the offer has none; otherwise at least the offer's.
    pub amount_msat: Option<u64>,
    /// A note for the recipient, carried in the invoice request.
    pub payer_note: Option<String>,
    /// Absolute fee limit in msat (default: Core Lightning's 0.5% or 5000 msat).
    pub maxfee_msat: Option<u64>,
    /// Seconds to keep retrying (default 60, at most 86400: one day; more is a 400).
    #[schema(maximum = 86_400)]
    pub retry_for: Option<u64>,
}

fn invalid(msg: impl Into<String>) -> PayError {
    PayError::InvalidParams(msg.into())
}

/// LDK's refusal to build an offer or an invoice request, as a `PayError` with a message that
/// says what to change.
pub(crate) fn semantic_error(e: Bolt12SemanticError, offer: Option<&Offer>) -> PayError {
    use Bolt12SemanticError::*;
    match e {
        AlreadyExpired => PayError::InvoiceExpired {
            now: now_secs(),
            expiry: offer.and_then(|o| o.absolute_expiry()).map(|d| d.as_secs()).unwrap_or(0),
        },
        UnsupportedChain | UnexpectedChain => {
            invalid("the offer is for a chain this node does not run on")
        }
        MissingAmount => invalid("amount_msat required: the offer has no amount"),
        InvalidAmount => invalid("invalid amount (zero, or above the bitcoin supply)"),
        InsufficientAmount => invalid("amount_msat is below the offer's amount"),
        UnexpectedAmount => invalid("amount_msat is not allowed here"),
        UnsupportedCurrency | InvalidCurrencyCode => {
            invalid("the offer is priced in a currency: give amount_msat in bitcoin")
        }
        UnknownRequiredFeatures => invalid("the offer requires features this node lacks"),
        MissingDescription => invalid("a description is required for an offer with an amount"),
        InvalidQuantity | MissingQuantity | UnexpectedQuantity => {
            invalid("the offer's quantity rules cannot be met")
        }
        MissingPaths => PayError::Other(
            "no blinded message path: the node needs a connected peer that relays onion \
             messages, or an announced channel"
                .into(),
        ),
        DuplicatePaymentId => PayError::Other("LDK already has a payment with this id".into()),
        other => invalid(format!("the offer cannot be used: {other:?}")),
    }
}

impl Engine {
    /// Creates a BOLT12 offer. Offers are stateless in LDK (invoice requests for it are
    /// recognised from the offer's own metadata), so nothing is recorded.
    pub async fn create_offer(&self, req: OfferRequest) -> Result<OfferInfo, PayError> {
        if req.amount_msat == Some(0) {
            return Err(invalid("amount must be positive"));
        }
        if req.expiry_secs == Some(0) {
            return Err(invalid("expiry_secs must be positive"));
        }
        let expires_at = req.expiry_secs.map(|s| now_secs().saturating_add(s));
        let cm = self.node.channel_manager();
        let mut builder = cm.create_offer_builder().map_err(|e| semantic_error(e, None))?;
        builder = builder.description(req.description.clone());
        if let Some(a) = req.amount_msat {
            builder = builder.amount_msats(a);
        }
        if let Some(t) = expires_at {
            builder = builder.absolute_expiry(Duration::from_secs(t));
        }
        let offer = builder.build().map_err(|e| semantic_error(e, None))?;
        Ok(OfferInfo {
            offer: offer.to_string(),
            offer_id: hex::encode(offer.id().0),
            amount_msat: req.amount_msat,
            description: req.description,
            expires_at,
        })
    }

    /// Pays a BOLT12 offer: checks it, records the intent (kind `bolt12`), asks LDK to request
    /// the invoice and pay it, and waits for the outcome (up to `retry_for` plus the invoice
    /// exchange; then the answer is `pending`). `idempotency_key`, when given, makes a repeated
    /// call return the first call's payment (a different request with the same key is a
    /// conflict); without one, every call is a new payment.
    pub async fn pay_offer(
        &self,
        req: OfferPayRequest,
        ctx: PayContext,
    ) -> Result<PayResult, PayError> {
        let started = std::time::Instant::now();
        let text = req.offer.trim();
        let offer = Offer::from_str(text).map_err(|e| invalid(format!("invalid offer: {e:?}")))?;
        let network = self.node.config().network;
        if !offer.supports_chain(ChainHash::using_genesis_block(network)) {
            return Err(invalid(format!(
                "the offer is not for {network}, the network of this node"
            )));
        }
        let expires_at = offer.absolute_expiry().map(|d| d.as_secs());
        if offer.is_expired() {
            return Err(PayError::InvoiceExpired {
                now: now_secs(),
                expiry: expires_at.unwrap_or(0),
            });
        }
        let amount_msat = match (offer.amount(), req.amount_msat) {
            (_, Some(0)) => return Err(invalid("amount must be positive")),
            (None, None) => {
                return Err(invalid("amount_msat required: the offer has no amount"));
            }
            (Some(Amount::Currency { iso4217_code, .. }), None) => {
                return Err(invalid(format!(
                    "amount_msat required: the offer is priced in {}",
                    iso4217_code.as_str()
                )));
            }
            (Some(Amount::Bitcoin { amount_msats }), Some(a)) if a < amount_msats => {
                return Err(invalid(format!(
                    "amount_msat {a} is below the offer's amount of {amount_msats} msat"
                )));
            }
            (Some(Amount::Bitcoin { amount_msats }), None) => amount_msats,
            (_, Some(a)) => a,
        };
        if let Some(note) = &req.payer_note {
            if note.len() > MAX_PAYER_NOTE_BYTES {
                return Err(invalid(format!(
                    "payer_note is {} bytes; at most {MAX_PAYER_NOTE_BYTES} allowed",
                    note.len()
                )));
            }
        }
        crate::amount::at_most_supply("amount_msat", amount_msat).map_err(invalid)?;
        if let Some(f) = req.maxfee_msat {
            crate::amount::at_most_supply("maxfee_msat", f).map_err(invalid)?;
        }
        let retry_for = crate::pay::retry_window("retry_for", req.retry_for)?;
        let wait =
            ctx.wait_for(retry_for.saturating_add(Duration::from_secs(INVOICE_EXCHANGE_SECS)));

        let mut intent = NewOutgoing::new(PaymentKind::Bolt12, None, rand::random(), amount_msat);
        intent.invoice = Some(text.to_string());
        intent.description = offer.description().map(|d| d.to_string());
        let fee_limit = fee_limit_msat(
            amount_msat,
            defaults::MAXFEEPERCENT,
            defaults::EXEMPTFEE_MSAT,
            req.maxfee_msat,
        );
        ctx.apply(&mut intent);
        intent.fee_limit_msat = Some(fee_limit);
        intent.request_hash = Some(request_hash(&req));
        intent.expires_at = expires_at;
        let plan = OfferPlan {
            offer,
            amount_arg: req.amount_msat,
            amount_msat,
            payer_note: req.payer_note.clone(),
            fee_limit_msat: fee_limit,
            retry_for,
        };
        self.pay_outgoing(intent, SendPlan::Offer(Box::new(plan)), wait, started).await
    }
}
