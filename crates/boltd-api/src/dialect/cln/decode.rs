//! Core Lightning's `decode` of a BOLT11 invoice or a BOLT12 offer, in the members of Core
//! Lightning's schema (an offer's `offer_chains` as chain hashes).

use axum::body::Bytes;
use axum::extract::State;
use boltd_engine::decode::Decoded;
use boltd_node::deps::bitcoin::constants::ChainHash;
use boltd_node::deps::bitcoin::{address::NetworkUnchecked, Address, Network};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{ClnError, ClnString, Created, Params, TAG};
use crate::AppState;

/// An offer's chain as Core Lightning shows it: the chain hash (hex, BOLT 12's byte order),
/// from the network name the engine gives (or the hash itself for an unknown chain).
fn chain_hash(network: &str) -> String {
    match network.parse::<Network>() {
        Ok(n) => hex::encode(ChainHash::using_genesis_block(n).as_bytes()),
        Err(_) => network.to_string(),
    }
}

/// Core Lightning's `decode` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnDecodeParams {
    /// A BOLT11 invoice or a BOLT12 offer.
    #[schema(value_type = ClnString)]
    string: Value,
}

/// The kind of a decoded string.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) enum ClnDecodedType {
    /// A BOLT11 invoice.
    #[serde(rename = "bolt11 invoice")]
    Bolt11Invoice,
    /// A BOLT12 offer.
    #[serde(rename = "bolt12 offer")]
    Bolt12Offer,
}

/// An on-chain fallback address of an invoice.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnFallback {
    /// The address type (`P2PKH`, `P2SH`, `P2WPKH`, `P2WSH`, `P2TR`), when known.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The address.
    addr: String,
}

/// A decoded BOLT11 invoice.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnDecodedInvoice {
    /// `bolt11 invoice`.
    #[serde(rename = "type")]
    kind: ClnDecodedType,
    /// Always true (an invalid string is an error).
    valid: bool,
    /// The currency prefix (`bc`, `tb`, `bcrt`, `tbs`).
    currency: String,
    /// When it was created (unix seconds).
    created_at: u64,
    /// Seconds until it expires.
    expiry: u64,
    /// The payee's node id.
    payee: String,
    /// The payment hash (hex).
    payment_hash: String,
    /// The payment secret (hex).
    payment_secret: String,
    /// The final CLTV delta the payee requires.
    min_final_cltv_expiry: u64,
    /// The payee's signature (hex).
    signature: String,
    /// The amount, if fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_msat: Option<u64>,
    /// The description, if carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The description hash (hex), if committed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    description_hash: Option<String>,
    /// Feature bits (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    features: Option<String>,
    /// Payment metadata (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_metadata: Option<String>,
    /// On-chain fallback addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    fallbacks: Option<Vec<ClnFallback>>,
    /// Route hints: one list of hops per route.
    #[serde(skip_serializing_if = "Option::is_none")]
    routes: Option<Vec<Vec<boltd_engine::decode::RouteHintHop>>>,
}

/// A decoded BOLT12 offer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnDecodedOffer {
    /// `bolt12 offer`.
    #[serde(rename = "type")]
    kind: ClnDecodedType,
    /// Always true (an invalid string is an error).
    valid: bool,
    /// The offer id (hex).
    offer_id: String,
    /// The chains it is for (chain hashes, hex).
    offer_chains: Vec<String>,
    /// The amount in msat, if fixed in bitcoin.
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_amount_msat: Option<u64>,
    /// The currency (ISO 4217) of a fiat amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_currency: Option<String>,
    /// A fiat amount, in the currency's minor unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_amount: Option<u64>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_description: Option<String>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_issuer: Option<String>,
    /// The issuer's signing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_issuer_id: Option<String>,
    /// When it expires (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_absolute_expiry: Option<u64>,
}

/// `decode`'s result: an invoice or an offer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ClnDecoded {
    /// A BOLT11 invoice.
    Invoice(ClnDecodedInvoice),
    /// A BOLT12 offer.
    Offer(ClnDecodedOffer),
}

/// Core Lightning's `decode` of a BOLT11 invoice or BOLT12 offer (`string`).
#[utoipa::path(post, path = "/v1/decode", tag = TAG, operation_id = "cln_decode",
    security(("bearer" = [])),
    request_body = ClnDecodeParams,
    responses(
        (status = 201, description = "The decoded invoice or offer", body = ClnDecoded),
        (status = 400, description = "Not a valid invoice or offer (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_decode(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnDecoded>, ClnError> {
    let p = Params::parse(&body, &["string"], &[])?;
    let s = p.required_string("string")?;
    Ok(Created(match engine.decode(&s)? {
        Decoded::Bolt11(d) => {
            let fallbacks = (!d.fallbacks.is_empty()).then(|| {
                d.fallbacks
                    .iter()
                    .map(|a| ClnFallback {
                        kind: a
                            .parse::<Address<NetworkUnchecked>>()
                            .ok()
                            .and_then(|x| x.assume_checked().address_type())
                            .map(|t| t.to_string().to_ascii_uppercase()),
                        addr: a.clone(),
                    })
                    .collect()
            });
            ClnDecoded::Invoice(ClnDecodedInvoice {
                kind: ClnDecodedType::Bolt11Invoice,
                valid: true,
                currency: d.currency,
                created_at: d.created_at,
                expiry: d.expiry_secs,
                payee: d.payee,
                payment_hash: d.payment_hash,
                payment_secret: d.payment_secret,
                min_final_cltv_expiry: d.min_final_cltv_expiry,
                signature: d.signature,
                amount_msat: d.amount_msat,
                description: d.description,
                description_hash: d.description_hash,
                features: d.features,
                payment_metadata: d.payment_metadata,
                fallbacks,
                routes: (!d.routes.is_empty()).then_some(d.routes),
            })
        }
        Decoded::Offer(o) => {
            let (offer_currency, offer_amount) = match o.currency_amount {
                Some((c, a)) => (Some(c), Some(a)),
                None => (None, None),
            };
            ClnDecoded::Offer(ClnDecodedOffer {
                kind: ClnDecodedType::Bolt12Offer,
                valid: true,
                offer_id: o.offer_id,
                offer_chains: o.networks.iter().map(|n| chain_hash(n)).collect(),
                offer_amount_msat: o.amount_msat,
                offer_currency,
                offer_amount,
                offer_description: o.description,
                offer_issuer: o.issuer,
                offer_issuer_id: o.issuer_id,
                offer_absolute_expiry: o.absolute_expiry,
            })
        }
    }))
}
