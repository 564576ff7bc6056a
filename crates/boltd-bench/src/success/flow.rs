//! What the oracle knows and the payer does not: whether a payment may be feasible at all (a
//! flow of the amount from payer to payee over the hidden liquidity,
//! [`FlowNet::max_flow_msat`]: fees ignored, an upper bound) and a route that proves it can be
//! made, with its fee ([`FlowNet::cheapest_fee_msat`]: fees counted as the network charges them).
//!
//! Both ignore CLTV limits and path lengths; the payer's own channels hold their whole capacity
//! on its side (as in [`super::oracle::Oracle::send`]). The witness route respects every hop's
//! `htlc_minimum_msat` and `htlc_maximum_msat` for each part; the max-flow ignores them (many
//! parts may cross a channel).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::gossmap::Gossmap;
use crate::ldk::ldk_usable;

use super::oracle::Oracle;

/// The most parts the oracle's witness of a payment uses ([`FlowNet::cheapest_fee_msat`]).
pub const WITNESS_MAX_PARTS: u64 = 64;

/// The directions LDK can route over as a residual network: every direction an arc with its
/// hidden liquidity, paired with a reverse arc of capacity 0.
pub struct FlowNet {
    /// Per node, its arcs: `start[v]..start[v + 1]`.
    start: Vec<u32>,
    to: Vec<u32>,
    /// The paired arc.
    rev: Vec<u32>,
    cap_msat: Vec<u64>,
    /// The channel's capacity (what the payer has on its own channels).
    own_msat: Vec<u64>,
    htlc_min_msat: Vec<u64>,
    htlc_max_msat: Vec<u64>,
    fee_base_msat: Vec<u64>,
    fee_ppm: Vec<u64>,
    forward: Vec<bool>,
}

impl FlowNet {
    /// Builds the network of `map`'s LDK-routable directions with `oracle`'s liquidity.
    pub fn new(map: &Gossmap, oracle: &Oracle) -> Self {
        let n = map.node_count;
        #[allow(clippy::type_complexity)]
        let mut arcs: Vec<(u32, u32, u64, u64, u64, [u64; 3])> = Vec::new();
        for d in 0..map.directions.len() {
            if !ldk_usable(map, d) {
                continue;
            }
            let dir = &map.directions[d];
            arcs.push((
                map.source(d),
                map.target(d),
                oracle.direction_liquidity_msat(map, d),
                dir.fee_base_msat,
                dir.fee_ppm,
                [oracle.own_capacity_msat(d / 2), dir.htlc_min_msat, dir.htlc_max_msat],
            ));
        }
        let mut degree = vec![0u32; n + 1];
        for &(u, v, ..) in &arcs {
            degree[u as usize] += 1;
            degree[v as usize] += 1;
        }
        let mut start = vec![0u32; n + 1];
        for v in 0..n {
            start[v + 1] = start[v] + degree[v];
        }
        let m = start[n] as usize;
        let mut fill = start.clone();
        let (mut to, mut rev, mut cap_msat) = (vec![0u32; m], vec![0u32; m], vec![0u64; m]);
        let (mut fee_base_msat, mut fee_ppm, mut forward) =
            (vec![0u64; m], vec![0u64; m], vec![false; m]);
        let (mut own_msat, mut htlc_min_msat, mut htlc_max_msat) =
            (vec![0u64; m], vec![0u64; m], vec![0u64; m]);
        for &(u, v, cap, base, ppm, [own, min, max]) in &arcs {
            let a = fill[u as usize] as usize;
            fill[u as usize] += 1;
            let b = fill[v as usize] as usize;
            fill[v as usize] += 1;
            to[a] = v;
            rev[a] = b as u32;
            cap_msat[a] = cap;
            fee_base_msat[a] = base;
            fee_ppm[a] = ppm;
            forward[a] = true;
            own_msat[a] = own;
            htlc_min_msat[a] = min;
            htlc_max_msat[a] = max;
            to[b] = u;
            rev[b] = a as u32;
        }
        Self {
            start,
            to,
            rev,
            cap_msat,
            own_msat,
            htlc_min_msat,
            htlc_max_msat,
            fee_base_msat,
            fee_ppm,
            forward,
        }
    }

    fn nodes(&self) -> usize {
        self.start.len() - 1
    }

