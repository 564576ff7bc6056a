//! Keysend (spontaneous payments) with custom TLV records, and multi-keysend batches whose
//! items succeed or fail on their own, run concurrently, with results in request order.

use std::collections::BTreeMap;
use std::sync::Arc;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use boltd_routing::policy::fee_limit_msat;
use boltd_store::{NewOutgoing, PaymentKind};
use lightning::ln::channelmanager::RecipientOnionFields;
use lightning::routing::router::{PaymentParameters, RouteParameters};
use serde::{Deserialize, Serialize};

use crate::error::PayError;
use crate::pay::{defaults, request_hash, PayResult, RESULT_GRACE};
use crate::payment::lightning::{KeysendPlan, SendPlan};
use crate::{Engine, PayContext};

/// Final CLTV delta used for keysend payments.
pub const KEYSEND_FINAL_CLTV_DELTA: u32 = 40;
/// Custom records must use TLV types at or above this (BOLT 1 custom range, as LDK requires).
pub const MIN_CUSTOM_RECORD_TYPE: u64 = 65536;
/// The keysend preimage record type, set by LDK itself.
pub const KEYSEND_RECORD_TYPE: u64 = 5482373484;

/// A keysend request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysendRequest {
    /// The payee's node id (hex).
    pub destination: String,
    /// Amount in msat.
    pub amount_msat: u64,
    /// Custom TLV records: record type (decimal) to value (UTF-8 text, sent as its bytes).
    #[serde(default)]
    pub custom_records: BTreeMap<String, String>,
    /// An internal memo, stored with the payment.
    pub memo: Option<String>,
    /// Absolute fee limit in msat (default: Core Lightning's 0.5% or 5000 msat).
    pub maxfee_msat: Option<u64>,
    /// Seconds to keep retrying (default 60, at most 86400: one day; more is a 400).
    #[schema(maximum = 86_400)]
    pub retry_for: Option<u64>,
    /// A label stored with the payment (Core Lightning's `label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Maximum total CLTV delay in blocks (Core Lightning's `maxdelay`, default 2016).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxdelay: Option<u32>,
    /// Custom TLV records whose values are hex bytes (Core Lightning's `extratlvs`): record
    /// type (decimal) to value (hex). A type may appear here or in `custom_records`, not both.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_records_hex: BTreeMap<String, String>,
}

fn record_type(k: &str) -> Result<u64, PayError> {
    let t: u64 = k.parse().map_err(|_| {
        PayError::InvalidParams(format!("custom record type `{k}` is not a number"))
    })?;
    if t < MIN_CUSTOM_RECORD_TYPE || t == KEYSEND_RECORD_TYPE {
        return Err(PayError::InvalidParams(format!(
            "custom record type {t} is reserved: use {MIN_CUSTOM_RECORD_TYPE} or above (not {KEYSEND_RECORD_TYPE})"
        )));
    }
    Ok(t)
}

/// The request's records, sorted by type (LDK requires ascending order).
fn parse_records(req: &KeysendRequest) -> Result<Vec<(u64, Vec<u8>)>, PayError> {
    let mut out = Vec::with_capacity(req.custom_records.len() + req.custom_records_hex.len());
    for (k, v) in &req.custom_records {
        out.push((record_type(k)?, v.as_bytes().to_vec()));
    }
    for (k, v) in &req.custom_records_hex {
        let bytes = hex::decode(v)
            .map_err(|_| PayError::InvalidParams(format!("the value of record {k} is not hex")))?;
        out.push((record_type(k)?, bytes));
    }
    out.sort_by_key(|(t, _)| *t);
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(PayError::InvalidParams(format!("custom record type {} given twice", w[0].0)));
    }
    Ok(out)
}

/// What a keysend is sent with: checked ([`Engine::keysend`]) or stored with the payment
/// ([`crate::payment::resume`]).
pub(crate) struct KeysendParts {
    pub(crate) payee: PublicKey,
    pub(crate) amount_msat: u64,
    /// Custom records, by ascending type.
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    /// Core Lightning's `maxdelay`.
    pub(crate) maxdelay: u32,
    pub(crate) fee_limit_msat: u64,
    pub(crate) preimage: [u8; 32],
    pub(crate) retry_for: std::time::Duration,
}

/// The keysend's plan for the node.
pub(crate) fn keysend_plan(parts: KeysendParts) -> Result<KeysendPlan, PayError> {
    let onion = RecipientOnionFields::spontaneous_empty()
        .with_custom_tlvs(parts.records)
        .map_err(|_| PayError::InvalidParams("invalid custom records".into()))?;
    let mut pp = PaymentParameters::for_keysend(parts.payee, KEYSEND_FINAL_CLTV_DELTA, true);
    pp.max_total_cltv_expiry_delta = parts.maxdelay;
    let mut route_params = RouteParameters::from_payment_params_and_value(pp, parts.amount_msat);
    route_params.max_total_routing_fee_msat = Some(parts.fee_limit_msat);
    Ok(KeysendPlan {
        preimage: parts.preimage,
        onion,
        route_params,
        amount_msat: parts.amount_msat,
        retry_for: parts.retry_for,
    })
}

