//! Anchor channels (`option_anchors_zero_fee_htlc_tx`): their commitment transactions pay a
//! fixed minimal fee and carry anchor outputs, so a force close gets its fee when it happens,
//! from the on-chain wallet (a CPFP child of the commitment, and fees added to the HTLC
//! transactions). This module holds what boltd adds around LDK's handler:
//! - the **reserve**: on-chain funds kept per anchor channel ([`reserve_sat`], configured by
//!   `anchor_reserve_per_channel_sat`, capped by `anchor_reserve_max_sat`), enforced when
//!   opening a channel, when sending on chain ([`check_spend`]) and when a peer opens an anchor
//!   channel to us ([`inbound_decision`]), and shown with the balances;
//! - the **ceiling** of a bump's fee rate (`max_bump_fee_rate_sat_per_vb`, [`cap_fee_rate`]):
//!   LDK asks for the chain source's urgent estimate, never more than the ceiling;
//! - accepting inbound channels by hand (LDK requires it with anchors), declining them when
//!   `accept_inbound_channels` is off or the reserve would not be covered.

use boltd_config::Config;
use lightning::events::bump_transaction::BumpTransactionEvent;
use lightning::ln::channel_state::ChannelDetails;

use crate::error::{NodeError, NodeResult};

/// sat/vB to sat per 1000 weight units.
const KWU_PER_VB: u64 = 250;

/// Whether LDK negotiated anchors for this channel.
pub fn is_anchor(c: &ChannelDetails) -> bool {
    c.channel_type.as_ref().is_some_and(|t| t.supports_anchors_zero_fee_htlc_tx())
}

/// How many of `cm`'s channels are anchor channels.
pub fn anchor_channel_count(cm: &crate::types::ChannelManager) -> usize {
    cm.list_channels().iter().filter(|c| is_anchor(c)).count()
}

/// The on-chain reserve for `anchor_channels` anchor channels, in sat.
pub fn reserve_sat(config: &Config, anchor_channels: usize) -> u64 {
    let n = u64::try_from(anchor_channels).unwrap_or(u64::MAX);
    config.anchor_reserve_per_channel_sat.saturating_mul(n).min(config.anchor_reserve_max_sat)
}

/// Refuses an on-chain spend of `spend_sat` (amount and fee) that would leave less than
/// `reserve_sat` of the wallet's `balance_sat`.
pub fn check_spend(balance_sat: u64, spend_sat: u64, reserve_sat: u64) -> NodeResult<()> {
    let left = balance_sat.saturating_sub(spend_sat);
    if reserve_sat > 0 && left < reserve_sat {
        return Err(NodeError::InsufficientFunds {
            needed_sat: spend_sat.saturating_add(reserve_sat),
            available_sat: balance_sat,
            reserve_sat,
        });
    }
    Ok(())
}

/// Whether to accept a channel a peer opens: `Err` says why not (sent to the peer).
pub fn inbound_decision(
    config: &Config,
    anchor: bool,
    anchor_channels: usize,
    balance_sat: u64,
) -> Result<(), String> {
    if !config.accept_inbound_channels {
        return Err("this node does not accept channels opened by peers".into());
    }
    if anchor {
        let needed = reserve_sat(config, anchor_channels.saturating_add(1));
        if balance_sat < needed {
            return Err(format!(
                "this node's on-chain reserve for anchor channels ({needed} sat) is not covered"
            ));
        }
    }
    Ok(())
}

/// Caps the fee rate a bump asks for at `max_bump_fee_rate_sat_per_vb`.
pub fn cap_fee_rate(config: &Config, event: &mut BumpTransactionEvent) {
    let ceiling = u32::try_from(config.max_bump_fee_rate_sat_per_vb.saturating_mul(KWU_PER_VB))
        .unwrap_or(u32::MAX);
    let rate = match event {
        BumpTransactionEvent::ChannelClose {
            package_target_feerate_sat_per_1000_weight, ..
        } => package_target_feerate_sat_per_1000_weight,
        BumpTransactionEvent::HTLCResolution { target_feerate_sat_per_1000_weight, .. } => {
            target_feerate_sat_per_1000_weight
        }
    };
    if *rate > ceiling {
        tracing::warn!(asked = *rate, ceiling, "fee bump capped at max_bump_fee_rate_sat_per_vb");
        *rate = ceiling;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(per: u64, max: u64) -> Config {
        let layer = boltd_config::ConfigLayer {
            network: Some(bitcoin::Network::Regtest),
            data_dir: Some("/nonexistent".into()),
            bitcoind_rpc_user: Some("u".into()),
            bitcoind_rpc_password: Some("p".into()),
            ..Default::default()
        };
        let mut c = Config::from_layer(layer, None).unwrap();
        c.anchor_reserve_per_channel_sat = per;
        c.anchor_reserve_max_sat = max;
        c
    }

    #[test]
    fn the_reserve_grows_per_channel_up_to_its_cap() {
        let c = config(25_000, 60_000);
        assert_eq!(reserve_sat(&c, 0), 0);
        assert_eq!(reserve_sat(&c, 2), 50_000);
        assert_eq!(reserve_sat(&c, 3), 60_000);
        assert_eq!(reserve_sat(&c, usize::MAX), 60_000);
    }

    #[test]
    fn a_spend_into_the_reserve_is_refused_naming_it() {
        assert!(check_spend(100_000, 70_000, 25_000).is_ok());
        let e = check_spend(100_000, 80_000, 25_000).unwrap_err().to_string();
        assert!(e.contains("25000 sat") && e.contains("reserve"), "{e}");
        assert!(check_spend(100_000, 100_000, 0).is_ok(), "no anchor channel, no reserve");
    }

    #[test]
    fn inbound_channels_need_the_switch_and_the_reserve() {
        let c = config(25_000, 500_000);
        assert!(inbound_decision(&c, true, 1, 50_000).is_ok());
        assert!(inbound_decision(&c, true, 2, 50_000).unwrap_err().contains("75000 sat"));
        assert!(inbound_decision(&c, false, 9, 0).is_ok(), "legacy channels need no reserve");
        let mut off = c.clone();
        off.accept_inbound_channels = false;
        assert!(inbound_decision(&off, false, 0, 1_000_000).is_err());
    }
}
