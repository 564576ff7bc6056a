//! barkd's `LightningReceiveInfo`: a receive as barkd answers it, with boltd's additions; and
//! barkd's BIP 321 URI (`POST /api/v1/wallet/bip321`).
//!
//! barkd's fields keep barkd's types: `amount_sat`, `payment_preimage`, and its times
//! (`settled_at`, `finished_at`, `preimage_revealed_at`) as RFC 3339 strings; the Ark-only
//! `htlc_vtxo_ids`/`htlc_vtxos` are empty. boltd's additions (hold invoices, the claim deadline,
//! msat amounts, the cancel reason...) are extra fields; their times are unix seconds, as in
//! boltd's other records. `state` keeps boltd's names (`pending`, `htlcs_arrived`,
//! `preimage_revealed`, `settled`, `canceled`, `expired`): barkd's schema takes any string, and
//! barkd has no name for a canceled or expired receive.

use axum::extract::{Query, State};
use axum::Json;
use bitcoin::Network;
use boltd_engine::receive::InvoiceRequest;
use boltd_store::{CancelReason, ReceiveLspRecord, ReceiveRecord, ReceiveState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::context::Ctx;
use crate::error::{ApiError, ApiResult, Body};
use crate::time::rfc3339;
use crate::AppState;

/// A receive (barkd's `LightningReceiveInfo`, with boltd's fields).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LightningReceiveInfo)]
pub(crate) struct ReceiveInfo {
    /// The row id.
    id: i64,
    /// The payment hash (hex).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    payment_hash: String,
    /// boltd's state: `pending`, `htlcs_arrived`, `preimage_revealed`, `settled`, `canceled`
    /// or `expired`.
    #[schema(value_type = String)]
    state: ReceiveState,
    /// The invoice issued (an offer's invoice for BOLT12 receives), else "".
    invoice: String,
    /// The amount requested, else the amount received, else 0, in sats.
    amount_sat: u64,
    /// The preimage (hex), once known (a hold invoice's only once revealed).
    payment_preimage: Option<String>,
    /// The same (boltd's name for it).
    preimage: Option<String>,
    /// When it settled (RFC 3339), if it has.
    #[schema(format = DateTime)]
    settled_at: Option<String>,
    /// When it reached a final state (RFC 3339): settled, canceled or expired.
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    /// When the preimage was revealed to the payer (RFC 3339).
    #[schema(format = DateTime)]
    preimage_revealed_at: Option<String>,
    /// Ark only: always empty.
    htlc_vtxo_ids: Vec<String>,
    /// Ark only: always empty.
    #[schema(value_type = Vec<Object>)]
    htlc_vtxos: Vec<Value>,
    /// Whether this is a hold invoice (settled or canceled by request).
    hold: bool,
    /// The amount requested in msat (`null`: any amount).
    amount_msat: Option<u64>,
    /// The amount that arrived, in msat.
    received_msat: Option<u64>,
    /// The description.
    description: Option<String>,
    /// The description hash (hex), for invoices that commit to one.
    description_hash: Option<String>,
    /// When it was issued (unix seconds).
    created_at: u64,
    /// When it expires (unix seconds).
    expires_at: Option<u64>,
    /// When HTLCs arrived (unix seconds).
    htlcs_arrived_at: Option<u64>,
    /// The payer's note (BOLT12).
    payer_note: Option<String>,
    /// TLV records that came with it (JSON object text, TLV type to hex value).
    custom_records: Option<String>,
    /// The client's idempotency key.
    idempotency_key: Option<String>,
    /// While HTLCs are held (a hold invoice): the block height by which they must be settled;
    /// at it, the node fails them back and the receive is canceled (`htlcs_expired`).
    claim_deadline_height: Option<u32>,
    /// The same deadline as an estimated time (unix seconds, at 10 minutes a block).
    claim_deadline_at: Option<u64>,
    /// Why a canceled receive was canceled: `canceled` (by request) or `htlcs_expired`.
    #[schema(value_type = Option<String>)]
    cancel_reason: Option<CancelReason>,
    /// For an invoice made through an LSP (a just-in-time channel): the LSP, the fee it
    /// promised to take from the payment, until when the promise held, and what it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    lsp: Option<ReceiveLspRecord>,
}

impl ReceiveInfo {
    /// The receive's presentation.
    pub(crate) fn of(r: ReceiveRecord) -> Self {
        let amount_msat = r.amount_msat.or(r.received_msat).unwrap_or(0);
        let settled = r.state == ReceiveState::Settled;
        ReceiveInfo {
            id: r.id,
            payment_hash: hex::encode(r.payment_hash),
            state: r.state,
            invoice: r.invoice.unwrap_or_default(),
            amount_sat: amount_msat / 1000,
            payment_preimage: r.preimage.map(hex::encode),
            preimage: r.preimage.map(hex::encode),
            settled_at: r.finished_at.filter(|_| settled).map(rfc3339),
            finished_at: r.finished_at.map(rfc3339),
            preimage_revealed_at: r.preimage_revealed_at.map(rfc3339),
            htlc_vtxo_ids: Vec::new(),
            htlc_vtxos: Vec::new(),
            hold: r.hold,
            amount_msat: r.amount_msat,
            received_msat: r.received_msat,
            description: r.description,
            description_hash: r.description_hash.map(hex::encode),
            created_at: r.created_at,
            expires_at: r.expires_at,
            htlcs_arrived_at: r.htlcs_arrived_at,
            payer_note: r.payer_note,
            custom_records: r.custom_records,
            idempotency_key: r.idempotency_key,
            claim_deadline_height: r.claim_deadline_height,
            claim_deadline_at: r.claim_deadline_at,
            cancel_reason: r.cancel_reason,
            lsp: None,
        }
    }

    /// With the LSP the receive was made through, if any.
    pub(crate) fn with_lsp(mut self, lsp: Option<ReceiveLspRecord>) -> Self {
        self.lsp = lsp;
        self
    }
}

/// barkd's `Bip321UriRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Bip321UriRequest)]
pub(crate) struct Bip321Request {
    /// The amount to request, in sats: in the URI, and a BOLT11 invoice for it.
    amount_sat: Option<u64>,
    /// The URI's `label`.
    label: Option<String>,
    /// The URI's `message` (also the invoice's description).
    message: Option<String>,
    /// Whether to add a fresh on-chain address (default false; added anyway when there is no
    /// amount, as the URI would otherwise have nothing to pay to: boltd has no Ark address).
    onchain: Option<bool>,
}

/// barkd's `Bip321UriQuery`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Bip321Query {
    /// Upper-case the URI for compact QR codes (400 when it carries a label or a message,
    /// which are case-sensitive).
    uppercase: Option<bool>,
}

