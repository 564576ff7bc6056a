//! The methods: each checks the connection's scope, then makes the same engine call the HTTP
//! dialects make, with the request's event id as the idempotency key and the connection's
//! token as the caller (so its per-payment maximum and budgets are charged in the
//! transaction that records the payment intent, and a relay delivering a request twice never
//! pays twice).

use std::collections::BTreeMap;
use std::time::Duration;

use boltd_engine::auth::{Caller, Scope};
use boltd_engine::keysend::KeysendRequest;
use boltd_engine::receive::InvoiceRequest;
use boltd_engine::{Engine, PayContext, PayError, PayRequest, PayResult};
use boltd_store::{BudgetWindow, Direction, PaymentFilter, PaymentStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::NwcError;
use crate::tx::{payment_tx, receive_tx};

/// Every method boltd answers, in the info event's order.
pub const METHODS: [&str; 11] = [
    "pay_invoice",
    "pay_keysend",
    "make_invoice",
    "lookup_invoice",
    "list_transactions",
    "get_balance",
    "get_info",
    "get_budget",
    "make_hold_invoice",
    "cancel_hold_invoice",
    "settle_hold_invoice",
];

/// Every notification boltd sends.
pub const NOTIFICATIONS: [&str; 3] = ["payment_received", "payment_sent", "hold_invoice_accepted"];

/// How long a payment request waits for the payment's result before answering that it is
/// still in flight (NWC clients give up on a reply after about 60 s).
pub const PAY_WAIT: Duration = Duration::from_secs(50);

/// Most transactions one `list_transactions` returns.
pub const MAX_LIST: u32 = 1000;

/// The scope a method needs (`None`: any connection may call it).
pub fn scope_of(method: &str) -> Option<Option<Scope>> {
    Some(match method {
        "pay_invoice" | "pay_keysend" => Some(Scope::PaymentsSend),
        "make_invoice" | "make_hold_invoice" | "cancel_hold_invoice" | "settle_hold_invoice" => {
            Some(Scope::InvoicesCreate)
        }
        "lookup_invoice" => Some(Scope::InvoicesRead),
        "list_transactions" => Some(Scope::TransactionsRead),
        "get_balance" => Some(Scope::BalanceRead),
        "get_info" | "get_budget" => None,
        _ => return None,
    })
}

/// The methods this caller may call.
pub fn methods_for(caller: &Caller) -> Vec<&'static str> {
    METHODS
        .into_iter()
        .filter(|m| {
            matches!(scope_of(m), Some(None))
                || scope_of(m).flatten().is_some_and(|s| caller.has(s))
        })
        .collect()
}

fn params<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, NwcError> {
    serde_json::from_value(v).map_err(|e| NwcError::bad(format!("bad params: {e}")))
}

/// The engine context of a request: its event id as the idempotency key, the connection's
/// token as the caller.
pub fn context(caller: &Caller, event_id: &str) -> PayContext {
    let mut ctx = PayContext::new(Some(format!("nwc:{event_id}")), caller.token_id.clone());
    ctx.owner = caller.owner().map(String::from);
    ctx
}

/// Runs `method` for `caller`: the `result` object, or the error to answer.
pub async fn dispatch(
    engine: &Engine,
    caller: &Caller,
    event_id: &str,
    method: &str,
    p: Value,
) -> Result<Value, NwcError> {
    let Some(scope) = scope_of(method) else {
        return Err(NwcError::NotImplemented(format!("method `{method}` is not supported")));
    };
    if let Some(scope) = scope {
        caller.require(scope)?;
    }
    let ctx = context(caller, event_id);
    match method {
        "pay_invoice" => pay_invoice(engine, ctx, params(p)?).await,
        "pay_keysend" => pay_keysend(engine, ctx, params(p)?).await,
        "make_invoice" => make_invoice(engine, ctx, params(p)?, false).await,
        "make_hold_invoice" => make_invoice(engine, ctx, params(p)?, true).await,
        "cancel_hold_invoice" => {
            let CancelHold { payment_hash } = params(p)?;
            engine.cancel_receive(&payment_hash, ctx.owner.as_deref()).await?;
            Ok(json!({}))
        }
        "settle_hold_invoice" => {
            let SettleHold { preimage } = params(p)?;
            engine.settle_hold(&preimage).await?;
            Ok(json!({}))
        }
        "lookup_invoice" => lookup_invoice(engine, params(p)?).await,
        "list_transactions" => list_transactions(engine, params(p)?).await,
        "get_balance" => {
            let Empty {} = params(p)?;
            Ok(json!({ "balance": engine.node().balances().lightning_spendable_msat }))
        }
        "get_info" => {
            let info = engine.node().info();
            Ok(json!({
                "alias": engine.node().config().alias,
                "color": "",
                "pubkey": info.node_id,
                "network": network_name(&info.network),
                "block_height": info.block_height,
                "block_hash": "",
                "methods": methods_for(caller),
                "notifications": NOTIFICATIONS,
            }))
        }
        "get_budget" => get_budget(engine, caller).await,
        other => Err(NwcError::NotImplemented(format!("method `{other}` is not supported"))),
    }
}

