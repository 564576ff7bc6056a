//! One entry point for "pay this destination": barkd's `pay`/`send` take any of a BOLT11
//! invoice, a BOLT12 offer, a Lightning address or LNURL, a BIP 21 URI with a `lightning` (or
//! `lno`) parameter, or a node id (keysend); each goes to the engine method that pays it.

use std::collections::BTreeMap;

use bitcoin::secp256k1::PublicKey;
use lightning_invoice::Bolt11Invoice;

use crate::error::PayError;
use crate::keysend::KeysendRequest;
use crate::offer::OfferPayRequest;
use crate::pay::{PayRequest, PayResult};
use crate::{Engine, PayContext};

/// What a destination string is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A BOLT11 invoice.
    Bolt11(String),
    /// A BOLT12 offer.
    Offer(String),
    /// A Lightning address (`name@domain`) or an LNURL.
    Lnurl(String),
    /// A node id: a keysend payment.
    NodeId(PublicKey),
}

fn invalid(msg: impl Into<String>) -> PayError {
    PayError::InvalidParams(msg.into())
}

/// Classifies a destination, unwrapping `lightning:` and BIP 21 `bitcoin:` URIs.
pub fn classify(destination: &str) -> Result<Destination, PayError> {
    let d = destination.trim();
    if d.is_empty() {
        return Err(invalid("destination is empty"));
    }
    if d.starts_with('₿') {
        return Err(invalid(format!(
            "`{d}` is a BIP 353 name; resolving it needs DNSSEC lookups, which boltd does not do \
             yet: pay the name's Lightning address, offer or invoice instead"
        )));
    }
    let lower = d.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("bitcoin:") {
        let query = rest.split_once('?').map(|(_, q)| q).unwrap_or("");
        let original_query = &d[d.len() - query.len()..];
        let mut bolt11 = None;
        let mut offer = None;
        for pair in original_query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k.to_ascii_lowercase().as_str() {
                "lightning" => bolt11 = Some(v.to_string()),
                "lno" => offer = Some(v.to_string()),
                _ => {}
            }
        }
        return match (offer, bolt11) {
            (Some(o), _) => Ok(Destination::Offer(o)),
            (None, Some(b)) => Ok(Destination::Bolt11(b)),
            (None, None) => Err(invalid(
                "this BIP 21 URI has no `lightning` or `lno` parameter: pay on-chain addresses \
                 with POST /api/v1/onchain/send",
            )),
        };
    }
    let d = lower.strip_prefix("lightning:").map(|_| &d["lightning:".len()..]).unwrap_or(d);
    let lower = d.to_ascii_lowercase();
    if lower.starts_with("ark1") || lower.starts_with("tark1") {
        return Err(invalid("Ark addresses are not supported: boltd is a Lightning node"));
    }
    if lower.starts_with("lno1") {
        return Ok(Destination::Offer(d.to_string()));
    }
    if d.contains('@') || lower.starts_with("lnurl") || lower.starts_with("lnurlp://") {
        return Ok(Destination::Lnurl(d.to_string()));
    }
    if lower.starts_with("ln") {
        return Ok(Destination::Bolt11(d.to_string()));
    }
    if d.len() == 66 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
        let pk = d.parse().map_err(|_| invalid(format!("`{d}` is not a valid node id")))?;
        return Ok(Destination::NodeId(pk));
    }
    Err(invalid(format!(
        "`{d}` is not a BOLT11 invoice, BOLT12 offer, Lightning address, LNURL, BIP 21 URI or node id"
    )))
}

impl Engine {
    /// Pays any destination. `amount_msat` is required for Lightning addresses, LNURL, node ids
    /// and amount-less invoices and offers; for an invoice that fixes its amount it may be given
    /// only if it agrees. `comment` is only for Lightning addresses and LNURL.
    pub async fn send(
        &self,
        destination: &str,
        amount_msat: Option<u64>,
        comment: Option<String>,
        ctx: PayContext,
    ) -> Result<PayResult, PayError> {
        self.send_with_retry(destination, amount_msat, comment, None, ctx).await
    }

