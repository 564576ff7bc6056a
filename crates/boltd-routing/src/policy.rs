//! The payment policy both the search and the router read: Core Lightning's `pay` options
//! (`riskfactor`, `exclude`, route randomization, the fee limit) as types, parsers and cost
//! functions. How the router enforces them: [`crate::router`].
//!
//! This module depends on nothing else in the crate, so that [`crate::search`] and
//! [`crate::cost`] (below the router) and [`crate::router`] (above the search) can all use it.

use std::fmt;
use std::str::FromStr;

use bitcoin::secp256k1::PublicKey;
use lightning::routing::gossip::NodeId;

/// Blocks per year in Core Lightning's risk cost (365.25 days × 144 blocks).
pub const BLOCKS_PER_YEAR: u64 = 52_596;

/// Core Lightning's default `riskfactor`.
pub const DEFAULT_RISKFACTOR: f64 = 10.0;

/// Route randomization: the pseudo-random penalty of a hop is at most this percentage of the
/// hop's cost (its fee for the amount, plus the base scorer's penalty, plus the risk cost) ...
pub const RANDOM_PENALTY_PERCENT: u64 = 10;

/// ... plus this constant, so that even free hops are shuffled.
pub const RANDOM_PENALTY_BASE_MSAT: u64 = 1_000;

/// How one payment may be routed: Core Lightning's `riskfactor`, `exclude` and route
/// randomization. The fee and delay limits (`maxfee*`, `maxdelay`) are LDK route parameters, see
/// the [router's documentation](crate::router).
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentPolicy {
    /// Annual interest rate, in percent, charged for the time the payment's amount may be locked
    /// up in each hop ([`risk_cost_msat`]). Default 10; 0 ignores delays.
    pub riskfactor: f64,
    /// Channel directions never to use: (short channel id, direction 0 or 1 per BOLT 7).
    pub exclude_channels: Vec<(u64, u8)>,
    /// Nodes never to route through. The payer is ignored here; the destination must not be
    /// listed (see [`PaymentPolicy::excludes_node`]).
    pub exclude_nodes: Vec<PublicKey>,
    /// Whether to add the bounded pseudo-random penalty per hop (route randomization).
    /// Default true.
    pub randomize: bool,
    /// Seed of the route randomization; the same seed and graph give the same route.
    /// [`PaymentPolicy::default`] draws a fresh random seed.
    pub seed: u64,
}

impl Default for PaymentPolicy {
    /// `riskfactor` 10, no exclusions, randomization on with a fresh random seed (so two payments
    /// built from the default do not share their randomization).
    fn default() -> Self {
        Self {
            riskfactor: DEFAULT_RISKFACTOR,
            exclude_channels: Vec::new(),
            exclude_nodes: Vec::new(),
            randomize: true,
            seed: rand::random(),
        }
    }
}

impl PaymentPolicy {
    /// Whether `node` is in [`PaymentPolicy::exclude_nodes`]. The payment engine calls this
    /// with the destination before paying: a payment to an excluded node must be refused.
    pub fn excludes_node(&self, node: &PublicKey) -> bool {
        self.exclude_nodes.contains(node)
    }

    /// Whether the direction `direction` (0 or 1) of channel `scid` is excluded.
    pub fn excludes_channel(&self, scid: u64, direction: u8) -> bool {
        self.exclude_channels.contains(&(scid, direction))
    }

    /// Adds one exclusion (once).
    pub fn exclude(&mut self, exclusion: Exclusion) {
        match exclusion {
            Exclusion::Channel { scid, direction } => {
                if !self.excludes_channel(scid, direction) {
                    self.exclude_channels.push((scid, direction));
                }
            }
            Exclusion::Node(node) => {
                if !self.excludes_node(&node) {
                    self.exclude_nodes.push(node);
                }
            }
        }
    }
}

/// One entry of Core Lightning's `exclude` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// One direction of a channel (`BLOCKxTXxOUT/DIR`).
    Channel {
        /// The short channel id.
        scid: u64,
        /// 0: from the lesser node id to the greater; 1: the other way (BOLT 7).
        direction: u8,
    },
    /// A node (33-byte hex node id).
    Node(PublicKey),
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::Channel { scid, direction } => {
                write!(f, "{}/{direction}", scid_to_string(*scid))
            }
            Exclusion::Node(node) => write!(f, "{node}"),
        }
    }
}

impl FromStr for Exclusion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_exclusion(s)
    }
}

const EXCLUSION_SYNTAX: &str = "expected a short channel id with direction \
     (BLOCKxTXxOUT/DIR, e.g. 564334x877x1/0) or a node id (66 hex characters)";

