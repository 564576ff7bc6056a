//! The attempts of an outgoing payment (schema version 5).
//!
//! * **Sends** (`payment_sends`): every hand-off of the payment to LDK, under its own LDK
//!   `PaymentId`. [`Store::begin_outgoing`] records the first (and a retry of a failed invoice
//!   another); [`Store::new_send`] records the engine's next attempt of a pending payment (after
//!   LDK gave up while a channel peer was away). An event for any of a payment's sends finds the
//!   payment: a late success of an earlier send still completes it.
//! * **Parts** (`payment_parts`): every path LDK reports resolved, with its route and, for a
//!   failure, the details Core Lightning's `pay` reports (`erring_index`, `erring_node`,
//!   `erring_channel`, `failcode`). They are what `pay` answers with after a restart too, and
//!   they replace what the engine used to keep in memory. LDK may replay a path event after a
//!   crash: a part is unique by its send, its route and its outcome, so a replay records
//!   nothing.
//! * **Stage** (`payments.stage`): what a pending payment is doing (see [`PaymentStage`]).

use crate::db::{params, Conn as Connection, OptionalExtension, Row};
use lightning::bitcoin::hashes::{sha256, Hash};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, TxError};
use crate::payments::{find_payment, payment_row, FailureCode, PaymentRecord, PaymentStage};
use crate::Store;

/// One hop of a part's route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartHop {
    /// The hop's node id (hex).
    pub node_id: String,
    /// The channel to it, as `BLOCKxTXxOUT`.
    pub short_channel_id: String,
    /// The fee this hop takes (the last hop: the amount delivered), in msat.
    pub fee_msat: u64,
    /// The CLTV delta of this hop.
    pub cltv_expiry_delta: u32,
}

/// Why a part failed, as Core Lightning's `pay` reports it in `failures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PartFailure {
    /// Index of the node that reported the error: 0 is us, 1 the first hop, ...
    pub erring_index: u32,
    /// That node's id (hex), when known.
    pub erring_node: Option<String>,
    /// The failing channel (`BLOCKxTXxOUT`), when known.
    pub erring_channel: Option<String>,
    /// The BOLT 4 failure code.
    pub failcode: u32,
}

/// A resolved path, for [`Store::record_part`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPart {
    /// The send it belongs to (LDK's `PaymentId`).
    pub ldk_payment_id: [u8; 32],
    /// The route.
    pub route: Vec<PartHop>,
    /// `None`: it reached the destination.
    pub failure: Option<PartFailure>,
}

/// A resolved path of an outgoing payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PartRecord {
    /// The row id (parts are listed in the order they resolved).
    pub id: i64,
    /// The payment's row id.
    pub payment_row: i64,
    /// Whether it reached the destination.
    pub succeeded: bool,
    /// The route.
    pub route: Vec<PartHop>,
    /// What the destination got on this path, in msat.
    pub amount_msat: u64,
    /// The fees of this path, in msat.
    pub fee_msat: u64,
    /// Why it failed.
    pub failure: Option<PartFailure>,
    /// When it resolved (unix seconds).
    pub created_at: u64,
}

