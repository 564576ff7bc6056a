//! What the oracle knows and the payer does not: whether a payment is feasible at all (a flow
//! of the amount from payer to payee over the hidden liquidity, [`FlowNet::max_flow_msat`]) and
//! what its cheapest feasible route costs ([`FlowNet::cheapest_fee_msat`]).
//!
//! Both ignore fee and CLTV limits and path lengths; the payer's own channels hold their whole
//! capacity on its side (as in [`super::oracle::Oracle::send`]). The cheapest route respects
//! every hop's `htlc_minimum_msat` and `htlc_maximum_msat` for each part; the max-flow ignores
//! them (many parts may cross a channel).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::gossmap::Gossmap;
use crate::ldk::ldk_usable;

use super::oracle::Oracle;

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

    /// The cheapest fee of a route delivering `amount_msat` from `payer` to `payee` over the
    /// hidden liquidity (fees per hop at the part's amount, no fees on fees, the payer's hop
    /// free): the cheapest single path whose every hop has the liquidity for the whole amount;
    /// when there is none, successive cheapest paths over what is left (each filled to its
    /// bottleneck). `None` when these paths cannot deliver the amount. An upper bound of the
    /// exact minimum (splitting can be cheaper than the cheapest path that carries it all).
    pub fn cheapest_fee_msat(&self, payer: u32, payee: u32, amount_msat: u64) -> Option<u64> {
        let mut cap = self.capacities(payer);
        let mut remaining = amount_msat;
        let mut fee = 0u64;
        for _ in 0..64 {
            // A single path for all that remains, else the cheapest with any liquidity.
            let path = self
                .cheapest_path(&cap, payer, payee, remaining, remaining)
                .or_else(|| self.cheapest_path(&cap, payer, payee, remaining, 1))?;
            let bottleneck = path
                .iter()
                .map(|&a| cap[a as usize].min(self.htlc_max_msat[a as usize]))
                .min()
                .unwrap_or(0);
            let part = bottleneck.min(remaining);
            for &a in &path {
                cap[a as usize] -= part;
                if self.to[self.rev[a as usize] as usize] != payer {
                    fee = fee.saturating_add(self.arc_fee_msat(a as usize, part));
                }
            }
            remaining -= part;
            if remaining == 0 {
                return Some(fee);
            }
        }
        None
    }

    fn arc_fee_msat(&self, a: usize, amount_msat: u64) -> u64 {
        self.fee_base_msat[a]
            .saturating_add(amount_msat.saturating_mul(self.fee_ppm[a]) / 1_000_000)
    }

    /// Dijkstra over forward arcs with at least `need_msat` left, priced at `amount_msat`.
    fn cheapest_path(
        &self,
        cap: &[u64],
        s: u32,
        t: u32,
        amount_msat: u64,
        need_msat: u64,
    ) -> Option<Vec<u32>> {
        let n = self.nodes();
        let mut dist = vec![u64::MAX; n];
        let mut via = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        dist[s as usize] = 0;
        heap.push(Reverse((0u64, s)));
        while let Some(Reverse((d, v))) = heap.pop() {
            let v = v as usize;
            if d > dist[v] {
                continue;
            }
            if v == t as usize {
                break;
            }
            #[allow(clippy::needless_range_loop)] // arc indices are the path's
            for a in self.start[v] as usize..self.start[v + 1] as usize {
                if !self.forward[a]
                    || cap[a] < need_msat
                    || self.htlc_max_msat[a] < need_msat
                    || self.htlc_min_msat[a] > amount_msat
                {
                    continue;
                }
                let w = self.to[a] as usize;
                let cost = if v == s as usize { 0 } else { self.arc_fee_msat(a, amount_msat) };
                let nd = d.saturating_add(cost);
                if nd < dist[w] {
                    dist[w] = nd;
                    via[w] = a as u32;
                    heap.push(Reverse((nd, w as u32)));
                }
            }
        }
        if dist[t as usize] == u64::MAX {
            return None;
        }
        let mut path = Vec::new();
        let mut v = t as usize;
        while v != s as usize {
            let a = via[v];
            path.push(a);
            v = self.to[self.rev[a as usize] as usize] as usize;
        }
        path.reverse();
        Some(path)
    }
}
