//! What the payment flows need from the node, as a trait: the engine's node implements it over
//! LDK ([`super::node::NodeLightning`]), and the flows' unit tests over a fake.

use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use boltd_routing::policy::PaymentPolicy;
use boltd_store::FailureCode;
use lightning::ln::channelmanager::{PaymentId, RecipientOnionFields};
use lightning::offers::offer::Offer;
use lightning::routing::router::RouteParameters;
use lightning_invoice::Bolt11Invoice;

use crate::error::PayError;

/// A BOLT11 payment, checked ([`crate::Engine::pay`]).
#[derive(Debug, Clone)]
pub(crate) struct Bolt11Plan {
    pub(crate) invoice: Bolt11Invoice,
    /// What the payee gets.
    pub(crate) amount_msat: u64,
    /// The amount given by the caller (an invoice without one).
    pub(crate) amount_arg: Option<u64>,
    pub(crate) payee: PublicKey,
    pub(crate) fee_limit_msat: u64,
    /// Core Lightning's `maxdelay`.
    pub(crate) maxdelay: u32,
    pub(crate) retry_for: Duration,
    pub(crate) policy: PaymentPolicy,
}

/// A keysend, checked ([`crate::Engine::keysend`]).
#[derive(Debug, Clone)]
pub(crate) struct KeysendPlan {
    pub(crate) preimage: [u8; 32],
    pub(crate) onion: RecipientOnionFields,
    pub(crate) route_params: RouteParameters,
    pub(crate) amount_msat: u64,
    pub(crate) retry_for: Duration,
}

/// A BOLT12 offer payment, checked ([`crate::Engine::pay_offer`]).
#[derive(Debug, Clone)]
pub(crate) struct OfferPlan {
    pub(crate) offer: Offer,
    pub(crate) amount_arg: Option<u64>,
    pub(crate) amount_msat: u64,
    pub(crate) payer_note: Option<String>,
    pub(crate) fee_limit_msat: u64,
    pub(crate) retry_for: Duration,
}

/// How to hand a payment to the node.
#[derive(Debug, Clone)]
pub(crate) enum SendPlan {
    Bolt11(Box<Bolt11Plan>),
    Keysend(Box<KeysendPlan>),
    Offer(Box<OfferPlan>),
}

impl SendPlan {
    /// What the payee gets.
    pub(crate) fn amount_msat(&self) -> u64 {
        match self {
            SendPlan::Bolt11(p) => p.amount_msat,
            SendPlan::Keysend(p) => p.amount_msat,
            SendPlan::Offer(p) => p.amount_msat,
        }
    }

    /// The payment's retry window.
    pub(crate) fn retry_for(&self) -> Duration {
        match self {
            SendPlan::Bolt11(p) => p.retry_for,
            SendPlan::Keysend(p) => p.retry_for,
            SendPlan::Offer(p) => p.retry_for,
        }
    }

    /// Whether the engine may hand the payment to the node again under a new send when LDK gave
    /// up on one while a channel peer was away. Not an offer: a new invoice request could bring
    /// a different invoice.
    pub(crate) fn can_send_again(&self) -> bool {
        !matches!(self, SendPlan::Offer(_))
    }
}

/// Why a payment was not handed to the node (or the node refused it): nothing was sent.
#[derive(Debug, Clone)]
pub(crate) struct Unsent {
    /// The failure to record.
    pub(crate) code: FailureCode,
    /// The reason to record.
    pub(crate) reason: String,
    /// Whether paying the same invoice again may work.
    pub(crate) retryable: bool,
    /// What to answer.
    pub(crate) error: PayError,
    /// Whether a channel peer coming back could change it (no balance or no route over the
    /// channels that are up): the payment may wait for one within its retry window.
    pub(crate) peer_may_help: bool,
}

impl Unsent {
    /// Nothing sent, `error` answered; the reason recorded is its message.
    pub(crate) fn new(code: FailureCode, error: PayError) -> Self {
        Self { code, reason: error.to_string(), retryable: true, error, peer_may_help: false }
    }

