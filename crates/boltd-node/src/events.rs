//! Handling of every LDK event.
//!
//! Events are delivered by LDK's background processor on its own thread. LDK replays events that
//! were not fully handled before a crash, so every branch here is safe to run twice: claiming a
//! payment, tracking spendable outputs and recording outcomes are idempotent, and a funding
//! transaction for a channel that no longer exists is refused by LDK and abandoned in the wallet.

use std::sync::Arc;

use boltd_store::CloseKind;

use lightning::events::{
    ClosureReason, Event, HTLCHandlingFailureReason, HTLCHandlingFailureType, PathFailure,
    PaymentFailureReason, PaymentPurpose, ReplayEvent,
};
use lightning::ln::channelmanager::PaymentId;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::LocalHTLCFailureReason;
use lightning::routing::router::Path;
use lightning::sign::KeysManager;
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use tokio::runtime::Handle;

use crate::types::{ChannelManager, PeerManager, Sweeper};
use crate::wallet::OnchainWallet;

/// A payment we may claim (`Event::PaymentClaimable`).
#[derive(Debug, Clone)]
pub struct ClaimableEvent {
    /// Its hash.
    pub payment_hash: PaymentHash,
    /// Amount arriving, in msat.
    pub amount_msat: u64,
    /// The preimage, when LDK knows it (invoices LDK created, keysend); `None` for hold
    /// invoices, whose preimage only the application knows.
    pub known_preimage: Option<PaymentPreimage>,
    /// Whether it is a spontaneous (keysend) payment.
    pub keysend: bool,
    /// A BOLT12 payer note, if any.
    pub payer_note: Option<String>,
    /// Custom TLV records sent by the payer (type, value).
    pub custom_records: Vec<(u64, Vec<u8>)>,
    /// Block height by which the payment must be claimed or it fails back.
    pub claim_deadline: Option<u32>,
    /// The node's best block height now (to estimate when the deadline comes).
    pub best_height: u32,
    /// What the channel's counterparty took from the payment (an LSP's fee for a
    /// just-in-time channel; see [`crate::liquidity`]), in msat: `amount_msat` arrived, the
    /// payer sent this much more. Only an LSP's channel may do so; the payment layer checks it
    /// against the fee promised for the payment before claiming.
    pub counterparty_skimmed_fee_msat: u64,
}

/// What to do with a claimable payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Claim it with this preimage.
    Claim(PaymentPreimage),
    /// Keep the HTLCs (hold invoice); settle or cancel later.
    Hold,
    /// Fail it back to the payer.
    Fail,
}

/// A payment we claimed (`Event::PaymentClaimed`).
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    /// Its hash.
    pub payment_hash: PaymentHash,
    /// Amount claimed, in msat.
    pub amount_msat: u64,
    /// The preimage, if LDK reports it.
    pub preimage: Option<PaymentPreimage>,
    /// Whether it was a spontaneous (keysend) payment.
    pub keysend: bool,
    /// Whether it paid a BOLT12 invoice (for one of our offers or refunds).
    pub bolt12: bool,
    /// A BOLT12 payer note, if any.
    pub payer_note: Option<String>,
    /// Custom TLV records sent by the payer.
    pub custom_records: Vec<(u64, Vec<u8>)>,
}

/// An outgoing payment succeeded (`Event::PaymentSent`).
#[derive(Debug, Clone)]
pub struct SentEvent {
    /// The id it was sent with.
    pub payment_id: Option<PaymentId>,
    /// Its hash.
    pub payment_hash: PaymentHash,
    /// Proof of payment.
    pub preimage: PaymentPreimage,
    /// Amount the recipient got, if known.
    pub amount_msat: Option<u64>,
    /// Routing fees paid.
    pub fee_msat: Option<u64>,
    /// How many paths routes for the payment had (Core Lightning's `parts`).
    pub attempted_parts: u32,
}

/// An outgoing payment failed for good (`Event::PaymentFailed`).
#[derive(Debug, Clone)]
pub struct FailedEvent {
    /// The id it was sent with.
    pub payment_id: PaymentId,
    /// Its hash, when known.
    pub payment_hash: Option<PaymentHash>,
    /// Why, when known.
    pub reason: Option<PaymentFailureReason>,
}

