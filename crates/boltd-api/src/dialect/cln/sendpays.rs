//! Core Lightning's `listsendpays`: one entry per part of every outgoing payment, from the
//! parts the engine's payment state machine persisted (`payment_parts`, grouped by the send
//! they belong to in `payment_sends`).
//!
//! * A resolved part is `complete` (it reached the payee) or `failed`; its `id` (and
//!   `created_index`) is the part's row id, its `groupid` the attempt (send) number, its
//!   `partid` its place among the parts of that attempt.
//! * A pending payment adds one `pending` entry for what is still in flight (LDK does not
//!   report a path before it resolves), and a complete payment without a recorded part (made
//!   before parts were recorded) one `complete` entry; such an entry's `id` is
//!   [`PAYMENT_ENTRY_BASE`] plus the payment's row id, apart from part ids.
//! * A payment refused before anything was sent (no route, too expensive) has no entry, as in
//!   Core Lightning.

use axum::body::Bytes;
use axum::extract::State;
use boltd_engine::PaymentParts;
use boltd_store::{PaymentFilter, PaymentKind, PaymentRecord, PaymentStatus};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{ClnError, Created, Params, TAG};
use crate::AppState;

/// The `id` of an entry that stands for a whole payment rather than a part: this plus the
/// payment's row id.
pub const PAYMENT_ENTRY_BASE: u64 = 1 << 40;

/// Core Lightning's `listsendpays` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnListSendPaysParams {
    /// The parts paying this BOLT11 invoice (or give `payment_hash`).
    bolt11: Option<String>,
    /// The parts with this payment hash (hex).
    payment_hash: Option<String>,
    /// Only parts in this state.
    status: Option<PaymentStatus>,
    /// Only `created`.
    index: Option<String>,
    /// The first `created_index` to list.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    start: Option<Value>,
    /// At most this many.
    #[schema(value_type = Option<crate::wire::UintOrString>)]
    limit: Option<Value>,
}

/// A part in `listsendpays`' shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnSendPay {
    /// The part's id (see the module's documentation).
    id: u64,
    /// The same as `id`: entries are listed in this order.
    created_index: u64,
    /// The attempt (send) the part belongs to.
    groupid: u64,
    /// Its place among the parts of its attempt.
    partid: u64,
    /// The payment hash (hex).
    payment_hash: String,
    /// Where the part stands.
    status: PaymentStatus,
    /// What the payee gets on this part.
    amount_msat: u64,
    /// The payee's node id.
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    /// When the payment was started (unix seconds).
    created_at: u64,
    /// What left our channels for this part, fees included.
    amount_sent_msat: u64,
    /// The payment's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// The BOLT11 invoice paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    bolt11: Option<String>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The BOLT12 invoice paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    bolt12: Option<String>,
    /// When the part resolved (complete and failed parts; unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<u64>,
    /// The proof of payment (complete parts).
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_preimage: Option<String>,
}

/// `listsendpays`' result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnSendPays {
    /// The parts, by `created_index`.
    payments: Vec<ClnSendPay>,
}

/// An entry of payment `p` (its members common to every part).
fn entry(p: &PaymentRecord, hash: [u8; 32], id: u64, status: PaymentStatus) -> ClnSendPay {
    let (bolt11, bolt12) = match (p.kind, &p.invoice) {
        (PaymentKind::Bolt12, Some(i)) => (None, Some(i.clone())),
        (_, Some(i)) => (Some(i.clone()), None),
        (_, None) => (None, None),
    };
    ClnSendPay {
        id,
        created_index: id,
        groupid: u64::from(p.attempts.max(1)),
        partid: 0,
        payment_hash: hex::encode(hash),
        status,
        amount_msat: p.amount_msat,
        destination: p.destination.clone(),
        created_at: p.created_at,
        amount_sent_msat: p.amount_sent_msat.unwrap_or(p.amount_msat),
        label: p.label.clone(),
        bolt11,
        description: p.description.clone(),
        bolt12,
        completed_at: None,
        payment_preimage: None,
    }
}