/// Parses one `exclude` entry: `BLOCKxTXxOUT/DIR` (DIR 0 or 1) or a 33-byte hex node id.
/// Surrounding whitespace is ignored. The error says what is wrong and what is expected.
pub fn parse_exclusion(s: &str) -> Result<Exclusion, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty exclusion: {EXCLUSION_SYNTAX}"));
    }
    if let Some((scid_part, dir_part)) = t.split_once('/') {
        let scid = scid_from_str(scid_part).ok_or_else(|| {
            format!(
                "invalid short channel id {scid_part:?} in exclusion {t:?}: expected BLOCKxTXxOUT \
                 (e.g. 564334x877x1) with BLOCK and TX below 16777216 and OUT below 65536"
            )
        })?;
        let direction = match dir_part {
            "0" => 0,
            "1" => 1,
            _ => {
                return Err(format!(
                    "invalid direction {dir_part:?} in exclusion {t:?}: expected 0 or 1"
                ))
            }
        };
        return Ok(Exclusion::Channel { scid, direction });
    }
    if scid_from_str(t).is_some() {
        return Err(format!(
            "exclusion {t:?} has no direction: write {t}/0 or {t}/1 (BOLT 7: 0 is from the \
             lesser node id)"
        ));
    }
    if t.bytes().all(|b| b.is_ascii_hexdigit()) {
        if t.len() != 66 {
            return Err(format!(
                "invalid node id {t:?} in exclusion: {} hex characters, expected 66 (33 bytes)",
                t.len()
            ));
        }
        let bytes = hex::decode(t).map_err(|e| format!("invalid node id {t:?}: {e}"))?;
        return PublicKey::from_slice(&bytes).map(Exclusion::Node).map_err(|_| {
            format!("invalid node id {t:?} in exclusion: not a valid secp256k1 public key")
        });
    }
    Err(format!("invalid exclusion {t:?}: {EXCLUSION_SYNTAX}"))
}

/// Parses a short channel id written `BLOCKxTXxOUT` (decimal; BLOCK and TX below 2^24, OUT
/// below 2^16). `None` on anything else.
pub fn scid_from_str(s: &str) -> Option<u64> {
    let mut parts = s.split('x');
    let mut next = |limit: u64| -> Option<u64> {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u64>().ok().filter(|v| *v < limit)
    };
    let block = next(1 << 24)?;
    let tx = next(1 << 24)?;
    let out = next(1 << 16)?;
    if parts.next().is_some() {
        return None;
    }
    Some(block << 40 | tx << 16 | out)
}

/// Writes a short channel id as `BLOCKxTXxOUT`.
pub fn scid_to_string(scid: u64) -> String {
    format!("{}x{}x{}", scid >> 40, (scid >> 16) & 0xff_ffff, scid & 0xffff)
}

/// The BOLT 7 direction of a hop from `source` to `target`: 0 when `source` is the
/// lexicographically lesser node id (LDK's `node_one`), else 1.
pub fn channel_direction(source: &NodeId, target: &NodeId) -> u8 {
    if source < target {
        0
    } else {
        1
    }
}

/// Core Lightning's risk cost of locking `amount_msat` for `cltv_delta` blocks at an annual
/// rate of `riskfactor` percent: `amount × delay × riskfactor / (52596 × 100)`, rounded down,
/// saturating. A riskfactor that is not a positive number costs nothing.
pub fn risk_cost_msat(amount_msat: u64, cltv_delta: u16, riskfactor: f64) -> u64 {
    let cost =
        amount_msat as f64 * f64::from(cltv_delta) * riskfactor / (BLOCKS_PER_YEAR as f64 * 100.0);
    if cost.is_nan() || cost <= 0.0 {
        0
    } else {
        // `as` saturates at u64::MAX and rounds toward zero.
        cost as u64
    }
}

/// Core Lightning's fee limit: `maxfee_msat` when given; otherwise the larger of
/// `maxfeepercent` percent of `amount_msat` (rounded down) and `exemptfee_msat`.
/// A `maxfeepercent` that is not a positive number allows only `exemptfee_msat`.
pub fn fee_limit_msat(
    amount_msat: u64,
    maxfeepercent: f64,
    exemptfee_msat: u64,
    maxfee_msat: Option<u64>,
) -> u64 {
    if let Some(maxfee) = maxfee_msat {
        return maxfee;
    }
    let percent_fee = if maxfeepercent.is_nan() || maxfeepercent <= 0.0 {
        0
    } else {
        // Parts per billion of the amount, so that e.g. 0.5 % is exact.
        let ppb = (maxfeepercent * 1e7).round() as u64; // saturating
        let fee = u128::from(amount_msat) * u128::from(ppb) / 1_000_000_000;
        u64::try_from(fee).unwrap_or(u64::MAX)
    };
    percent_fee.max(exemptfee_msat)
}

#[cfg(test)]
mod tests {
    use super::*;

    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    const AMOUNT_MSAT: u64 = 100_000_000; // 100 000 sat