/// barkd's `Bip321UriResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Bip321UriResponse)]
pub(crate) struct Bip321Response {
    /// The `bitcoin:` URI.
    bip321: String,
    /// Ark only: always null.
    ark: Option<String>,
    /// The BOLT11 invoice, when an amount was given.
    bolt11: Option<String>,
    /// The on-chain address, when one was added.
    onchain: Option<String>,
}

/// A BIP 321 `bitcoin:` URI bundling the ways to pay this node: a BOLT11 invoice for
/// `amount_sat` (`lightning=`), a fresh on-chain address (the URI's body on mainnet, a
/// parameter named by the address's prefix elsewhere, e.g. `tb=`), the amount in BTC, `label`
/// and `message`. Takes the invoice's `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/wallet/bip321", tag = crate::dialect::native::barkd::TAG, operation_id = "bip321_uri",
    security(("bearer" = ["invoices:create"])),
    params(Bip321Query),
    request_body = Bip321Request,
    responses(
        (status = 200, description = "The URI and its destinations", body = Bip321Response),
        (status = 400, description = "A bad amount, or an upper-case URI asked with a label or message", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn bip321(
    State(engine): State<AppState>,
    Ctx(ctx): Ctx,
    q: Result<Query<Bip321Query>, axum::extract::rejection::QueryRejection>,
    Body(r): Body<Bip321Request>,
) -> ApiResult<Bip321Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let uppercase = q.uppercase.unwrap_or(false);
    if uppercase && (r.label.is_some() || r.message.is_some()) {
        return Err(ApiError::bad_request(
            "uppercase: the URI carries a label or a message, which are case-sensitive",
        ));
    }
    let amount_msat = r
        .amount_sat
        .filter(|a| *a > 0)
        .map(|a| boltd_engine::amount::sat_to_msat("amount_sat", a))
        .transpose()
        .map_err(ApiError::bad_request)?;
    // The address first: it cannot be refused, and an invoice is not left behind if it fails.
    let onchain = if r.onchain.unwrap_or(false) || amount_msat.is_none() {
        Some(engine.node().new_address().await?)
    } else {
        None
    };
    let bolt11 = match amount_msat {
        Some(amount_msat) => {
            let req = InvoiceRequest {
                amount_msat: Some(amount_msat),
                description: r.message.clone().or_else(|| r.label.clone()),
                ..Default::default()
            };
            engine.create_invoice(req, ctx).await?.invoice
        }
        None => None,
    };
    let network = engine.node().config().network;
    let bip321 = bip321_uri(network, onchain.as_deref(), r.amount_sat, bolt11.as_deref(), &r);
    let bip321 = if uppercase { bip321.to_uppercase() } else { bip321 };
    Ok(Json(Bip321Response { bip321, ark: None, bolt11, onchain }))
}

/// The URI: the address in the body on mainnet (elsewhere as a parameter named by its
/// human-readable prefix, BIP 321's rule for addresses of other networks), then `amount` (BTC),
/// `label`, `message`, `lightning`.
fn bip321_uri(
    network: Network,
    address: Option<&str>,
    amount_sat: Option<u64>,
    bolt11: Option<&str>,
    r: &Bip321Request,
) -> String {
    let mut body = String::new();
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(a) = address {
        let prefix = a.split_once('1').map(|(hrp, _)| hrp.to_ascii_lowercase());
        match (network, prefix) {
            (Network::Bitcoin, _) | (_, None) => body = a.to_string(),
            (_, Some(hrp)) => params.push((hrp, a.to_string())),
        }
    }
    if let Some(sat) = amount_sat.filter(|a| *a > 0) {
        params.push(("amount".into(), btc_amount(sat)));
    }
    for (k, v) in [("label", &r.label), ("message", &r.message)] {
        if let Some(v) = v {
            params.push((k.into(), percent_encode(v)));
        }
    }
    if let Some(b) = bolt11 {
        params.push(("lightning".into(), b.to_string()));
    }
    let query: Vec<String> = params.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if query.is_empty() {
        format!("bitcoin:{body}")
    } else {
        format!("bitcoin:{body}?{}", query.join("&"))
    }
}

/// Sats as a BTC decimal, without trailing zeros (`2500` -> `0.000025`).
fn btc_amount(sat: u64) -> String {
    let whole = sat / 100_000_000;
    let frac = sat % 100_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:08}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// RFC 3986's unreserved characters: all that is not percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bip321_uri_puts_each_destination_where_bip321_says() {
        let r = Bip321Request {
            amount_sat: Some(2_500),
            label: Some("boltd shop".into()),
            message: Some("order #7".into()),
            onchain: Some(true),
        };
        let uri = bip321_uri(Network::Regtest, Some("bcrt1qxyz"), Some(2_500), Some("lnbcrt1"), &r);
        assert_eq!(
            uri,
            "bitcoin:?bcrt=bcrt1qxyz&amount=0.000025&label=boltd%20shop&message=order%20%237\
             &lightning=lnbcrt1"
        );
        let plain = Bip321Request { amount_sat: None, label: None, message: None, onchain: None };
        assert_eq!(
            bip321_uri(Network::Bitcoin, Some("bc1qabc"), None, None, &plain),
            "bitcoin:bc1qabc"
        );
        assert_eq!(btc_amount(100_000_000), "1");
        assert_eq!(btc_amount(150_000_001), "1.50000001");
    }

    #[test]
    fn barkds_times_are_rfc3339_and_boltds_stay_unix_seconds() {
        let r = ReceiveRecord {
            id: 1,
            payment_hash: [1; 32],
            state: ReceiveState::Settled,
            invoice: None,
            preimage: Some([2; 32]),
            hold: false,
            amount_msat: Some(7_000_000),
            received_msat: Some(7_000_000),
            description: None,
            description_hash: None,
            created_at: 1_699_999_000,
            expires_at: None,
            htlcs_arrived_at: None,
            preimage_revealed_at: Some(1_700_000_000),
            finished_at: Some(1_700_000_060),
            payer_note: None,
            custom_records: None,
            idempotency_key: None,
            label: None,
            request_hash: None,
            claim_deadline_height: None,
            claim_deadline_at: None,
            cancel_reason: None,
            token_id: None,
        };
        let v = serde_json::to_value(ReceiveInfo::of(r)).unwrap();
        assert_eq!(v["settled_at"], "2023-11-14T22:14:20Z", "{v}");
        assert_eq!(v["finished_at"], "2023-11-14T22:14:20Z", "{v}");
        assert_eq!(v["invoice"], "", "barkd's invoice is a string");
        assert_eq!(v["payment_preimage"], v["preimage"]);
        assert_eq!(v["preimage_revealed_at"], "2023-11-14T22:13:20Z", "{v}");
        assert!(v["created_at"].is_u64(), "{v}");
        assert_eq!(v["amount_sat"], 7_000);
        assert_eq!(v["state"], "settled");
    }
}
