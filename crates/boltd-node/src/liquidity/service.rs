//! The LSPS2 service: the fee menu, the intercept channel ids handed out, and the
//! just-in-time channel opens.
//!
//! Every intercept channel id is recorded (in the store's key-value table, before the client
//! hears of it) with the client it was made for and the validity of the promise it was bought
//! with. An HTLC for an id not recorded here, or whose promise expired before its payment began
//! to arrive, is failed back at once and no channel is opened: LDK's service state only knows
//! the ids it has not pruned, and does not look at the promise's validity once bought.

use std::collections::HashMap;

use lightning::util::persist::KVStoreSync;
use lightning_liquidity::lsps0::ser::LSPSDateTime;
use lightning_liquidity::lsps2::event::LSPS2ServiceEvent;
use lightning_liquidity::lsps2::msgs::LSPS2RawOpeningFeeParams;
use serde::{Deserialize, Serialize};

use super::*;

/// KV namespace of the service's intercept channel ids (key: the id in decimal).
const SCIDS_NAMESPACE: &str = "boltd_lsps2_scids";

/// The CLTV delta the service asks clients to put in their route hint (as LDK's default
/// forwarding delta).
pub const CLTV_EXPIRY_DELTA: u32 = 72;

/// The least number of blocks the service keeps a just-in-time channel open
/// (`min_lifetime`), about a week.
pub const MIN_CHANNEL_LIFETIME_BLOCKS: u32 = 1008;

/// The largest `to_self_delay` a client may ask of the service (`max_client_to_self_delay`),
/// about two weeks.
pub const MAX_CLIENT_TO_SELF_DELAY: u32 = 2016;

/// The fee margin the wallet must hold beyond a just-in-time channel's value, in sat.
const FUNDING_FEE_MARGIN_SAT: u64 = 5_000;

/// An intercept channel id the service handed out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ScidRecord {
    /// The client it was made for (hex node id).
    pub client: String,
    /// The `user_channel_id` of the channel to open for it.
    pub user_channel_id: String,
    /// Until when (unix seconds) the promise it was bought with is valid.
    pub valid_until: u64,
    /// Whether a payment for it began to arrive within that validity (not persisted: an HTLC
    /// replayed after a restart is judged again).
    #[serde(skip)]
    pub paid_in_time: bool,
}

/// The recorded intercept channel ids.
pub(crate) fn read_scids(store: &Store) -> NodeResult<HashMap<u64, ScidRecord>> {
    let unreadable = |e: String| NodeError::UnreadableState {
        what: "LSPS2 intercept channel ids",
        path: store.path().to_path_buf(),
        reason: e,
    };
    let mut scids = HashMap::new();
    for key in
        KVStoreSync::list(store, SCIDS_NAMESPACE, "").map_err(|e| unreadable(e.to_string()))?
    {
        let bytes = KVStoreSync::read(store, SCIDS_NAMESPACE, "", &key)
            .map_err(|e| unreadable(e.to_string()))?;
        let scid = key.parse::<u64>().map_err(|e| unreadable(format!("key {key}: {e}")))?;
        let record: ScidRecord =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(format!("{key}: {e}")))?;
        scids.insert(scid, record);
    }
    Ok(scids)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The value of a just-in-time channel forwarding `amt_to_forward_msat`, over-provisioned by
/// `over_provisioning_ppm`, in sat (`None` on overflow).
pub fn channel_value_sat(amt_to_forward_msat: u64, over_provisioning_ppm: u32) -> Option<u64> {
    let extra = amt_to_forward_msat.checked_mul(u64::from(over_provisioning_ppm))? / 1_000_000;
    Some(amt_to_forward_msat.checked_add(extra)?.div_ceil(1000))
}

