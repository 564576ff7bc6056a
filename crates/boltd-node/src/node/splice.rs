//! Splicing (LDK 0.2's `splice_channel`): adding funds to a channel or taking them out without
//! closing it.
//!
//! A splice spends the channel's funding output into a new one, larger or smaller by the amount;
//! the channel stays usable throughout, and its new capacity counts once both sides saw the
//! splice confirm (`Event::ChannelReady` again). Fees are at the chain source's estimate LDK
//! uses for a commitment's (`NonAnchorChannelFee`). The channel record shows the splice from
//! its start until it locks (`splice_record.rs`); one splice of a channel at a time.
//! - Splice-out: an output pays the amount to an address (the node's wallet by default); the
//!   fee comes from the channel balance.
//! - Splice-in: confirmed wallet coins pay the amount and the fee (`wallet/splice.rs` picks
//!   them, keeping the anchor reserve, and signs them in `Event::FundingTransactionReadyForSigning`;
//!   LDK signs the channel's shared input), the rest back as change.
//!
//! Splices the peer starts are accepted (`reject_inbound_splices` off: boltd needs LDK 0.2
//! anyway).

use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};
use lightning::ln::funding::SpliceContribution;

use super::*;

/// A splice-out that was started.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpliceOut {
    /// The channel id (hex).
    pub channel_id: String,
    /// Where the amount goes.
    pub address: String,
    /// The amount, in sat.
    pub amount_sat: u64,
    /// The splice transaction's fee rate, in sat per 1000 weight units (paid from the
    /// channel balance on top of the amount).
    pub fee_rate_sat_per_kwu: u32,
}

/// A splice-in that was started.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpliceIn {
    /// The channel id (hex).
    pub channel_id: String,
    /// The amount added to the channel, in sat.
    pub amount_sat: u64,
    /// How many wallet coins pay for it.
    pub coins: usize,
    /// The splice transaction's fee rate, in sat per 1000 weight units (paid by the coins).
    pub fee_rate_sat_per_kwu: u32,
}

impl Node {
    /// Starts a splice-in of `amount_sat` from the wallet's confirmed coins into channel
    /// `channel_id`; the coins also pay the splice's fee, the rest comes back as change.
    /// The anchor reserve is kept on chain.
    pub async fn splice_in(&self, channel_id: &str, amount_sat: u64) -> NodeResult<SpliceIn> {
        if amount_sat == 0 {
            return Err(NodeError::InvalidInput("amount_sat must be positive".into()));
        }
        let channel = self.channel(channel_id)?;
        let reserve = self.anchor_reserve_sat();
        let b = self.wallet.balance();
        crate::anchors::check_spend(b.confirmed_sat, amount_sat, reserve)?;
        let fee_rate =
            self.fees.get_est_sat_per_1000_weight(ConfirmationTarget::NonAnchorChannelFee);
        let wallet = Arc::clone(&self.wallet);
        let (inputs, change) = blocking(move || wallet.splice_inputs(amount_sat, fee_rate)).await?;
        let coins = inputs.len();
        let contribution = SpliceContribution::SpliceIn {
            value: bitcoin::Amount::from_sat(amount_sat),
            inputs,
            change_script: Some(change),
        };
        self.record_splice(&channel, SpliceDirection::In, amount_sat, None).await?;
        self.ask_ldk_to_splice(&channel, contribution, fee_rate)?;
        tracing::info!(%channel_id, amount_sat, coins, fee_rate, "splice-in started");
        Ok(SpliceIn {
            channel_id: channel_id.to_string(),
            amount_sat,
            coins,
            fee_rate_sat_per_kwu: fee_rate,
        })
    }

    /// Writes the record of a splice about to start (refused while another splice of the
    /// channel is under way).
    async fn record_splice(
        &self,
        channel: &lightning::ln::channel_state::ChannelDetails,
        direction: SpliceDirection,
        amount_sat: u64,
        address: Option<String>,
    ) -> NodeResult<()> {
        let splices = Arc::clone(&self.splices);
        let id = channel.channel_id;
        blocking(move || splices.start(&id, direction, amount_sat, address)).await
    }

    /// Has LDK start a splice whose record is written; the record goes when LDK refuses.
    fn ask_ldk_to_splice(
        &self,
        channel: &lightning::ln::channel_state::ChannelDetails,
        contribution: SpliceContribution,
        fee_rate: u32,
    ) -> NodeResult<()> {
        let id = &channel.channel_id;
        let peer = &channel.counterparty.node_id;
        self.channel_manager.splice_channel(id, peer, contribution, fee_rate, None).map_err(|e| {
            self.splices.refused(id);
            NodeError::Lightning(format!("the splice was refused: {e:?}"))
        })
    }

    fn channel(
        &self,
        channel_id: &str,
    ) -> NodeResult<lightning::ln::channel_state::ChannelDetails> {
        self.channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id.to_string() == channel_id)
            .ok_or_else(|| NodeError::NotFound(format!("channel {channel_id}")))
    }

    /// Starts a splice-out of `amount_sat` from channel `channel_id` to `address` (default: a
    /// new address of the node's wallet). The amount must be within what the channel can send
    /// now; LDK checks that the fee fits too. `SplicePending` follows once the transaction is
    /// negotiated and broadcast, `ChannelReady` once it is locked.
    pub async fn splice_out(
        &self,
        channel_id: &str,
        amount_sat: u64,
        address: Option<&str>,
    ) -> NodeResult<SpliceOut> {
        if amount_sat == 0 {
            return Err(NodeError::InvalidInput("amount_sat must be positive".into()));
        }
        let channel = self.channel(channel_id)?;
        let amount_msat = amount_sat
            .checked_mul(1000)
            .ok_or_else(|| NodeError::InvalidInput("amount_sat is too large".into()))?;
        if amount_msat > channel.outbound_capacity_msat {
            return Err(NodeError::InvalidInput(format!(
                "the channel can send {} msat now, less than {amount_sat} sat",
                channel.outbound_capacity_msat
            )));
        }
        let address = match address {
            Some(a) => self.wallet.parse_address(a)?.to_string(),
            None => self.new_address().await?,
        };
        let script = self.wallet.parse_address(&address)?.script_pubkey();
        let fee_rate =
            self.fees.get_est_sat_per_1000_weight(ConfirmationTarget::NonAnchorChannelFee);
        let contribution = SpliceContribution::SpliceOut {
            outputs: vec![bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(amount_sat),
                script_pubkey: script,
            }],
        };
        self.record_splice(&channel, SpliceDirection::Out, amount_sat, Some(address.clone()))
            .await?;
        self.ask_ldk_to_splice(&channel, contribution, fee_rate)?;
        tracing::info!(%channel_id, amount_sat, %address, fee_rate, "splice-out started");
        Ok(SpliceOut {
            channel_id: channel_id.to_string(),
            address,
            amount_sat,
            fee_rate_sat_per_kwu: fee_rate,
        })
    }
}
