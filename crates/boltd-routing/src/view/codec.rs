//! Persistence of the view: [`GraphView::to_bytes`] and [`GraphView::from_bytes`] (a magic
//! prefix, the arrays, a checksum).

use super::*;

/// The magic prefix of a persisted view.
const MAGIC: &[u8; 8] = b"BOLTDRV1";

/// Why persisted bytes are not a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDecodeError(pub String);

impl std::fmt::Display for ViewDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "routing view: {}", self.0)
    }
}

impl std::error::Error for ViewDecodeError {}

/// A word-at-a-time checksum: cheap on megabytes, enough to catch truncation and corruption.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    h ^ (h >> 31)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8s(&mut self, v: &[u8]) {
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        self.0.extend_from_slice(v);
    }
    fn u16s(&mut self, v: &[u16]) {
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn u32s(&mut self, v: &[u32]) {
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn u64s(&mut self, v: &[u64]) {
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ViewDecodeError> {
        let end =
            self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| {
                ViewDecodeError(format!("truncated at {what} (offset {})", self.pos))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn len(&mut self, width: usize, what: &str) -> Result<usize, ViewDecodeError> {
        let n = u64::from_le_bytes(self.take(8, what)?.try_into().expect("8"));
        let n = usize::try_from(n).map_err(|_| ViewDecodeError(format!("{what}: bad length")))?;
        if n.checked_mul(width).is_none_or(|b| b > self.buf.len() - self.pos) {
            return Err(ViewDecodeError(format!("{what}: length {n} exceeds the data")));
        }
        Ok(n)
    }
    fn u8s(&mut self, what: &str) -> Result<Vec<u8>, ViewDecodeError> {
        let n = self.len(1, what)?;
        Ok(self.take(n, what)?.to_vec())
    }
    fn u16s(&mut self, what: &str) -> Result<Vec<u16>, ViewDecodeError> {
        let n = self.len(2, what)?;
        let b = self.take(n * 2, what)?;
        Ok(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
    }
    fn u32s(&mut self, what: &str) -> Result<Vec<u32>, ViewDecodeError> {
        let n = self.len(4, what)?;
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4"))).collect())
    }
    fn u64s(&mut self, what: &str) -> Result<Vec<u64>, ViewDecodeError> {
        let n = self.len(8, what)?;
        let b = self.take(n * 8, what)?;
        Ok(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect())
    }
}

fn bad(msg: impl Into<String>) -> ViewDecodeError {
    ViewDecodeError(msg.into())
}

impl GraphView {
    /// Serializes the view (little-endian arrays behind a magic prefix, with a checksum). The
    /// generation is not written: a view read back is as old as its bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(self.heap_bytes() + 1024));
        w.0.extend_from_slice(MAGIC);
        let flat_ids: Vec<u8> = self.node_ids.iter().flatten().copied().collect();
        w.u8s(&flat_ids);
        w.u16s(&self.node_features);
        w.0.extend_from_slice(&(self.node_feature_sets.len() as u64).to_le_bytes());
        for f in &self.node_feature_sets {
            w.u8s(f.le_flags());
        }
        w.u32s(&self.in_start);
        let e = &self.edges;
        w.u32s(&e.iter().map(|e| e.source).collect::<Vec<_>>());
        w.u64s(&e.iter().map(|e| e.scid).collect::<Vec<_>>());
        w.u32s(&e.iter().map(|e| e.fee_base_msat).collect::<Vec<_>>());
        w.u32s(&e.iter().map(|e| e.fee_ppm).collect::<Vec<_>>());
        w.u64s(&e.iter().map(|e| e.htlc_min_msat).collect::<Vec<_>>());
        w.u64s(&e.iter().map(|e| e.htlc_max_msat).collect::<Vec<_>>());
        w.u64s(&e.iter().map(|e| e.capacity_msat).collect::<Vec<_>>());
        w.u16s(&e.iter().map(|e| e.cltv_delta).collect::<Vec<_>>());
        w.u16s(&e.iter().map(|e| e.flags).collect::<Vec<_>>());
        w.u64s(&self.chan_scids);
        w.u32s(&self.chan_nodes.iter().flatten().copied().collect::<Vec<_>>());
        w.u16s(&self.chan_cltv.iter().flatten().copied().collect::<Vec<_>>());
        w.u8s(&self.chan_flags);
        w.u16s(&self.chan_features);
        w.0.extend_from_slice(&(self.chan_feature_sets.len() as u64).to_le_bytes());
        for f in &self.chan_feature_sets {
            w.u8s(f.le_flags());
        }
        w.u32s(&self.chan_edges.iter().flatten().copied().collect::<Vec<_>>());
        w.u32s(&self.node_chan_start);
        w.u32s(&self.node_chans);
        let sum = checksum(&w.0);
        w.0.extend_from_slice(&sum.to_le_bytes());
        w.0
    }

    /// Reads a view written by [`GraphView::to_bytes`], checking the checksum and every index,
    /// so that a corrupt blob is an error, never a panic later. Its generation is 0.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ViewDecodeError> {
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not a persisted routing view (bad magic)"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if checksum(body) != u64::from_le_bytes(sum.try_into().expect("8")) {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader { buf: body, pos: MAGIC.len() };
        let flat_ids = r.u8s("node ids")?;
        if flat_ids.len() % 33 != 0 {
            return Err(bad("node ids: not a multiple of 33 bytes"));
        }
        let node_ids: Vec<[u8; 33]> =
            flat_ids.chunks_exact(33).map(|c| c.try_into().expect("33")).collect();
        let n = node_ids.len();
        if node_ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("node ids not sorted"));
        }
        let node_features = r.u16s("node features")?;
        let sets = r.len(8, "node feature sets")?;
        let mut node_feature_sets = Vec::with_capacity(sets);
        for _ in 0..sets {
            node_feature_sets.push(NodeFeatures::from_le_bytes(r.u8s("node feature set")?));
        }
        let in_start = r.u32s("in_start")?;
        let source = r.u32s("edge sources")?;
        let edge_scids = r.u64s("edge scids")?;
        let fee_base = r.u32s("edge base fees")?;
        let fee_ppm = r.u32s("edge proportional fees")?;
        let htlc_min = r.u64s("edge htlc minimums")?;
        let htlc_max = r.u64s("edge htlc maximums")?;
        let capacity = r.u64s("edge capacities")?;
        let cltv = r.u16s("edge cltv deltas")?;
        let flags = r.u16s("edge flags")?;
        let chan_scids = r.u64s("channel scids")?;
        let flat_nodes = r.u32s("channel nodes")?;
        let flat_cltv = r.u16s("channel cltv deltas")?;
        let chan_flags = r.u8s("channel flags")?;
        let chan_features = r.u16s("channel features")?;
        let sets = r.len(8, "channel feature sets")?;
        let mut chan_feature_sets = Vec::with_capacity(sets);
        for _ in 0..sets {
            chan_feature_sets.push(ChannelFeatures::from_le_bytes(r.u8s("channel feature set")?));
        }
        let flat_edges = r.u32s("channel edges")?;
        let node_chan_start = r.u32s("node channel starts")?;
        let node_chans = r.u32s("node channels")?;
        if r.pos != body.len() {
            return Err(bad("trailing bytes"));
        }

        let m = source.len();
        let c = chan_scids.len();
        let same = [
            edge_scids.len(),
            fee_base.len(),
            fee_ppm.len(),
            htlc_min.len(),
            htlc_max.len(),
            capacity.len(),
            cltv.len(),
            flags.len(),
        ];
        if same.iter().any(|l| *l != m)
            || node_features.len() != n
            || in_start.len() != n + 1
            || flat_nodes.len() != 2 * c
            || flat_cltv.len() != 2 * c
            || chan_flags.len() != c
            || chan_features.len() != c
            || flat_edges.len() != 2 * c
            || node_chan_start.len() != n + 1
        {
            return Err(bad("array lengths disagree"));
        }
        if node_feature_sets.is_empty()
            || node_features.iter().any(|f| usize::from(*f) >= node_feature_sets.len())
            || chan_features.iter().any(|f| usize::from(*f) >= chan_feature_sets.len())
        {
            return Err(bad("feature index out of range"));
        }
        let monotone = |v: &[u32], end: usize| {
            v.first() == Some(&0)
                && v.windows(2).all(|w| w[0] <= w[1])
                && v.last().map(|l| *l as usize) == Some(end)
        };
        if !monotone(&in_start, m) || !monotone(&node_chan_start, node_chans.len()) {
            return Err(bad("row starts are not monotone"));
        }
        if chan_scids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("channel scids not sorted"));
        }
        let nn = n as u32;
        if flat_nodes.iter().any(|i| *i != NONE && *i >= nn)
            || source.iter().any(|i| *i >= nn)
            || node_chans.iter().any(|i| *i as usize >= c)
            || flat_edges.iter().any(|i| *i != NONE && *i as usize >= m)
        {
            return Err(bad("index out of range"));
        }
        let edges: Vec<Edge> = (0..m)
            .map(|i| Edge {
                source: source[i],
                scid: edge_scids[i],
                fee_base_msat: fee_base[i],
                fee_ppm: fee_ppm[i],
                htlc_min_msat: htlc_min[i],
                htlc_max_msat: htlc_max[i],
                capacity_msat: capacity[i],
                cltv_delta: cltv[i],
                flags: flags[i],
            })
            .collect();
        let chan_nodes: Vec<[u32; 2]> = flat_nodes.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
        // Every edge must sit in its target's row and agree with its channel's ends.
        for t in 0..n {
            for e in &edges[in_start[t] as usize..in_start[t + 1] as usize] {
                let Ok(ci) = chan_scids.binary_search(&e.scid) else {
                    return Err(bad("edge of an unknown channel"));
                };
                let [one, two] = chan_nodes[ci];
                let (s, tt) = if e.direction() == 0 { (one, two) } else { (two, one) };
                if s != e.source || tt as usize != t {
                    return Err(bad("edge disagrees with its channel"));
                }
            }
        }
        let (out_start, out_targets) = out_index(&in_start, &edges);
        Ok(GraphView {
            generation: 0,
            node_ids,
            node_features,
            node_feature_sets,
            in_start,
            edges,
            chan_scids,
            chan_nodes,
            chan_cltv: flat_cltv.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
            chan_flags,
            chan_features,
            chan_feature_sets,
            chan_edges: flat_edges.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
            node_chan_start,
            node_chans,
            out_start,
            out_targets,
        })
    }
}
