//! Handling of every LDK event.
//!
//! Events are delivered by LDK's background processor on its own thread. LDK replays events that
//! were not fully handled before a crash, so every branch here is safe to run twice: claiming a
//! payment, tracking spendable outputs and recording outcomes are idempotent, and a funding
//! transaction for a channel that no longer exists is refused by LDK and abandoned in the wallet.

use std::sync::Arc;

use lightning::events::{Event, PaymentPurpose, ReplayEvent};
use lightning::ln::msgs::SocketAddress;
use lightning::sign::KeysManager;
use tokio::runtime::Handle;

use crate::payments::PaymentTracker;
use crate::types::{ChannelManager, PeerManager, Sweeper};
use crate::wallet::OnchainWallet;

/// Handles LDK events for the node.
pub struct NodeEventHandler {
    pub(crate) channel_manager: Arc<ChannelManager>,
    pub(crate) wallet: Arc<OnchainWallet>,
    pub(crate) sweeper: Arc<Sweeper>,
    pub(crate) payments: Arc<PaymentTracker>,
    pub(crate) peer_manager: std::sync::OnceLock<Arc<PeerManager>>,
    pub(crate) _keys_manager: Arc<KeysManager>,
    pub(crate) runtime: Handle,
}

impl NodeEventHandler {
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
            Event::FundingTransactionReadyForSigning { channel_id, .. } => {
                // Only emitted for splices/interactive funding, which boltd does not start.
                tracing::warn!(%channel_id, "unexpected interactive funding signing request");
            }
            Event::PaymentClaimable { payment_hash, purpose, amount_msat, .. } => {
                let preimage = match &purpose {
                    PaymentPurpose::Bolt11InvoicePayment { payment_preimage, .. }
                    | PaymentPurpose::Bolt12OfferPayment { payment_preimage, .. }
                    | PaymentPurpose::Bolt12RefundPayment { payment_preimage, .. } => {
                        *payment_preimage
                    }
                    PaymentPurpose::SpontaneousPayment(p) => Some(*p),
                };
                match preimage {
                    Some(p) => {
                        tracing::info!(%payment_hash, amount_msat, "claiming payment");
                        self.channel_manager.claim_funds(p);
                    }
                    None => {
                        tracing::warn!(%payment_hash, "no preimage for claimable payment; failing it");
                        self.channel_manager.fail_htlc_backwards(&payment_hash);
                    }
                }
            }
            Event::PaymentClaimed { payment_hash, amount_msat, .. } => {
                tracing::info!(%payment_hash, amount_msat, "payment received");
                self.payments.received(payment_hash, amount_msat);
            }
            Event::PaymentSent { payment_hash, payment_preimage, fee_paid_msat, .. } => {
                tracing::info!(%payment_hash, ?fee_paid_msat, "payment sent");
                self.payments.succeeded(payment_hash, payment_preimage, fee_paid_msat);
            }
            Event::PaymentFailed { payment_hash, reason, .. } => {
                tracing::info!(?payment_hash, ?reason, "payment failed");
                if let Some(h) = payment_hash {
                    self.payments.failed(h, format!("{reason:?}"));
                }
            }
            Event::PaymentPathSuccessful { payment_hash, .. } => {
                tracing::debug!(?payment_hash, "payment path succeeded");
            }
            Event::PaymentPathFailed { payment_hash, payment_failed_permanently, .. } => {
                tracing::debug!(%payment_hash, payment_failed_permanently, "payment path failed");
            }
            Event::ProbeSuccessful { .. } | Event::ProbeFailed { .. } => {}
            Event::InvoiceReceived { payment_id, .. } => {
                // Only emitted with manual BOLT12 invoice handling, which boltd does not enable.
                tracing::warn!(?payment_id, "unexpected BOLT12 invoice for manual handling");
            }
            Event::HTLCIntercepted { intercept_id, .. } => {
                // Interception is off; fail anything that arrives anyway.
                let _ = self.channel_manager.fail_intercepted_htlc(intercept_id);
            }
            Event::SpendableOutputs { outputs, channel_id } => {
                if let Err(()) =
                    self.sweeper.track_spendable_outputs(outputs, channel_id, false, None)
                {
                    tracing::error!("failed to persist spendable outputs; replaying event");
                    return Err(ReplayEvent());
                }
            }
            Event::PaymentForwarded { total_fee_earned_msat, .. } => {
                tracing::info!(?total_fee_earned_msat, "forwarded a payment");
            }
            Event::ChannelPending { channel_id, counterparty_node_id, funding_txo, .. } => {
                tracing::info!(%channel_id, %counterparty_node_id, %funding_txo, "channel pending");
            }
            Event::ChannelReady { channel_id, counterparty_node_id, .. } => {
                tracing::info!(%channel_id, %counterparty_node_id, "channel ready");
            }
            Event::ChannelClosed { channel_id, reason, counterparty_node_id, .. } => {
                tracing::info!(%channel_id, ?counterparty_node_id, %reason, "channel closed");
            }
            Event::SplicePending { channel_id, .. } | Event::SpliceFailed { channel_id, .. } => {
                tracing::info!(%channel_id, "splice event (boltd does not initiate splices)");
            }
            Event::DiscardFunding { channel_id, funding_info } => {
                tracing::info!(%channel_id, ?funding_info, "funding discarded");
                if let lightning::events::FundingInfo::Tx { transaction } = funding_info {
                    if let Err(e) = self.wallet.abandon(transaction.compute_txid()) {
                        tracing::error!("{e}");
                    }
                }
            }
            Event::OpenChannelRequest { temporary_channel_id, counterparty_node_id, .. } => {
                // Only emitted with manual acceptance; accept, as automatic acceptance would.
                let user_channel_id = rand::random::<u128>();
                if let Err(e) = self.channel_manager.accept_inbound_channel(
                    &temporary_channel_id,
                    &counterparty_node_id,
                    user_channel_id,
                    None,
                ) {
                    tracing::warn!("accepting inbound channel failed: {e:?}");
                }
            }
            Event::HTLCHandlingFailed { prev_channel_id, failure_type, .. } => {
                tracing::debug!(%prev_channel_id, ?failure_type, "HTLC handling failed");
            }
            Event::BumpTransaction(event) => {
                // boltd negotiates no anchor channels, so this is not expected.
                tracing::warn!(?event, "unexpected fee bump request (anchor channels are off)");
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
                        if let Some(f) =
                            lightning_net_tokio::connect_outbound(pm, node_id, addr).await
                        {
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
