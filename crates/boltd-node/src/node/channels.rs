//! Channels: opening, listing, closing, forwarding parameters, and the public graph's view of
//! one channel.

use super::*;

/// A channel, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelInfo {
    /// Channel id (hex).
    pub channel_id: String,
    /// The peer.
    pub peer_node_id: String,
    /// `opening`, `pending_confirmation`, `ready` (usable), `offline` (ready, peer away) or
    /// `closing` (shutting down cooperatively, until the closing transaction confirms).
    #[schema(schema_with = channel_state_schema)]
    pub state: &'static str,
    /// Short channel id once confirmed, as `BLOCKxTXxOUT`.
    pub short_channel_id: Option<String>,
    /// Funding outpoint `txid:vout`.
    pub funding_outpoint: Option<String>,
    /// Channel capacity.
    pub capacity_sat: u64,
    /// What we can send now.
    pub outbound_msat: u64,
    /// What we can receive now.
    pub inbound_msat: u64,
    /// Whether the channel is announced to the network.
    pub public: bool,
    /// Whether we opened it.
    pub outbound: bool,
    /// Confirmations of the funding transaction.
    pub confirmations: Option<u32>,
    /// Confirmations required before the channel is ready.
    pub confirmations_required: Option<u32>,
    /// HTLCs in the channel not yet fully resolved, in either direction (0 when the channel is
    /// at rest).
    pub pending_htlcs: usize,
    /// Whether it is an anchor channel (`option_anchors_zero_fee_htlc_tx`: a force close is
    /// fee-bumped from the on-chain wallet, which keeps a reserve for it).
    pub anchors: bool,
    /// The channel's splice under way, until it locks (`null` when none): the channel stays
    /// usable meanwhile, and its capacity changes once the splice has confirmed and both sides
    /// locked it.
    pub splice: Option<ChannelSplice>,
}

/// The values of [`ChannelInfo::state`].
pub const CHANNEL_STATES: [&str; 5] =
    ["opening", "pending_confirmation", "ready", "offline", "closing"];

fn channel_state_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(CHANNEL_STATES))
        .description(Some(
            "`opening`, `pending_confirmation`, `ready` (usable), `offline` (ready, peer away) \
             or `closing` (shutting down cooperatively)",
        ))
        .build()
}

/// A channel of the network graph, as gossip announced it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GraphChannel {
    /// The channel, as `BLOCKxTXxOUT`.
    pub short_channel_id: String,
    /// One end's node id (the lesser key).
    pub node_one: String,
    /// The other end's node id.
    pub node_two: String,
    /// Node one's forwarding policy toward node two, once announced.
    pub one_to_two: Option<GraphChannelPolicy>,
    /// Node two's forwarding policy toward node one, once announced.
    pub two_to_one: Option<GraphChannelPolicy>,
}

/// One direction's forwarding policy in the network graph.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GraphChannelPolicy {
    /// Base fee, in msat.
    pub fee_base_msat: u32,
    /// Proportional fee, in millionths (ppm).
    pub fee_ppm: u32,
    /// CLTV expiry delta, in blocks.
    pub cltv_expiry_delta: u16,
    /// Whether the direction is enabled.
    pub enabled: bool,
}

impl Node {
    /// Opens a channel of `amount_sat` to a connected (or connectable, if `addr` is given) peer,
    /// pushing `push_msat` to it. Returns the temporary channel id; funding comes from the wallet.
    pub async fn open_channel(
        &self,
        node_id: PublicKey,
        addr: Option<&str>,
        amount_sat: u64,
        push_msat: u64,
        public: bool,
    ) -> NodeResult<String> {
        if amount_sat == 0 {
            return Err(NodeError::InvalidInput("channel amount must be positive".into()));
        }
        if push_msat > amount_sat.saturating_mul(1000) {
            return Err(NodeError::InvalidInput("push amount exceeds the channel amount".into()));
        }
        if let Some(addr) = addr {
            self.connect_peer(node_id, addr).await?;
        } else if self.peer_manager.peer_by_node_id(&node_id).is_none() {
            return Err(NodeError::InvalidInput(format!(
                "peer {node_id} is not connected; give its address"
            )));
        }
        let spendable = self.wallet.balance().confirmed_sat;
        if spendable < amount_sat {
            return Err(NodeError::InsufficientFunds {
                needed_sat: amount_sat,
                available_sat: spendable,
                reserve_sat: 0,
            });
        }
        if self.config.anchor_channels {
            // The new channel may be an anchor channel: the reserve must cover it too.
            let reserve = crate::anchors::reserve_sat(&self.config, self.anchor_channels() + 1);
            crate::anchors::check_spend(spendable, amount_sat, reserve)?;
        }
        let mut cfg = user_config(&self.config);
        cfg.channel_handshake_config.announce_for_forwarding = public;
        let user_channel_id: u128 = rand::random();
        let id = self
            .channel_manager
            .create_channel(node_id, amount_sat, push_msat, user_channel_id, None, Some(cfg))
            .map_err(|e| NodeError::Lightning(format!("{e:?}")))?;
        Ok(id.to_string())
    }

    /// How many of the node's channels are anchor channels.
    pub fn anchor_channels(&self) -> usize {
        crate::anchors::anchor_channel_count(&self.channel_manager)
    }