/// The connection's budget: its shortest budget window (boltd's budgets are rolling windows,
/// so there is no `renews_at`); `{}` without a budget.
async fn get_budget(engine: &Engine, caller: &Caller) -> Result<Value, NwcError> {
    let Some(id) = caller.token_id.as_deref() else { return Ok(json!({})) };
    let token = engine.token(id).await?;
    let shortest =
        BudgetWindow::ALL.into_iter().find_map(|w| token.budgets.iter().find(|b| b.window == w));
    Ok(match shortest {
        None => json!({}),
        Some(b) => json!({
            "used_budget": b.spent_msat,
            "total_budget": b.limit_msat,
            "renewal_period": match b.window {
                BudgetWindow::Day => "daily",
                BudgetWindow::Week => "weekly",
                BudgetWindow::Month => "monthly",
            },
        }),
    })
}

/// NIP-47's network names (`mainnet`, not `bitcoin`).
fn network_name(network: &str) -> &str {
    match network {
        "bitcoin" => "mainnet",
        other => other,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize)]
struct PayInvoice {
    invoice: String,
    /// msat, for an invoice without an amount.
    amount: Option<u64>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct TlvRecord {
    #[serde(rename = "type")]
    record_type: u64,
    /// hex
    value: String,
}

#[derive(Deserialize)]
struct PayKeysend {
    amount: u64,
    pubkey: String,
    preimage: Option<String>,
    #[serde(default)]
    tlv_records: Vec<TlvRecord>,
}

#[derive(Deserialize)]
struct MakeInvoice {
    amount: u64,
    description: Option<String>,
    description_hash: Option<String>,
    expiry: Option<u64>,
    payment_hash: Option<String>,
    #[allow(dead_code)]
    metadata: Option<Value>,
    #[allow(dead_code)]
    min_cltv_expiry_delta: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelHold {
    payment_hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleHold {
    preimage: String,
}

#[derive(Deserialize)]
struct Lookup {
    payment_hash: Option<String>,
    invoice: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListTransactions {
    from: Option<u64>,
    until: Option<u64>,
    limit: Option<u32>,
    offset: Option<u32>,
    #[serde(default)]
    unpaid: bool,
    #[serde(rename = "type")]
    direction: Option<String>,
}

/// A payment's answer: the preimage once complete; a failure is `PAYMENT_FAILED`; still in
/// flight after [`PAY_WAIT`] is `OTHER` (it may still complete: never reported as failed).
fn paid(r: &PayResult, failure: Option<String>) -> Result<Value, NwcError> {
    match r.status.as_str() {
        s if s == PaymentStatus::Complete.as_str() => Ok(json!({
            "preimage": r.payment_preimage.clone().unwrap_or_default(),
            "fees_paid": r.amount_sent_msat.saturating_sub(r.amount_msat),
        })),
        s if s == PaymentStatus::Failed.as_str() => {
            Err(NwcError::PaymentFailed(failure.unwrap_or_else(|| "the payment failed".into())))
        }
        _ => Err(NwcError::Other(format!(
            "payment {} is still in flight; look it up with lookup_invoice",
            r.payment_hash
        ))),
    }
}

async fn failure_of(engine: &Engine, r: &PayResult) -> Option<String> {
    if r.status != PaymentStatus::Failed.as_str() {
        return None;
    }
    engine.outgoing_payment(&r.payment_hash).await.ok().and_then(|p| p.failure_reason)
}

async fn pay_invoice(engine: &Engine, ctx: PayContext, p: PayInvoice) -> Result<Value, NwcError> {
    let decoded = engine.decode_bolt11(&p.invoice)?;
    let amount_msat = match (decoded.amount_msat, p.amount) {
        (_, Some(0)) => return Err(NwcError::bad("amount must be positive")),
        (Some(fixed), Some(a)) if fixed != a => {
            return Err(NwcError::bad(format!(
                "the invoice is for {fixed} msat; amount {a} differs"
            )))
        }
        (Some(_), _) => None,
        (None, None) => return Err(NwcError::bad("amount is required: the invoice has none")),
        (None, Some(a)) => Some(a),
    };
    let metadata = match p.metadata {
        Some(m @ Value::Object(_)) => Some(m.to_string()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(NwcError::bad("metadata must be an object")),
    };
    let req =
        PayRequest { bolt11: p.invoice.trim().to_string(), amount_msat, ..Default::default() };
    let r = engine.pay(req, ctx.with_wait(Some(PAY_WAIT)), metadata).await?;
    paid(&r, failure_of(engine, &r).await)
}

async fn pay_keysend(engine: &Engine, ctx: PayContext, p: PayKeysend) -> Result<Value, NwcError> {
    if p.preimage.is_some() {
        return Err(NwcError::NotImplemented(
            "a keysend with the payer's own preimage is not supported; omit `preimage`".into(),
        ));
    }
    let mut records = BTreeMap::new();
    for r in p.tlv_records {
        if records.insert(r.record_type.to_string(), r.value).is_some() {
            return Err(NwcError::bad(format!("TLV record {} is given twice", r.record_type)));
        }
    }
    let req = KeysendRequest {
        destination: p.pubkey,
        amount_msat: p.amount,
        custom_records_hex: records,
        ..Default::default()
    };
    let r = engine.keysend(req, ctx.with_wait(Some(PAY_WAIT))).await?;
    paid(&r, failure_of(engine, &r).await)
}

async fn make_invoice(
    engine: &Engine,
    ctx: PayContext,
    p: MakeInvoice,
    hold: bool,
) -> Result<Value, NwcError> {
    if hold != p.payment_hash.is_some() {
        return Err(NwcError::bad(if hold {
            "payment_hash is required"
        } else {
            "payment_hash is only for make_hold_invoice"
        }));
    }
    let expiry_secs = match p.expiry {
        None => None,
        Some(e) => Some(u32::try_from(e).map_err(|_| NwcError::bad("expiry is too large"))?),
    };
    let description_hash = p.description_hash.filter(|h| !h.is_empty());
    let req = InvoiceRequest {
        amount_msat: (p.amount > 0).then_some(p.amount),
        // With a description hash the invoice commits to the hash (clients such as LNbits send
        // the description beside it).
        description: p.description.filter(|_| description_hash.is_none()),
        description_hash,
        expiry_secs,
        payment_hash: p.payment_hash,
        ..Default::default()
    };
    let rec = engine.create_invoice(req, ctx).await?;
    Ok(receive_tx(&rec))
}

async fn lookup_invoice(engine: &Engine, p: Lookup) -> Result<Value, NwcError> {
    let hash = match (p.payment_hash, p.invoice) {
        (Some(h), _) => h.trim().to_ascii_lowercase(),
        (None, Some(inv)) => engine.decode_bolt11(&inv)?.payment_hash,
        (None, None) => return Err(NwcError::bad("give payment_hash or invoice")),
    };
    if let Some(p) = engine.payment_by_hash(Direction::Incoming, &hash).await? {
        let r = engine.receive(&hash).await.ok();
        return Ok(payment_tx(&p, r.as_ref()));
    }
    match engine.receive(&hash).await {
        Ok(r) if hex::encode(r.payment_hash) == hash => return Ok(receive_tx(&r)),
        Ok(_) | Err(PayError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match engine.payment_by_hash(Direction::Outgoing, &hash).await? {
        Some(p) => Ok(payment_tx(&p, None)),
        None => Err(NwcError::NotFound(format!("no invoice or payment with hash {hash}"))),
    }
}

async fn list_transactions(engine: &Engine, p: ListTransactions) -> Result<Value, NwcError> {
    let direction = match p.direction.as_deref() {
        None => None,
        Some("incoming") => Some(Direction::Incoming),
        Some("outgoing") => Some(Direction::Outgoing),
        Some(other) => {
            return Err(NwcError::bad(format!("type `{other}` is not incoming or outgoing")))
        }
    };
    let limit = p.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let offset = p.offset.unwrap_or(0);
    let wanted = offset.saturating_add(limit);
    // `from` and `until` are inclusive; the store's bounds are exclusive.
    let filter = PaymentFilter {
        direction,
        created_after: p.from.map(|f| f.saturating_sub(1)),
        created_before: p.until.map(|u| u.saturating_add(1)),
        limit: Some(wanted),
        ..Default::default()
    };
    let payments = engine.list_payments(filter).await?;
    let mut txs: Vec<(u64, Value)> =
        payments.iter().map(|p| (p.created_at, payment_tx(p, None))).collect();
    if p.unpaid && direction != Some(Direction::Outgoing) {
        // Invoices not paid yet (payments are recorded once received).
        for r in engine.pending_receives().await? {
            let in_window = p.from.is_none_or(|f| r.created_at >= f)
                && p.until.is_none_or(|u| r.created_at <= u);
            if in_window {
                txs.push((r.created_at, receive_tx(&r)));
            }
        }
    }
    txs.sort_by_key(|t| std::cmp::Reverse(t.0));
    let total = txs.len();
    let page: Vec<Value> =
        txs.into_iter().skip(offset as usize).take(limit as usize).map(|(_, v)| v).collect();
    Ok(json!({ "transactions": page, "total_count": total }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(scopes: Vec<Scope>) -> Caller {
        Caller { token_id: Some("t".into()), name: "app".into(), scopes }
    }

    #[test]
    fn methods_need_their_scopes() {
        assert_eq!(scope_of("pay_invoice"), Some(Some(Scope::PaymentsSend)));
        assert_eq!(scope_of("get_info"), Some(None));
        assert_eq!(scope_of("sign_message"), None);
        for m in METHODS {
            assert!(scope_of(m).is_some(), "{m}");
        }
        assert_eq!(methods_for(&caller(vec![])), vec!["get_info", "get_budget"]);
        let recv = methods_for(&caller(vec![Scope::InvoicesCreate, Scope::InvoicesRead]));
        assert!(recv.contains(&"make_hold_invoice") && recv.contains(&"lookup_invoice"));
        assert!(!recv.contains(&"pay_invoice"));
        assert_eq!(methods_for(&caller(vec![Scope::NodeAdmin])).len(), METHODS.len());
    }

    #[test]
    fn the_event_id_is_the_idempotency_key_of_the_connections_token() {
        let ctx = context(&caller(vec![Scope::PaymentsSend]), "abcd");
        assert_eq!(ctx.idempotency_key.as_deref(), Some("nwc:abcd"));
        assert_eq!(ctx.token_id.as_deref(), Some("t"));
        assert_eq!(ctx.owner.as_deref(), Some("t"));
    }

    #[test]
    fn payment_results_map_to_answers() {
        let mut r = PayResult {
            id: 1,
            payment_preimage: Some("aa".into()),
            payment_hash: "bb".into(),
            created_at: 0,
            parts: 1,
            amount_msat: 1000,
            amount_sent_msat: 1010,
            status: "complete".into(),
            destination: None,
            warning_partial_completion: None,
            failed_parts: 0,
        };
        assert_eq!(paid(&r, None).unwrap(), json!({"preimage": "aa", "fees_paid": 10}));
        r.status = "failed".into();
        assert_eq!(paid(&r, Some("no route".into())).unwrap_err().code(), "PAYMENT_FAILED");
        r.status = "pending".into();
        assert_eq!(paid(&r, None).unwrap_err().code(), "OTHER");
    }
}