/// Why one path of a payment failed.
#[derive(Debug, Clone)]
pub struct PathFailureInfo {
    /// Whether the whole payment failed permanently with it (destination rejected).
    pub permanent: bool,
    /// LDK's description of the failure.
    pub failure: PathFailure,
    /// The channel that failed, if known.
    pub short_channel_id: Option<u64>,
}

/// One path of an outgoing payment succeeded or failed.
#[derive(Debug, Clone)]
pub struct PathEvent {
    /// The payment's id.
    pub payment_id: Option<PaymentId>,
    /// Its hash.
    pub payment_hash: Option<PaymentHash>,
    /// The path.
    pub path: Path,
    /// `None` when the path succeeded.
    pub failure: Option<PathFailureInfo>,
}

/// What happened to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelEventKind {
    /// The funding transaction was broadcast (`Event::ChannelPending`).
    Pending {
        /// The funding outpoint (`txid:vout`).
        funding_txo: String,
    },
    /// The channel can be used (`Event::ChannelReady`).
    Ready,
    /// The channel was closed (`Event::ChannelClosed`).
    Closed {
        /// Why, as LDK describes it.
        reason: String,
        /// Why, in the categories an operator acts on.
        kind: CloseKind,
        /// The funding outpoint (`txid:vout`), when the channel was funded.
        funding_txo: Option<String>,
        /// Our balance in the channel when it closed (msat), when LDK knows it.
        last_local_balance_msat: Option<u64>,
    },
}

/// The category of LDK's closure reason (an exhaustive match: a new reason LDK adds must be
/// placed here).
pub fn close_kind(reason: &ClosureReason) -> CloseKind {
    match reason {
        ClosureReason::LegacyCooperativeClosure
        | ClosureReason::CounterpartyInitiatedCooperativeClosure
        | ClosureReason::LocallyInitiatedCooperativeClosure
        | ClosureReason::CounterpartyCoopClosedUnfundedChannel
        | ClosureReason::LocallyCoopClosedUnfundedChannel => CloseKind::Cooperative,
        ClosureReason::HolderForceClosed { .. }
        | ClosureReason::ProcessingError { .. }
        | ClosureReason::HTLCsTimedOut { .. }
        | ClosureReason::PeerFeerateTooLow { .. } => CloseKind::LocalForceClose,
        ClosureReason::CounterpartyForceClosed { .. } | ClosureReason::CommitmentTxConfirmed => {
            CloseKind::RemoteForceClose
        }
        ClosureReason::FundingTimedOut
        | ClosureReason::DisconnectedPeer
        | ClosureReason::OutdatedChannelManager
        | ClosureReason::FundingBatchClosure => CloseKind::Abandoned,
    }
}

/// A channel changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEvent {
    /// What happened.
    pub kind: ChannelEventKind,
    /// The channel id.
    pub channel_id: [u8; 32],
    /// The peer, when LDK knows it.
    pub counterparty_node_id: Option<lightning::bitcoin::secp256k1::PublicKey>,
    /// The channel's value in sat, when LDK reports it.
    pub capacity_sat: Option<u64>,
}

/// The payment layer could not record an event; LDK will deliver it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRecorded;

impl std::fmt::Display for NotRecorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the event could not be recorded")
    }
}

impl std::error::Error for NotRecorded {}

/// What the payment layer above the node learns from LDK's events.
///
/// Called on the background processor's thread. The `Result` methods must persist what they
/// record before returning `Ok`; `Err` makes LDK deliver the event again later, so each call
/// must also be safe to repeat (LDK replays unhandled events after a restart).
pub trait PaymentEvents: Send + Sync {
    /// A payment can be claimed; decide what to do.
    fn payment_claimable(&self, event: ClaimableEvent) -> ClaimDecision;
    /// A payment was claimed.
    fn payment_claimed(&self, event: ClaimedEvent) -> Result<(), NotRecorded>;
    /// An outgoing payment completed.
    fn payment_sent(&self, event: SentEvent) -> Result<(), NotRecorded>;
    /// An outgoing payment failed for good.
    fn payment_failed(&self, event: FailedEvent) -> Result<(), NotRecorded>;
    /// One path of an outgoing payment resolved (its route and, for a failure, the details
    /// Core Lightning reports). Like the payment methods, it persists before returning `Ok`.
    fn payment_path(&self, event: PathEvent) -> Result<(), NotRecorded>;
    /// HTLCs to us for `payment_hash` were failed back for their expiry (LDK's
    /// `PaymentClaimBuffer`): either the held HTLCs of the payment reached their claim deadline
    /// unsettled (a hold invoice nobody settled or canceled in time), or a new HTLC came too
    /// close to its expiry (which leaves held ones alone): `best_height` tells them apart. The
    /// default records nothing.
    fn receive_htlcs_expired(
        &self,
        payment_hash: PaymentHash,
        best_height: u32,
    ) -> Result<(), NotRecorded> {
        let _ = (payment_hash, best_height);
        Ok(())
    }
    /// A channel became pending, ready or closed. Like the payment methods, it must persist
    /// before returning `Ok` and be safe to repeat. The default records nothing.
    fn channel_event(&self, event: ChannelEvent) -> Result<(), NotRecorded> {
        let _ = event;
        Ok(())
    }
}

