//! Core Lightning's on-chain wallet methods: `newaddr` (a new address of the wallet) and
//! `withdraw` (a send from the wallet, through the node's recorded on-chain sends: recorded
//! before broadcast, and with an `Idempotency-Key` a repeated request answers with the first
//! send rather than paying again).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use boltd_node::deps::bitcoin::{Psbt, ScriptBuf, Transaction, Witness};
use boltd_node::wallet::SendRequest;
use boltd_node::NodeError;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::context::Ctx;
use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{rpc_error, ClnError, Created, Params, TAG};
use crate::AppState;

/// Core Lightning's `FUND_CANNOT_AFFORD`: the wallet has not enough (fees included).
const CANNOT_AFFORD: i32 = 301;

/// A node error as Core Lightning's: bad input -32602 (400), funds short 301, anything else -1
/// (500, the detail only in the log when internal).
fn node_error(e: NodeError) -> Response {
    match e {
        NodeError::InvalidInput(m) => ClnError::invalid(m).into_response(),
        NodeError::IdempotencyConflict { .. } => ClnError::invalid(e.to_string()).into_response(),
        NodeError::InsufficientFunds { needed_sat, available_sat, .. } => rpc_error(
            CANNOT_AFFORD,
            e.to_string(),
            json!({ "needed_sat": needed_sat, "available_sat": available_sat }),
        ),
        NodeError::TransactionRejected { ref txid, ref reason } => {
            let data = json!({ "txid": txid, "reason": reason });
            rpc_error(-1, e.to_string(), data)
        }
        other => {
            let api = crate::ApiError::from(other);
            rpc_error(-1, api.message, Value::Null)
        }
    }
}

/// Core Lightning's `newaddr` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnNewAddrParams {
    /// `bech32` (the default here: boltd's wallet is BIP 84, native segwit) or `all`; `p2tr`
    /// is refused (-32602).
    addresstype: Option<String>,
}

/// `newaddr`'s result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnNewAddr {
    /// A new native segwit address of the wallet.
    bech32: String,
}

/// Core Lightning's `newaddr`: a new address of the on-chain wallet (native segwit, `bech32`;
/// boltd's wallet has no taproot addresses).
#[utoipa::path(post, path = "/v1/newaddr", tag = TAG, operation_id = "cln_newaddr",
    security(("bearer" = ["invoices:create"])),
    request_body = ClnNewAddrParams,
    responses(
        (status = 201, description = "The address", body = ClnNewAddr),
        (status = 400, description = "Bad parameters, or `p2tr` (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_newaddr(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let p = Params::parse(&body, &["addresstype"], &[])?;
    match p.text("addresstype")?.as_deref() {
        None | Some("bech32") | Some("all") => {}
        Some("p2tr") => {
            return Err(ClnError::invalid(
                "addresstype p2tr is not supported: boltd's wallet has native segwit (bech32) \
                 addresses only",
            ))
        }
        Some(other) => {
            return Err(ClnError::invalid(format!("addresstype `{other}`: use bech32 or all")))
        }
    }
    match engine.node().new_address().await {
        Ok(bech32) => Ok(Created(ClnNewAddr { bech32 }).into_response()),
        Err(e) => Ok(node_error(e)),
    }
}

/// Core Lightning's `withdraw` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnWithdrawParams {
    /// A bitcoin address of the node's network.
    destination: String,
    /// Satoshis (a number, or a string: `1000`, `1000sat`, `1000000msat`, `0.00001btc`), or
    /// `all`.
    #[schema(value_type = crate::dialect::cln::ClnNumber)]
    satoshi: Value,
    /// `urgent`, `normal` (the default: the node's estimate), `slow`, or a number with `perkb`
    /// (the default unit) or `perkw`.
    #[schema(value_type = Option<crate::dialect::cln::ClnNumber>)]
    feerate: Option<Value>,
    /// 1 (the default: confirmed coins only) or 0 (unconfirmed ones too); more is refused.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    minconf: Option<Value>,
    /// Not supported by boltd (it picks the coins): must be absent or null.
    #[schema(value_type = Option<()>)]
    utxos: Option<Value>,
}

/// `withdraw`'s result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnWithdrawn {
    /// The signed transaction (hex).
    tx: String,
    /// Its id.
    txid: String,
    /// The unsigned transaction as a PSBT (base64).
    psbt: String,
}

/// `satoshi`: a whole number of sats, or `all` (`None`).
fn satoshi(v: &Value) -> Result<Option<u64>, ClnError> {
    let bad = || {
        ClnError::invalid("satoshi must be a whole number of sats, a string with a unit, or all")
    };
    match v {
        Value::Number(n) => n.as_u64().map(Some).ok_or_else(bad),
        Value::String(s) if s.trim() == "all" => Ok(None),
        Value::String(s) if s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            s.trim().parse().map(Some).map_err(|_| bad())
        }
        Value::String(s) => {
            let msat = boltd_engine::amount::parse_msat(s)
                .map_err(|e| ClnError::invalid(format!("satoshi: {e}")))?;
            if msat % 1000 != 0 {
                return Err(ClnError::invalid("satoshi must be whole sats"));
            }
            Ok(Some(msat / 1000))
        }
        _ => Err(bad()),
    }
}