    /// The capacities for a payment from `payer`: its own directions hold the whole channel.
    fn capacities(&self, payer: u32) -> Vec<u64> {
        let mut cap = self.cap_msat.clone();
        let p = payer as usize;
        let arcs = self.start[p] as usize..self.start[p + 1] as usize;
        for ((c, &forward), &own) in
            cap[arcs.clone()].iter_mut().zip(&self.forward[arcs.clone()]).zip(&self.own_msat[arcs])
        {
            if forward {
                *c = own;
            }
        }
        cap
    }

    /// The largest flow from `payer` to `payee` over the hidden liquidity, counted up to
    /// `limit_msat` (Dinic's algorithm, stopped once the limit is reached).
    pub fn max_flow_msat(&self, payer: u32, payee: u32, limit_msat: u64) -> u64 {
        let n = self.nodes();
        if payer as usize >= n || payee as usize >= n || payer == payee {
            return 0;
        }
        let mut cap = self.capacities(payer);
        let mut level = vec![u32::MAX; n];
        let mut next = vec![0u32; n];
        let mut flow = 0u64;
        let mut queue = Vec::with_capacity(n);
        while flow < limit_msat {
            level.iter_mut().for_each(|l| *l = u32::MAX);
            level[payer as usize] = 0;
            queue.clear();
            queue.push(payer);
            let mut head = 0;
            while head < queue.len() {
                let v = queue[head] as usize;
                head += 1;
                let arcs = self.start[v] as usize..self.start[v + 1] as usize;
                for (&c, &w) in cap[arcs.clone()].iter().zip(&self.to[arcs]) {
                    let w = w as usize;
                    if c > 0 && level[w] == u32::MAX {
                        level[w] = level[v] + 1;
                        queue.push(w as u32);
                    }
                }
            }
            if level[payee as usize] == u32::MAX {
                break;
            }
            next.copy_from_slice(&self.start[..n]);
            loop {
                let pushed =
                    self.augment(&mut cap, &level, &mut next, payer, payee, limit_msat - flow);
                if pushed == 0 {
                    break;
                }
                flow += pushed;
                if flow >= limit_msat {
                    break;
                }
            }
        }
        flow.min(limit_msat)
    }

    /// One blocking-flow augmentation along the level graph (iterative depth-first search).
    fn augment(
        &self,
        cap: &mut [u64],
        level: &[u32],
        next: &mut [u32],
        s: u32,
        t: u32,
        limit: u64,
    ) -> u64 {
        let mut stack: Vec<u32> = Vec::new(); // arcs taken
        let mut v = s as usize;
        loop {
            if v == t as usize {
                let pushed = stack.iter().map(|&a| cap[a as usize]).min().unwrap_or(0).min(limit);
                for &a in &stack {
                    cap[a as usize] -= pushed;
                    cap[self.rev[a as usize] as usize] += pushed;
                }
                return pushed;
            }
            let end = self.start[v + 1];
            let mut advanced = false;
            while next[v] < end {
                let a = next[v] as usize;
                let w = self.to[a] as usize;
                if cap[a] > 0 && level[w] == level[v] + 1 {
                    stack.push(a as u32);
                    v = w;
                    advanced = true;
                    break;
                }
                next[v] += 1;
            }
            if !advanced {
                // Dead end: retreat and skip the arc that led here.
                match stack.pop() {
                    Some(a) => {
                        v = self.to[self.rev[a as usize] as usize] as usize;
                        next[v] += 1;
                    }
                    None => return 0,
                }
            }
        }
    }