/// The node's behaviour without a payment layer: claim what LDK has a preimage for, record
/// nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClaimKnownPreimages;

impl PaymentEvents for ClaimKnownPreimages {
    fn payment_claimable(&self, event: ClaimableEvent) -> ClaimDecision {
        event.known_preimage.map(ClaimDecision::Claim).unwrap_or(ClaimDecision::Fail)
    }
    fn payment_claimed(&self, _: ClaimedEvent) -> Result<(), NotRecorded> {
        Ok(())
    }
    fn payment_sent(&self, _: SentEvent) -> Result<(), NotRecorded> {
        Ok(())
    }
    fn payment_failed(&self, _: FailedEvent) -> Result<(), NotRecorded> {
        Ok(())
    }
    fn payment_path(&self, _: PathEvent) -> Result<(), NotRecorded> {
        Ok(())
    }
}

fn payer_note(purpose: &PaymentPurpose) -> Option<String> {
    match purpose {
        PaymentPurpose::Bolt12OfferPayment { payment_context, .. } => {
            payment_context.invoice_request.payer_note_truncated.as_ref().map(|n| n.0.clone())
        }
        _ => None,
    }
}

/// Handles LDK events for the node.
pub struct NodeEventHandler {
    pub(crate) config: boltd_config::Config,
    pub(crate) channel_manager: Arc<ChannelManager>,
    /// LDK's fee bumper of anchor channels' force closes, on the wallet's coins.
    pub(crate) bump: crate::types::BumpHandler,
    pub(crate) wallet: Arc<OnchainWallet>,
    pub(crate) sweeper: Arc<Sweeper>,
    /// Per-payment routing policies, forgotten once a payment is final.
    pub(crate) router: Arc<crate::types::Router>,
    pub(crate) listener: Arc<dyn PaymentEvents>,
    /// Told when a payment failure carried a graph update (LDK's background processor has
    /// applied it to the graph before this handler runs).
    pub(crate) routing: Arc<boltd_routing::RoutingEngine>,
    pub(crate) peer_manager: std::sync::OnceLock<Arc<PeerManager>>,
    /// LSPS2: the service's interceptions and channel opens, the client's LSPs.
    pub(crate) liquidity: Arc<crate::liquidity::Liquidity>,
    /// The record of each channel's splice until it locks (`node/splice_record.rs`).
    pub(crate) splices: Arc<crate::node::Splices>,
    pub(crate) _keys_manager: Arc<KeysManager>,
    pub(crate) runtime: Handle,
    /// The background processor owns the handler: dropped when its thread ends, so an
    /// unexpected end (an error, a panic) fails the node.
    pub(crate) _watch: crate::failstop::Watch,
}