impl Liquidity {
    pub(super) fn service_event(&self, event: LSPS2ServiceEvent) {
        let Some(handler) = self.manager.lsps2_service_handler() else {
            tracing::warn!(?event, "LSPS2 service event without the service");
            return;
        };
        match event {
            LSPS2ServiceEvent::GetInfo { request_id, counterparty_node_id, token } => {
                if let Some(required) = &self.config.lsps2_service_token {
                    if token.as_ref() != Some(required) {
                        tracing::info!(%counterparty_node_id, "LSPS2: refused a fee request with a wrong token");
                        if let Err(e) =
                            handler.invalid_token_provided(&counterparty_node_id, request_id)
                        {
                            tracing::warn!("LSPS2: cannot refuse the request: {e:?}");
                        }
                        return;
                    }
                }
                let c = &self.config;
                let valid_until = now_secs().saturating_add(c.lsps2_service_offer_validity_secs);
                let params = LSPS2RawOpeningFeeParams {
                    min_fee_msat: c.lsps2_service_min_fee_msat,
                    proportional: c.lsps2_service_fee_ppm,
                    valid_until: LSPSDateTime::new_from_duration_since_epoch(Duration::from_secs(
                        valid_until,
                    )),
                    min_lifetime: MIN_CHANNEL_LIFETIME_BLOCKS,
                    max_client_to_self_delay: MAX_CLIENT_TO_SELF_DELAY,
                    min_payment_size_msat: c.lsps2_service_min_payment_msat,
                    max_payment_size_msat: c.lsps2_service_max_payment_msat,
                };
                tracing::info!(%counterparty_node_id, valid_until, "LSPS2: fee menu sent");
                if let Err(e) = handler.opening_fee_params_generated(
                    &counterparty_node_id,
                    request_id,
                    vec![params],
                ) {
                    tracing::warn!("LSPS2: cannot send the fee menu: {e:?}");
                }
            }
            LSPS2ServiceEvent::BuyRequest {
                request_id,
                counterparty_node_id,
                opening_fee_params,
                payment_size_msat,
            } => {
                // LDK checked the promise (ours, unexpired) and the size against its limits.
                let intercept_scid = self.channel_manager.get_intercept_scid();
                let user_channel_id = rand::random::<u128>();
                let valid_until =
                    u64::try_from(opening_fee_params.valid_until.0.timestamp()).unwrap_or(0);
                let record = ScidRecord {
                    client: counterparty_node_id.to_string(),
                    user_channel_id: user_channel_id.to_string(),
                    valid_until,
                    paid_in_time: false,
                };
                // Recorded before the client can use it.
                if let Err(e) = self.write_scid(intercept_scid, &record) {
                    tracing::error!("LSPS2: cannot record an intercept channel id: {e}");
                    return;
                }
                tracing::info!(
                    %counterparty_node_id, intercept_scid, ?payment_size_msat, valid_until,
                    "LSPS2: channel bought"
                );
                if let Err(e) = handler.invoice_parameters_generated(
                    &counterparty_node_id,
                    request_id,
                    intercept_scid,
                    CLTV_EXPIRY_DELTA,
                    false,
                    user_channel_id,
                ) {
                    tracing::warn!("LSPS2: cannot answer the buy request: {e:?}");
                }
            }
            LSPS2ServiceEvent::OpenChannel {
                their_network_key,
                amt_to_forward_msat,
                opening_fee_msat,
                user_channel_id,
                intercept_scid,
            } => {
                tracing::info!(
                    client = %their_network_key, amt_to_forward_msat, opening_fee_msat,
                    intercept_scid, "LSPS2: opening a just-in-time channel"
                );
                if let Err(why) =
                    self.open_jit_channel(their_network_key, amt_to_forward_msat, user_channel_id)
                {
                    tracing::warn!(client = %their_network_key, "LSPS2: not opening the channel: {why}");
                    if let Err(e) = handler.channel_open_failed(&their_network_key, user_channel_id)
                    {
                        tracing::warn!("LSPS2: cannot fail the payment back: {e:?}");
                    }
                }
            }
        }
    }

    fn open_jit_channel(
        &self,
        client: PublicKey,
        amt_to_forward_msat: u64,
        user_channel_id: u128,
    ) -> Result<(), String> {
        let value_sat =
            channel_value_sat(amt_to_forward_msat, self.config.lsps2_service_over_provisioning_ppm)
                .ok_or("the channel's value overflows")?;
        let anchors = crate::anchors::anchor_channel_count(&self.channel_manager);
        let reserve = crate::anchors::reserve_sat(&self.config, anchors.saturating_add(1));
        let b = self.wallet.balance();
        let available = b.confirmed_sat.saturating_add(b.trusted_pending_sat);
        let needed = value_sat
            .checked_add(reserve)
            .and_then(|n| n.checked_add(FUNDING_FEE_MARGIN_SAT))
            .ok_or("the channel's value overflows")?;
        if available < needed {
            return Err(format!(
                "the wallet has {available} sat; a {value_sat} sat channel needs {needed} sat \
                 with the anchor reserve and fees"
            ));
        }
        let mut cfg = self.channel_manager.get_current_config();
        // The opening fee pays for the channel; forwards over it are free.
        cfg.channel_config.forwarding_fee_base_msat = 0;
        cfg.channel_config.forwarding_fee_proportional_millionths = 0;
        cfg.channel_handshake_config.announce_for_forwarding = false;
        self.channel_manager
            .create_channel(client, value_sat, 0, user_channel_id, None, Some(cfg))
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    /// Whether an HTLC for `scid` may go to LDK's service: the id is ours and its payment began
    /// within its promise's validity. Otherwise LDK's state for it is dropped.
    pub(super) fn accept_intercepted(&self, scid: u64, payment_hash: &PaymentHash) -> bool {
        let mut scids = self.scids.lock().unwrap_or_else(|p| p.into_inner());
        let Some(record) = scids.get_mut(&scid) else {
            tracing::info!(scid, %payment_hash, "LSPS2: HTLC for an unknown intercept id failed back");
            return false;
        };
        if record.paid_in_time {
            return true;
        }
        if now_secs() <= record.valid_until {
            record.paid_in_time = true;
            return true;
        }
        let record = record.clone();
        tracing::info!(
            scid, %payment_hash, valid_until = record.valid_until,
            "LSPS2: payment after its promise expired failed back; no channel opened"
        );
        let client = record.client.parse::<PublicKey>();
        let id = record.user_channel_id.parse::<u128>();
        if let (Some(h), Ok(client), Ok(id)) = (self.manager.lsps2_service_handler(), client, id) {
            let _ = h.channel_open_abandoned(&client, id);
        }
        scids.remove(&scid);
        if let Err(e) =
            KVStoreSync::remove(&*self.store, SCIDS_NAMESPACE, "", &scid.to_string(), false)
        {
            tracing::warn!(scid, "LSPS2: cannot forget an expired intercept id: {e}");
        }
        false
    }

    fn write_scid(&self, scid: u64, record: &ScidRecord) -> Result<(), String> {
        let bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        KVStoreSync::write(&*self.store, SCIDS_NAMESPACE, "", &scid.to_string(), bytes)
            .map_err(|e| e.to_string())?;
        self.scids.lock().unwrap_or_else(|p| p.into_inner()).insert(scid, record.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_over_provisioned_and_rounded_up() {
        assert_eq!(channel_value_sat(98_000_000, 100_000), Some(107_800));
        assert_eq!(channel_value_sat(1_001, 0), Some(2));
        assert_eq!(channel_value_sat(u64::MAX, 2), None);
    }
}