    /// The same, when a channel peer coming back could help.
    pub(crate) fn until_peer(mut self) -> Self {
        self.peer_may_help = true;
        self
    }
}

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
    let sum = |f: fn(&SendableChannel) -> u64| {
        channels.iter().map(f).fold(0u64, |a, b| a.saturating_add(b))
    };
    let sendable_msat = sum(|c| c.next_outbound_htlc_limit_msat);
    if sendable_msat >= amount_msat {
        return Ok(());
    }
    let capacity_msat = sum(|c| c.outbound_capacity_msat);
    let in_flight_msat = sum(|c| c.in_flight_msat);
    let in_flight_htlcs: usize = channels.iter().map(|c| c.in_flight_htlcs).sum();
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

/// The node, as the payment flows use it.
pub(crate) trait Lightning: Send + Sync + 'static {
    /// What our usable channels can send now.
    fn sendable_channels(&self) -> Vec<SendableChannel>;

    /// What our channels that are ready but whose peer is disconnected could send once it is
    /// back, in msat.
    fn offline_outbound_msat(&self) -> u64;

    /// Checks, before anything is sent, that the payment can go out now (balance, route within
    /// its limits); `Err` says why not.
    fn preflight(&self, plan: &SendPlan) -> Result<(), Unsent>;

    /// Hands the payment to the node under `id` (the routing policy is registered first); the
    /// node retries it for at most `retry_for` (what is left of the payment's window).
    fn send(&self, id: PaymentId, plan: &SendPlan, retry_for: Duration) -> Result<(), Unsent>;

    /// Forgets what the node keeps for send `id` that will not be needed (its routing policy).
    fn forget(&self, id: PaymentId);

    /// How many paths routes for send `id` have had so far (Core Lightning's `parts` while a
    /// payment is pending).
    fn attempted_parts(&self, id: PaymentId) -> u32;

    /// The sends the node knows: in flight, awaiting an invoice, retrying, or resolved with
    /// their events still to come (an abandoned one may still have HTLCs out).
    fn known_sends(&self) -> std::collections::HashSet<PaymentId>;

    /// Whether `amount_msat` fails only for want of channels that are down: with the offline
    /// channels back, the balance would be there.
    fn peers_could_carry(&self, amount_msat: u64) -> bool {
        let offline = self.offline_outbound_msat();
        if offline == 0 {
            return false;
        }
        let sendable = self
            .sendable_channels()
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.next_outbound_htlc_limit_msat));
        sendable.saturating_add(offline) >= amount_msat
    }
}

/// What LDK's synchronous refusal to send means: the failure code to record and the error to
/// answer. No route is Core Lightning's 205 (a 4xx), as for a route search that fails later;
/// custom records that cannot fit the onion are bad input.
pub(crate) fn send_refused(
    e: &lightning::ln::channelmanager::RetryableSendFailure,
    reason: &str,
) -> Unsent {
    use lightning::ln::channelmanager::RetryableSendFailure as F;
    let (code, error, peer) = match e {
        F::RouteNotFound => {
            (FailureCode::RouteNotFound, PayError::RouteNotFound { failures: vec![] }, true)
        }
        F::OnionPacketSizeExceeded => (
            FailureCode::Other,
            PayError::InvalidParams(
                "the custom records and the route do not fit in the payment's onion".into(),
            ),
            false,
        ),
        F::PaymentExpired | F::DuplicatePayment => {
            (FailureCode::Other, PayError::Other(reason.to_string()), false)
        }
    };
    Unsent { code, reason: reason.to_string(), retryable: true, error, peer_may_help: peer }
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
    fn huge_balances_do_not_overflow() {
        let channels = [channel(u64::MAX, u64::MAX, 0), channel(u64::MAX, u64::MAX, 1)];
        assert!(sendable_verdict(&channels, u64::MAX).is_ok());
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
