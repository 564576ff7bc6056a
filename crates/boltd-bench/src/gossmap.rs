//! Parser of Core Lightning's compressed graph snapshots (`GOSSMAP_COMPRESSv1`).
//!
//! The file is gzip; inside, the 19-byte header `GOSSMAP_COMPRESSv1\0`, then BOLT 1 `bigsize`
//! integers: the channel count `C`, `node1[C]`, `node2[C]`, the disabled directions
//! (`channel*2 + direction`, ended by the first value `>= 2*C`), the capacities (a template of
//! `k` values, then `C` indices into it) and five per-direction fields, each a template then
//! `2*C` indices: `htlc_minimum_msat`, `htlc_maximum_msat` (0 means the capacity, 1 means 99 % of
//! it), `fee_base_msat`, `fee_proportional_millionths`, `cltv_expiry_delta`. The stream must end
//! exactly after the last field. Direction 0 is the direction from `node1`.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The header of the decompressed stream, NUL included.
pub const HEADER: &[u8] = b"GOSSMAP_COMPRESSv1\0";

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gossmap: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// One direction of a channel, as the snapshot has it (`htlc_max_msat` already resolved
/// against the capacity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Direction {
    /// In the disabled list.
    pub disabled: bool,
    /// `htlc_minimum_msat`.
    pub htlc_min_msat: u64,
    /// `htlc_maximum_msat`, with the special values 0 (capacity) and 1 (99 % of the capacity)
    /// resolved.
    pub htlc_max_msat: u64,
    /// `fee_base_msat`.
    pub fee_base_msat: u64,
    /// `fee_proportional_millionths`.
    pub fee_ppm: u64,
    /// `cltv_expiry_delta`.
    pub cltv_delta: u64,
}

impl Direction {
    /// Whether the direction had a `channel_update`: Core Lightning writes all fields as 0 for
    /// a direction without one, so a direction whose `htlc_minimum_msat`, base fee,
    /// proportional fee and CLTV delta are all 0 is taken as having no policy.
    pub fn has_policy(&self) -> bool {
        self.htlc_min_msat != 0
            || self.fee_base_msat != 0
            || self.fee_ppm != 0
            || self.cltv_delta != 0
    }

    /// Usable for routing: not disabled and with a policy.
    pub fn usable(&self) -> bool {
        !self.disabled && self.has_policy()
    }
}

/// A parsed snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossmap {
    /// Number of nodes: one more than the largest node index used.
    pub node_count: usize,
    /// First end of each channel.
    pub node1: Vec<u32>,
    /// Second end of each channel.
    pub node2: Vec<u32>,
    /// Capacity of each channel, in satoshis.
    pub capacity_sat: Vec<u64>,
    /// Per direction, entry `channel*2 + direction` (direction 0 is from `node1`).
    pub directions: Vec<Direction>,
}

