//! Receiving: BOLT11 invoices (fixed or any amount, description or description hash, expiry),
//! hold invoices (created for a payment hash, settled with the preimage or canceled), and the
//! receive record's state machine: created → htlcs_arrived → preimage_revealed → settled, or
//! canceled / expired.

use bitcoin::hashes::{sha256, Hash};
use boltd_node::liquidity::client::JitRequest;
use boltd_node::NodeError;
use boltd_store::{
    CancelOutcome, DeleteOutcome, InsertReceive, NewReceive, NewReceiveLsp, ReceiveLspRecord,
    ReceiveRecord, ReceiveState, ReceiveUpdate,
};
use lightning::ln::channelmanager::Bolt11InvoiceParameters;
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning_invoice::{Bolt11InvoiceDescription, Description, Sha256};
use serde::{Deserialize, Serialize};

use crate::error::PayError;
use crate::ledger::now_secs;
use crate::pay::request_hash;
use crate::{Engine, PayContext};

/// Default invoice expiry.
pub const DEFAULT_EXPIRY_SECS: u32 = 3600;

/// How long settling a hold invoice waits for the node to claim it before answering.
pub const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The label of a receive (Core Lightning's `invoice` label), if it was created with one.
/// Labels are unique across the node (the receives table's unique index, checked in the
/// transaction that records the invoice); idempotency keys are unique per token.
pub fn receive_label(r: &ReceiveRecord) -> Option<&str> {
    r.label.as_deref()
}

/// A request for an invoice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequest {
    /// Amount in msat; `None` for an any-amount invoice.
    pub amount_msat: Option<u64>,
    /// Description shown to the payer.
    pub description: Option<String>,
    /// SHA-256 of a description (hex), committed to instead of a description.
    pub description_hash: Option<String>,
    /// Seconds until the invoice expires (default 3600).
    pub expiry_secs: Option<u32>,
    /// For a hold invoice: the payment hash (hex) whose preimage only the caller knows.
    pub payment_hash: Option<String>,
    /// A unique label (Core Lightning's `invoice`): a second invoice with the same label is
    /// [`PayError::LabelExists`]. Excludes an idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Commit to the SHA-256 of `description` instead of the description itself (Core
    /// Lightning's `deschashonly`); the description is still recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub description_hash_only: bool,
    /// The preimage (hex) to use instead of a new one (Core Lightning's `invoice`
    /// `preimage`): the invoice is for its SHA-256 and is settled with it when paid (a plain
    /// invoice, not a hold one). Excludes `payment_hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preimage: Option<String>,
    /// Whether the invoice goes through an LSP (LSPS2, a just-in-time channel; see
    /// [`Engine::create_invoice`]): `true` always (an LSP must be configured), `false` never,
    /// unset when the node's usable channels cannot receive the amount and an LSP is
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_lsp: Option<bool>,
    /// A note from the payer that came with the request for the invoice (LNURL-pay's LUD-12
    /// `comment`), kept on the receive as its `payer_note`. Never from an API body.
    #[serde(skip)]
    pub payer_note: Option<String>,
}

fn parse32(what: &str, s: &str) -> Result<[u8; 32], PayError> {
    hex::decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| PayError::InvalidParams(format!("{what} must be 32 bytes of hex")))
}