    /// The on-chain reserve kept for the anchor channels' fee bumps now, in sat.
    pub fn anchor_reserve_sat(&self) -> u64 {
        crate::anchors::reserve_sat(&self.config, self.anchor_channels())
    }

    /// Channels.
    pub fn list_channels(&self) -> Vec<ChannelInfo> {
        let mut splices = self.splices.all();
        self.channel_manager
            .list_channels()
            .into_iter()
            .map(|c| {
                let shutting_down = c
                    .channel_shutdown_state
                    .is_some_and(|s| s != ChannelShutdownState::NotShuttingDown);
                let state = if shutting_down {
                    "closing"
                } else if c.is_usable {
                    "ready"
                } else if c.is_channel_ready {
                    "offline"
                } else if c.funding_txo.is_some() {
                    "pending_confirmation"
                } else {
                    "opening"
                };
                ChannelInfo {
                    channel_id: c.channel_id.to_string(),
                    peer_node_id: c.counterparty.node_id.to_string(),
                    state,
                    short_channel_id: c.short_channel_id.map(scid_string),
                    funding_outpoint: c.funding_txo.map(|o| format!("{}:{}", o.txid, o.index)),
                    capacity_sat: c.channel_value_satoshis,
                    outbound_msat: c.outbound_capacity_msat,
                    inbound_msat: c.inbound_capacity_msat,
                    public: c.is_announced,
                    outbound: c.is_outbound,
                    confirmations: c.confirmations,
                    confirmations_required: c.confirmations_required,
                    pending_htlcs: c.pending_inbound_htlcs.len() + c.pending_outbound_htlcs.len(),
                    anchors: crate::anchors::is_anchor(&c),
                    splice: splices.remove(&c.channel_id.to_string()),
                }
            })
            .collect()
    }

    /// Closes a channel cooperatively, or by broadcasting our latest commitment when `force`.
    pub async fn close_channel(&self, channel_id: &str, force: bool) -> NodeResult<()> {
        let channel = self
            .channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id.to_string() == channel_id)
            .ok_or_else(|| NodeError::NotFound(format!("channel {channel_id}")))?;
        let id: ChannelId = channel.channel_id;
        let peer = channel.counterparty.node_id;
        if force {
            return self
                .channel_manager
                .force_close_broadcasting_latest_txn(&id, &peer, "closed by the operator".into())
                .map_err(|e| NodeError::Lightning(format!("{e:?}")));
        }
        // LDK refuses to begin a cooperative close while a monitor update of the channel is in
        // progress; one completes with the next channel manager write (see `persist`), within
        // milliseconds, so a close right after a payment waits for it rather than failing.
        let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
        loop {
            if !self.gate.is_updating(&id) {
                match self.channel_manager.close_channel(&id, &peer) {
                    Ok(()) => return Ok(()),
                    // LDK may not have processed the completion yet.
                    Err(lightning::util::errors::APIError::ChannelUnavailable { .. })
                        if tokio::time::Instant::now() < deadline => {}
                    Err(e) => return Err(NodeError::Lightning(format!("{e:?}"))),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::Lightning(
                    "the channel's state is still being written; try again".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sets our forwarding fees and CLTV delta on every channel (LDK then gossips the new
    /// channel updates).
    pub fn update_forwarding(
        &self,
        fee_base_msat: Option<u32>,
        fee_ppm: Option<u32>,
        cltv_expiry_delta: Option<u16>,
    ) -> NodeResult<usize> {
        let update = lightning::util::config::ChannelConfigUpdate {
            forwarding_fee_base_msat: fee_base_msat,
            forwarding_fee_proportional_millionths: fee_ppm,
            cltv_expiry_delta,
            ..Default::default()
        };
        let channels = self.channel_manager.list_channels();
        for c in &channels {
            self.channel_manager
                .update_partial_channel_config(&c.counterparty.node_id, &[c.channel_id], &update)
                .map_err(|e| NodeError::InvalidInput(format!("{e:?}")))?;
        }
        Ok(channels.len())
    }

    /// What our network graph knows of a channel (both directions' fees and CLTV deltas).
    pub fn graph_channel(&self, scid: u64) -> Option<GraphChannel> {
        let graph = self.graph.read_only();
        let info = graph.channel(scid)?;
        let dir = |u: &Option<lightning::routing::gossip::ChannelUpdateInfo>| {
            u.as_ref().map(|u| GraphChannelPolicy {
                fee_base_msat: u.fees.base_msat,
                fee_ppm: u.fees.proportional_millionths,
                cltv_expiry_delta: u.cltv_expiry_delta,
                enabled: u.enabled,
            })
        };
        Some(GraphChannel {
            short_channel_id: scid_string(scid),
            node_one: info.node_one.to_string(),
            node_two: info.node_two.to_string(),
            one_to_two: dir(&info.one_to_two),
            two_to_one: dir(&info.two_to_one),
        })
    }
}

/// `BLOCKxTXxOUT` form of a short channel id.
pub fn scid_string(scid: u64) -> String {
    format!("{}x{}x{}", scid >> 40, (scid >> 16) & 0xff_ffff, scid & 0xffff)
}
