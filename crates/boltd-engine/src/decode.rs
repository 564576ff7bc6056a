//! Decoding payment requests (BOLT11 invoices and BOLT12 offers) into plain fields, for the
//! dialects' `decode` endpoints (Core Lightning's `decode`, Alby's `/decode/bolt11`). Nothing
//! is paid or stored; the payee's alias comes from our network graph when we know the node.

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning::offers::offer::{Amount, Offer};
use lightning::routing::gossip::NodeId;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use serde::Serialize;

use crate::error::PayError;
use crate::ledger::now_secs;
use crate::Engine;

/// One hop of a route hint.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RouteHintHop {
    /// The node at the start of the hinted channel.
    pub pubkey: String,
    /// The channel, as `BLOCKxTXxOUT`.
    pub short_channel_id: String,
    /// Base fee of the channel.
    pub fee_base_msat: u32,
    /// Proportional fee, in millionths.
    pub fee_proportional_millionths: u32,
    /// CLTV delta of the channel.
    pub cltv_expiry_delta: u16,
}

/// A decoded BOLT11 invoice.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DecodedBolt11 {
    /// The invoice's currency prefix (`bc`, `tb`, `bcrt`, `tbs`).
    pub currency: String,
    /// The network (`bitcoin`, `testnet`, `regtest`, `signet`).
    pub network: String,
    /// When it was created (unix seconds).
    pub created_at: u64,
    /// Seconds from `created_at` until it expires.
    pub expiry_secs: u64,
    /// When it expires (unix seconds).
    pub expires_at: u64,
    /// Whether it has expired.
    pub expired: bool,
    /// The payee's node id.
    pub payee: String,
    /// The payee's alias, when our graph knows the node.
    pub payee_alias: Option<String>,
    /// The amount, if the invoice fixes one.
    pub amount_msat: Option<u64>,
    /// The description, if the invoice carries it.
    pub description: Option<String>,
    /// The description hash (hex), if the invoice commits to one instead.
    pub description_hash: Option<String>,
    /// The payment hash (hex).
    pub payment_hash: String,
    /// The payment secret (hex).
    pub payment_secret: String,
    /// The final CLTV delta the payee requires.
    pub min_final_cltv_expiry: u64,
    /// Feature bits (hex, big-endian), if any.
    pub features: Option<String>,
    /// Payment metadata (hex), if any.
    pub payment_metadata: Option<String>,
    /// On-chain fallback addresses.
    pub fallbacks: Vec<String>,
    /// Route hints: one list of hops per route.
    pub routes: Vec<Vec<RouteHintHop>>,
    /// The payee's signature (DER, hex).
    pub signature: String,
}

/// A decoded BOLT12 offer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DecodedOffer {
    /// The offer id (hex).
    pub offer_id: String,
    /// The networks it is for.
    pub networks: Vec<String>,
    /// The amount in msat, if fixed in bitcoin.
    pub amount_msat: Option<u64>,
    /// A fiat amount, if any: ISO 4217 code and amount in the currency's minor unit.
    pub currency_amount: Option<(String, u64)>,
    /// The description.
    pub description: Option<String>,
    /// The issuer.
    pub issuer: Option<String>,
    /// The issuer's signing key, if any.
    pub issuer_id: Option<String>,
    /// When it expires (unix seconds), if ever.
    pub absolute_expiry: Option<u64>,
    /// Number of blinded paths to the issuer.
    pub paths: usize,
}

/// What a payment request decodes to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Decoded {
    /// A BOLT11 invoice.
    Bolt11(DecodedBolt11),
    /// A BOLT12 offer.
    Offer(DecodedOffer),
}

fn invalid(msg: impl Into<String>) -> PayError {
    PayError::InvalidParams(msg.into())
}

/// Strips a `lightning:` prefix (any case) and lowercases (BOLT11 and BOLT12 strings are
/// case-insensitive; parsers want one case).
fn normalize(s: &str) -> String {
    let s = s.trim();
    // `get`, not indexing: byte 10 need not be a char boundary in arbitrary input.
    let s = match s.get(..10) {
        Some(scheme) if scheme.eq_ignore_ascii_case("lightning:") => &s[10..],
        _ => s,
    };
    s.to_ascii_lowercase()
}

/// Decodes a BOLT11 invoice (signature checked). `alias` looks up a node's alias.
pub fn decode_bolt11(
    s: &str,
    alias: impl Fn(&PublicKey) -> Option<String>,
) -> Result<DecodedBolt11, PayError> {
    let inv: Bolt11Invoice =
        normalize(s).parse().map_err(|e| invalid(format!("invalid bolt11: {e}")))?;
    let (description, description_hash) = match inv.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => (Some(d.to_string()), None),
        Bolt11InvoiceDescriptionRef::Hash(h) => (None, Some(h.0.to_string())),
    };
    let payee = inv.get_payee_pub_key();
    let created_at = inv.duration_since_epoch().as_secs();
    let expiry_secs = inv.expiry_time().as_secs();
    let expires_at = created_at.saturating_add(expiry_secs);
    let features = inv.features().map(|f| {
        let mut be: Vec<u8> = f.le_flags().iter().rev().copied().collect();
        while be.first() == Some(&0) {
            be.remove(0);
        }
        hex::encode(be)
    });
    let routes = inv
        .route_hints()
        .iter()
        .map(|hint| {
            hint.0
                .iter()
                .map(|h| RouteHintHop {
                    pubkey: h.src_node_id.to_string(),
                    short_channel_id: boltd_node::node::scid_string(h.short_channel_id),
                    fee_base_msat: h.fees.base_msat,
                    fee_proportional_millionths: h.fees.proportional_millionths,
                    cltv_expiry_delta: h.cltv_expiry_delta,
                })
                .collect()
        })
        .collect();
    let signature = {
        let raw = inv.clone().into_signed_raw();
        hex::encode(raw.signature().0.to_standard().serialize_der())
    };
    Ok(DecodedBolt11 {
        currency: inv.currency().to_string(),
        network: inv.network().to_string(),
        created_at,
        expiry_secs,
        expires_at,
        expired: now_secs() >= expires_at,
        payee: payee.to_string(),
        payee_alias: alias(&payee),
        amount_msat: inv.amount_milli_satoshis(),
        description,
        description_hash,
        payment_hash: inv.payment_hash().to_string(),
        payment_secret: hex::encode(inv.payment_secret().0),
        min_final_cltv_expiry: inv.min_final_cltv_expiry_delta(),
        features,
        payment_metadata: inv.payment_metadata().map(hex::encode),
        fallbacks: inv.fallback_addresses().iter().map(|a| a.to_string()).collect(),
        routes,
        signature,
    })
}