/// The entries of one payment (see the module's documentation).
fn entries(pp: &PaymentParts) -> Vec<ClnSendPay> {
    let p = &pp.payment;
    let Some(hash) = p.payment_hash else { return Vec::new() };
    let preimage = p.preimage.map(hex::encode);
    let mut out = Vec::with_capacity(pp.parts.len() + 1);
    let mut delivered = 0u64;
    for (part, attempt) in &pp.parts {
        // A part that reached the payee is complete once the preimage is recorded.
        let status = match (part.succeeded, &preimage) {
            (true, Some(_)) => PaymentStatus::Complete,
            (true, None) => PaymentStatus::Pending,
            (false, _) => PaymentStatus::Failed,
        };
        let Ok(id) = u64::try_from(part.id) else { continue };
        let mut e = entry(p, hash, id, status);
        let before = out.iter().filter(|x: &&ClnSendPay| x.groupid == u64::from(*attempt));
        e.partid = before.count() as u64;
        e.groupid = u64::from(*attempt);
        e.amount_msat = part.amount_msat;
        e.amount_sent_msat = part.amount_msat.saturating_add(part.fee_msat);
        if status != PaymentStatus::Pending {
            e.completed_at = Some(part.created_at);
        }
        if status == PaymentStatus::Complete {
            e.payment_preimage = preimage.clone();
        }
        if part.succeeded {
            delivered = delivered.saturating_add(part.amount_msat);
        }
        out.push(e);
    }
    let own_id = PAYMENT_ENTRY_BASE.saturating_add(u64::try_from(p.id).unwrap_or_default());
    match p.status {
        PaymentStatus::Pending => {
            let left = p.amount_msat.saturating_sub(delivered);
            let mut e = entry(p, hash, own_id, PaymentStatus::Pending);
            e.amount_msat = left;
            e.amount_sent_msat = left;
            e.partid = out.iter().filter(|x| x.groupid == e.groupid).count() as u64;
            out.push(e);
        }
        PaymentStatus::Complete if delivered == 0 => {
            let mut e = entry(p, hash, own_id, PaymentStatus::Complete);
            e.completed_at = p.completed_at;
            e.payment_preimage = preimage;
            if e.payment_preimage.is_some() {
                out.push(e);
            }
        }
        PaymentStatus::Complete | PaymentStatus::Failed => {}
    }
    out
}