impl Engine {
    /// Sends a keysend payment. A client idempotency key is the only protection against paying
    /// twice here (every attempt has a new preimage), so callers should give one.
    pub async fn keysend(
        &self,
        req: KeysendRequest,
        ctx: PayContext,
    ) -> Result<PayResult, PayError> {
        let started = std::time::Instant::now();
        let payee: PublicKey = req.destination.trim().parse().map_err(|_| {
            PayError::InvalidParams(format!("`{}` is not a node public key", req.destination))
        })?;
        if payee == self.node.node_id() {
            return Err(PayError::InvalidParams("cannot keysend to this node".into()));
        }
        if req.amount_msat == 0 {
            return Err(PayError::InvalidParams("amount must be positive".into()));
        }
        crate::amount::at_most_supply("amount_msat", req.amount_msat)
            .map_err(PayError::InvalidParams)?;
        if let Some(f) = req.maxfee_msat {
            crate::amount::at_most_supply("maxfee_msat", f).map_err(PayError::InvalidParams)?;
        }
        let retry_for = crate::pay::retry_window("retry_for", req.retry_for)?;
        if req.maxdelay == Some(0) {
            return Err(PayError::InvalidParams("maxdelay must be positive".into()));
        }
        let records = parse_records(&req)?;
        let preimage: [u8; 32] = rand::random();
        let hash = sha256::Hash::hash(&preimage).to_byte_array();
        let mut intent =
            NewOutgoing::new(PaymentKind::Keysend, Some(hash), rand::random(), req.amount_msat);
        intent.destination = Some(payee.to_string());
        intent.description = req.memo.clone();
        intent.label = req.label.clone();
        if !records.is_empty() {
            let map: serde_json::Map<String, serde_json::Value> =
                records.iter().map(|(t, v)| (t.to_string(), hex::encode(v).into())).collect();
            intent.custom_records = Some(serde_json::Value::Object(map).to_string());
        }
        let fee_limit = fee_limit_msat(
            req.amount_msat,
            defaults::MAXFEEPERCENT,
            defaults::EXEMPTFEE_MSAT,
            req.maxfee_msat,
        );
        ctx.apply(&mut intent);
        intent.fee_limit_msat = Some(fee_limit);
        intent.request_hash = Some(request_hash(&req));
        let plan = keysend_plan(KeysendParts {
            payee,
            amount_msat: req.amount_msat,
            records,
            maxdelay: req.maxdelay.unwrap_or(defaults::MAXDELAY_BLOCKS),
            fee_limit_msat: fee_limit,
            preimage,
            retry_for,
        })?;
        intent.send_plan =
            crate::payment::resume::stored(&SendPlan::Keysend(Box::new(plan.clone())));
        let wait = ctx.wait_for(retry_for.saturating_add(RESULT_GRACE));
        self.pay_outgoing(intent, SendPlan::Keysend(Box::new(plan)), wait, started).await
    }

    /// Sends several keysend payments concurrently; each succeeds or fails on its own and the
    /// results come back in request order.
    ///
    /// With an idempotency key in `ctx`, item `i` is sent under the key `<key>/<i>`, so the
    /// whole batch can be repeated safely: items already sent return their first result.
    pub async fn multi_keysend(
        self: &Arc<Self>,
        reqs: Vec<KeysendRequest>,
        ctx: PayContext,
    ) -> Result<Vec<Result<PayResult, PayError>>, PayError> {
        // Bounds the request's schema states hold for the whole batch: a violation refuses it
        // all (400) before anything is sent, rather than one item.
        for (i, r) in reqs.iter().enumerate() {
            crate::pay::retry_window(&format!("keysends[{i}].retry_for"), r.retry_for)?;
        }
        let handles: Vec<_> = reqs
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let engine = Arc::clone(self);
                let ctx = ctx.item(i);
                tokio::spawn(async move { engine.keysend(r, ctx).await })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(
                h.await
                    .unwrap_or_else(|e| Err(PayError::Other(format!("keysend task failed: {e}")))),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &[(&str, &str)], hex: &[(&str, &str)]) -> KeysendRequest {
        KeysendRequest {
            custom_records: text.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            custom_records_hex: hex.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn records_merge_text_and_hex_in_numeric_order() {
        let r = parse_records(&req(&[("7629169", "{}"), ("696969", "hi")], &[("65537", "00ff")]))
            .unwrap();
        assert_eq!(
            r,
            vec![(65537, vec![0, 255]), (696969, b"hi".to_vec()), (7629169, b"{}".to_vec())]
        );
    }

    #[test]
    fn bad_records_are_parameter_errors() {
        for bad in [
            req(&[("5", "x")], &[]),
            req(&[("abc", "x")], &[]),
            req(&[(&KEYSEND_RECORD_TYPE.to_string(), "x")], &[]),
            req(&[], &[("65537", "zz")]),
            req(&[("65537", "a")], &[("65537", "61")]),
        ] {
            assert!(matches!(parse_records(&bad), Err(PayError::InvalidParams(_))), "{bad:?}");
        }
    }

    #[test]
    fn new_optional_fields_keep_request_fingerprints() {
        // Requests recorded before `label`, `maxdelay` and `custom_records_hex` existed must
        // keep their idempotency fingerprint.
        let r = KeysendRequest { destination: "02ab".into(), amount_msat: 1, ..Default::default() };
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("label").is_none() && json.get("custom_records_hex").is_none());
        assert!(json.get("maxdelay").is_none());
    }
}
