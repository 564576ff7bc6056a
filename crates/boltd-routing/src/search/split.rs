//! The multi-part split: paths for what is left, each filled up to what its hops have left
//! (see the module documentation of [`crate`]), and what a hop may carry.

use super::*;

/// Splits the payment into paths (see the module documentation of [`crate`]).
pub(super) fn collect_parts(
    ctx: &mut Ctx<'_>,
    scratch: &mut Scratch,
    value: u64,
    max_fee: u64,
    allow_mpp: bool,
) -> Result<Vec<Part>, SearchError> {
    let pp = &ctx.req.route_params.payment_params;
    let max_paths = u64::from(pp.max_path_count);
    let min_part = if allow_mpp { value.div_ceil(max_paths) } else { value };
    // LDK's saturation limit is a preference: LDK collects paths beyond it when they are cheaper
    // per msat, and its documentation leaves the choice to the scorer. For a single path it is
    // a first attempt, as in LDK; when splitting, the success-probability penalty prices how
    // much of a channel a part takes instead (B1 shows lower fees, fewer parts, and the same
    // success probability under LDK's prior as LDK's soft limit).
    let mut saturation = if allow_mpp { 0 } else { pp.max_channel_saturation_power_of_half };
    let mut parts: Vec<Part> = Vec::new();
    let mut remaining = value;
    let mut fees_msat = 0u64;
    let mut try_msat = remaining;
    if allow_mpp && ctx.cut_bound() < value {
        // Even all of the payer's (or the payee's) channels together cannot carry it.
        return Err(SearchError::Failed(
            if scratch.from_payer[ctx.payee as usize] == UNREACHABLE {
                ERR_NO_PATH
            } else {
                ERR_INSUFFICIENT
            },
        ));
    }
    // When no single path can carry the payment, no part carries more than half of it: a part
    // at a channel's limit (its capacity or `htlc_maximum_msat`) is unlikely to get through,
    // two halves much likelier.
    let part_cap = if allow_mpp && ctx.single_path_bound(saturation) < value {
        value.div_ceil(2).max(min_part)
    } else {
        value
    };
    while remaining > 0 {
        if parts.len() as u64 >= max_paths {
            break;
        }
        let bound = ctx.single_path_bound(saturation);
        let mut s = try_msat.min(remaining).min(part_cap);
        if allow_mpp && bound < s {
            s = bound.max(min_part.min(remaining));
        }
        let found = if s <= bound {
            ctx.dijkstra(scratch, s, max_fee - fees_msat, saturation)
        } else {
            None
        };
        match found {
            Some((hops, fee)) => {
                // A path found for less than what remains may carry more: fill it.
                let (v, fee) = if s < remaining {
                    let upto = remaining.min(part_cap.max(s));
                    ctx.fill(&hops, s, upto, min_part, max_fee - fees_msat, saturation)
                } else {
                    (s, fee)
                };
                ctx.use_liquidity(scratch, &hops, v);
                parts.push(Part { hops, value_msat: v });
                fees_msat += fee;
                remaining -= v;
                try_msat = s;
            }
            None => {
                let floor = min_part.min(remaining);
                if allow_mpp && s > floor {
                    try_msat = (s / 2).max(floor);
                } else if saturation != 0 {
                    saturation = 0;
                    try_msat = remaining;
                } else {
                    break;
                }
            }
        }
    }
    if parts.is_empty() {
        return Err(SearchError::Failed(ERR_NO_PATH));
    }
    if remaining > 0 {
        return Err(SearchError::Failed(ERR_INSUFFICIENT));
    }
    // Two parts over the same hops become one HTLC, unless that HTLC would be larger than a
    // hop's `htlc_maximum_msat`.
    parts.sort_by(|a, b| a.hops.cmp(&b.hops));
    let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
    for p in parts {
        match merged.last_mut() {
            Some(last)
                if last.hops == p.hops
                    && ctx.fits_one_part(&p.hops, last.value_msat + p.value_msat) =>
            {
                last.value_msat += p.value_msat
            }
            _ => merged.push(p),
        }
    }
    Ok(merged)
}