/// `feerate` in sat/vB (rounded up), `None` for the node's estimate.
fn feerate(engine: &AppState, v: Option<&Value>) -> Result<Option<u64>, ClnError> {
    let bad = |s: &str| {
        ClnError::invalid(format!(
            "feerate `{s}`: use urgent, normal, slow, or a positive number with perkb or perkw"
        ))
    };
    let text = match v {
        None => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => return Err(bad(&other.to_string())),
    };
    let rates = engine.node().onchain_fee_rates();
    match text.as_str() {
        "urgent" => return Ok(Some(rates.fast_sat_per_vb)),
        "normal" => return Ok(None),
        "slow" | "minimum" => return Ok(Some(rates.slow_sat_per_vb)),
        _ => {}
    }
    // Per 1000 vbytes, or per 1000 weight units (4 per vbyte).
    let (digits, per_vb_divisor) = match text.strip_suffix("perkw") {
        Some(n) => (n, 250),
        None => (text.strip_suffix("perkb").unwrap_or(&text), 1000),
    };
    let n: u64 = digits.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad(&text))?;
    Ok(Some(n.div_ceil(per_vb_divisor)))
}

/// The PSBT of `tx` unsigned: its inputs without signatures.
fn unsigned_psbt(tx: &Transaction) -> Option<String> {
    let mut unsigned = tx.clone();
    for input in &mut unsigned.input {
        input.script_sig = ScriptBuf::new();
        input.witness = Witness::new();
    }
    Psbt::from_unsigned_tx(unsigned).ok().map(|p| p.to_string())
}

/// Core Lightning's `withdraw`: pays `satoshi` (or `all`) from the on-chain wallet to
/// `destination`, at `feerate`, from confirmed coins (`minconf` 1, the default) or unconfirmed
/// ones too (0); `utxos` is not supported. The send is recorded before it is broadcast; with
/// an `Idempotency-Key` a repeated request answers with the same transaction. Error 301 when the
/// wallet cannot afford it.
#[utoipa::path(post, path = "/v1/withdraw", tag = TAG, operation_id = "cln_withdraw",
    security(("bearer" = ["node:admin"])),
    params(crate::dialect::native::barkd::IdempotencyKey),
    request_body = ClnWithdrawParams,
    responses(
        (status = 201, description = "Sent (or its broadcast is unknown: it stays the wallet's)", body = ClnWithdrawn),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
        (status = 500, description = "Cannot afford it (301); bitcoind refused it (-1)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_withdraw(
    State(engine): State<AppState>,
    ctx: Result<Ctx, crate::ApiError>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let Ctx(ctx) = ctx.map_err(|e| ClnError::invalid(e.message))?;
    let p = Params::parse(&body, &["destination", "satoshi", "feerate", "minconf"], &["utxos"])?;
    let address = p
        .text("destination")?
        .ok_or_else(|| ClnError::invalid("missing required parameter `destination`"))?;
    let amount = satoshi(
        p.get("satoshi")
            .ok_or_else(|| ClnError::invalid("missing required parameter `satoshi`"))?,
    )?;
    if amount == Some(0) {
        return Err(ClnError::invalid("satoshi must be positive"));
    }
    let confirmed_only = match p.u64("minconf")? {
        None | Some(1) => true,
        Some(0) => false,
        Some(n) => {
            return Err(ClnError::invalid(format!(
                "minconf {n} is not supported: boltd spends confirmed coins (1) or any (0)"
            )))
        }
    };
    let fee_rate_sat_per_vb = feerate(&engine, p.get("feerate"))?;
    let req = match amount {
        Some(amount_sat) => {
            SendRequest::Send { address, amount_sat, fee_rate_sat_per_vb, confirmed_only }
        }
        None => SendRequest::Drain { address, fee_rate_sat_per_vb, confirmed_only },
    };
    let node = engine.node();
    let sent = match node.send_onchain(req, ctx.idempotency_key).await {
        Ok(s) => s,
        Err(e) => return Ok(node_error(e)),
    };
    let tx = match node.onchain_send_tx(sent.txid).await {
        Ok(Some(tx)) => tx,
        Ok(None) => {
            return Ok(node_error(NodeError::Wallet(format!("send {} is not recorded", sent.txid))))
        }
        Err(e) => return Ok(node_error(e)),
    };
    let psbt = unsigned_psbt(&tx).unwrap_or_default();
    let hex = boltd_node::deps::bitcoin::consensus::encode::serialize_hex(&tx);
    Ok(Created(ClnWithdrawn { tx: hex, txid: sent.txid.to_string(), psbt }).into_response())
}