impl Gossmap {
    /// Reads and parses a gzip-compressed snapshot file.
    pub fn from_path(path: &Path) -> Result<Self, ParseError> {
        let file = std::fs::File::open(path)
            .map_err(|e| ParseError(format!("cannot open {}: {e}", path.display())))?;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::io::BufReader::new(file))
            .read_to_end(&mut raw)
            .map_err(|e| ParseError(format!("cannot decompress {}: {e}", path.display())))?;
        Self::parse(&raw)
    }

    /// Parses a decompressed stream (header included).
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let Some(body) = bytes.strip_prefix(HEADER) else {
            return err("missing GOSSMAP_COMPRESSv1 header");
        };
        let mut r = Reader { buf: body, pos: 0 };
        let c = r.usize("channel count")?;
        // Every channel takes at least 2 + 1 + 10 bytes: reject absurd counts before allocating.
        if c > body.len() {
            return err(format!("channel count {c} exceeds the stream size"));
        }
        let mut node1 = Vec::with_capacity(c);
        let mut node2 = Vec::with_capacity(c);
        for _ in 0..c {
            node1.push(r.node("node1")?);
        }
        for _ in 0..c {
            node2.push(r.node("node2")?);
        }
        let mut disabled = vec![false; 2 * c];
        loop {
            let v = r.bigsize("disabled direction")?;
            if v >= 2 * c as u64 {
                break;
            }
            disabled[v as usize] = true;
        }
        let capacity_sat = r.templated(c, "capacity")?;
        let htlc_min = r.templated(2 * c, "htlc_minimum_msat")?;
        let htlc_max = r.templated(2 * c, "htlc_maximum_msat")?;
        let base = r.templated(2 * c, "fee_base_msat")?;
        let ppm = r.templated(2 * c, "fee_proportional_millionths")?;
        let cltv = r.templated(2 * c, "cltv_expiry_delta")?;
        if r.pos != r.buf.len() {
            return err(format!("{} trailing bytes after the last field", r.buf.len() - r.pos));
        }
        let directions = (0..2 * c)
            .map(|i| {
                let cap_msat = capacity_sat[i / 2].saturating_mul(1000);
                let htlc_max_msat = match htlc_max[i] {
                    0 => cap_msat,
                    1 => cap_msat / 100 * 99,
                    v => v,
                };
                Direction {
                    disabled: disabled[i],
                    htlc_min_msat: htlc_min[i],
                    htlc_max_msat,
                    fee_base_msat: base[i],
                    fee_ppm: ppm[i],
                    cltv_delta: cltv[i],
                }
            })
            .collect();
        let node_count = node1.iter().chain(&node2).map(|&n| n as usize + 1).max().unwrap_or(0);
        Ok(Gossmap { node_count, node1, node2, capacity_sat, directions })
    }

    /// Number of channels.
    pub fn channel_count(&self) -> usize {
        self.node1.len()
    }

    /// The node a direction (`channel*2 + direction`) starts from.
    pub fn source(&self, dir_index: usize) -> u32 {
        let c = dir_index / 2;
        if dir_index & 1 == 0 {
            self.node1[c]
        } else {
            self.node2[c]
        }
    }

    /// The node a direction (`channel*2 + direction`) leads to.
    pub fn target(&self, dir_index: usize) -> u32 {
        self.source(dir_index ^ 1)
    }

    /// Number of usable directions ([`Direction::usable`]).
    pub fn usable_directions(&self) -> usize {
        self.directions.iter().filter(|d| d.usable()).count()
    }

    /// Total capacity in satoshis.
    pub fn total_capacity_sat(&self) -> u64 {
        self.capacity_sat.iter().sum()
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], ParseError> {
        if self.buf.len() - self.pos < n {
            return err(format!("stream ends inside {what} at byte {}", self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A BOLT 1 bigsize; non-minimal encodings are rejected.
    fn bigsize(&mut self, what: &str) -> Result<u64, ParseError> {
        let at = self.pos;
        let first = self.take(1, what)?[0];
        let (len, min) = match first {
            0xfd => (2, 0xfd),
            0xfe => (4, 0x1_0000),
            0xff => (8, 0x1_0000_0000),
            b => return Ok(u64::from(b)),
        };
        let mut v = 0u64;
        for &b in self.take(len, what)? {
            v = v << 8 | u64::from(b);
        }
        if v < min {
            return err(format!("non-minimal bigsize for {what} at byte {at}"));
        }
        Ok(v)
    }

    fn usize(&mut self, what: &str) -> Result<usize, ParseError> {
        let v = self.bigsize(what)?;
        usize::try_from(v).map_err(|_| ParseError(format!("{what} {v} too large")))
    }

    fn node(&mut self, what: &str) -> Result<u32, ParseError> {
        let v = self.bigsize(what)?;
        u32::try_from(v).map_err(|_| ParseError(format!("{what} index {v} too large")))
    }

    /// A template (`k`, then `k` values), then `n` indices into it, resolved.
    fn templated(&mut self, n: usize, what: &str) -> Result<Vec<u64>, ParseError> {
        let k = self.usize(what)?;
        if k > self.buf.len() - self.pos {
            return err(format!("{what} template of {k} values exceeds the stream"));
        }
        let mut template = Vec::with_capacity(k);
        for _ in 0..k {
            template.push(self.bigsize(what)?);
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let i = self.bigsize(what)?;
            match template.get(i as usize) {
                Some(v) if i < k as u64 => values.push(*v),
                _ => return err(format!("{what} index {i} outside its template of {k}")),
            }
        }
        Ok(values)
    }
}

/// Appends `v` as a BOLT 1 bigsize (minimal encoding); for building test streams.
pub fn write_bigsize(out: &mut Vec<u8>, v: u64) {
    if v < 0xfd {
        out.push(v as u8);
    } else if v <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        out.push(0xfe);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(vals: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        for &v in vals {
            write_bigsize(&mut out, v);
        }
        out
    }

    /// Two channels: 0-1 (capacity 300 000 sat) and 1-2 (capacity 70 000 sat); direction 1 of
    /// channel 0 disabled; direction 1 of channel 1 without a policy.
    fn tiny() -> Vec<u8> {
        let mut s = HEADER.to_vec();
        s.extend(bs(&[2, 0, 1, 1, 2]));
        // Disabled: channel 0 direction 1, terminated by 4 (= 2*C).
        s.extend(bs(&[1, 4]));
        // Capacities: template [70 000, 300 000], indices [1, 0].
        s.extend(bs(&[2, 70_000, 300_000, 1, 0]));
        // htlc_min: [0, 1000]
        s.extend(bs(&[2, 0, 1000, 1, 1, 1, 0]));
        // htlc_max: [0 (capacity), 1 (99 %), 5 000 000 msat]
        s.extend(bs(&[3, 0, 1, 5_000_000, 0, 1, 2, 0]));
        // base fee: [0, 1000]
        s.extend(bs(&[2, 0, 1000, 1, 0, 1, 0]));
        // ppm: [0, 100, 70000]
        s.extend(bs(&[3, 0, 100, 70_000, 1, 2, 1, 0]));
        // cltv: [0, 40, 144]
        s.extend(bs(&[3, 0, 40, 144, 2, 1, 1, 0]));
        s
    }

    #[test]
    fn bigsize_round_trips_and_rejects_non_minimal() {
        for v in [0, 1, 0xfc, 0xfd, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, u64::MAX] {
            let b = bs(&[v]);
            let expected_len = match v {
                0..=0xfc => 1,
                0xfd..=0xffff => 3,
                0x1_0000..=0xffff_ffff => 5,
                _ => 9,
            };
            assert_eq!(b.len(), expected_len, "{v}");
            let mut r = Reader { buf: &b, pos: 0 };
            assert_eq!(r.bigsize("v").unwrap(), v);
            assert_eq!(r.pos, b.len());
        }
        for bad in [
            &[0xfd, 0x00, 0xfc][..],
            &[0xfe, 0, 0, 0xff, 0xff],
            &[0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ] {
            let mut r = Reader { buf: bad, pos: 0 };
            assert!(r.bigsize("v").unwrap_err().0.contains("non-minimal"), "{bad:?}");
        }
        let mut r = Reader { buf: &[0xfe, 1, 2], pos: 0 };
        assert!(r.bigsize("v").unwrap_err().0.contains("stream ends"));
    }

    #[test]
    fn parses_a_tiny_stream() {
        let g = Gossmap::parse(&tiny()).unwrap();
        assert_eq!(g.channel_count(), 2);
        assert_eq!(g.node_count, 3);
        assert_eq!((g.node1.clone(), g.node2.clone()), (vec![0, 1], vec![1, 2]));
        assert_eq!(g.capacity_sat, vec![300_000, 70_000]);
        assert_eq!(
            g.directions[0],
            Direction {
                disabled: false,
                htlc_min_msat: 1000,
                htlc_max_msat: 300_000_000,
                fee_base_msat: 1000,
                fee_ppm: 100,
                cltv_delta: 144
            }
        );
        assert!(g.directions[1].disabled);
        assert_eq!(g.directions[1].htlc_max_msat, 300_000_000 / 100 * 99);
        assert_eq!(g.directions[2].htlc_max_msat, 5_000_000);
        assert_eq!(g.directions[2].fee_ppm, 100);
        assert_eq!(g.directions[3], Direction { htlc_max_msat: 70_000_000, ..Default::default() });
        assert!(!g.directions[3].has_policy());
        let usable: Vec<bool> = g.directions.iter().map(|d| d.usable()).collect();
        assert_eq!(usable, vec![true, false, true, false]);
        assert_eq!(g.usable_directions(), 2);
        assert_eq!((g.source(0), g.target(0)), (0, 1));
        assert_eq!((g.source(3), g.target(3)), (2, 1));
        assert_eq!(g.total_capacity_sat(), 370_000);
    }

    #[test]
    fn disabled_list_ends_at_the_first_value_past_the_directions() {
        // No disabled direction: the list is just the terminator, which may exceed 2*C.
        let mut s = HEADER.to_vec();
        s.extend(bs(&[1, 0, 1, 1000]));
        s.extend(bs(&[1, 5000, 0]));
        for _ in 0..5 {
            s.extend(bs(&[1, 7, 0, 0]));
        }
        let g = Gossmap::parse(&s).unwrap();
        assert!(g.directions.iter().all(|d| !d.disabled && d.usable()));
        // Both directions disabled.
        let mut s = HEADER.to_vec();
        s.extend(bs(&[1, 0, 1, 1, 0, 2]));
        s.extend(bs(&[1, 5000, 0]));
        for _ in 0..5 {
            s.extend(bs(&[1, 7, 0, 0]));
        }
        let g = Gossmap::parse(&s).unwrap();
        assert!(g.directions.iter().all(|d| d.disabled && !d.usable()));
    }

    #[test]
    fn the_stream_must_end_exactly() {
        let good = tiny();
        assert!(Gossmap::parse(&good).is_ok());
        let mut long = good.clone();
        long.push(0);
        assert!(Gossmap::parse(&long).unwrap_err().0.contains("1 trailing bytes"));
        for cut in [1, 5, good.len() - HEADER.len()] {
            let short = &good[..good.len() - cut];
            assert!(Gossmap::parse(short).is_err(), "cut {cut}");
        }
        assert!(Gossmap::parse(&good[1..]).unwrap_err().0.contains("header"));
    }

    #[test]
    fn template_indices_are_checked() {
        let mut s = HEADER.to_vec();
        s.extend(bs(&[1, 0, 1, 2]));
        s.extend(bs(&[1, 5000, 1])); // index 1 in a template of 1
        assert!(Gossmap::parse(&s).unwrap_err().0.contains("outside its template"));
    }
}
