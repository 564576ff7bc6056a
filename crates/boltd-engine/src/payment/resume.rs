//! How a payment is sent again after a restart: its send plan, stored with the intent
//! (`payments.send_plan`), and the retry window left of it.
//!
//! A payment a restart interrupted — waiting for a channel peer or a route, or given up by the
//! node as it reloaded (LDK abandons a payment it was about to retry) — keeps its `retry_for`:
//! reconciliation ([`super::outgoing::Payments::reconcile`]) hands it back to a driver with what
//! is left of the window, counted from when its attempt was recorded. Only when nothing of it can
//! be out: the node does not know the send, or it reported the send failed (LDK reports a failure
//! only once no HTLC of it is left). BOLT12 payments are not resumed (a new invoice request could
//! bring a different invoice); nor are payments recorded before plans were stored.

use std::str::FromStr;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use boltd_routing::policy::PaymentPolicy;
use boltd_store::PaymentRecord;
use lightning_invoice::Bolt11Invoice;
use serde::{Deserialize, Serialize};

use super::lightning::{Bolt11Plan, SendPlan};
use crate::keysend::{keysend_plan, KeysendParts};

/// The stored form of a [`SendPlan`]. What the payment's record already holds (the invoice, the
/// amount, the payee, keysend's records) is not repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Stored {
    Bolt11 {
        /// The amount the caller gave (an invoice without one).
        amount_arg_msat: Option<u64>,
        fee_limit_msat: u64,
        maxdelay: u32,
        retry_for_ms: u64,
        riskfactor: f64,
        /// (short channel id, direction)
        exclude_channels: Vec<(u64, u8)>,
        /// Node ids (hex).
        exclude_nodes: Vec<String>,
        randomize: bool,
    },
    Keysend {
        /// Hex: the same preimage, so the payment keeps its hash.
        preimage: String,
        maxdelay: u32,
        fee_limit_msat: u64,
        retry_for_ms: u64,
    },
}

/// The least of a window worth resuming a payment for.
pub(crate) const MIN_RESUME_WINDOW: Duration = Duration::from_secs(1);