    /// [`Engine::send`] with a retry window: `retry_for_secs` (default 60) bounds how long
    /// LDK keeps retrying other routes, whatever the destination.
    pub async fn send_with_retry(
        &self,
        destination: &str,
        amount_msat: Option<u64>,
        comment: Option<String>,
        retry_for_secs: Option<u64>,
        ctx: PayContext,
    ) -> Result<PayResult, PayError> {
        if retry_for_secs == Some(0) {
            return Err(invalid("retry_for_secs must be positive"));
        }
        crate::pay::retry_window("retry_for_secs", retry_for_secs)?;
        if let Some(a) = amount_msat {
            crate::amount::at_most_supply("amount_msat", a).map_err(invalid)?;
        }
        let dest = classify(destination)?;
        if comment.is_some() && !matches!(dest, Destination::Lnurl(_)) {
            return Err(invalid("comments are only supported for Lightning addresses and LNURL"));
        }
        if amount_msat == Some(0) {
            return Err(invalid("amount must be positive"));
        }
        match dest {
            Destination::Lnurl(d) => {
                let amount = amount_msat.ok_or_else(|| {
                    invalid("an amount is required to pay a Lightning address or LNURL")
                })?;
                self.pay_lnurl(&d, amount, comment, retry_for_secs, ctx).await
            }
            Destination::Offer(offer) => {
                let req = OfferPayRequest {
                    offer,
                    amount_msat,
                    retry_for: retry_for_secs,
                    ..Default::default()
                };
                self.pay_offer(req, ctx).await
            }
            Destination::NodeId(pk) => {
                let amount = amount_msat
                    .ok_or_else(|| invalid("an amount is required to pay a node id (keysend)"))?;
                let req = KeysendRequest {
                    destination: pk.to_string(),
                    amount_msat: amount,
                    custom_records: BTreeMap::new(),
                    retry_for: retry_for_secs,
                    ..Default::default()
                };
                self.keysend(req, ctx).await
            }
            Destination::Bolt11(bolt11) => {
                let fixed =
                    bolt11.parse::<Bolt11Invoice>().ok().and_then(|i| i.amount_milli_satoshis());
                let amount_msat = match (fixed, amount_msat) {
                    (Some(f), Some(a)) if f != a => {
                        return Err(invalid(format!(
                            "the invoice fixes {f} msat; {a} msat was given"
                        )))
                    }
                    (Some(_), _) => None,
                    (None, a) => a,
                };
                let req = PayRequest {
                    bolt11,
                    amount_msat,
                    retry_for: retry_for_secs,
                    ..Default::default()
                };
                self.pay(req, ctx, None).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_classified() {
        let node = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
        assert!(matches!(classify(node), Ok(Destination::NodeId(_))));
        assert!(matches!(classify("lnbcrt1xyz"), Ok(Destination::Bolt11(_))));
        assert!(matches!(classify("LIGHTNING:lnbcrt1xyz"), Ok(Destination::Bolt11(_))));
        assert!(matches!(classify("lno1abc"), Ok(Destination::Offer(_))));
        assert!(matches!(classify("carol@example.com"), Ok(Destination::Lnurl(_))));
        assert!(matches!(classify("LNURL1DP68GURN"), Ok(Destination::Lnurl(_))));
        assert_eq!(
            classify("bitcoin:bcrt1qxyz?amount=0.001&lightning=lnbcrt1abc").unwrap(),
            Destination::Bolt11("lnbcrt1abc".into())
        );
        assert_eq!(
            classify("bitcoin:?lno=lno1abc&lightning=lnbcrt1abc").unwrap(),
            Destination::Offer("lno1abc".into())
        );
        let e = classify("bitcoin:bcrt1qxyz?amount=0.001").unwrap_err().to_string();
        assert!(e.contains("no `lightning`"), "{e}");
        let e = classify("₿alice@example.com").unwrap_err().to_string();
        assert!(e.contains("BIP 353"), "{e}");
        let e = classify("ark1qqq").unwrap_err().to_string();
        assert!(e.contains("Ark"), "{e}");
        assert!(classify("hello").is_err());
        assert!(classify("  ").is_err());
    }
}