    fn key(i: u8) -> PublicKey {
        let secp = Secp256k1::new();
        PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[i; 32]).unwrap())
    }

    #[test]
    fn risk_cost_follows_core_lightning() {
        // 1 000 000 sat for 144 blocks at 10 %/year: 1e9 * 144 * 10 / 5 259 600.
        assert_eq!(risk_cost_msat(1_000_000_000, 144, 10.0), 273_785);
        assert_eq!(risk_cost_msat(AMOUNT_MSAT, 400, 10.0), 76_051);
        assert_eq!(risk_cost_msat(1_000_000_000, 144, 0.0), 0);
        assert_eq!(risk_cost_msat(1_000_000_000, 0, 10.0), 0);
        assert_eq!(risk_cost_msat(0, 144, 10.0), 0);
        assert_eq!(risk_cost_msat(1_000_000_000, 144, -1.0), 0);
        assert_eq!(risk_cost_msat(1_000_000_000, 144, f64::NAN), 0);
        assert_eq!(risk_cost_msat(u64::MAX, u16::MAX, 1e9), u64::MAX);
    }

    #[test]
    fn fee_limit_follows_core_lightning() {
        // 0.5 % of 10 000 sat is 50 sat, below the 5 sat exemption? No: 50 000 msat > 5 000.
        assert_eq!(fee_limit_msat(10_000_000, 0.5, 5_000, None), 50_000);
        // Small payments: the exemption wins.
        assert_eq!(fee_limit_msat(100_000, 0.5, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(1_000_000, 0.5, 5_000, None), 5_000);
        // maxfee overrides both, in either direction.
        assert_eq!(fee_limit_msat(10_000_000, 0.5, 5_000, Some(1)), 1);
        assert_eq!(fee_limit_msat(100_000, 0.5, 5_000, Some(90_000)), 90_000);
        // Fractional percentages are exact; rounding is down.
        assert_eq!(fee_limit_msat(1_000_000_000, 0.1, 0, None), 1_000_000);
        assert_eq!(fee_limit_msat(999, 1.0, 0, None), 9);
        // Nonsense percentages allow only the exemption; huge amounts saturate.
        assert_eq!(fee_limit_msat(1_000_000, 0.0, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(1_000_000, -3.0, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(1_000_000, f64::NAN, 5_000, None), 5_000);
        assert_eq!(fee_limit_msat(u64::MAX, 100.0, 0, None), u64::MAX);
    }

    #[test]
    fn scids_and_exclusions_parse() {
        let scid = scid_from_str("564334x877x1").unwrap();
        assert_eq!(scid, 564334 << 40 | 877 << 16 | 1);
        assert_eq!(scid_to_string(scid), "564334x877x1");
        assert_eq!(
            parse_exclusion("564334x877x1/0").unwrap(),
            Exclusion::Channel { scid, direction: 0 }
        );
        assert_eq!(
            parse_exclusion(" 564195x1292x0/1 ").unwrap(),
            Exclusion::Channel { scid: scid_from_str("564195x1292x0").unwrap(), direction: 1 }
        );
        let node = key(5).to_string();
        assert_eq!(parse_exclusion(&node).unwrap(), Exclusion::Node(key(5)));
        for text in ["564334x877x1/1", node.as_str()] {
            assert_eq!(parse_exclusion(text).unwrap().to_string(), text);
            assert_eq!(text.parse::<Exclusion>().unwrap(), parse_exclusion(text).unwrap());
        }
        for bad in ["", "1x2", "1x2x3x4", "x1x2", "1xx2", "+1x2x3", "16777216x0x0", "0x16777216x0"]
        {
            assert_eq!(scid_from_str(bad), None, "{bad}");
        }
        assert_eq!(scid_from_str("0x0x65536"), None);
        assert_eq!(scid_from_str("16777215x16777215x65535"), Some(u64::MAX));
    }

    #[test]
    fn bad_exclusions_are_explained() {
        let err = |s: &str| parse_exclusion(s).unwrap_err();
        assert!(err("").contains("empty exclusion"), "{}", err(""));
        assert!(err("564334x877x1").contains("no direction"), "{}", err("564334x877x1"));
        assert!(err("564334x877x1").contains("564334x877x1/0"));
        let e = err("564334x877x1/2");
        assert!(e.contains("invalid direction \"2\"") && e.contains("expected 0 or 1"), "{e}");
        assert!(err("564334x877x1/").contains("invalid direction"));
        let e = err("564334x877/0");
        assert!(e.contains("invalid short channel id \"564334x877\""), "{e}");
        assert!(err("99999999x1x1/0").contains("below 16777216"));
        let e = err("02abcd");
        assert!(e.contains("6 hex characters, expected 66"), "{e}");
        let e = err(&format!("05{}", "11".repeat(32)));
        assert!(e.contains("not a valid secp256k1 public key"), "{e}");
        let e = err("bob");
        assert!(e.contains("invalid exclusion \"bob\"") && e.contains("BLOCKxTXxOUT/DIR"), "{e}");
    }
}