/// Records a send of `payment` under `ldk_payment_id` (inside [`Store::begin_outgoing`]'s
/// transaction).
pub(crate) fn insert_send(
    tx: &Connection,
    ldk_payment_id: &[u8; 32],
    payment: &PaymentRecord,
    now: u64,
) -> crate::db::Result<()> {
    tx.prepare_cached(
        "INSERT INTO payment_sends (ldk_payment_id, payment_row, attempt, started_at) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ldk_payment_id, payment.id, payment.attempts, now])?;
    Ok(())
}

fn part_from_row(row: &Row<'_>) -> crate::db::Result<(PartRecord, String)> {
    let failcode: Option<u32> = row.get(8)?;
    let failure = match failcode {
        Some(failcode) => Some(PartFailure {
            erring_index: row.get(5)?,
            erring_node: row.get(6)?,
            erring_channel: row.get(7)?,
            failcode,
        }),
        None => None,
    };
    Ok((
        PartRecord {
            id: row.get(0)?,
            payment_row: row.get(1)?,
            succeeded: row.get(2)?,
            route: Vec::new(),
            amount_msat: row.get(3)?,
            fee_msat: row.get(4)?,
            failure,
            created_at: row.get(9)?,
        },
        row.get(10)?,
    ))
}

const PART_COLUMNS: &str = "id, payment_row, succeeded, amount_msat, fee_msat, erring_index, \
    erring_node, erring_channel, failcode, created_at, route";

fn parts_where(conn: &Connection, clause: &str, id: i64) -> crate::db::Result<Vec<PartRecord>> {
    let sql = format!("SELECT {PART_COLUMNS} FROM payment_parts WHERE {clause} ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([id], part_from_row)?;
    rows.map(|r| {
        let (mut part, route) = r?;
        part.route =
            serde_json::from_str(&route).map_err(|e| crate::db::Error::conversion(10, e))?;
        Ok(part)
    })
    .collect()
}

/// How to send a pending outgoing payment again ([`Store::send_plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSendPlan {
    /// The payment's row id.
    pub payment_row: i64,
    /// The engine's JSON.
    pub plan: String,
    /// When the payment's current attempt was recorded (unix seconds): its retry window
    /// counts from here.
    pub attempted_at: u64,
}

impl Store {
    /// Records a resolved path of the payment that `part.ldk_payment_id` was sent for (LDK's
    /// `PaymentPathSuccessful` / `PaymentPathFailed`). Returns the part, or `None` when no
    /// payment has that send (a probe, or a payment boltd did not record) or when it is a
    /// replay (the same send, route and outcome are recorded already).
    pub fn record_part(&self, part: NewPart, now: u64) -> Result<Option<PartRecord>, StoreError> {
        let route = serde_json::to_string(&part.route)
            .map_err(|e| StoreError::invalid(format!("the route cannot be recorded: {e}")))?;
        let mut key = sha256::Hash::engine();
        lightning::bitcoin::hashes::HashEngine::input(&mut key, route.as_bytes());
        let path_hash = sha256::Hash::from_engine(key).to_byte_array();
        let (amount_msat, fee_msat) = match part.route.split_last() {
            Some((last, hops)) => (last.fee_msat, hops.iter().map(|h| h.fee_msat).sum::<u64>()),
            None => (0, 0),
        };
        let failure = part.failure.as_ref();
        self.transaction(|tx| {
            let row: Option<i64> = tx
                .prepare_cached("SELECT payment_row FROM payment_sends WHERE ldk_payment_id = ?1")?
                .query_row([part.ldk_payment_id], |r| r.get(0))
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO payment_parts (payment_row, ldk_payment_id, path_hash, \
                     succeeded, amount_msat, fee_msat, route, erring_index, erring_node, \
                     erring_channel, failcode, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                )?
                .query_row(
                    params![
                        row,
                        part.ldk_payment_id,
                        path_hash,
                        failure.is_none(),
                        amount_msat,
                        fee_msat,
                        route,
                        failure.map(|f| f.erring_index),
                        failure.and_then(|f| f.erring_node.clone()),
                        failure.and_then(|f| f.erring_channel.clone()),
                        failure.map(|f| f.failcode),
                        now,
                    ],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?;
            let Some(id) = inserted else {
                return Ok(None);
            };
            Ok(parts_where(tx, "id = ?1", id)?.pop())
        })
    }

    /// The resolved paths of the payment with row id `payment_row`, in the order they resolved.
    pub fn payment_parts(&self, payment_row: i64) -> Result<Vec<PartRecord>, StoreError> {
        self.read(|c| parts_where(c, "payment_row = ?1", payment_row))
    }

    /// Moves the pending outgoing payment with row id `id` to `stage`. Returns the record as it
    /// is now (unchanged when it is no longer pending), or `None` if there is no such payment.
    pub fn set_stage(
        &self,
        id: i64,
        stage: PaymentStage,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            tx.prepare_cached(
                "UPDATE payments SET stage = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND status = 'pending' AND direction = 'outgoing' \
                 AND stage IS NOT ?2",
            )?
            .execute(params![id, stage, now])?;
            Ok::<_, TxError>(find_payment(tx, "id = ?1", [id])?)
        })
    }

    /// Records the engine's next send of the pending outgoing payment with row id `id`, whose
    /// current send is `current`, under the new LDK id `ldk_payment_id`: it becomes the payment's
    /// current send (`payment_id`), `attempts + 1`, stage recorded. Returns `None` (writing
    /// nothing) when the payment is not pending any more, does not exist, or its current send is
    /// no longer `current` (someone else moved it on: a retry of a failed invoice).
    pub fn new_send(
        &self,
        id: i64,
        current: &[u8; 32],
        ldk_payment_id: &[u8; 32],
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE payments SET payment_id = ?2, attempts = attempts + 1, \
                     stage = 'recorded', updated_at = ?3 \
                     WHERE id = ?1 AND status = 'pending' AND direction = 'outgoing' \
                     AND payment_id = ?4",
                )?
                .execute(params![id, ldk_payment_id, now, current])?;
            if n == 0 {
                return Ok(None);
            }
            let rec = payment_row(tx, id)?;
            insert_send(tx, ldk_payment_id, &rec, now)?;
            Ok::<_, TxError>(Some(rec))
        })
    }

    /// Records LDK's failure of send `ldk_payment_id` on the send (not on the payment, which
    /// its driver may send again): what reconciliation records if the driver is gone. Returns
    /// whether such a send exists.
    pub fn note_send_failure(
        &self,
        ldk_payment_id: &[u8; 32],
        code: FailureCode,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.transaction(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE payment_sends SET failure_code = ?2, failure_reason = ?3 \
                     WHERE ldk_payment_id = ?1",
                )?
                .execute(params![ldk_payment_id, code, reason])?;
            Ok::<_, TxError>(n > 0)
        })
    }

    /// LDK's failure of send `ldk_payment_id`, when one was noted ([`Store::note_send_failure`]).
    pub fn send_failure(
        &self,
        ldk_payment_id: &[u8; 32],
    ) -> Result<Option<(FailureCode, String)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT failure_code, failure_reason FROM payment_sends \
                 WHERE ldk_payment_id = ?1 AND failure_code IS NOT NULL",
            )?
            .query_row([ldk_payment_id], |r| {
                Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default()))
            })
            .optional()
        })
    }

    /// The send plan of the pending outgoing payment whose current send is `ldk_payment_id`
    /// (see [`NewOutgoing::send_plan`](crate::NewOutgoing::send_plan)): `None` when there is no
    /// such pending payment, or it has no plan.
    pub fn send_plan(
        &self,
        ldk_payment_id: &[u8; 32],
    ) -> Result<Option<StoredSendPlan>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT id, send_plan, coalesce(attempted_at, created_at) FROM payments \
                 WHERE payment_id = ?1 AND direction = 'outgoing' AND status = 'pending' \
                 AND send_plan IS NOT NULL",
            )?
            .query_row([ldk_payment_id], |r| {
                Ok(StoredSendPlan {
                    payment_row: r.get(0)?,
                    plan: r.get(1)?,
                    attempted_at: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
                })
            })
            .optional()
        })
    }

    /// The resolved paths of the payment with row id `payment_row`, each with the attempt
    /// number of the send it belongs to (`payment_sends.attempt`), in the order they resolved:
    /// Core Lightning's `listsendpays` shows one entry per part, grouped by attempt.
    pub fn payment_parts_by_attempt(
        &self,
        payment_row: i64,
    ) -> Result<Vec<(PartRecord, u32)>, StoreError> {
        self.read(|c| {
            let parts = parts_where(c, "payment_row = ?1", payment_row)?;
            let mut stmt = c.prepare_cached(
                "SELECT p.id, s.attempt FROM payment_parts p \
                 JOIN payment_sends s ON s.ldk_payment_id = p.ldk_payment_id \
                 WHERE p.payment_row = ?1",
            )?;
            let attempts = stmt
                .query_map([payment_row], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?)))?
                .collect::<crate::db::Result<std::collections::HashMap<i64, u32>>>()?;
            // A part always has its send (both are written before LDK sees the send); 1 if
            // not, rather than losing the part.
            Ok(parts
                .into_iter()
                .map(|p| {
                    let attempt = attempts.get(&p.id).copied().unwrap_or(1);
                    (p, attempt)
                })
                .collect())
        })
    }

    /// The LDK ids of every send of the payment with row id `id`, oldest first.
    pub fn payment_sends(&self, id: i64) -> Result<Vec<[u8; 32]>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT ldk_payment_id FROM payment_sends WHERE payment_row = ?1 \
                 ORDER BY attempt, started_at",
            )?;
            let rows = stmt.query_map([id], |r| r.get(0))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BeginOutgoing, NewOutgoing, PaymentKind, PaymentStatus};

    fn hop(scid: &str, fee_msat: u64) -> PartHop {
        PartHop {
            node_id: "02".repeat(33),
            short_channel_id: scid.into(),
            fee_msat,
            cltv_expiry_delta: 40,
        }
    }

    fn started(store: &Store, id: u8) -> PaymentRecord {
        let intent = NewOutgoing::new(PaymentKind::Bolt11, Some([id; 32]), [id; 32], 10_000);
        match store.begin_outgoing(intent, 100).unwrap() {
            BeginOutgoing::Started(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parts_are_recorded_once_per_send_route_and_outcome_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let row = {
            let store = Store::open(dir.path()).unwrap();
            let rec = started(&store, 1);
            assert_eq!(rec.stage, Some(PaymentStage::Recorded));
            let failed = NewPart {
                ldk_payment_id: [1; 32],
                route: vec![hop("1x1x0", 1_000), hop("2x1x0", 10_000)],
                failure: Some(PartFailure {
                    erring_index: 1,
                    erring_node: Some("03".repeat(33)),
                    erring_channel: Some("2x1x0".into()),
                    failcode: 0x1007,
                }),
            };
            let part = store.record_part(failed.clone(), 101).unwrap().unwrap();
            assert!(!part.succeeded);
            assert_eq!((part.amount_msat, part.fee_msat), (10_000, 1_000));
            assert!(store.record_part(failed, 102).unwrap().is_none(), "a replay records nothing");
            let ok = NewPart {
                ldk_payment_id: [1; 32],
                route: vec![hop("1x1x0", 1_000), hop("3x1x0", 10_000)],
                failure: None,
            };
            assert!(store.record_part(ok, 103).unwrap().unwrap().succeeded);
            let unknown = NewPart { ldk_payment_id: [9; 32], route: vec![], failure: None };
            assert!(store.record_part(unknown, 104).unwrap().is_none());
            rec.id
        };
        let store = Store::open(dir.path()).unwrap();
        let parts = store.payment_parts(row).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].failure.as_ref().unwrap().failcode, 0x1007);
        assert_eq!(parts[0].route[1].short_channel_id, "2x1x0");
        assert!(parts[1].succeeded);
    }

    #[test]
    fn a_new_send_replaces_the_current_one_and_an_old_sends_success_still_completes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = started(&store, 2);
        let waiting = store.set_stage(rec.id, PaymentStage::WaitingForPeer, 101).unwrap().unwrap();
        assert_eq!(waiting.stage, Some(PaymentStage::WaitingForPeer));
        assert!(store.new_send(rec.id, &[9; 32], &[3; 32], 102).unwrap().is_none(), "not current");
        let next = store.new_send(rec.id, &[2; 32], &[3; 32], 102).unwrap().unwrap();
        assert_eq!((next.payment_id, next.attempts), (Some([3; 32]), 2));
        assert_eq!(store.payment_sends(rec.id).unwrap(), vec![[2; 32], [3; 32]]);
        // The first send's failure no longer fails the payment...
        assert!(store
            .fail_outgoing(&[2; 32], FailureCode::RouteNotFound, None, true, 103)
            .unwrap()
            .is_none());
        // ...but its success completes it: the preimage proves the money moved.
        let preimage = [7; 32];
        let hash = crate::payments::payment_hash_of(&preimage);
        let intent = NewOutgoing::new(PaymentKind::Bolt11, Some(hash), [4; 32], 1);
        let BeginOutgoing::Started(p) = store.begin_outgoing(intent, 104).unwrap() else {
            panic!()
        };
        store.new_send(p.id, &[4; 32], &[5; 32], 105).unwrap().unwrap();
        assert!(store.note_send_failure(&[4; 32], FailureCode::RouteNotFound, "no route").unwrap());
        assert_eq!(
            store.send_failure(&[4; 32]).unwrap(),
            Some((FailureCode::RouteNotFound, "no route".to_string()))
        );
        assert_eq!(store.send_failure(&[5; 32]).unwrap(), None);
        let done = store.complete_outgoing(&[4; 32], &preimage, Some(1), None, None, 106).unwrap();
        let done = done.unwrap();
        assert_eq!((done.status, done.stage), (PaymentStatus::Complete, None));
        // Final: no new send, no stage.
        assert!(store.new_send(p.id, &[5; 32], &[6; 32], 107).unwrap().is_none());
        let same = store.set_stage(p.id, PaymentStage::InFlight, 108).unwrap().unwrap();
        assert_eq!(same.stage, None);
    }
}
