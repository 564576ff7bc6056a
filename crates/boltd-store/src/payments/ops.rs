//! The payment records' operations on [`Store`]: recording the intent to pay, completing,
//! failing and receiving payments, metadata, lookups and listing (see the
//! [module documentation](super) for the rules they keep).

use super::*;

impl Store {
    /// Records the intent to pay, unless the request is already covered, in one transaction:
    /// first the idempotency key is checked, then the payment hash, then the new pending row is
    /// inserted.
    ///
    /// 1. Same idempotency key (outgoing): the same `request_hash` gives
    ///    [`BeginOutgoing::Existing`] with the original record, whatever its status (so a
    ///    failed payment is not retried under the same key: retry with a new key or none);
    ///    a different one gives [`BeginOutgoing::KeyConflict`].
    /// 2. Same payment hash, outgoing, of any kind: a pending or complete payment with the same
    ///    amount and destination gives [`BeginOutgoing::Existing`], with a different amount or
    ///    destination [`BeginOutgoing::AlreadyPaidDifferently`]. For a BOLT11 intent, a failed
    ///    BOLT11 payment of that hash with the same amount and destination is retried
    ///    ([`BeginOutgoing::Retrying`]: back to pending with the intent's `payment_id` and
    ///    `request_hash`, `attempts + 1`, failure and completion fields cleared, the intent's
    ///    key, invoice, description, label, metadata, custom records and expiry replacing the
    ///    old ones where given); with a different amount or destination it gives
    ///    [`BeginOutgoing::AlreadyPaidDifferently`]. "Same request" for a hash is therefore the
    ///    same hash, amount and destination: a retry may change e.g. the fee limit.
    /// 3. Before a new row or a retry: with a `token_id`, the token's spending limits are
    ///    checked ([`BeginOutgoing::Refused`] if the token is no longer active, the amount is
    ///    above its per-payment maximum, or amount plus `fee_limit_msat` does not fit what is
    ///    left of a budget; see the `tokens` module). A request answered with an existing record
    ///    spends nothing, so it is not checked.
    /// 4. Otherwise a new pending row is written ([`BeginOutgoing::Started`]).
    ///
    /// An intent answered with an existing record does not attach its idempotency key to it
    /// (only a retry takes over the intent's key).
    ///
    /// Fails with [`StoreError::Invalid`] (writing nothing) if a BOLT11 or keysend intent has no
    /// payment hash, the destination is not a node id, the key is empty, or `metadata` or
    /// `custom_records` are malformed; with [`StoreError::Database`] if `payment_id` is already
    /// used by another payment.
    pub fn begin_outgoing(
        &self,
        intent: NewOutgoing,
        now: u64,
    ) -> Result<BeginOutgoing, StoreError> {
        if matches!(intent.kind, PaymentKind::Bolt11 | PaymentKind::Keysend)
            && intent.payment_hash.is_none()
        {
            return Err(StoreError::invalid(format!(
                "a {} payment needs a payment hash",
                intent.kind
            )));
        }
        check_key(intent.idempotency_key.as_deref())?;
        let destination = normalize_destination(intent.destination.as_deref())?;
        let same_payment =
            |r: &PaymentRecord| r.amount_msat == intent.amount_msat && r.destination == destination;
        if intent.fee_limit_msat.is_some_and(|f| i64::try_from(f).is_err()) {
            return Err(StoreError::invalid("the fee limit is out of range"));
        }
        let spend_check = |tx: &Connection| -> Result<Option<SpendRefusal>, TxError> {
            match &intent.token_id {
                None => Ok(None),
                Some(token) => check_spending(
                    tx,
                    token,
                    intent.amount_msat,
                    intent.fee_limit_msat.unwrap_or(0),
                    now,
                ),
            }
        };

        self.transaction(|tx| {
            check_json_object("metadata", intent.metadata.as_deref())?;
            check_custom_records(intent.custom_records.as_deref())?;

            if let Some(key) = &intent.idempotency_key {
                // Keys are the token's own: another token's payment under the same key is
                // neither returned nor a conflict (schema version 7's unique index).
                let found = find_payment(
                    tx,
                    "direction = 'outgoing' AND idempotency_key = ?1 AND token_id IS ?2",
                    params![key, intent.token_id],
                )?;
                if let Some(rec) = found {
                    return Ok(if rec.request_hash == intent.request_hash {
                        BeginOutgoing::Existing(rec)
                    } else {
                        BeginOutgoing::KeyConflict(rec)
                    });
                }
            }

            if let Some(hash) = &intent.payment_hash {
                let live = find_payment(
                    tx,
                    "direction = 'outgoing' AND payment_hash = ?1 \
                     AND status IN ('pending', 'complete') \
                     ORDER BY status = 'complete' DESC, created_at DESC, id DESC",
                    [hash],
                )?;
                if let Some(rec) = live {
                    return Ok(if same_payment(&rec) {
                        BeginOutgoing::Existing(rec)
                    } else {
                        BeginOutgoing::AlreadyPaidDifferently(rec)
                    });
                }
                if intent.kind == PaymentKind::Bolt11 {
                    // Not pending or complete, so failed.
                    let failed = find_payment(
                        tx,
                        "direction = 'outgoing' AND kind = 'bolt11' AND payment_hash = ?1",
                        [hash],
                    )?;
                    if let Some(rec) = failed {
                        if !same_payment(&rec) {
                            return Ok(BeginOutgoing::AlreadyPaidDifferently(rec));
                        }
                        if let Some(refusal) = spend_check(tx)? {
                            return Ok(BeginOutgoing::Refused(refusal));
                        }
                        tx.prepare_cached(
                            "UPDATE payments SET status = 'pending', attempts = attempts + 1, \
                             payment_id = ?2, request_hash = ?3, \
                             idempotency_key = CASE WHEN CAST(?4 AS TEXT) IS NOT NULL THEN ?4 \
                             WHEN token_id IS ?12 THEN idempotency_key END, \
                             invoice = coalesce(?5, invoice), \
                             description = coalesce(?6, description), \
                             label = coalesce(?7, label), metadata = coalesce(?8, metadata), \
                             custom_records = coalesce(?9, custom_records), \
                             expires_at = coalesce(?10, expires_at), \
                             failure_code = NULL, failure_reason = NULL, retryable = NULL, \
                             preimage = NULL, fee_msat = NULL, amount_sent_msat = NULL, \
                             parts = NULL, completed_at = NULL, updated_at = ?11, \
                             attempted_at = ?11, token_id = ?12, fee_limit_msat = ?13, \
                             stage = 'recorded', send_plan = ?14 \
                             WHERE id = ?1 AND status = 'failed'",
                        )?
                        .execute(params![
                            rec.id,
                            intent.payment_id,
                            intent.request_hash,
                            intent.idempotency_key,
                            intent.invoice,
                            intent.description,
                            intent.label,
                            intent.metadata,
                            intent.custom_records,
                            intent.expires_at,
                            now,
                            intent.token_id,
                            intent.fee_limit_msat,
                            intent.send_plan,
                        ])?;
                        let retried = payment_row(tx, rec.id)?;
                        crate::attempts::insert_send(tx, &intent.payment_id, &retried, now)?;
                        return Ok(BeginOutgoing::Retrying(retried));
                    }
                }
            }

            if let Some(refusal) = spend_check(tx)? {
                return Ok(BeginOutgoing::Refused(refusal));
            }
            let id = tx
                .prepare_cached(
                    "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                 amount_msat, destination, invoice, description, label, metadata, \
                 custom_records, idempotency_key, request_hash, attempts, created_at, \
                 updated_at, expires_at, attempted_at, token_id, fee_limit_msat, stage, \
                 send_plan) \
                 VALUES ('outgoing', ?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
                 ?12, 1, ?13, ?13, ?14, ?13, ?15, ?16, 'recorded', ?17) RETURNING id",
                )?
                .query_row(
                    params![
                        intent.kind,
                        intent.payment_hash,
                        intent.payment_id,
                        intent.amount_msat,
                        destination,
                        intent.invoice,
                        intent.description,
                        intent.label,
                        intent.metadata,
                        intent.custom_records,
                        intent.idempotency_key,
                        intent.request_hash,
                        now,
                        intent.expires_at,
                        intent.token_id,
                        intent.fee_limit_msat,
                        intent.send_plan,
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            let started = payment_row(tx, id)?;
            crate::attempts::insert_send(tx, &intent.payment_id, &started, now)?;
            Ok(BeginOutgoing::Started(started))
        })
    }

    /// Records that the outgoing payment with LDK id `payment_id` succeeded (LDK's
    /// `PaymentSent`). Returns `None` if no such payment exists.
    ///
    /// * pending → complete, with the preimage, fee, amount sent, parts and `completed_at`;
    /// * complete → returned unchanged (an event replay);
    /// * failed → complete as well, with the failure fields cleared: the preimage proves that
    ///   the money moved, so the record follows the truth (a warning is logged).
    ///
    /// `payment_id` may be any of the payment's sends (an earlier attempt's too: the preimage
    /// proves the money moved, whichever attempt moved it). If the payment's hash is unknown
    /// (BOLT12) it is set from the preimage. Fails with
    /// [`StoreError::Invalid`] (writing nothing) if the preimage does not match the hash.
    pub fn complete_outgoing(
        &self,
        payment_id: &[u8; 32],
        preimage: &[u8; 32],
        fee_msat: Option<u64>,
        amount_sent_msat: Option<u64>,
        parts: Option<u32>,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let Some(rec) = find_payment(
                tx,
                "id = (SELECT payment_row FROM payment_sends WHERE ldk_payment_id = ?1)",
                [payment_id],
            )?
            else {
                return Ok(None);
            };
            if let Some(hash) = &rec.payment_hash {
                check_preimage(preimage, hash)?;
            }
            match rec.status {
                PaymentStatus::Complete => return Ok(Some(rec)),
                PaymentStatus::Failed => warn!(
                    id = rec.id,
                    attempts = rec.attempts,
                    "an outgoing payment recorded as failed has completed (its preimage arrived); \
                     recording it as complete"
                ),
                PaymentStatus::Pending => {}
            }
            tx.prepare_cached(
                "UPDATE payments SET status = 'complete', preimage = ?2, \
                 payment_hash = coalesce(payment_hash, ?3), fee_msat = ?4, \
                 amount_sent_msat = ?5, parts = ?6, failure_code = NULL, \
                 failure_reason = NULL, retryable = NULL, completed_at = ?7, updated_at = ?7, \
                 stage = NULL WHERE id = ?1",
            )?
            .execute(params![
                rec.id,
                preimage,
                payment_hash_of(preimage),
                fee_msat,
                amount_sent_msat,
                parts,
                now,
            ])?;
            let done = payment_row(tx, rec.id)?;
            let data = payment_data(&done)?;
            self.append_event(tx, EventType::PaymentSent, done.payment_hash, &data, None, now)?;
            Ok(Some(done))
        })
    }

    /// Records that the outgoing payment with LDK id `payment_id` failed (LDK's
    /// `PaymentFailed`, or the engine giving up). Returns `None` if no such payment exists.
    ///
    /// Only a pending payment whose current attempt is `payment_id` changes (to failed, with the
    /// code, reason and whether a retry might succeed); a complete or failed payment is returned
    /// unchanged, and the failure of an earlier attempt (which the engine replaced with a new
    /// one) finds nothing.
    pub fn fail_outgoing(
        &self,
        payment_id: &[u8; 32],
        code: FailureCode,
        reason: Option<&str>,
        retryable: bool,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let Some(rec) =
                find_payment(tx, "direction = 'outgoing' AND payment_id = ?1", [payment_id])?
            else {
                return Ok(None);
            };
            if rec.status != PaymentStatus::Pending {
                return Ok(Some(rec));
            }
            tx.prepare_cached(
                "UPDATE payments SET status = 'failed', failure_code = ?2, failure_reason = ?3, \
                 retryable = ?4, updated_at = ?5, stage = NULL \
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![rec.id, code, reason, retryable, now])?;
            let failed = payment_row(tx, rec.id)?;
            let data = payment_data(&failed)?;
            self.append_event(tx, EventType::PaymentFailed, failed.payment_hash, &data, None, now)?;
            Ok(Some(failed))
        })
    }

    /// Records a received payment (LDK's `PaymentClaimed`, which LDK may replay), idempotently
    /// by payment hash: a second call with the same hash returns
    /// [`RecordIncoming::Existing`] and changes nothing.
    ///
    /// In the same transaction, the matching receive (if any, and not yet final) is moved to
    /// settled with `received_msat = amount_msat` and the preimage, so the two tables never
    /// disagree; the invoice and description are taken from it if not given. A receive that is
    /// already canceled or expired is left as is (and a warning is logged).
    ///
    /// Fails with [`StoreError::Invalid`] if the preimage does not match the hash or the JSON
    /// fields are malformed.
    pub fn record_incoming(
        &self,
        payment: NewIncoming,
        now: u64,
    ) -> Result<RecordIncoming, StoreError> {
        if let Some(preimage) = &payment.preimage {
            check_preimage(preimage, &payment.payment_hash)?;
        }
        self.transaction(|tx| {
            check_json_object("metadata", payment.metadata.as_deref())?;
            check_custom_records(payment.custom_records.as_deref())?;
            let hash = payment.payment_hash;
            if let Some(rec) =
                find_payment(tx, "direction = 'incoming' AND payment_hash = ?1", [hash])?
            {
                return Ok(RecordIncoming::Existing(rec));
            }
            let receive = crate::receives::find_receive(tx, "payment_hash = ?1", [hash])?;
            let (invoice, description, expires_at) = match &receive {
                Some(r) => (
                    payment.invoice.clone().or_else(|| r.invoice.clone()),
                    payment.description.clone().or_else(|| r.description.clone()),
                    r.expires_at,
                ),
                None => (payment.invoice.clone(), payment.description.clone(), None),
            };
            let id = tx
                .prepare_cached(
                    "INSERT INTO payments (direction, kind, status, payment_hash, preimage, \
                 amount_msat, parts, invoice, description, label, metadata, custom_records, \
                 attempts, created_at, updated_at, completed_at, expires_at) \
                 VALUES ('incoming', ?1, 'complete', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, \
                 ?11, ?11, ?11, ?12) RETURNING id",
                )?
                .query_row(
                    params![
                        payment.kind,
                        hash,
                        payment.preimage,
                        payment.amount_msat,
                        payment.parts,
                        invoice,
                        description,
                        payment.label,
                        payment.metadata,
                        payment.custom_records,
                        now,
                        expires_at,
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            if let Some(r) = receive {
                // Canceled at the claim deadline, yet claimed: a claim that raced the deadline
                // went through after all. The money arrived; the receive says so.
                let claimed_late = r.state == crate::ReceiveState::Canceled
                    && r.cancel_reason == Some(crate::CancelReason::HtlcsExpired);
                if claimed_late {
                    warn!(receive = r.id, "a receive canceled at its claim deadline was claimed");
                }
                if r.state.is_final() && r.state != crate::ReceiveState::Settled && !claimed_late {
                    warn!(
                        receive = r.id,
                        state = %r.state,
                        "a payment was claimed for a receive that is already final; \
                         the receive is left as is"
                    );
                } else if r.state != crate::ReceiveState::Settled {
                    tx.prepare_cached(
                        "UPDATE receives SET state = 'settled', received_msat = ?2, \
                         preimage = coalesce(preimage, ?3), finished_at = ?4, \
                         cancel_reason = NULL WHERE id = ?1",
                    )?
                    .execute(params![
                        r.id,
                        payment.amount_msat,
                        payment.preimage,
                        now
                    ])?;
                }
            }
            let received = payment_row(tx, id)?;
            let data = payment_data(&received)?;
            self.append_event(tx, EventType::PaymentReceived, Some(hash), &data, None, now)?;
            Ok(RecordIncoming::Recorded(received))
        })
    }

    /// Replaces a payment's app-defined metadata (JSON object text, or `None` to clear it).
    /// Returns `None` if no payment has row id `id`. Fails with [`StoreError::Invalid`] if the
    /// text is not a JSON object.
    pub fn update_metadata(
        &self,
        id: i64,
        metadata: Option<&str>,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            check_json_object("metadata", metadata)?;
            let n = tx
                .prepare_cached("UPDATE payments SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, metadata, now])?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(payment_row(tx, id)?))
        })
    }

    /// Applies an RFC 7396 JSON Merge Patch (`patch`, JSON object text) to a payment's
    /// app-defined metadata, atomically (read and written in one transaction): members set to `null` are
    /// removed, objects are merged recursively, everything else replaces. Returns `None` if no
    /// payment has row id `id`, or if `owner` is a token and the payment is not its own (an
    /// outgoing payment it made, or an incoming one to a receive it created; `None`: any
    /// payment). Fails with [`StoreError::Invalid`] if `patch` is not a JSON object.
    pub fn merge_metadata(
        &self,
        id: i64,
        patch: &str,
        owner: Option<&str>,
        now: u64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.transaction(|tx| {
            let patch = serde_json::Value::Object(parse_json_object("the metadata patch", patch)?);
            let current: Option<Option<String>> = tx
                .prepare_cached(
                    "SELECT metadata FROM payments WHERE id = ?1 AND (CAST(?2 AS TEXT) IS NULL \
                     OR (direction = 'outgoing' AND token_id = ?2) \
                     OR (direction = 'incoming' AND EXISTS (SELECT 1 FROM receives r \
                         WHERE r.payment_hash = payments.payment_hash AND r.token_id = ?2)))",
                )?
                .query_row(params![id, owner], |r| r.get(0))
                .optional()?;
            let Some(current) = current else {
                return Ok(None);
            };
            let mut merged = match current.as_deref() {
                Some(text) => serde_json::Value::Object(parse_json_object("metadata", text)?),
                None => serde_json::Value::Object(Default::default()),
            };
            merge_patch(&mut merged, &patch);
            tx.prepare_cached("UPDATE payments SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, merged.to_string(), now])?;
            Ok(Some(payment_row(tx, id)?))
        })
    }

    /// The payment with row id `id`.
    pub fn payment_by_id(&self, id: i64) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| find_payment(c, "id = ?1", [id]))
    }

    /// The outgoing payment whose current attempt has LDK id `payment_id`.
    pub fn payment_by_payment_id(
        &self,
        payment_id: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| find_payment(c, "payment_id = ?1", [payment_id]))
    }

    /// The most recent payment (by `created_at`, then id) in `direction` with this hash.
    pub fn payment_by_hash(
        &self,
        direction: Direction,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| {
            find_payment(
                c,
                "direction = ?1 AND payment_hash = ?2 ORDER BY created_at DESC, id DESC",
                params![direction, payment_hash],
            )
        })
    }

    /// The payment in `direction` with this idempotency key of token `token_id` (keys are per
    /// token; `None`: the payments made without authentication).
    pub fn payment_by_idempotency_key(
        &self,
        direction: Direction,
        key: &str,
        token_id: Option<&str>,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|c| {
            find_payment(
                c,
                "direction = ?1 AND idempotency_key = ?2 AND token_id IS ?3",
                params![direction, key, token_id],
            )
        })
    }

    /// Payments matching `filter`, newest first (by `created_at`, then id), or oldest first
    /// with [`PaymentFilter::oldest_first`].
    pub fn list_payments(&self, filter: &PaymentFilter) -> Result<Vec<PaymentRecord>, StoreError> {
        let mut clause = String::from("1 = 1");
        let mut args: Vec<Value> = Vec::new();
        let mut text = |clause: &mut String, cond: &str, v: &str| {
            clause.push_str(cond);
            args.push(Value::Text(v.to_string()));
        };
        if let Some(d) = filter.direction {
            text(&mut clause, " AND direction = ?", d.as_str());
        }
        if let Some(s) = filter.status {
            text(&mut clause, " AND status = ?", s.as_str());
        }
        if let Some(k) = filter.kind {
            text(&mut clause, " AND kind = ?", k.as_str());
        }
        if let Some(i) = &filter.invoice {
            text(&mut clause, " AND invoice = ?", i);
        }
        if let Some(d) = &filter.spontaneous_with {
            text(&mut clause, " AND invoice IS NULL AND destination = ?", d);
        }
        if let Some(t) = filter.created_after {
            clause.push_str(" AND created_at >= ?");
            args.push(Value::Integer(saturating_i64(t)));
        }
        if let Some(t) = filter.created_before {
            clause.push_str(" AND created_at < ?");
            args.push(Value::Integer(saturating_i64(t)));
        }
        if let Some(h) = filter.payment_hash {
            clause.push_str(" AND payment_hash = ?");
            args.push(Value::Blob(h.to_vec()));
        }
        let (cmp, order) = if filter.oldest_first { ('>', "ASC") } else { ('<', "DESC") };
        if let Some(c) = filter.cursor {
            let t = saturating_i64(c.created_at);
            clause
                .push_str(&format!(" AND (created_at {cmp} ? OR (created_at = ? AND id {cmp} ?))"));
            args.extend([Value::Integer(t), Value::Integer(t), Value::Integer(c.id)]);
        }
        clause.push_str(&format!(" ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?"));
        args.push(Value::Integer(filter.limit.map_or(i64::MAX, i64::from)));
        args.push(Value::Integer(filter.offset.map_or(0, i64::from)));
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause}");
        self.read(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, payment_from_row)?;
            rows.collect()
        })
    }

    /// All pending outgoing payments, oldest first: what the engine reconciles with LDK on
    /// start-up.
    pub fn pending_outgoing(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        self.read(|c| {
            find_payments(
                c,
                "direction = 'outgoing' AND status = 'pending' ORDER BY created_at, id",
                [],
            )
        })
    }
}
