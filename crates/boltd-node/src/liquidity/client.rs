//! The LSPS2 client: an invoice through an LSP, paid into a just-in-time channel.
//!
//! [`Node::lsps2_invoice`] connects to each configured LSP in turn, asks for its fee menu,
//! picks the cheapest entry whose limits fit the amount and whose fee is within
//! `lsp_max_fee_msat`, buys it (a fixed-size payment, so the payer may use several parts), and
//! builds the invoice: its only route hint is the LSP's intercept channel id, its final CLTV
//! delta two blocks above LDK's minimum (bLIP-52). The answer says the fee the LSP will take
//! and until when the promise holds; the caller records it with the receive, and the payment
//! layer refuses a payment from which more was skimmed.

use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::Secp256k1;
use lightning::ln::channelmanager::MIN_FINAL_CLTV_EXPIRY_DELTA;
use lightning::routing::gossip::RoutingFees;
use lightning::routing::router::{RouteHint, RouteHintHop};
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Currency, InvoiceBuilder};
use lightning_liquidity::lsps0::ser::{LSPSRequestId, LSPSResponseError};
use lightning_liquidity::lsps2::event::LSPS2ClientEvent;
use lightning_liquidity::lsps2::msgs::LSPS2OpeningFeeParams;
use lightning_liquidity::lsps2::utils::compute_opening_fee;
use tokio::sync::oneshot;

use super::*;
use crate::Node;

/// How long the client waits for each answer of an LSP.
pub const LSP_ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

type FeeAnswer = Result<Vec<LSPS2OpeningFeeParams>, String>;
type BuyAnswer = Result<(u64, u32), String>;

/// The client's requests waiting for their answers.
#[derive(Default)]
pub(crate) struct Pending {
    fees: HashMap<LSPSRequestId, oneshot::Sender<FeeAnswer>>,
    buys: HashMap<LSPSRequestId, oneshot::Sender<BuyAnswer>>,
}

/// What an invoice through an LSP needs.
#[derive(Debug, Clone)]
pub struct JitRequest {
    /// The amount the payer pays, in msat (the LSP's fee is taken from it).
    pub amount_msat: u64,
    /// The invoice's description.
    pub description: Bolt11InvoiceDescription,
    /// Seconds until the invoice expires.
    pub expiry_secs: u32,
    /// For a hold invoice or a given preimage: the payment hash.
    pub payment_hash: Option<PaymentHash>,
}

/// An invoice through an LSP.
#[derive(Debug, Clone)]
pub struct JitInvoice {
    /// The invoice.
    pub invoice: Bolt11Invoice,
    /// The LSP.
    pub lsp_node_id: PublicKey,
    /// The fee the LSP promised to take from the payment, in msat.
    pub opening_fee_msat: u64,
    /// Until when (unix seconds) the LSP's promise holds: a payment must begin to arrive
    /// before then.
    pub valid_until: u64,
    /// The intercept channel id in the invoice's route hint.
    pub intercept_scid: u64,
}

fn lsp_error(e: &LSPSResponseError) -> String {
    format!("{} (code {})", e.message, e.code)
}

/// The cheapest entry of `menu` for `amount_msat`, with its fee; `Err` says why none fits.
pub fn cheapest(
    menu: Vec<LSPS2OpeningFeeParams>,
    amount_msat: u64,
) -> Result<(u64, LSPS2OpeningFeeParams), String> {
    let mut limits = Vec::new();
    let best = menu
        .into_iter()
        .filter_map(|p| {
            if amount_msat < p.min_payment_size_msat || amount_msat > p.max_payment_size_msat {
                limits.push(format!(
                    "{}..={} msat",
                    p.min_payment_size_msat, p.max_payment_size_msat
                ));
                return None;
            }
            compute_opening_fee(amount_msat, p.min_fee_msat, u64::from(p.proportional))
                .map(|fee| (fee, p))
        })
        .min_by_key(|(fee, _)| *fee);
    best.ok_or_else(|| {
        if limits.is_empty() {
            "its fee menu is empty".into()
        } else {
            format!("{amount_msat} msat is outside its payment limits ({})", limits.join(", "))
        }
    })
}