impl NodeEventHandler {
    fn capacity_sat(&self, channel_id: &lightning::ln::types::ChannelId) -> Option<u64> {
        self.channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == *channel_id)
            .map(|c| c.channel_value_satoshis)
    }

    fn handle(&self, event: Event) -> Result<(), ReplayEvent> {
        match event {
            Event::FundingGenerationReady {
                temporary_channel_id,
                counterparty_node_id,
                channel_value_satoshis,
                output_script,
                ..
            } => {
                let tx =
                    match self.wallet.funding_transaction(output_script, channel_value_satoshis) {
                        Ok(tx) => tx,
                        Err(e) => {
                            tracing::error!(%counterparty_node_id, "cannot fund channel: {e}");
                            let _ = self.channel_manager.force_close_broadcasting_latest_txn(
                                &temporary_channel_id,
                                &counterparty_node_id,
                                format!("funding failed: {e}"),
                            );
                            return Ok(());
                        }
                    };
                let txid = tx.compute_txid();
                if let Err(e) = self.channel_manager.funding_transaction_generated(
                    temporary_channel_id,
                    counterparty_node_id,
                    tx,
                ) {
                    tracing::error!(%txid, "LDK refused the funding transaction: {e:?}");
                    if let Err(e) = self.wallet.abandon(txid) {
                        tracing::error!("{e}");
                    }
                }
            }
            Event::FundingTxBroadcastSafe { channel_id, .. } => {
                tracing::debug!(%channel_id, "funding transaction safe to broadcast");
            }
            Event::FundingTransactionReadyForSigning {
                channel_id,
                counterparty_node_id,
                unsigned_transaction,
                ..
            } => {
                // A splice (see `node::splice`): the wallet signs its coins (a splice-in's), LDK
                // the channel's shared input.
                let txid = unsigned_transaction.compute_txid();
                tracing::info!(%channel_id, %txid, "splice transaction ready for signing");
                let signed = match self.wallet.sign_splice(unsigned_transaction) {
                    Ok(tx) => tx,
                    Err(e) => {
                        tracing::error!(%channel_id, "cannot sign the splice's coins: {e}");
                        return Ok(());
                    }
                };
                if let Err(e) = self.channel_manager.funding_transaction_signed(
                    &channel_id,
                    &counterparty_node_id,
                    signed,
                ) {
                    tracing::error!(%channel_id, "cannot sign the splice transaction: {e:?}");
                }
            }
            Event::PaymentClaimable {
                payment_hash,
                purpose,
                amount_msat,
                onion_fields,
                claim_deadline,
                counterparty_skimmed_fee_msat,
                ..
            } => {
                let known_preimage = match &purpose {
                    PaymentPurpose::Bolt11InvoicePayment { payment_preimage, .. }
                    | PaymentPurpose::Bolt12OfferPayment { payment_preimage, .. }
                    | PaymentPurpose::Bolt12RefundPayment { payment_preimage, .. } => {
                        *payment_preimage
                    }
                    PaymentPurpose::SpontaneousPayment(p) => Some(*p),
                };
                let claimable = ClaimableEvent {
                    payment_hash,
                    amount_msat,
                    known_preimage,
                    keysend: matches!(purpose, PaymentPurpose::SpontaneousPayment(_)),
                    payer_note: payer_note(&purpose),
                    custom_records: onion_fields
                        .map(|f| f.custom_tlvs().to_vec())
                        .unwrap_or_default(),
                    claim_deadline,
                    best_height: self.channel_manager.current_best_block().height,
                    counterparty_skimmed_fee_msat,
                };
                match self.listener.payment_claimable(claimable) {
                    ClaimDecision::Claim(p) => {
                        tracing::info!(%payment_hash, amount_msat, "claiming payment");
                        self.channel_manager.claim_funds_with_known_custom_tlvs(p);
                    }
                    ClaimDecision::Hold => {
                        tracing::info!(%payment_hash, amount_msat, "holding payment");
                    }
                    ClaimDecision::Fail => {
                        tracing::info!(%payment_hash, "failing claimable payment");
                        self.channel_manager.fail_htlc_backwards(&payment_hash);
                    }
                }
            }
            Event::PaymentClaimed { payment_hash, amount_msat, purpose, onion_fields, .. } => {
                tracing::info!(%payment_hash, amount_msat, "payment received");
                let claimed = ClaimedEvent {
                    payment_hash,
                    amount_msat,
                    preimage: purpose.preimage(),
                    keysend: matches!(purpose, PaymentPurpose::SpontaneousPayment(_)),
                    bolt12: matches!(
                        purpose,
                        PaymentPurpose::Bolt12OfferPayment { .. }
                            | PaymentPurpose::Bolt12RefundPayment { .. }
                    ),
                    payer_note: payer_note(&purpose),
                    custom_records: onion_fields
                        .map(|f| f.custom_tlvs().to_vec())
                        .unwrap_or_default(),
                };
                if self.listener.payment_claimed(claimed).is_err() {
                    return Err(ReplayEvent());
                }
            }
            Event::PaymentSent {
                payment_id,
                payment_hash,
                payment_preimage,
                fee_paid_msat,
                amount_msat,
                ..
            } => {
                tracing::info!(%payment_hash, ?fee_paid_msat, "payment sent");
                let attempted_parts = payment_id.map_or(0, |id| self.router.attempted_parts(&id));
                let sent = SentEvent {
                    payment_id,
                    payment_hash,
                    preimage: payment_preimage,
                    amount_msat,
                    fee_msat: fee_paid_msat,
                    attempted_parts,
                };
                if self.listener.payment_sent(sent).is_err() {
                    return Err(ReplayEvent());
                }
                if let Some(id) = payment_id {
                    self.router.clear_policy(&id);
                }
            }
            Event::PaymentFailed { payment_id, payment_hash, reason, .. } => {
                tracing::info!(?payment_hash, ?reason, "payment failed");
                let failed = FailedEvent { payment_id, payment_hash, reason };
                if self.listener.payment_failed(failed).is_err() {
                    return Err(ReplayEvent());
                }
                self.router.clear_policy(&payment_id);
            }
            Event::PaymentPathSuccessful { payment_id, payment_hash, path, .. } => {
                tracing::debug!(?payment_hash, "payment path succeeded");
                self.router.learn_from_path(&self.channel_manager.get_our_node_id(), &path, None);
                let path =
                    PathEvent { payment_id: Some(payment_id), payment_hash, path, failure: None };
                self.listener.payment_path(path).map_err(|_| ReplayEvent())?;
            }
            Event::PaymentPathFailed {
                payment_id,
                payment_hash,
                payment_failed_permanently,
                failure,
                path,
                short_channel_id,
                ..
            } => {
                tracing::debug!(%payment_hash, payment_failed_permanently, "payment path failed");
                // As LDK's background processor feeds its scorer: a failure with a channel to
                // blame bounds that channel; one without, not permanent (the payee failed it
                // back), means every hop carried its amount.
                let our_id = self.channel_manager.get_our_node_id();
                match short_channel_id {
                    Some(scid) => self.router.learn_from_path(&our_id, &path, Some(scid)),
                    None if !payment_failed_permanently => {
                        self.router.learn_from_path(&our_id, &path, None)
                    }
                    None => {}
                }
                if matches!(failure, PathFailure::OnPath { network_update: Some(_) }) {
                    self.routing.graph_changed();
                }
                let path = PathEvent {
                    payment_id,
                    payment_hash: Some(payment_hash),
                    path,
                    failure: Some(PathFailureInfo {
                        permanent: payment_failed_permanently,
                        failure,
                        short_channel_id,
                    }),
                };
                self.listener.payment_path(path).map_err(|_| ReplayEvent())?;
            }
            Event::ProbeSuccessful { .. } | Event::ProbeFailed { .. } => {}
            Event::InvoiceReceived { payment_id, .. } => {
                // Only emitted with manual BOLT12 invoice handling, which boltd does not enable.
                tracing::warn!(?payment_id, "unexpected BOLT12 invoice for manual handling");
            }
            Event::HTLCIntercepted {
                intercept_id,
                requested_next_hop_scid,
                payment_hash,
                expected_outbound_amount_msat,
                ..
            } => {
                // Only the LSPS2 service intercepts; it fails what is not its own.
                self.liquidity.htlc_intercepted(
                    requested_next_hop_scid,
                    intercept_id,
                    expected_outbound_amount_msat,
                    payment_hash,
                );
            }
            Event::SpendableOutputs { outputs, channel_id } => {
                if let Err(()) =
                    self.sweeper.track_spendable_outputs(outputs, channel_id, false, None)
                {
                    tracing::error!("failed to persist spendable outputs; replaying event");
                    return Err(ReplayEvent());
                }
            }
            Event::PaymentForwarded {
                total_fee_earned_msat,
                next_channel_id,
                skimmed_fee_msat,
                ..
            } => {
                tracing::info!(?total_fee_earned_msat, ?skimmed_fee_msat, "forwarded a payment");
                self.liquidity.payment_forwarded(next_channel_id, skimmed_fee_msat.unwrap_or(0));
            }
            Event::ChannelPending { channel_id, counterparty_node_id, funding_txo, .. } => {
                tracing::info!(%channel_id, %counterparty_node_id, %funding_txo, "channel pending");
                let capacity_sat = self.capacity_sat(&channel_id);
                self.listener
                    .channel_event(ChannelEvent {
                        kind: ChannelEventKind::Pending { funding_txo: funding_txo.to_string() },
                        channel_id: channel_id.0,
                        counterparty_node_id: Some(counterparty_node_id),
                        capacity_sat,
                    })
                    .map_err(|_| ReplayEvent())?;
            }
            Event::ChannelReady { channel_id, counterparty_node_id, user_channel_id, .. } => {
                tracing::info!(%channel_id, %counterparty_node_id, "channel ready");
                self.liquidity.channel_ready(user_channel_id, &channel_id, &counterparty_node_id);
                let funding = self
                    .channel_manager
                    .list_channels()
                    .into_iter()
                    .find(|c| c.channel_id == channel_id)
                    .and_then(|c| c.funding_txo)
                    .map(|o| o.into_bitcoin_outpoint());
                if let Err(e) = self.splices.ready(&channel_id, funding) {
                    tracing::error!(%channel_id, "cannot update the splice record: {e}");
                    return Err(ReplayEvent());
                }
                let capacity_sat = self.capacity_sat(&channel_id);
                self.listener
                    .channel_event(ChannelEvent {
                        kind: ChannelEventKind::Ready,
                        channel_id: channel_id.0,
                        counterparty_node_id: Some(counterparty_node_id),
                        capacity_sat,
                    })
                    .map_err(|_| ReplayEvent())?;
            }
            Event::ChannelClosed {
                channel_id,
                reason,
                counterparty_node_id,
                channel_capacity_sats,
                channel_funding_txo,
                last_local_balance_msat,
                user_channel_id,
                ..
            } => {
                tracing::info!(%channel_id, ?counterparty_node_id, %reason, "channel closed");
                if let Some(peer) = counterparty_node_id {
                    self.liquidity.channel_closed(user_channel_id, &peer);
                }
                if let Err(e) = self.splices.ended(&channel_id) {
                    tracing::error!(%channel_id, "cannot remove the closed channel's splice record: {e}");
                    return Err(ReplayEvent());
                }
                let kind = ChannelEventKind::Closed {
                    reason: reason.to_string(),
                    kind: close_kind(&reason),
                    funding_txo: channel_funding_txo.map(|o| format!("{}:{}", o.txid, o.index)),
                    last_local_balance_msat,
                };
                self.listener
                    .channel_event(ChannelEvent {
                        kind,
                        channel_id: channel_id.0,
                        counterparty_node_id,
                        capacity_sat: channel_capacity_sats,
                    })
                    .map_err(|_| ReplayEvent())?;
            }
            Event::SplicePending { channel_id, new_funding_txo, .. } => {
                tracing::info!(%channel_id, %new_funding_txo, "splice pending");
                if let Err(e) = self.splices.pending(&channel_id, new_funding_txo) {
                    tracing::error!(%channel_id, "cannot record the pending splice: {e}");
                    return Err(ReplayEvent());
                }
            }
            Event::SpliceFailed { channel_id, .. } => {
                tracing::warn!(%channel_id, "splice failed");
                if let Err(e) = self.splices.ended(&channel_id) {
                    tracing::error!(%channel_id, "cannot remove the failed splice's record: {e}");
                    return Err(ReplayEvent());
                }
            }
            Event::DiscardFunding { channel_id, funding_info } => {
                tracing::info!(%channel_id, ?funding_info, "funding discarded");
                if let lightning::events::FundingInfo::Tx { transaction } = funding_info {
                    if let Err(e) = self.wallet.abandon(transaction.compute_txid()) {
                        tracing::error!("{e}");
                    }
                }
            }
            Event::OpenChannelRequest {
                temporary_channel_id,
                counterparty_node_id,
                channel_type,
                ..
            } => {
                // Every inbound channel comes here (see `user_config`).
                let anchor = channel_type.supports_anchors_zero_fee_htlc_tx();
                let anchors = crate::anchors::anchor_channel_count(&self.channel_manager);
                // Our own unconfirmed change counts (a funding we just broadcast leaves it so).
                let b = self.wallet.balance();
                let balance_sat = b.confirmed_sat.saturating_add(b.trusted_pending_sat);
                match crate::anchors::inbound_decision(&self.config, anchor, anchors, balance_sat) {
                    Ok(()) => {
                        let user_channel_id = rand::random::<u128>();
                        // A configured LSP's (just-in-time) channel: usable at once, and it
                        // may take its promised fee from the payment it carries.
                        let accepted = if self.liquidity.is_lsp(&counterparty_node_id) {
                            let overrides = lightning::util::config::ChannelConfigOverrides {
                                handshake_overrides: None,
                                update_overrides: Some(
                                    lightning::util::config::ChannelConfigUpdate {
                                        accept_underpaying_htlcs: Some(true),
                                        ..Default::default()
                                    },
                                ),
                            };
                            tracing::info!(%counterparty_node_id, "accepting an LSP's channel with zero confirmations");
                            self.channel_manager.accept_inbound_channel_from_trusted_peer_0conf(
                                &temporary_channel_id,
                                &counterparty_node_id,
                                user_channel_id,
                                Some(overrides),
                            )
                        } else {
                            self.channel_manager.accept_inbound_channel(
                                &temporary_channel_id,
                                &counterparty_node_id,
                                user_channel_id,
                                None,
                            )
                        };
                        if let Err(e) = accepted {
                            tracing::warn!("accepting inbound channel failed: {e:?}");
                        }
                    }
                    Err(why) => {
                        tracing::info!(%counterparty_node_id, anchor, "declined an inbound channel: {why}");
                        if let Err(e) = self.channel_manager.force_close_broadcasting_latest_txn(
                            &temporary_channel_id,
                            &counterparty_node_id,
                            why,
                        ) {
                            tracing::warn!("declining inbound channel failed: {e:?}");
                        }
                    }
                }
            }
            Event::HTLCHandlingFailed { prev_channel_id, failure_type, failure_reason, .. } => {
                tracing::debug!(%prev_channel_id, ?failure_type, ?failure_reason, "HTLC handling failed");
                self.liquidity.htlc_handling_failed(failure_type.clone());
                let claim_buffer = HTLCHandlingFailureReason::Local {
                    reason: LocalHTLCFailureReason::PaymentClaimBuffer,
                };
                if let HTLCHandlingFailureType::Receive { payment_hash } = failure_type {
                    if failure_reason == Some(claim_buffer) {
                        let height = self.channel_manager.current_best_block().height;
                        self.listener
                            .receive_htlcs_expired(payment_hash, height)
                            .map_err(|_| ReplayEvent())?;
                    }
                }
            }
            Event::BumpTransaction(mut event) => {
                // An anchor channel's force close: CPFP its commitment, or pay for its HTLC
                // transactions, from the wallet's confirmed coins, at the chain source's urgent
                // fee rate up to the configured ceiling. LDK asks again on every block until
                // the transaction confirms, so a failure here is retried.
                crate::anchors::cap_fee_rate(&self.config, &mut event);
                tracing::info!(?event, "fee bump of a force close");
                self.bump.handle_event(&event);
            }
            Event::ConnectionNeeded { node_id, addresses } => {
                let pm = self.peer_manager.get().cloned();
                let addr = addresses.iter().find_map(|a| match a {
                    SocketAddress::TcpIpV4 { addr, port } => {
                        Some(std::net::SocketAddr::from((*addr, *port)))
                    }
                    SocketAddress::TcpIpV6 { addr, port } => {
                        Some(std::net::SocketAddr::from((*addr, *port)))
                    }
                    _ => None,
                });
                if let (Some(pm), Some(addr)) = (pm, addr) {
                    self.runtime.spawn(async move {
                        if let Some(f) = crate::net::connect_outbound(pm, node_id, addr).await {
                            f.await;
                        }
                    });
                }
            }
            Event::OnionMessageIntercepted { .. } | Event::OnionMessagePeerConnected { .. } => {}
            Event::PersistStaticInvoice { .. } | Event::StaticInvoiceRequested { .. } => {
                tracing::debug!(
                    "async payment event ignored (boltd is not an async-payments server)"
                );
            }
        }
        Ok(())
    }
}

impl lightning::events::EventHandler for NodeEventHandler {
    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        self.handle(event)
    }
}
