//! NIP-47's transaction shape, from the engine's payment and receive records: `type`, `state`
//! (`settled`, `pending`, `failed`, `accepted`), `invoice`, `description`, `description_hash`,
//! `preimage`, `payment_hash`, `amount` and `fees_paid` (msat), `created_at`, `expires_at`,
//! `settled_at` (unix seconds), `metadata`.
//!
//! A receive's preimage is shown only once it is settled: the preimage of a pending receive
//! would let anyone who sees the answer claim the payment.

use boltd_store::{Direction, PaymentRecord, PaymentStatus, ReceiveRecord, ReceiveState};
use serde_json::{json, Map, Value};

/// The state of a payment.
pub fn payment_state(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Complete => "settled",
        PaymentStatus::Pending => "pending",
        PaymentStatus::Failed => "failed",
    }
}

/// The state of a receive: `accepted` is a hold invoice whose HTLCs are held.
pub fn receive_state(state: ReceiveState) -> &'static str {
    match state {
        ReceiveState::Created | ReceiveState::PreimageRevealed => "pending",
        ReceiveState::HtlcsArrived => "accepted",
        ReceiveState::Settled => "settled",
        ReceiveState::Canceled | ReceiveState::Expired => "failed",
    }
}

fn metadata(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str::<Value>(t).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// A payment (either direction) as a NIP-47 transaction. `receive`, for an incoming payment,
/// fills in what the receive knows (description hash, expiry).
pub fn payment_tx(p: &PaymentRecord, receive: Option<&ReceiveRecord>) -> Value {
    let kind = match p.direction {
        Direction::Incoming => "incoming",
        Direction::Outgoing => "outgoing",
    };
    let settled = p.status == PaymentStatus::Complete;
    json!({
        "type": kind,
        "state": payment_state(p.status),
        "invoice": p.invoice.clone().or_else(|| receive.and_then(|r| r.invoice.clone())).unwrap_or_default(),
        "description": p.description.clone().or_else(|| receive.and_then(|r| r.description.clone())).unwrap_or_default(),
        "description_hash": receive.and_then(|r| r.description_hash).map(hex::encode).unwrap_or_default(),
        "preimage": if settled { p.preimage.map(hex::encode).unwrap_or_default() } else { String::new() },
        "payment_hash": p.payment_hash.map(hex::encode).unwrap_or_default(),
        "amount": p.amount_msat,
        "fees_paid": match p.direction {
            Direction::Outgoing => p.fee_msat.unwrap_or(0),
            Direction::Incoming => 0,
        },
        "created_at": p.created_at,
        "expires_at": p.expires_at.or_else(|| receive.and_then(|r| r.expires_at)),
        "settled_at": if settled { p.completed_at } else { None },
        "metadata": metadata(p.metadata.as_deref()),
    })
}

/// A receive (an invoice, paid or not) as a NIP-47 incoming transaction.
pub fn receive_tx(r: &ReceiveRecord) -> Value {
    let settled = r.state == ReceiveState::Settled;
    json!({
        "type": "incoming",
        "state": receive_state(r.state),
        "invoice": r.invoice.clone().unwrap_or_default(),
        "description": r.description.clone().unwrap_or_default(),
        "description_hash": r.description_hash.map(hex::encode).unwrap_or_default(),
        "preimage": if settled { r.preimage.map(hex::encode).unwrap_or_default() } else { String::new() },
        "payment_hash": hex::encode(r.payment_hash),
        "amount": r.received_msat.or(r.amount_msat).unwrap_or(0),
        "fees_paid": 0,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "settled_at": if settled { r.finished_at } else { None },
        "settle_deadline": r.claim_deadline_height,
        "metadata": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_the_specs_names() {
        assert_eq!(payment_state(PaymentStatus::Complete), "settled");
        assert_eq!(payment_state(PaymentStatus::Failed), "failed");
        assert_eq!(receive_state(ReceiveState::HtlcsArrived), "accepted");
        assert_eq!(receive_state(ReceiveState::Expired), "failed");
        assert_eq!(metadata(Some("{\"a\":1}"))["a"], 1);
        assert_eq!(metadata(Some("[1]")), json!({}));
        assert_eq!(metadata(None), json!({}));
    }
}