/// Core Lightning's `listsendpays`: every part of every outgoing payment (see the module's
/// documentation), by `bolt11` or `payment_hash` and `status`, in `created_index` order from
/// `start`, at most `limit`.
#[utoipa::path(post, path = "/v1/listsendpays", tag = TAG, operation_id = "cln_listsendpays",
    security(("bearer" = ["transactions:read"])),
    request_body = ClnListSendPaysParams,
    responses(
        (status = 201, description = "The parts", body = ClnSendPays),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_listsendpays(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnSendPays>, ClnError> {
    let p = Params::parse(
        &body,
        &["bolt11", "payment_hash", "status", "index", "start", "limit"],
        &[],
    )?;
    match p.text("index")?.as_deref() {
        None | Some("created") => {}
        Some(other) => {
            return Err(ClnError::invalid(format!("index `{other}` is not supported: use created")))
        }
    }
    let start = p.u64("start")?.unwrap_or(0);
    let limit = p.u64("limit")?.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let (status, payment_hash) = crate::dialect::cln::lists::pay_selection(&engine, &p)?;
    let filter = PaymentFilter { payment_hash, ..Default::default() };
    let mut payments: Vec<ClnSendPay> = engine
        .list_payment_parts(filter)
        .await?
        .iter()
        .flat_map(entries)
        .filter(|e| status.is_none_or(|s| e.status == s))
        .filter(|e| e.created_index >= start)
        .collect();
    payments.sort_by_key(|e| e.created_index);
    payments.truncate(limit);
    Ok(Created(ClnSendPays { payments }))
}

#[cfg(test)]
mod tests {
    use boltd_store::{Direction, PartFailure, PartRecord};

    use super::*;

    fn payment(status: PaymentStatus, attempts: u32) -> PaymentRecord {
        PaymentRecord {
            id: 7,
            direction: Direction::Outgoing,
            kind: PaymentKind::Bolt11,
            status,
            stage: None,
            payment_hash: Some([1; 32]),
            payment_id: None,
            preimage: (status == PaymentStatus::Complete).then_some([2; 32]),
            amount_msat: 10_000,
            fee_msat: None,
            amount_sent_msat: None,
            parts: None,
            destination: Some("02ab".into()),
            invoice: Some("lnbcrt1x".into()),
            description: None,
            label: None,
            metadata: None,
            custom_records: None,
            idempotency_key: None,
            request_hash: None,
            failure_code: None,
            failure_reason: None,
            retryable: None,
            attempts,
            created_at: 100,
            updated_at: 100,
            completed_at: None,
            expires_at: None,
            token_id: None,
            fee_limit_msat: None,
        }
    }

    fn part(id: i64, amount_msat: u64, failed: bool) -> PartRecord {
        PartRecord {
            id,
            payment_row: 7,
            succeeded: !failed,
            route: Vec::new(),
            amount_msat,
            fee_msat: 10,
            failure: failed.then_some(PartFailure {
                erring_index: 1,
                erring_node: None,
                erring_channel: None,
                failcode: 0x1007,
            }),
            created_at: 101,
        }
    }

    #[test]
    fn one_entry_per_part_grouped_by_attempt() {
        // Attempt 1: one part failed; attempt 2: two parts reached the payee.
        let pp = PaymentParts {
            payment: payment(PaymentStatus::Complete, 2),
            parts: vec![
                (part(1, 10_000, true), 1),
                (part(2, 6_000, false), 2),
                (part(3, 4_000, false), 2),
            ],
        };
        let e = entries(&pp);
        let view: Vec<_> = e.iter().map(|e| (e.id, e.groupid, e.partid, e.status)).collect();
        use PaymentStatus::*;
        assert_eq!(view, vec![(1, 1, 0, Failed), (2, 2, 0, Complete), (3, 2, 1, Complete)]);
        assert_eq!(e[1].amount_sent_msat, 6_010, "the part's amount and fee");
        assert_eq!(e[1].payment_preimage.as_deref(), Some(hex::encode([2; 32]).as_str()));
        assert_eq!(e[0].payment_preimage, None, "a failed part has no preimage");
    }

    #[test]
    fn a_pending_payment_adds_what_is_in_flight() {
        let pp = PaymentParts {
            payment: payment(PaymentStatus::Pending, 1),
            parts: vec![(part(4, 3_000, false), 1)],
        };
        let e = entries(&pp);
        assert_eq!(e.len(), 2, "{e:?}");
        // Reached the payee, but no preimage recorded yet: pending.
        assert_eq!(e[0].status, PaymentStatus::Pending);
        assert_eq!((e[1].id, e[1].amount_msat, e[1].partid), (PAYMENT_ENTRY_BASE + 7, 7_000, 1));
        // A failed payment with no part sent has no entry.
        let none = PaymentParts { payment: payment(PaymentStatus::Failed, 1), parts: vec![] };
        assert!(entries(&none).is_empty());
        // A complete one with no recorded part has one, for the whole payment.
        let old = PaymentParts { payment: payment(PaymentStatus::Complete, 1), parts: vec![] };
        let e = entries(&old);
        assert_eq!((e.len(), e[0].status, e[0].amount_msat), (1, PaymentStatus::Complete, 10_000));
    }
}
