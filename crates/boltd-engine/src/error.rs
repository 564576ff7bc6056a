//! The engine's errors, with Core Lightning's `pay` error codes.

use boltd_store::{BudgetWindow, FailureCode, SpendRefusal};
use serde::Serialize;

/// One failed attempt along a route, as Core Lightning reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingFailure {
    /// Index of the node that reported the error: 0 is us, 1 the first hop, ...
    pub erring_index: u32,
    /// That node's id (hex).
    pub erring_node: String,
    /// The failing channel (`BLOCKxTXxOUT`), or `0x0x0` when the destination failed it.
    pub erring_channel: String,
    /// BOLT 4 failure code. LDK does not expose the onion's raw code in release builds, so this
    /// is derived from the failure's network update: 0x400f (incorrect or unknown payment
    /// details) at the destination, 0x1007/0x4008 (temporary/permanent channel failure) or
    /// 0x2002/0x6002 (temporary/permanent node failure) on the way.
    pub failcode: u32,
}

impl From<&boltd_store::PartFailure> for RoutingFailure {
    fn from(f: &boltd_store::PartFailure) -> Self {
        RoutingFailure {
            erring_index: f.erring_index,
            erring_node: f.erring_node.clone().unwrap_or_default(),
            erring_channel: f.erring_channel.clone().unwrap_or_else(|| "0x0x0".into()),
            failcode: f.failcode,
        }
    }
}

/// Why a payment request did not end in a completed payment.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PayError {
    /// The request is malformed or contradictory; nothing was sent.
    #[error("{0}")]
    InvalidParams(String),
    /// The same idempotency key was used with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyConflict {
        /// The original payment's record id.
        payment_id: i64,
    },
    /// The invoice was already paid (or is being paid) with a different amount or destination.
    #[error("already paid with this hash using different amount or destination")]
    AlreadyPaid {
        /// The earlier payment's record id.
        payment_id: i64,
    },
    /// The destination refused the payment for good.
    #[error("permanent failure at destination")]
    DestinationRejected {
        /// The attempts' failures.
        failures: Vec<RoutingFailure>,
    },
    /// No route to the destination.
    #[error("unable to find a route")]
    RouteNotFound {
        /// The attempts' failures.
        failures: Vec<RoutingFailure>,
    },
    /// Our channels cannot carry the amount; nothing was sent.
    #[error("insufficient balance: {needed_msat} msat needed, {available_msat} msat can be sent")]
    InsufficientBalance {
        /// The amount to send.
        needed_msat: u64,
        /// What the usable channels can send now.
        available_msat: u64,
    },
    /// The channels hold the balance but cannot take another HTLC this size now: too many HTLCs,
    /// or too much value, are in flight on them (each channel accepts at most 483 HTLCs, and the
    /// peer may allow fewer). Nothing was sent; the same payment can be retried once some of the
    /// payments in flight resolve.
    #[error(
        "channels busy: {in_flight_htlcs} HTLCs are in flight on our channels, which can add an \
         HTLC of at most {sendable_msat} msat now; this payment needs {needed_msat} msat. \
         Nothing was sent; retry when payments in flight resolve"
    )]
    ChannelsBusy {
        /// The amount to send.
        needed_msat: u64,
        /// What the usable channels can send in new HTLCs now.
        sendable_msat: u64,
        /// Our HTLCs in flight on the usable channels.
        in_flight_htlcs: usize,
    },
    /// A route exists but costs more, or takes longer, than allowed.
    #[error("route too expensive: fee {fee_msat} msat ({feepercent:.4}%), delay {delay} blocks")]
    RouteTooExpensive {
        /// The fee of the best route.
        fee_msat: u64,
        /// That fee as a percentage of the amount.
        feepercent: f64,
        /// The route's total CLTV delay.
        delay: u32,
    },
    /// The invoice expired before or during the payment.
    #[error("invoice expired")]
    InvoiceExpired {
        /// Now (unix seconds).
        now: u64,
        /// When the invoice expired (unix seconds).
        expiry: u64,
    },
    /// retry_for elapsed without a successful attempt.
    #[error("payment timed out without a payment in progress")]
    Timeout {
        /// The attempts' failures.
        failures: Vec<RoutingFailure>,
    },
    /// The identified payment or receive does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation is not possible in the current state (e.g. canceling a settled receive).
    #[error("{0}")]
    WrongState(String),
    /// An invoice with this label exists already (Core Lightning's labels are unique).
    #[error("duplicate label `{0}`")]
    LabelExists(String),
    /// The API token that asked was revoked or expired after the request was authenticated;
    /// nothing was sent.
    #[error("invalid token")]
    Unauthorized,
    /// The amount is above the token's per-payment maximum; nothing was sent.
    #[error(
        "payment limit exceeded: this token may pay at most {limit_msat} msat per payment \
         (fees excluded); this payment is {amount_msat} msat"
    )]
    PaymentLimitExceeded {
        /// The token's per-payment maximum.
        limit_msat: u64,
        /// The payment's amount.
        amount_msat: u64,
    },
    /// The payment does not fit what is left of one of the token's budgets; nothing was sent.
    #[error(
        "budget exceeded: the {} budget of this token (rolling {}) is {limit_msat} msat, of \
         which {remaining_msat} msat are left; this payment needs {needed_msat} msat (amount \
         plus fee limit)",
        window.adjective(),
        window_text(*window)
    )]
    BudgetExceeded {
        /// Which budget.
        window: BudgetWindow,
        /// The budget.
        limit_msat: u64,
        /// Spent in the window: complete payments with their fees, pending ones with their
        /// fee limits.
        spent_msat: u64,
        /// What is left.
        remaining_msat: u64,
        /// What the payment needs: its amount plus its fee limit.
        needed_msat: u64,
    },
    /// The store could not read or write (a full disk, a failed flush, a database error): the
    /// request's outcome is unknown to this answer, not a payment failure. The detail is only
    /// logged (see [`PayError::storage`]); a payment that may have been sent keeps its record,
    /// and asking again with the same idempotency key finds it once the store works again. Never
    /// recorded as a payment's failure reason.
    #[error(
        "storage error: the daemon could not read or write its database (see its log); this is \
         not a payment outcome: look the payment up, or retry with the same Idempotency-Key"
    )]
    Storage,
    /// A payment its record says failed, read back without the details its failure had when it
    /// happened (a route too expensive, a hash already paid differently): the recorded code and
    /// reason, so that a replay answers the same kind of failure as the first answer.
    #[error("{reason}")]
    Recorded {
        /// The recorded failure.
        code: FailureCode,
        /// The recorded reason.
        reason: String,
    },
    /// Something else failed (the message says what; details are in the daemon's log).
    #[error("{0}")]
    Other(String),
}