impl Ctx<'_> {
    #[inline]
    pub(super) fn hop(&self, id: HopId, saturation: u8) -> HopRef {
        if id < self.edge_count {
            let rec = *self.view.edge(id as usize);
            let dir_key = rec.direction() == 0;
            HopRef {
                max_msat: self.learned_max_msat(&rec, dir_key, saturation),
                per_part_msat: rec.htlc_max_msat,
                public: true,
                scid: rec.scid,
                dir_key,
                rec,
            }
        } else {
            let x = &self.extras[(id - self.edge_count) as usize];
            let max_msat = match x.limit {
                Limit::Exact(m) => m,
                Limit::Infinite => u64::MAX,
                Limit::Public => x.rec.total_msat(saturation),
            };
            HopRef {
                rec: x.rec,
                max_msat,
                per_part_msat: match x.limit {
                    Limit::Public => x.rec.htlc_max_msat,
                    _ => max_msat,
                },
                public: matches!(x.limit, Limit::Public),
                scid: x.scid,
                dir_key: x.dir_key,
            }
        }
    }

    /// What all parts together may send over a public direction: [`Edge::total_msat`], or with
    /// learned bounds [`learned_cap_msat`].
    pub(super) fn learned_max_msat(&self, rec: &Edge, dir_key: bool, saturation: u8) -> u64 {
        let max = rec.total_msat(saturation);
        match self.req.learned.and_then(|l| l.bounds(rec.scid, dir_key)) {
            Some(b) => {
                let inflight = self.inflight_msat(rec.scid, dir_key);
                learned_cap_msat(max, rec.total_msat(0), b, inflight, self.req.learned_cap)
            }
            None => max,
        }
    }

    pub(super) fn used_msat(&self, scid: u64, dir_key: bool) -> u64 {
        self.used.get(&(scid, dir_key)).copied().unwrap_or(0)
    }

    pub(super) fn inflight_msat(&self, scid: u64, dir_key: bool) -> u64 {
        self.req.inflight.0.get(&(scid, dir_key)).copied().unwrap_or(0)
    }

    /// The most all paths together could carry (at full capacity), judging by the payee's and
    /// the payer's hops only: the smaller of the two cuts.
    pub(super) fn cut_bound(&self) -> u64 {
        let room = |id: HopId| {
            let h = self.hop(id, 0);
            h.max_msat.saturating_sub(self.used_msat(h.scid, h.dir_key))
        };
        let mut into_payee = 0u64;
        let mut out_of_payer = 0u64;
        for (i, x) in self.extras.iter().enumerate() {
            let r = room(self.edge_count + i as u32);
            if x.target == self.payee {
                into_payee = into_payee.saturating_add(r);
            }
            if x.source == self.payer {
                out_of_payer = out_of_payer.saturating_add(r);
            }
        }
        if self.payee < self.n {
            let (start, edges) = self.view.in_edges(self.payee);
            for (i, e) in edges.iter().enumerate() {
                if !(self.skip_payer_edges && e.source == self.payer) {
                    into_payee = into_payee.saturating_add(room((start + i) as u32));
                }
            }
        }
        if self.payer < self.n && !self.skip_payer_edges {
            for &c in self.view.node_channels(self.payer) {
                let [one, _] = self.view.chan_nodes[c as usize];
                let e = self.view.channel_edges(c)[usize::from(one != self.payer)];
                if e != NONE {
                    out_of_payer = out_of_payer.saturating_add(room(e));
                }
            }
        }
        into_payee.min(out_of_payer)
    }

    /// The most one path could carry, judging by the payee's and the payer's hops only.
    pub(super) fn single_path_bound(&self, saturation: u8) -> u64 {
        let room = |id: HopId| self.part_room(id, saturation);
        let extras = |pred: &dyn Fn(&Extra) -> bool| {
            self.extras
                .iter()
                .enumerate()
                .filter(|(_, x)| pred(x))
                .map(|(i, _)| room(self.edge_count + i as u32))
                .max()
                .unwrap_or(0)
        };
        let mut into_payee = extras(&|x| x.target == self.payee);
        if self.payee < self.n {
            let (start, edges) = self.view.in_edges(self.payee);
            for i in 0..edges.len() {
                into_payee = into_payee.max(room((start + i) as u32));
            }
        }
        let mut out_of_payer = extras(&|x| x.source == self.payer);
        if self.payer < self.n && !self.skip_payer_edges {
            for &c in self.view.node_channels(self.payer) {
                let [one, _] = self.view.chan_nodes[c as usize];
                let e = self.view.channel_edges(c)[usize::from(one != self.payer)];
                if e != NONE {
                    out_of_payer = out_of_payer.max(room(e));
                }
            }
        }
        into_payee.min(out_of_payer)
    }

    /// The most a path found for `found_msat` can deliver, up to `remaining_msat`, within what
    /// its hops have left and `fee_budget_msat`, leaving either nothing or at least `min_part_msat`
    /// for the other parts; and the path's fee for it.
    pub(super) fn fill(
        &self,
        hops: &[HopId],
        found_msat: u64,
        remaining_msat: u64,
        min_part_msat: u64,
        fee_budget_msat: u64,
        saturation: u8,
    ) -> (u64, u64) {
        let rooms: Vec<u64> = hops.iter().map(|&id| self.part_room(id, saturation)).collect();
        let fee_of = |v: u64| -> Option<u64> {
            let amounts = self.amounts(hops, v);
            let fits = amounts.iter().zip(&rooms).all(|(a, r)| a <= r);
            let fee = amounts.first().map_or(0, |a| a - v);
            (fits && fee <= fee_budget_msat).then_some(fee)
        };
        let (mut lo, mut hi) = (found_msat, remaining_msat);
        if fee_of(hi).is_none() {
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if fee_of(mid).is_some() {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            hi = lo;
            if remaining_msat - hi < min_part_msat {
                hi = remaining_msat.saturating_sub(min_part_msat).max(found_msat);
            }
        }
        match fee_of(hi) {
            Some(fee) => (hi, fee),
            None => (found_msat, fee_of(found_msat).unwrap_or(0)),
        }
    }

    /// What one more part may send over hop `id`: what the earlier parts left of it, at most
    /// its per-part limit.
    pub(super) fn part_room(&self, id: HopId, saturation: u8) -> u64 {
        let h = self.hop(id, saturation);
        h.max_msat.saturating_sub(self.used_msat(h.scid, h.dir_key)).min(h.per_part_msat)
    }

    /// Whether one part delivering `value_msat` over `hops` is within every hop's per-part
    /// limit.
    pub(super) fn fits_one_part(&self, hops: &[HopId], value_msat: u64) -> bool {
        let amounts = self.amounts(hops, value_msat);
        hops.iter().zip(amounts).all(|(&id, a)| a <= self.hop(id, 0).per_part_msat)
    }

    pub(super) fn use_liquidity(&mut self, scratch: &mut Scratch, hops: &[HopId], value_msat: u64) {
        let amounts = self.amounts(hops, value_msat);
        let request = scratch.request;
        for (i, &id) in hops.iter().enumerate() {
            let h = self.hop(id, 0);
            *self.used.entry((h.scid, h.dir_key)).or_insert(0) += amounts[i];
            mark_used(self.view, scratch, request, h.scid, h.dir_key);
        }
    }

    /// The amount over each hop of a path (payer first) delivering `value_msat`.
    pub(super) fn amounts(&self, hops: &[HopId], value_msat: u64) -> Vec<u64> {
        let mut amounts = vec![0u64; hops.len()];
        let mut amount = value_msat;
        for i in (0..hops.len()).rev() {
            amounts[i] = amount;
            if i > 0 {
                let h = self.hop(hops[i], 0);
                amount += fee_msat(amount, h.rec.fee_base_msat, h.rec.fee_ppm).unwrap_or(0);
            }
        }
        amounts
    }
}