impl Liquidity {
    pub(super) fn client_event(&self, event: LSPS2ClientEvent) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            LSPS2ClientEvent::OpeningParametersReady {
                request_id,
                opening_fee_params_menu,
                ..
            } => {
                if let Some(tx) = pending.fees.remove(&request_id) {
                    let _ = tx.send(Ok(opening_fee_params_menu));
                }
            }
            LSPS2ClientEvent::GetInfoFailed { request_id, error, .. } => {
                if let Some(tx) = pending.fees.remove(&request_id) {
                    let _ = tx.send(Err(lsp_error(&error)));
                }
            }
            LSPS2ClientEvent::InvoiceParametersReady {
                request_id,
                intercept_scid,
                cltv_expiry_delta,
                ..
            } => {
                if let Some(tx) = pending.buys.remove(&request_id) {
                    let _ = tx.send(Ok((intercept_scid, cltv_expiry_delta)));
                }
            }
            LSPS2ClientEvent::BuyRequestFailed { request_id, error, .. } => {
                if let Some(tx) = pending.buys.remove(&request_id) {
                    let _ = tx.send(Err(lsp_error(&error)));
                }
            }
        }
    }

    async fn fee_menu(&self, lsp: PublicKey) -> NodeResult<Vec<LSPS2OpeningFeeParams>> {
        let handler = self.manager.lsps2_client_handler().ok_or_else(no_client)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let id = handler.request_opening_params(lsp, self.config.lsp_token.clone());
            pending.fees.insert(id, tx);
        }
        answer(lsp, "fee menu", rx).await
    }

    async fn buy(
        &self,
        lsp: PublicKey,
        amount_msat: u64,
        params: LSPS2OpeningFeeParams,
    ) -> NodeResult<(u64, u32)> {
        let handler = self.manager.lsps2_client_handler().ok_or_else(no_client)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let id = handler
                .select_opening_params(lsp, Some(amount_msat), params)
                .map_err(|e| NodeError::Lightning(format!("{e:?}")))?;
            pending.buys.insert(id, tx);
        }
        answer(lsp, "channel purchase", rx).await
    }
}

fn no_client() -> NodeError {
    NodeError::Config("the LSPS2 client is not configured".into())
}

async fn answer<T>(
    lsp: PublicKey,
    what: &str,
    rx: oneshot::Receiver<Result<T, String>>,
) -> NodeResult<T> {
    match tokio::time::timeout(LSP_ANSWER_TIMEOUT, rx).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(NodeError::LspRefused(format!("LSP {lsp} refused the {what}: {e}"))),
        Ok(Err(_)) | Err(_) => Err(NodeError::Connection(format!(
            "LSP {lsp} did not answer the {what} within {}s",
            LSP_ANSWER_TIMEOUT.as_secs()
        ))),
    }
}