impl PayError {
    /// A storage failure: logs `detail` (never shown to the client) and returns
    /// [`PayError::Storage`].
    pub fn storage(detail: impl std::fmt::Display) -> Self {
        tracing::error!("storage error: {detail}");
        PayError::Storage
    }
}

fn window_text(w: BudgetWindow) -> &'static str {
    match w {
        BudgetWindow::Day => "24 hours",
        BudgetWindow::Week => "7 days",
        BudgetWindow::Month => "30 days",
    }
}

impl From<SpendRefusal> for PayError {
    fn from(r: SpendRefusal) -> Self {
        match r {
            SpendRefusal::TokenInactive => PayError::Unauthorized,
            SpendRefusal::OverPaymentLimit { limit_msat, amount_msat } => {
                PayError::PaymentLimitExceeded { limit_msat, amount_msat }
            }
            SpendRefusal::OverBudget { budget, needed_msat } => PayError::BudgetExceeded {
                window: budget.window,
                limit_msat: budget.limit_msat,
                spent_msat: budget.spent_msat,
                remaining_msat: budget.remaining_msat,
                needed_msat,
            },
        }
    }
}

/// Why a notification or webhook request did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotifyError {
    /// The request is malformed (bad cursor, unknown event type, bad URL, ...).
    #[error("{0}")]
    InvalidParams(String),
    /// The webhook endpoint does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The WebSocket ticket is unknown, already used or expired.
    #[error("the WebSocket ticket is unknown, used or expired; get a new one")]
    TicketRefused,
    /// Too many unused WebSocket tickets exist.
    #[error("too many unused WebSocket tickets; try again in a minute")]
    TooManyTickets,
    /// Something else failed (details are in the daemon's log).
    #[error("{0}")]
    Other(String),
}

impl From<boltd_store::StoreError> for NotifyError {
    fn from(e: boltd_store::StoreError) -> Self {
        tracing::error!("store: {e}");
        NotifyError::Other("storage error; see the daemon's log".into())
    }
}