/// The wall clock, in unix milliseconds (windows are counted from stored unix seconds).
pub(crate) fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Whether a payment with this stored plan has time enough left to be resumed.
pub(crate) fn has_time_left(stored: &boltd_store::StoredSendPlan) -> bool {
    retry_for(&stored.plan)
        .and_then(|w| window_left(w, stored.attempted_at, now_ms()))
        .is_some_and(|left| left >= MIN_RESUME_WINDOW)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The plan to store with the payment's intent: `None` for a payment that is never resumed.
pub(crate) fn stored(plan: &SendPlan) -> Option<String> {
    let stored = match plan {
        SendPlan::Bolt11(p) => Stored::Bolt11 {
            amount_arg_msat: p.amount_arg,
            fee_limit_msat: p.fee_limit_msat,
            maxdelay: p.maxdelay,
            retry_for_ms: millis(p.retry_for),
            riskfactor: p.policy.riskfactor,
            exclude_channels: p.policy.exclude_channels.clone(),
            exclude_nodes: p.policy.exclude_nodes.iter().map(|n| n.to_string()).collect(),
            randomize: p.policy.randomize,
        },
        SendPlan::Keysend(p) => Stored::Keysend {
            preimage: hex::encode(p.preimage),
            maxdelay: p.route_params.payment_params.max_total_cltv_expiry_delta,
            fee_limit_msat: p.route_params.max_total_routing_fee_msat.unwrap_or(0),
            retry_for_ms: millis(p.retry_for),
        },
        SendPlan::Offer(_) => return None,
    };
    serde_json::to_string(&stored).ok()
}

/// The retry window of a stored plan.
pub(crate) fn retry_for(plan: &str) -> Option<Duration> {
    match serde_json::from_str::<Stored>(plan).ok()? {
        Stored::Bolt11 { retry_for_ms, .. } | Stored::Keysend { retry_for_ms, .. } => {
            Some(Duration::from_millis(retry_for_ms))
        }
    }
}

/// What is left of the retry window of a payment whose attempt was recorded at
/// `attempted_at` (unix seconds), at `now`: `None` when it is over.
pub(crate) fn window_left(
    retry_for: Duration,
    attempted_at: u64,
    now_ms: u128,
) -> Option<Duration> {
    let end_ms =
        u128::from(attempted_at).saturating_mul(1000).saturating_add(retry_for.as_millis());
    let left_ms = end_ms.checked_sub(now_ms).filter(|l| *l > 0)?;
    Some(Duration::from_millis(u64::try_from(left_ms).unwrap_or(u64::MAX)))
}

/// The payment's plan, rebuilt from its stored form and its record.
pub(crate) fn rebuild(record: &PaymentRecord, plan: &str) -> Result<SendPlan, String> {
    let stored: Stored =
        serde_json::from_str(plan).map_err(|e| format!("unreadable send plan: {e}"))?;
    match stored {
        Stored::Bolt11 {
            amount_arg_msat,
            fee_limit_msat,
            maxdelay,
            retry_for_ms,
            riskfactor,
            exclude_channels,
            exclude_nodes,
            randomize,
        } => {
            let text = record.invoice.as_deref().ok_or("the payment has no invoice")?;
            let invoice = Bolt11Invoice::from_str(text.trim())
                .map_err(|e| format!("the payment's invoice does not parse: {e}"))?;
            let payee =
                invoice.payee_pub_key().copied().unwrap_or_else(|| invoice.recover_payee_pub_key());
            let exclude_nodes = exclude_nodes
                .iter()
                .map(|n| PublicKey::from_str(n).map_err(|e| format!("excluded node {n}: {e}")))
                .collect::<Result<_, _>>()?;
            let policy = PaymentPolicy {
                riskfactor,
                exclude_channels,
                exclude_nodes,
                randomize,
                ..Default::default()
            };
            Ok(SendPlan::Bolt11(Box::new(Bolt11Plan {
                invoice,
                amount_msat: record.amount_msat,
                amount_arg: amount_arg_msat,
                payee,
                fee_limit_msat,
                maxdelay,
                retry_for: Duration::from_millis(retry_for_ms),
                policy,
            })))
        }
        Stored::Keysend { preimage, maxdelay, fee_limit_msat, retry_for_ms } => {
            let preimage: [u8; 32] = hex::decode(&preimage)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("the stored preimage is not 32 hex bytes")?;
            let payee = record.destination.as_deref().ok_or("the payment has no destination")?;
            let payee = PublicKey::from_str(payee).map_err(|e| format!("destination: {e}"))?;
            let mut records = Vec::new();
            if let Some(text) = &record.custom_records {
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(text).map_err(|e| format!("custom records: {e}"))?;
                for (t, v) in map {
                    let t: u64 = t.parse().map_err(|_| format!("custom record type {t}"))?;
                    let v = v.as_str().and_then(|v| hex::decode(v).ok());
                    records.push((t, v.ok_or(format!("custom record {t} is not hex"))?));
                }
                records.sort_by_key(|(t, _)| *t);
            }
            let plan = keysend_plan(KeysendParts {
                payee,
                amount_msat: record.amount_msat,
                records,
                maxdelay,
                fee_limit_msat,
                preimage,
                retry_for: Duration::from_millis(retry_for_ms),
            })
            .map_err(|e| e.to_string())?;
            Ok(SendPlan::Keysend(Box::new(plan)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_from_the_attempt_and_ends() {
        let w = Duration::from_secs(60);
        assert_eq!(window_left(w, 100, 100_000), Some(Duration::from_secs(60)));
        assert_eq!(window_left(w, 100, 159_500), Some(Duration::from_millis(500)));
        assert_eq!(window_left(w, 100, 160_000), None);
        assert_eq!(window_left(w, 100, 1_000_000), None);
        assert_eq!(window_left(Duration::MAX, u64::MAX, 0).map(|_| ()), Some(()), "no overflow");
    }

    #[test]
    fn a_stored_plan_is_an_object_that_does_not_repeat_the_record() {
        let s = Stored::Keysend {
            preimage: hex::encode([1; 32]),
            maxdelay: 2016,
            fee_limit_msat: 5000,
            retry_for_ms: 60_000,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.starts_with("{\"kind\":\"keysend\""), "{text}");
        assert_eq!(retry_for(&text), Some(Duration::from_secs(60)));
        assert_eq!(retry_for("{\"kind\":\"offer\"}"), None);
    }
}