impl Node {
    /// What the node's usable channels can receive now, in msat.
    pub fn inbound_capacity_msat(&self) -> u64 {
        self.channel_manager()
            .list_usable_channels()
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.inbound_capacity_msat))
    }

    /// An invoice for `req` through the first configured LSP that sells a channel for it
    /// within `lsp_max_fee_msat`; see the module docs. `LspRefused` when every LSP refused
    /// (naming each one's reason), `Connection` when none could be asked.
    pub async fn lsps2_invoice(&self, req: JitRequest) -> NodeResult<JitInvoice> {
        let lsps = self.liquidity().lsps().to_vec();
        if lsps.is_empty() {
            return Err(NodeError::InvalidInput("no LSP is configured (`lsps`)".into()));
        }
        let mut errors = Vec::new();
        let mut refused = false;
        for lsp in lsps {
            match self.lsps2_invoice_from(&lsp, &req).await {
                Ok(inv) => return Ok(inv),
                Err(e) => {
                    refused |= matches!(e, NodeError::LspRefused(_));
                    tracing::info!(lsp = %lsp.node_id, "no invoice through the LSP: {e}");
                    errors.push(e.to_string());
                }
            }
        }
        let all = errors.join("; ");
        Err(if refused { NodeError::LspRefused(all) } else { NodeError::Connection(all) })
    }

    async fn lsps2_invoice_from(&self, lsp: &Lsp, req: &JitRequest) -> NodeResult<JitInvoice> {
        self.connect_peer(lsp.node_id, &lsp.address).await?;
        let menu = self.liquidity().fee_menu(lsp.node_id).await?;
        let (fee_msat, params) = cheapest(menu, req.amount_msat)
            .map_err(|e| NodeError::LspRefused(format!("LSP {}: {e}", lsp.node_id)))?;
        let max = self.config().lsp_max_fee_msat;
        if fee_msat > max {
            return Err(NodeError::LspRefused(format!(
                "LSP {} asks {fee_msat} msat to open a channel, above lsp_max_fee_msat ({max})",
                lsp.node_id
            )));
        }
        let valid_until = u64::try_from(params.valid_until.0.timestamp()).unwrap_or(0);
        let (scid, cltv) = self.liquidity().buy(lsp.node_id, req.amount_msat, params).await?;
        let invoice = self.jit_invoice(lsp.node_id, scid, cltv, req)?;
        tracing::info!(lsp = %lsp.node_id, fee_msat, valid_until, "invoice through an LSP");
        Ok(JitInvoice {
            invoice,
            lsp_node_id: lsp.node_id,
            opening_fee_msat: fee_msat,
            valid_until,
            intercept_scid: scid,
        })
    }

    fn jit_invoice(
        &self,
        lsp: PublicKey,
        scid: u64,
        cltv: u32,
        req: &JitRequest,
    ) -> NodeResult<Bolt11Invoice> {
        let cltv = u16::try_from(cltv)
            .map_err(|_| NodeError::LspRefused(format!("LSP {lsp} asks a CLTV delta of {cltv}")))?;
        let final_delta = MIN_FINAL_CLTV_EXPIRY_DELTA + 2;
        let cm = self.channel_manager();
        let amount = Some(req.amount_msat);
        let (hash, secret) = match req.payment_hash {
            Some(h) => cm
                .create_inbound_payment_for_hash(h, amount, req.expiry_secs, Some(final_delta))
                .map(|s| (h, s)),
            None => cm.create_inbound_payment(amount, req.expiry_secs, Some(final_delta)),
        }
        .map_err(|()| NodeError::InvalidInput("cannot register the payment".into()))?;
        let hint = RouteHint(vec![RouteHintHop {
            src_node_id: lsp,
            short_channel_id: scid,
            fees: RoutingFees { base_msat: 0, proportional_millionths: 0 },
            cltv_expiry_delta: cltv,
            htlc_minimum_msat: None,
            htlc_maximum_msat: None,
        }]);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let secret_key = self.keys_manager().get_node_secret_key();
        InvoiceBuilder::new(Currency::from(self.config().network))
            .invoice_description(req.description.clone())
            .payment_hash(bitcoin::hashes::sha256::Hash::from_byte_array(hash.0))
            .payment_secret(secret)
            .duration_since_epoch(now)
            .min_final_cltv_expiry_delta(u64::from(final_delta))
            .expiry_time(Duration::from_secs(u64::from(req.expiry_secs)))
            .private_route(hint)
            .amount_milli_satoshis(req.amount_msat)
            .basic_mpp()
            .build_signed(|m| Secp256k1::signing_only().sign_ecdsa_recoverable(m, &secret_key))
            .map_err(|e| NodeError::InvalidInput(format!("cannot create the invoice: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min_fee: u64, ppm: u32, min: u64, max: u64) -> LSPS2OpeningFeeParams {
        LSPS2OpeningFeeParams {
            min_fee_msat: min_fee,
            proportional: ppm,
            valid_until: LSPSDateTimeAlias::new_from_duration_since_epoch(Duration::from_secs(
                4_000_000_000,
            )),
            min_lifetime: 1008,
            max_client_to_self_delay: 2016,
            min_payment_size_msat: min,
            max_payment_size_msat: max,
            promise: "p".into(),
        }
    }
    use lightning_liquidity::lsps0::ser::LSPSDateTime as LSPSDateTimeAlias;

    #[test]
    fn the_cheapest_entry_that_fits_is_chosen() {
        let menu = vec![
            params(2_000_000, 10_000, 1_000_000, 1_000_000_000),
            params(1_000_000, 50_000, 1_000_000, 1_000_000_000),
            params(0, 0, 1, 10),
        ];
        let (fee, p) = cheapest(menu, 100_000_000).unwrap();
        assert_eq!((fee, p.min_fee_msat), (2_000_000, 2_000_000));
        let e = cheapest(vec![params(0, 0, 1, 10)], 100).unwrap_err();
        assert!(e.contains("outside its payment limits (1..=10 msat)"), "{e}");
    }
}
