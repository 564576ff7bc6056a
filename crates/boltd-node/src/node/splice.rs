//! Splicing (LDK 0.2's `splice_channel`): taking funds out of a channel without closing it.
//!
//! A splice-out spends the channel's funding output into a new one, smaller by the amount, plus
//! an output paying the amount to an address (the node's wallet by default); the channel stays
//! usable throughout, and its new capacity counts once both sides saw the splice confirm
//! (`Event::ChannelReady` again). The splice's fee comes from the channel balance, at the chain
//! source's estimate LDK uses for a commitment's fee (`NonAnchorChannelFee`). The splice transaction carries no wallet coins, so
//! `Event::FundingTransactionReadyForSigning` is answered with it as built (LDK signs the
//! channel's shared input). Splice-in (adding wallet coins) is not done yet. Splices the peer
//! starts are accepted (`reject_inbound_splices` off: boltd needs LDK 0.2 anyway).

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

impl Node {
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
        let channel = self
            .channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id.to_string() == channel_id)
            .ok_or_else(|| NodeError::NotFound(format!("channel {channel_id}")))?;
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
        self.channel_manager
            .splice_channel(
                &channel.channel_id,
                &channel.counterparty.node_id,
                contribution,
                fee_rate,
                None,
            )
            .map_err(|e| NodeError::Lightning(format!("the splice was refused: {e:?}")))?;
        tracing::info!(%channel_id, amount_sat, %address, fee_rate, "splice-out started");
        Ok(SpliceOut {
            channel_id: channel_id.to_string(),
            address,
            amount_sat,
            fee_rate_sat_per_kwu: fee_rate,
        })
    }
}