    /// The fee of a route delivering `amount_msat` from `payer` to `payee` over the hidden
    /// liquidity, found by the oracle: the cheapest single path that can carry it all; when
    /// there is none, successive cheapest paths for what is left, each carrying as much as its
    /// hops allow (a part is halved until a path carries it, down to 1/[`WITNESS_MAX_PARTS`] of
    /// the amount). Exact as the network charges it: every hop forwards the part plus the fees
    /// of the hops after it (fees on fees) and must have the liquidity and the `htlc_minimum` /
    /// `htlc_maximum_msat` for that; the payer's own hop is free and holds the channel's
    /// capacity. `None` when these paths cannot deliver the amount. So `Some` proves the
    /// payment can be made at that fee (a witness); the minimum may be lower (splitting can be
    /// cheaper than the cheapest path that carries it all).
    pub fn cheapest_fee_msat(&self, payer: u32, payee: u32, amount_msat: u64) -> Option<u64> {
        let n = self.nodes();
        if payer as usize >= n || payee as usize >= n || payer == payee || amount_msat == 0 {
            return None;
        }
        let mut cap = self.capacities(payer);
        let floor = amount_msat.div_ceil(WITNESS_MAX_PARTS);
        let (mut remaining, mut fee, mut parts) = (amount_msat, 0u64, 0u64);
        let mut try_msat = remaining;
        while remaining > 0 {
            if parts == WITNESS_MAX_PARTS {
                return None;
            }
            let Some(path) = self.cheapest_path(&cap, payer, payee, try_msat) else {
                let least = floor.min(remaining);
                if try_msat <= least {
                    return None;
                }
                try_msat = (try_msat / 2).max(least);
                continue;
            };
            // The path carries at least `try_msat`: as much more as it can, up to what is left.
            let (mut lo, mut hi) = (try_msat, remaining);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if self.forwarded(&cap, payer, &path, mid).is_some() {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            let amounts = self.forwarded(&cap, payer, &path, lo)?;
            for (&a, &amt) in path.iter().zip(&amounts) {
                cap[a as usize] -= amt;
            }
            fee = fee.saturating_add(amounts[0] - lo);
            remaining -= lo;
            parts += 1;
            try_msat = remaining;
        }
        Some(fee)
    }

    /// What each arc of `path` (from the payer) forwards when `part_msat` is to arrive, or
    /// `None` when a hop lacks the liquidity or refuses the amount.
    fn forwarded(&self, cap: &[u64], payer: u32, path: &[u32], part_msat: u64) -> Option<Vec<u64>> {
        let mut amounts = vec![0u64; path.len()];
        let mut amt = part_msat;
        for (i, &a) in path.iter().enumerate().rev() {
            let a = a as usize;
            if !self.carries(cap, a, amt) {
                return None;
            }
            amounts[i] = amt;
            if self.to[self.rev[a] as usize] != payer {
                amt = amt.checked_add(self.arc_fee_msat(a, amt))?;
            }
        }
        Some(amounts)
    }

    /// Arc `a` can forward `amount_msat` over what `cap` leaves.
    fn carries(&self, cap: &[u64], a: usize, amount_msat: u64) -> bool {
        cap[a] >= amount_msat
            && self.htlc_min_msat[a] <= amount_msat
            && amount_msat <= self.htlc_max_msat[a]
    }

    fn arc_fee_msat(&self, a: usize, amount_msat: u64) -> u64 {
        self.fee_base_msat[a]
            .saturating_add(amount_msat.saturating_mul(self.fee_ppm[a]) / 1_000_000)
    }

    /// The path (arcs from `payer`) that delivers `part_msat` to `payee` for the least the
    /// payer sends: Dijkstra from the payee backwards over what each node must receive (the
    /// part plus the fees of the hops after it), over arcs that can carry their amount.
    fn cheapest_path(
        &self,
        cap: &[u64],
        payer: u32,
        payee: u32,
        part_msat: u64,
    ) -> Option<Vec<u32>> {
        let n = self.nodes();
        let mut need = vec![u64::MAX; n];
        // The arc each node forwards over towards the payee.
        let mut via = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        need[payee as usize] = part_msat;
        heap.push(Reverse((part_msat, payee)));
        while let Some(Reverse((amt, v))) = heap.pop() {
            let v = v as usize;
            if amt > need[v] {
                continue;
            }
            if v == payer as usize {
                break;
            }
            for b in self.start[v] as usize..self.start[v + 1] as usize {
                // A reverse arc at `v` names the forward arc u → v.
                if self.forward[b] {
                    continue;
                }
                let a = self.rev[b] as usize;
                let u = self.to[b];
                if !self.carries(cap, a, amt) {
                    continue;
                }
                let nu = if u == payer {
                    amt
                } else {
                    match amt.checked_add(self.arc_fee_msat(a, amt)) {
                        Some(x) => x,
                        None => continue,
                    }
                };
                if nu < need[u as usize] {
                    need[u as usize] = nu;
                    via[u as usize] = a as u32;
                    heap.push(Reverse((nu, u)));
                }
            }
        }
        if need[payer as usize] == u64::MAX {
            return None;
        }
        let mut path = Vec::new();
        let mut v = payer as usize;
        while v != payee as usize {
            let a = via[v];
            path.push(a);
            v = self.to[a as usize] as usize;
        }
        Some(path)
    }
}