impl Engine {
    /// Creates an invoice and records the receive before returning it.
    ///
    /// Through an LSP (`via_lsp`, or automatically for an amount above what the usable
    /// channels can receive when `lsps` is configured; any-amount invoices never): the node
    /// buys a just-in-time channel for the amount (see `boltd_node::liquidity::client`), and
    /// the LSP and its promised fee are recorded (before the receive) for the payment layer to
    /// check the fee it takes; [`Engine::receive_lsp`] tells them.
    /// `ctx` brings the client's idempotency key and the token, recorded on the receive (only
    /// that token, or an admin, may cancel it).
    pub async fn create_invoice(
        &self,
        req: InvoiceRequest,
        ctx: PayContext,
    ) -> Result<ReceiveRecord, PayError> {
        let PayContext { idempotency_key, token_id, .. } = ctx;
        if req.amount_msat == Some(0) {
            return Err(PayError::InvalidParams("amount must be positive".into()));
        }
        match (&req.label, &idempotency_key) {
            (Some(_), Some(_)) => {
                return Err(PayError::InvalidParams(
                    "a labeled invoice is unique by its label: give no idempotency key".into(),
                ))
            }
            (Some(l), None) if l.is_empty() => {
                return Err(PayError::InvalidParams("label must not be empty".into()))
            }
            _ => {}
        }
        let (description, description_hash) = match (&req.description, &req.description_hash) {
            (Some(_), Some(_)) => {
                return Err(PayError::InvalidParams(
                    "give either description or description_hash, not both".into(),
                ))
            }
            (Some(d), None) if req.description_hash_only => {
                let h = sha256::Hash::hash(d.as_bytes());
                (Bolt11InvoiceDescription::Hash(Sha256(h)), Some(h.to_byte_array()))
            }
            (None, None) if req.description_hash_only => {
                return Err(PayError::InvalidParams(
                    "description_hash_only needs a description".into(),
                ))
            }
            (_, Some(h)) => {
                let h = parse32("description_hash", h)?;
                (Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(h))), Some(h))
            }
            (d, None) => {
                let d = Description::new(d.clone().unwrap_or_default())
                    .map_err(|e| PayError::InvalidParams(format!("description: {e}")))?;
                (Bolt11InvoiceDescription::Direct(d), None)
            }
        };
        let hold_hash =
            req.payment_hash.as_deref().map(|h| parse32("payment_hash", h)).transpose()?;
        let preimage = req.preimage.as_deref().map(|p| parse32("preimage", p)).transpose()?;
        if preimage.is_some() && hold_hash.is_some() {
            return Err(PayError::InvalidParams(
                "give either payment_hash (a hold invoice) or preimage, not both".into(),
            ));
        }
        let hash = hold_hash.or(preimage.map(|p| sha256::Hash::hash(&p).to_byte_array()));
        let expiry_secs = req.expiry_secs.unwrap_or(DEFAULT_EXPIRY_SECS);
        if expiry_secs == 0 {
            return Err(PayError::InvalidParams("expiry_secs must be positive".into()));
        }
        let invoice = if self.through_lsp(&req)? {
            self.lsp_invoice(&req, description, expiry_secs, hash).await?
        } else {
            self.plain_invoice(&req, description, expiry_secs, hash)?
        };
        let mut new = NewReceive::new(invoice.payment_hash().to_byte_array());
        new.invoice = Some(invoice.to_string());
        new.hold = hold_hash.is_some();
        // The ledger claims a plain receive whose preimage LDK does not know with this one.
        new.preimage = preimage;
        new.amount_msat = req.amount_msat;
        new.description = req.description.clone();
        new.description_hash = description_hash;
        new.payer_note = req.payer_note.clone();
        new.expires_at = Some(crate::pay::invoice_expiry_secs(&invoice));
        new.idempotency_key = idempotency_key;
        new.label = req.label.clone();
        new.request_hash = Some(request_hash(&req));
        new.token_id = token_id;
        match self.blocking(move |s| s.insert_receive(new, now_secs())).await? {
            InsertReceive::Created(r) => Ok(r),
            // Core Lightning refuses a label again, whatever the request.
            InsertReceive::Existing(_) | InsertReceive::KeyConflict(_) if req.label.is_some() => {
                Err(PayError::LabelExists(req.label.unwrap_or_default()))
            }
            InsertReceive::Existing(r) => Ok(r),
            InsertReceive::KeyConflict(r) => {
                Err(PayError::IdempotencyConflict { payment_id: r.id })
            }
            InsertReceive::HashExists(_) => Err(PayError::InvalidParams(
                "an invoice for this payment hash already exists".into(),
            )),
        }
    }

    /// Whether `req`'s invoice goes through an LSP (see [`Engine::create_invoice`]).
    fn through_lsp(&self, req: &InvoiceRequest) -> Result<bool, PayError> {
        let configured = !self.node.liquidity().lsps().is_empty();
        match (req.via_lsp, req.amount_msat) {
            (Some(false), _) => Ok(false),
            (Some(true), _) if !configured => {
                Err(PayError::InvalidParams("via_lsp: no LSP is configured (`lsps`)".into()))
            }
            (Some(true), None) => Err(PayError::InvalidParams(
                "via_lsp: an invoice through an LSP needs an amount".into(),
            )),
            (Some(true), Some(_)) => Ok(true),
            (None, Some(amount)) => Ok(configured && amount > self.node.inbound_capacity_msat()),
            (None, None) => Ok(false),
        }
    }

    /// An invoice through an LSP, its LSP recorded.
    async fn lsp_invoice(
        &self,
        req: &InvoiceRequest,
        description: Bolt11InvoiceDescription,
        expiry_secs: u32,
        hash: Option<[u8; 32]>,
    ) -> Result<lightning_invoice::Bolt11Invoice, PayError> {
        let jit = JitRequest {
            amount_msat: req.amount_msat.unwrap_or_default(),
            description,
            expiry_secs,
            payment_hash: hash.map(PaymentHash),
        };
        let jit = self.node.lsps2_invoice(jit).await.map_err(|e| match e {
            NodeError::LspRefused(m) | NodeError::InvalidInput(m) => PayError::InvalidParams(m),
            other => PayError::Other(format!("no invoice through an LSP: {other}")),
        })?;
        let lsp = NewReceiveLsp {
            payment_hash: jit.invoice.payment_hash().to_byte_array(),
            lsp_node_id: jit.lsp_node_id.to_string(),
            opening_fee_msat: jit.opening_fee_msat,
            valid_until: jit.valid_until,
        };
        self.blocking(move |s| s.insert_receive_lsp(lsp, now_secs())).await?;
        Ok(jit.invoice)
    }

    /// An invoice for the node's own channels.
    fn plain_invoice(
        &self,
        req: &InvoiceRequest,
        description: Bolt11InvoiceDescription,
        expiry_secs: u32,
        hash: Option<[u8; 32]>,
    ) -> Result<lightning_invoice::Bolt11Invoice, PayError> {
        let params = Bolt11InvoiceParameters {
            amount_msats: req.amount_msat,
            description,
            invoice_expiry_delta_secs: Some(expiry_secs),
            payment_hash: hash.map(PaymentHash),
            ..Default::default()
        };
        self.node.channel_manager().create_bolt11_invoice(params).map_err(|e| match e {
            // What the request asked for cannot be an invoice (an amount over 21 million
            // bitcoin, an expiry past the end of time, a description too long).
            lightning_invoice::SignOrCreationError::CreationError(c) => {
                PayError::InvalidParams(format!("cannot create the invoice: {c}"))
            }
            other => PayError::Other(format!("cannot create invoice: {other:?}")),
        })
    }

    /// The LSP a receive was made through, with its promised and skimmed fee.
    pub async fn receive_lsp(
        &self,
        payment_hash: [u8; 32],
    ) -> Result<Option<ReceiveLspRecord>, PayError> {
        self.blocking(move |s| s.receive_lsp(&payment_hash)).await
    }

    /// A receive by payment hash, preimage (both 64 hex characters) or invoice string (a
    /// deleted one is not found).
    pub async fn receive(&self, identifier: &str) -> Result<ReceiveRecord, PayError> {
        let id = identifier.trim().to_string();
        let found = self
            .blocking(move |s| {
                let found = match hex::decode(&id).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                    Some(b) => match s.receive_by_hash(&b)? {
                        Some(r) => Some(r),
                        None => s.receive_by_preimage(&b)?,
                    },
                    None => s.receive_by_invoice(&id)?,
                };
                match found {
                    Some(r) if s.receive_deleted(r.id)? => Ok(None),
                    other => Ok(other),
                }
            })
            .await?;
        found.ok_or_else(|| PayError::NotFound(format!("no receive for `{identifier}`")))
    }

    /// The receive created with this Core Lightning label.
    pub async fn receive_by_label(&self, label: &str) -> Result<Option<ReceiveRecord>, PayError> {
        let label = label.to_string();
        self.blocking(move |s| s.receive_by_label(&label)).await
    }

    /// Every receive in creation order, after row id `after_id`, at most `limit` (expired ones
    /// are marked first).
    pub async fn list_receives(
        &self,
        after_id: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<ReceiveRecord>, PayError> {
        self.blocking(move |s| {
            s.expire_receives(now_secs())?;
            s.list_receives(after_id, limit)
        })
        .await
    }

    /// Receives not yet settled, canceled or expired, oldest first (expired ones are marked
    /// first).
    pub async fn pending_receives(&self) -> Result<Vec<ReceiveRecord>, PayError> {
        self.blocking(|s| {
            s.expire_receives(now_secs())?;
            s.pending_receives()
        })
        .await
    }

    /// Deletes the receive with this Core Lightning label if its state is one of `expected`
    /// (expired ones are marked first): an unpaid one is canceled (a later payment fails back);
    /// one with HTLCs held is never deleted. See [`boltd_store::Store::delete_receive`].
    pub async fn delete_labeled_receive(
        &self,
        label: &str,
        expected: &'static [ReceiveState],
    ) -> Result<DeleteOutcome, PayError> {
        let label = label.to_string();
        let out = self
            .blocking(move |s| {
                s.expire_receives(now_secs())?;
                s.delete_receive(&label, expected, now_secs())
            })
            .await?;
        if let DeleteOutcome::Deleted(r) = &out {
            if r.state == ReceiveState::Created {
                // As a cancel: anything that raced in is failed back.
                let hash = PaymentHash(r.payment_hash);
                self.node.channel_manager().fail_htlc_backwards(&hash);
            }
        }
        Ok(out)
    }

    /// Cancels a receive: refused once the preimage is revealed. Held HTLCs are failed back.
    /// With an `owner` token, only a receive that token created (another's is not found).
    pub async fn cancel_receive(
        &self,
        identifier: &str,
        owner: Option<&str>,
    ) -> Result<ReceiveRecord, PayError> {
        let rec = self.receive(identifier).await?;
        if owner.is_some() && rec.token_id.as_deref() != owner {
            return Err(PayError::NotFound(format!(
                "no receive for `{identifier}` created by this token"
            )));
        }
        let hash = rec.payment_hash;
        match self.blocking(move |s| s.receive_cancel(&hash, now_secs())).await? {
            CancelOutcome::Canceled(r) => {
                self.node.channel_manager().fail_htlc_backwards(&PaymentHash(hash));
                Ok(r)
            }
            CancelOutcome::TooLate(r) | CancelOutcome::Expired(r) => Err(PayError::WrongState(
                format!("receive is {}; it can no longer be canceled", r.state),
            )),
            CancelOutcome::NotFound => {
                Err(PayError::NotFound(format!("no receive for `{identifier}`")))
            }
        }
    }

    /// Settles a hold invoice whose HTLCs have arrived, with the preimage of its hash.
    pub async fn settle_hold(&self, preimage_hex: &str) -> Result<ReceiveRecord, PayError> {
        let preimage = parse32("preimage", preimage_hex)?;
        let hash = sha256::Hash::hash(&preimage).to_byte_array();
        let rec = self
            .blocking(move |s| s.receive_by_hash(&hash))
            .await?
            .ok_or_else(|| PayError::NotFound("no hold invoice for this preimage".into()))?;
        if !rec.hold {
            return Err(PayError::WrongState("not a hold invoice".into()));
        }
        match rec.state {
            ReceiveState::HtlcsArrived | ReceiveState::PreimageRevealed => {}
            ReceiveState::Created => {
                return Err(PayError::WrongState(
                    "receive is created: no HTLCs are held yet; nothing to settle".into(),
                ))
            }
            s => return Err(PayError::WrongState(format!("receive is {s}; nothing to settle"))),
        }
        // At the claim deadline the node fails the HTLCs back instead of claiming them.
        let height = self.node.channel_manager().current_best_block().height;
        if let Some(deadline) = rec.claim_deadline_height.filter(|d| height >= *d) {
            return Err(PayError::WrongState(format!(
                "the held HTLCs reached their claim deadline (block {deadline}; the chain is at \
                 {height}): they are being failed back; nothing to settle"
            )));
        }
        // Persist before revealing, and only while the receive can still take it: a cancel, or
        // the HTLCs failing back at their claim deadline, may have come first.
        let revealed = self
            .blocking(move |s| s.receive_preimage_revealed(&hash, &preimage, now_secs()))
            .await?;
        match revealed {
            ReceiveUpdate::Updated(_) => {}
            // Settled twice: claiming again is harmless (LDK claims once).
            ReceiveUpdate::Unchanged(r) if r.state == ReceiveState::PreimageRevealed => {}
            ReceiveUpdate::Unchanged(r) => {
                return Err(PayError::WrongState(format!(
                    "receive is {}; nothing to settle{}",
                    r.state,
                    match r.cancel_reason {
                        Some(boltd_store::CancelReason::HtlcsExpired) => {
                            " (its HTLCs reached their claim deadline and were failed back)"
                        }
                        _ => "",
                    }
                )))
            }
            ReceiveUpdate::NotFound => {
                return Err(PayError::NotFound("no hold invoice for this preimage".into()))
            }
        }
        self.node.channel_manager().claim_funds(PaymentPreimage(preimage));
        // Answer with what happened: settled once the node has claimed (a deadline block that
        // raced this settle cancels the receive instead: then nothing was claimed).
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            let r = self.receive(&hex::encode(hash)).await?;
            match r.state {
                ReceiveState::Settled => return Ok(r),
                ReceiveState::Canceled | ReceiveState::Expired => {
                    return Err(PayError::WrongState(format!(
                        "receive is {}: its HTLCs were failed back before they could be claimed",
                        r.state
                    )))
                }
                // Still claiming after the wait: answered as it is (the claim goes on).
                _ if tokio::time::Instant::now() >= deadline => return Ok(r),
                _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }
}
