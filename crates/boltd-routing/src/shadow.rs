//! The shadow CLTV offset, exactly as LDK's `find_route` adds it (`add_random_cltv_offset`), but
//! walking the compact view: for each path, a random walk of 1–3 hops through the public graph
//! from the path's last public node (ChaCha20 keyed with the search's random bytes, nonce the
//! first 12 bytes of that node's id) sums the walked directions' CLTV deltas (40 when a step
//! finds nothing), capped at 3 × 144 blocks and at what the path leaves of
//! `max_total_cltv_expiry_delta` (rounded down to a multiple of 40), and adds it to the last hop.
//! Given the same random bytes and graph, the offset equals LDK's.

use lightning::routing::gossip::NodeId;
use lightning::routing::router::Path;

use crate::view::GraphView;

/// LDK's `MEDIAN_HOP_CLTV_EXPIRY_DELTA`.
pub const MEDIAN_HOP_CLTV_EXPIRY_DELTA: u32 = 40;
/// LDK's `MAX_SHADOW_CLTV_EXPIRY_DELTA_OFFSET`.
pub const MAX_SHADOW_CLTV_EXPIRY_DELTA_OFFSET: u32 = 3 * 144;

/// ChaCha20 (RFC 8439 block function, 12-byte nonce, counter from 0) as a keystream.
pub struct ChaCha20 {
    state: [u32; 16],
    block: [u8; 64],
    offset: usize,
}

impl ChaCha20 {
    /// A keystream for `key` and `nonce`.
    pub fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Self {
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for i in 0..8 {
            state[4 + i] = u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4"));
        }
        for i in 0..3 {
            state[13 + i] = u32::from_le_bytes(nonce[4 * i..4 * i + 4].try_into().expect("4"));
        }
        Self { state, block: [0; 64], offset: 64 }
    }

    fn refill(&mut self) {
        let mut x = self.state;
        fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(16);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(12);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(8);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(7);
        }
        for _ in 0..10 {
            qr(&mut x, 0, 4, 8, 12);
            qr(&mut x, 1, 5, 9, 13);
            qr(&mut x, 2, 6, 10, 14);
            qr(&mut x, 3, 7, 11, 15);
            qr(&mut x, 0, 5, 10, 15);
            qr(&mut x, 1, 6, 11, 12);
            qr(&mut x, 2, 7, 8, 13);
            qr(&mut x, 3, 4, 9, 14);
        }
        for (i, w) in x.iter().enumerate() {
            let v = w.wrapping_add(self.state[i]);
            self.block[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.state[12] = self.state[12].wrapping_add(1);
        self.offset = 0;
    }

    /// XORs the keystream into `buf`.
    pub fn process_in_place(&mut self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            if self.offset == 64 {
                self.refill();
            }
            *b ^= self.block[self.offset];
            self.offset += 1;
        }
    }
}

/// Adds LDK's shadow CLTV offset to each path's last hop (see the module documentation).
pub fn add_random_cltv_offset(
    paths: &mut [Path],
    view: &GraphView,
    max_total_cltv_expiry_delta: u32,
    random_seed_bytes: &[u8; 32],
) {
    for path in paths.iter_mut() {
        let Some(last) = path.hops.last() else { continue };
        let hop_id = |i: usize| NodeId::from_pubkey(&path.hops[i].pubkey);
        let len = path.hops.len();
        let mut avoid: [NodeId; 3] =
            [hop_id(len - 1), hop_id(len.saturating_sub(2)), hop_id(len.saturating_sub(3))];
        let _ = last;

        let mut cur: Option<u32> = None;
        let mut nonce = [0u8; 12];
        if let Some(start) =
            path.hops.iter().rev().find_map(|h| view.node_index(&NodeId::from_pubkey(&h.pubkey)))
        {
            cur = Some(start);
            nonce.copy_from_slice(&view.node_ids[start as usize][..12]);
        }
        let mut prng = ChaCha20::new(random_seed_bytes, &nonce);
        let mut bytes = [0u8; std::mem::size_of::<usize>()];
        prng.process_in_place(&mut bytes);
        let walk = usize::from_be_bytes(bytes).wrapping_rem(3).wrapping_add(1);

        let mut offset: u32 = 0;
        for step in 0..walk {
            let mut hop_offset = MEDIAN_HOP_CLTV_EXPIRY_DELTA;
            if let Some(c) = cur {
                let chans = view.node_channels(c);
                prng.process_in_place(&mut bytes);
                if let Some(&chan) =
                    usize::from_be_bytes(bytes).checked_rem(chans.len()).and_then(|i| chans.get(i))
                {
                    if let Some((next, cltv)) = view.directed_from(chan, c) {
                        let next_id = view.node_id(next);
                        if !avoid.contains(&next_id) {
                            avoid[step] = next_id;
                            hop_offset = u32::from(cltv);
                            cur = Some(next);
                        }
                    }
                }
            }
            offset = offset.checked_add(hop_offset).unwrap_or(offset);
        }
        offset = offset.min(MAX_SHADOW_CLTV_EXPIRY_DELTA_OFFSET);
        let total: u32 = path.hops.iter().map(|h| h.cltv_expiry_delta).sum();
        let room = max_total_cltv_expiry_delta.saturating_sub(total);
        let room =
            (room - room % MEDIAN_HOP_CLTV_EXPIRY_DELTA).max(room % MEDIAN_HOP_CLTV_EXPIRY_DELTA);
        offset = offset.min(room);
        if let Some(h) = path.hops.last_mut() {
            h.cltv_expiry_delta =
                h.cltv_expiry_delta.checked_add(offset).unwrap_or(h.cltv_expiry_delta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha20_matches_rfc8439() {
        // RFC 8439 section 2.4.2 test vector: key 00..1f, nonce 00 00 00 00 00 00 00 4a 00 00 00
        // 00, counter 1. Our stream starts at counter 0, so skip one block.
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let mut c = ChaCha20::new(&key, &nonce);
        let mut skip = [0u8; 64];
        c.process_in_place(&mut skip);
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let mut buf = plain.to_vec();
        c.process_in_place(&mut buf);
        assert_eq!(
            hex::encode(&buf[..32]),
            "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
        );
    }
}
