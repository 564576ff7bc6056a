//! One path's search: Dijkstra from the payee back to the payer with an A* bound from the
//! payer, and the relaxation that prices each hop.

use super::*;

impl Ctx<'_> {
    /// Fills [`Scratch::from_payer`]: a 0-1 breadth-first walk from the payer over every hop
    /// (blocked ones too: a bound may be too low, never too high), counting 1 per public graph
    /// hop not out of the payer (each costs at least [`min_hop_penalty_msat`]) and 0 for the
    /// others. The search adds `from_payer × min_hop_penalty_msat` to a node's cost (A*): a
    /// consistent lower bound of what reaching it from the payer costs, so the search settles
    /// far fewer nodes and still finds the same route; nodes the payer cannot reach are never
    /// entered.
    pub(super) fn bound_hops_from_payer(&self, scratch: &mut Scratch) {
        let total = self.n as usize + self.extra_nodes.len();
        let view = self.view;
        let d = &mut scratch.from_payer;
        d[..total].fill(UNREACHABLE);
        let q = &mut scratch.queue;
        let (marks, request) = (&scratch.node_extra_src, scratch.request);
        q.clear();
        d[self.payer as usize] = 0;
        q.push_back(self.payer);
        while let Some(x) = q.pop_front() {
            let dx = d[x as usize];
            let visit =
                |t: u32, w: u8, d: &mut Vec<u8>, q: &mut std::collections::VecDeque<u32>| {
                    let nd = dx.saturating_add(w).min(UNREACHABLE - 1);
                    if nd < d[t as usize] {
                        d[t as usize] = nd;
                        if w == 0 {
                            q.push_front(t);
                        } else {
                            q.push_back(t);
                        }
                    }
                };
            if x < self.n && !(x == self.payer && self.skip_payer_edges) {
                let w = u8::from(x != self.payer);
                for &t in view.out_targets(x) {
                    visit(t, w, d, q);
                }
            }
            if marks[x as usize] == request {
                for e in &self.extras {
                    if e.source == x {
                        visit(e.target, 0, d, q);
                    }
                }
            }
        }
    }

    #[inline]
    pub(super) fn node_blocked(&self, scratch: &Scratch, i: u32) -> bool {
        self.any_blocked_node
            && (i as usize) < scratch.node_block.len()
            && scratch.node_block[i as usize] == scratch.request
    }

    /// One Dijkstra from the payee back to the payer for a path delivering `value_msat`, with
    /// `fee_budget_msat` of fees at most. Returns the hops (payer first) and the path's fee.
    pub(super) fn dijkstra(
        &self,
        scratch: &mut Scratch,
        value_msat: u64,
        fee_budget_msat: u64,
        saturation: u8,
    ) -> Option<(Vec<HopId>, u64)> {
        let run = scratch.next_run();
        let settled = run + 1;
        let request = scratch.request;
        let payee = self.payee as usize;
        if scratch.from_payer[payee] == UNREACHABLE {
            return None;
        }
        let unit = min_hop_penalty_msat(value_msat);
        scratch.mark[payee] = run;
        scratch.cost[payee] = 0;
        scratch.state[payee] =
            NodeState { amount_msat: value_msat, hop: NONE, next: NONE, cltv: 0, hops: 0 };
        scratch.heap.push(u64::from(scratch.from_payer[payee]) * unit, self.payee);
        let n = self.n;
        let max_amount = value_msat.saturating_add(fee_budget_msat);
        // Liquidity already used (other parts) or in flight: looked up only when there is some.
        let any_used = !self.used.is_empty()
            || !self.req.inflight.0.is_empty()
            || self.req.learned.is_some_and(|l| !l.is_empty());
        while let Some((_, v)) = scratch.heap.pop() {
            scratch.mark[v as usize] = settled;
            let at = Settled {
                node: v,
                cost: scratch.cost[v as usize],
                state: scratch.state[v as usize],
            };
            if v == self.payer {
                let mut hops = Vec::with_capacity(usize::from(at.state.hops));
                let mut u = v;
                while u != self.payee {
                    let s = &scratch.state[u as usize];
                    hops.push(s.hop);
                    u = s.next;
                }
                return Some((hops, at.state.amount_msat - value_msat));
            }
            if at.state.hops >= self.max_hops {
                continue;
            }
            // LDK does not route through a node twice: it settles each node once, as here.
            if v < n {
                let (start, edges) = self.view.in_edges(v);
                for (k, e) in edges.iter().enumerate() {
                    if scratch.mark[e.source as usize] == settled {
                        continue;
                    }
                    let id = (start + k) as u32;
                    if self.skip_payer_edges && e.source == self.payer {
                        continue;
                    }
                    if self.any_blocked_edge && scratch.edge_block[id as usize] == request {
                        continue;
                    }
                    if self.any_blocked_node && self.node_blocked(scratch, e.source) {
                        continue;
                    }
                    let (used, inflight, bounds) =
                        if any_used && scratch.edge_used[id as usize] == request {
                            let key = e.direction() == 0;
                            (
                                self.used_msat(e.scid, key),
                                self.inflight_msat(e.scid, key),
                                self.req.learned.and_then(|l| l.bounds(e.scid, key)),
                            )
                        } else {
                            (0, 0, None)
                        };
                    let mut cap = e.total_msat(saturation);
                    if let Some((lo, hi)) = bounds {
                        // Known liquidity may go past the saturation preference; a failure's
                        // upper bound halves what is tried.
                        let mode = self.req.learned_cap;
                        cap = learned_cap_msat(cap, e.total_msat(0), (lo, hi), inflight, mode);
                    }
                    // Each part at most `htlc_maximum_msat`; all parts at most the capacity.
                    let max = cap.saturating_sub(used).min(e.htlc_max_msat);
                    let hop = Candidate {
                        id,
                        edge: e,
                        max_msat: max,
                        public: true,
                        loaded_msat: used + inflight,
                        bounds,
                    };
                    self.relax(scratch, run, &at, &hop, unit, max_amount);
                }
            }
            if scratch.node_extra[v as usize] == request {
                for (k, x) in self.extras.iter().enumerate() {
                    if x.target != v || scratch.mark[x.source as usize] == settled {
                        continue;
                    }
                    let id = self.edge_count + k as u32;
                    let h = self.hop(id, saturation);
                    let used = self.used_msat(h.scid, h.dir_key);
                    let inflight = if h.public { self.inflight_msat(h.scid, h.dir_key) } else { 0 };
                    let rec = Edge { source: x.source, ..h.rec };
                    let hop = Candidate {
                        id,
                        edge: &rec,
                        max_msat: h.max_msat.saturating_sub(used).min(h.per_part_msat),
                        public: h.public,
                        loaded_msat: used + inflight,
                        bounds: None,
                    };
                    self.relax(scratch, run, &at, &hop, unit, max_amount);
                }
            }
        }
        None
    }

    /// Offers the hop `c.edge` into the settled node `at` to its source.
    #[inline(always)]
    pub(super) fn relax(
        &self,
        scratch: &mut Scratch,
        run: u32,
        at: &Settled,
        c: &Candidate<'_>,
        unit: u64,
        max_amount: u64,
    ) {
        let e = c.edge;
        let u = e.source;
        let from_payer = scratch.from_payer[u as usize];
        if from_payer == UNREACHABLE {
            return;
        }
        let amount = at.state.amount_msat;
        if amount > c.max_msat || amount < e.htlc_min_msat {
            return;
        }
        let cltv = u32::from(at.state.cltv) + u32::from(e.cltv_delta);
        if cltv > self.cltv_limit {
            return;
        }
        let hop_fee = match fee_msat(amount, e.fee_base_msat, e.fee_ppm) {
            Some(f) => f,
            None => return,
        };
        let paid = if u == self.payer { 0 } else { hop_fee };
        let amount_in = match amount.checked_add(paid) {
            Some(a) if a <= max_amount => a,
            _ => return,
        };
        let queued = scratch.mark[u as usize] == run;
        // Before pricing the hop: can it beat the label the source already has?
        let floor = at.cost.saturating_add(paid).saturating_add(if c.public { unit } else { 0 });
        if queued && floor >= scratch.cost[u as usize] {
            return;
        }
        let mut penalty = risk_cost_msat(amount, e.cltv_delta, self.riskfactor);
        if c.public {
            let anti_probing =
                e.flags & EDGE_CAPACITY_KNOWN != 0 && e.htlc_max_msat >= e.capacity_msat / 2;
            penalty = penalty.saturating_add(match c.bounds {
                Some((lo, hi)) => learned_hop_penalty_msat(
                    amount,
                    c.loaded_msat,
                    e.capacity_msat,
                    anti_probing,
                    (lo, hi),
                ),
                None => {
                    public_hop_penalty_msat(amount, c.loaded_msat, e.capacity_msat, anti_probing)
                }
            });
        }
        if self.randomize {
            let direction = if c.id < self.edge_count {
                e.direction()
            } else {
                u8::from(!self.extras[(c.id - self.edge_count) as usize].dir_key)
            };
            penalty = penalty.saturating_add(random_penalty_msat(
                self.mixed_seed,
                e.scid,
                direction,
                hop_fee.saturating_add(penalty),
            ));
        }
        let new_cost = at.cost.saturating_add(paid).saturating_add(penalty);
        if queued && new_cost >= scratch.cost[u as usize] {
            return;
        }
        scratch.mark[u as usize] = run;
        scratch.cost[u as usize] = new_cost;
        scratch.state[u as usize] = NodeState {
            amount_msat: amount_in,
            hop: c.id,
            next: at.node,
            cltv: cltv as u16,
            hops: at.state.hops + 1,
        };
        let key = new_cost.saturating_add(u64::from(from_payer) * unit);
        if queued {
            scratch.heap.decrease(key, u);
        } else {
            scratch.heap.push(key, u);
        }
    }
}
