//! The strongly connected core of a graph's routable directions, its biggest hub, and seeded
//! payer/payee sampling.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::gossmap::Gossmap;

/// Adjacency (compressed rows) over the directions for which `usable(dir_index)` holds.
pub struct Adjacency {
    start: Vec<usize>,
    targets: Vec<u32>,
}

impl Adjacency {
    /// Builds the adjacency of `map` over the directions `usable` accepts.
    pub fn new(map: &Gossmap, usable: impl Fn(usize) -> bool) -> Self {
        let n = map.node_count;
        let mut deg = vec![0usize; n + 1];
        let edges: Vec<(u32, u32)> = (0..map.directions.len())
            .filter(|&d| usable(d))
            .map(|d| (map.source(d), map.target(d)))
            .collect();
        for &(s, _) in &edges {
            deg[s as usize + 1] += 1;
        }
        for i in 0..n {
            deg[i + 1] += deg[i];
        }
        let mut fill = deg.clone();
        let mut targets = vec![0u32; edges.len()];
        for &(s, t) in &edges {
            targets[fill[s as usize]] = t;
            fill[s as usize] += 1;
        }
        Adjacency { start: deg, targets }
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.start.len() - 1
    }

    /// Out-neighbours of `node`.
    pub fn out(&self, node: u32) -> &[u32] {
        &self.targets[self.start[node as usize]..self.start[node as usize + 1]]
    }
}

/// The strongly connected components (Tarjan, iterative), each a list of nodes.
pub fn components(adj: &Adjacency) -> Vec<Vec<u32>> {
    const NONE: u32 = u32::MAX;
    let n = adj.nodes();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0u32;
    // (node, position in its out-list)
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if index[root as usize] != NONE {
            continue;
        }
        call.push((root, 0));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            let vs = v as usize;
            if let Some(&w) = adj.out(v).get(*pos) {
                *pos += 1;
                let ws = w as usize;
                if index[ws] == NONE {
                    index[ws] = next;
                    low[ws] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[ws] = true;
                    call.push((w, 0));
                } else if on_stack[ws] {
                    low[vs] = low[vs].min(index[ws]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent as usize] = low[parent as usize].min(low[vs]);
            }
            if low[vs] == index[vs] {
                let mut comp = Vec::new();
                loop {
                    let w = stack.pop().expect("Tarjan stack holds v");
                    on_stack[w as usize] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(comp);
            }
        }
    }
    out
}

/// The largest strongly connected component, sorted (empty for an empty graph).
pub fn largest_component(adj: &Adjacency) -> Vec<u32> {
    let mut core = components(adj).into_iter().max_by_key(|c| c.len()).unwrap_or_default();
    core.sort_unstable();
    core
}

/// The node of `core` with the most out-directions inside `adj` (ties: the lowest index).
pub fn biggest_hub(adj: &Adjacency, core: &[u32]) -> Option<u32> {
    core.iter().copied().max_by_key(|&n| (adj.out(n).len(), std::cmp::Reverse(n)))
}

/// `count` (payer, payee) pairs of distinct nodes of `core`, drawn with `seed`; the payer is
/// `payer` when given.
pub fn sample_pairs(core: &[u32], payer: Option<u32>, count: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pairs = Vec::with_capacity(count);
    if core.len() < 2 {
        return pairs;
    }
    while pairs.len() < count {
        let p = payer.unwrap_or_else(|| core[rng.gen_range(0..core.len())]);
        let q = core[rng.gen_range(0..core.len())];
        if p != q {
            pairs.push((p, q));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(edges: &[(u32, u32)], n: usize) -> (Gossmap, Vec<(u32, u32)>) {
        // One channel per edge, only direction 0 (from node1) usable.
        let dirs = edges
            .iter()
            .flat_map(|_| {
                [
                    crate::gossmap::Direction { cltv_delta: 40, ..Default::default() },
                    crate::gossmap::Direction::default(),
                ]
            })
            .collect();
        let g = Gossmap {
            node_count: n,
            node1: edges.iter().map(|e| e.0).collect(),
            node2: edges.iter().map(|e| e.1).collect(),
            capacity_sat: vec![1000; edges.len()],
            directions: dirs,
        };
        (g, edges.to_vec())
    }

    #[test]
    fn finds_the_largest_cycle_set() {
        // 0->1->2->0 and 2->3->4->3, 5 alone, 6->0.
        let (g, _) = map(&[(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 3), (6, 0)], 7);
        let adj = Adjacency::new(&g, |d| g.directions[d].usable());
        let mut comps: Vec<Vec<u32>> = components(&adj)
            .into_iter()
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        comps.sort();
        assert_eq!(comps, vec![vec![0, 1, 2], vec![3, 4], vec![5], vec![6]]);
        assert_eq!(largest_component(&adj), vec![0, 1, 2]);
        assert_eq!(biggest_hub(&adj, &[0, 1, 2]), Some(2));
    }

    #[test]
    fn a_long_path_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        edges.push((n - 1, 0));
        let (g, _) = map(&edges, n as usize);
        let adj = Adjacency::new(&g, |d| g.directions[d].usable());
        assert_eq!(largest_component(&adj).len(), n as usize);
    }

    #[test]
    fn sampling_is_seeded_and_inside_the_core() {
        let core: Vec<u32> = (10..60).collect();
        let a = sample_pairs(&core, None, 100, 7);
        assert_eq!(a, sample_pairs(&core, None, 100, 7));
        assert_ne!(a, sample_pairs(&core, None, 100, 8));
        assert!(a.iter().all(|&(p, q)| p != q && core.contains(&p) && core.contains(&q)));
        let hub = sample_pairs(&core, Some(10), 50, 7);
        assert!(hub.iter().all(|&(p, q)| p == 10 && q != 10));
        assert!(sample_pairs(&[1], None, 5, 0).is_empty());
    }
}