/// Decodes a BOLT12 offer.
pub fn decode_offer(s: &str) -> Result<DecodedOffer, PayError> {
    let offer: Offer =
        normalize(s).parse().map_err(|e| invalid(format!("invalid bolt12 offer: {e:?}")))?;
    let networks = offer
        .chains()
        .into_iter()
        .map(|c| {
            Network::from_chain_hash(c).map(|n| n.to_string()).unwrap_or_else(|| c.to_string())
        })
        .collect();
    let (amount_msat, currency_amount) = match offer.amount() {
        Some(Amount::Bitcoin { amount_msats }) => (Some(amount_msats), None),
        Some(Amount::Currency { iso4217_code, amount }) => {
            (None, Some((String::from_utf8_lossy(iso4217_code.as_ref()).into_owned(), amount)))
        }
        None => (None, None),
    };
    Ok(DecodedOffer {
        offer_id: hex::encode(offer.id().0),
        networks,
        amount_msat,
        currency_amount,
        description: offer.description().map(|d| d.to_string()),
        issuer: offer.issuer().map(|d| d.to_string()),
        issuer_id: offer.issuer_signing_pubkey().map(|k| k.to_string()),
        absolute_expiry: offer.absolute_expiry().map(|d| d.as_secs()),
        paths: offer.paths().len(),
    })
}

impl Engine {
    /// A node's alias from our network graph, if it announced one.
    pub fn node_alias(&self, node: &PublicKey) -> Option<String> {
        let graph = self.node.network_graph().read_only();
        let info = graph.node(&NodeId::from_pubkey(node))?;
        let alias = info.announcement_info.as_ref()?.alias().to_string();
        (!alias.is_empty()).then_some(alias)
    }

    /// Whether `node` is this node or a node of the network graph (Core Lightning's
    /// `checkmessage` without a `pubkey` verifies against known nodes only).
    pub fn known_node(&self, node: &PublicKey) -> bool {
        *node == self.node.node_id()
            || self.node.network_graph().read_only().node(&NodeId::from_pubkey(node)).is_some()
    }

    /// Decodes a BOLT11 invoice or BOLT12 offer (`lightning:` prefix allowed).
    pub fn decode(&self, s: &str) -> Result<Decoded, PayError> {
        if normalize(s).starts_with("lno1") {
            return decode_offer(s).map(Decoded::Offer);
        }
        decode_bolt11(s, |pk| self.node_alias(pk)).map(Decoded::Bolt11)
    }

    /// Decodes a BOLT11 invoice only.
    pub fn decode_bolt11(&self, s: &str) -> Result<DecodedBolt11, PayError> {
        decode_bolt11(s, |pk| self.node_alias(pk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // BOLT 11's test vector "Please make a donation of any amount using payment_hash
    // 0001020304050607080900010203040506070809000102030405060708090102 to me @03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad".
    const DONATION: &str = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";

    #[test]
    fn decodes_the_bolt11_test_vector() {
        let d = decode_bolt11(DONATION, |_| Some("alias".into())).unwrap();
        assert_eq!(d.currency, "bc");
        assert_eq!(d.network, "bitcoin");
        assert_eq!(d.created_at, 1496314658);
        assert_eq!(d.expiry_secs, 3600);
        assert!(d.expired);
        assert_eq!(d.amount_msat, None);
        assert_eq!(d.description.as_deref(), Some("Please consider supporting this project"));
        assert_eq!(d.description_hash, None);
        assert_eq!(
            d.payment_hash,
            "0001020304050607080900010203040506070809000102030405060708090102"
        );
        assert_eq!(d.payee, "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad");
        assert_eq!(d.payment_secret, "11".repeat(32));
        assert_eq!(d.payee_alias.as_deref(), Some("alias"));
        // Bits 8 (var_onion_optin) and 14 (payment_secret), big-endian.
        assert_eq!(d.features.as_deref(), Some("4100"));
        assert!(!d.signature.is_empty());
        // Upper case and a `lightning:` prefix decode the same.
        let upper = format!("LIGHTNING:{}", DONATION.to_ascii_uppercase());
        assert_eq!(decode_bolt11(&upper, |_| Some("alias".into())).unwrap(), d);
    }

    #[test]
    fn garbage_is_a_parameter_error() {
        for bad in ["", "lnbc1", "hello", &DONATION[..DONATION.len() - 1]] {
            let e = decode_bolt11(bad, |_| None).unwrap_err();
            assert!(matches!(e, PayError::InvalidParams(_)), "{bad}: {e:?}");
        }
        assert!(matches!(decode_offer("lno1xyz").unwrap_err(), PayError::InvalidParams(_)));
    }
}
