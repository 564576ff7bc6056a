//! LDK's paths from the parts found.

use super::*;

/// Builds LDK's paths from the parts: hop `i`'s `fee_msat` is what hop `i + 1` charges (the
/// last hop's is the value), its `cltv_expiry_delta` hop `i + 1`'s delta (the last hop's the
/// final CLTV delta), exactly as LDK's `get_route` fills them.
pub(super) fn build_paths(
    ctx: &Ctx<'_>,
    parts: Vec<Part>,
    final_cltv: u32,
) -> Result<Vec<Path>, SearchError> {
    let view = ctx.view;
    let first_hops = ctx.req.first_hops.unwrap_or(&[]);
    let mut paths = Vec::with_capacity(parts.len());
    for part in parts {
        let hops: Vec<HopRef> = part.hops.iter().map(|&id| ctx.hop(id, 0)).collect();
        let amounts = ctx.amounts(&part.hops, part.value_msat);
        let mut route_hops = Vec::with_capacity(hops.len());
        for (i, &id) in part.hops.iter().enumerate() {
            let h = &hops[i];
            let (target, kind) = if id < ctx.edge_count {
                (view.edge_target(id as usize), None)
            } else {
                let x = &ctx.extras[(id - ctx.edge_count) as usize];
                (x.target, Some(x.kind))
            };
            let target_id = node_id_of(view, &ctx.extra_nodes, target);
            let pubkey = PublicKey::from_slice(target_id.as_slice())
                .map_err(|_| SearchError::Failed("A PublicKey in NetworkGraph is invalid!"))?;
            let (node_features, channel_features, maybe_announced) = match kind {
                Some(ExtraKind::FirstHop(fi)) => {
                    let d = first_hops[fi];
                    (
                        d.counterparty.features.to_context::<_>(),
                        d.counterparty.features.to_context::<_>(),
                        d.is_announced,
                    )
                }
                Some(ExtraKind::Private) => {
                    let source = ctx.hop_source(id);
                    let announced = target < ctx.n
                        && source < ctx.n
                        && view
                            .node_channels(target)
                            .iter()
                            .any(|&c| view.directed_from(c, source).is_some());
                    (graph_node_features(view, ctx.n, target), ChannelFeatures::empty(), announced)
                }
                Some(ExtraKind::Public(c)) => (
                    graph_node_features(view, ctx.n, target),
                    view.channel_features(c).clone(),
                    true,
                ),
                None => (
                    graph_node_features(view, ctx.n, target),
                    view.channel_features(view.edge_channel(&h.rec)).clone(),
                    true,
                ),
            };
            let last = i + 1 == hops.len();
            let (fee, cltv) = if last {
                (part.value_msat, final_cltv)
            } else {
                let next = &hops[i + 1];
                let fee = fee_msat(amounts[i + 1], next.rec.fee_base_msat, next.rec.fee_ppm)
                    .ok_or(SearchError::Failed(ERR_NO_PATH))?;
                (fee, u32::from(next.rec.cltv_delta))
            };
            route_hops.push(RouteHop {
                pubkey,
                node_features,
                short_channel_id: h.scid,
                channel_features,
                fee_msat: fee,
                cltv_expiry_delta: cltv,
                maybe_announced_channel: maybe_announced,
            });
        }
        paths.push(Path { hops: route_hops, blinded_tail: None });
    }
    Ok(paths)
}

impl Ctx<'_> {
    pub(super) fn hop_source(&self, id: HopId) -> u32 {
        if id < self.edge_count {
            self.view.edge(id as usize).source
        } else {
            self.extras[(id - self.edge_count) as usize].source
        }
    }
}

pub(super) fn graph_node_features(view: &GraphView, n: u32, i: u32) -> NodeFeatures {
    if i < n {
        view.node_features(i).clone()
    } else {
        default_node_features()
    }
}
