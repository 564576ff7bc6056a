//! A client that retries as a real one would: the same `Idempotency-Key` again after a refused
//! connection, a timeout, a 5xx (503 included) or a `pending` answer, until it gets a final
//! answer (`complete` or `failed`) or its deadline passes. After an ambiguous failure it looks
//! the payment up (by payment hash, or by its key in the history) before sending it again, since
//! the same key replays a failed payment's error (a 504 stays a 504).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::daemon::Daemon;
use crate::ApiFailure;

/// Pause before trying again after a refused connection (the daemon is restarting).
const DOWN_PAUSE: Duration = Duration::from_millis(250);
/// Pause before trying again after a 5xx or a `pending` answer.
const BUSY_PAUSE: Duration = Duration::from_millis(500);

/// Whether a failed call is worth the same request again: no answer (status 0: refused,
/// reset, timed out) or a server error (5xx, 503 `channels_busy` included).
pub fn retryable(e: &ApiFailure) -> bool {
    e.status == 0 || e.status >= 500
}

/// Where a payment ended for its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A `complete` answer.
    Complete,
    /// A `failed` answer, or a refusal (4xx); the reason is the API's code or the record's
    /// failure reason.
    Failed(String),
    /// No final answer before the deadline; why.
    Unresolved(String),
}

/// What a client saw while paying.
#[derive(Debug, Clone)]
pub struct PayOutcome {
    /// The final outcome.
    pub outcome: Outcome,
    /// The payment hash, once any answer or record gave it.
    pub payment_hash: Option<String>,
    /// Requests sent (the first included).
    pub tries: u32,
    /// Whether any answer said `complete` (an acknowledged success).
    pub saw_complete: bool,
    /// Whether any answer said `failed` (an acknowledged failure).
    pub saw_failed: bool,
    /// Every answer's HTTP status (0: no answer) and the status or error code in it.
    pub answers: Vec<(u16, String)>,
}

/// Creates an invoice at `payee` (`POST /api/v1/lightning/receives/invoice` with `body` and the
/// idempotency key `key`), retrying until a 2xx or 4xx answer or `deadline`. Returns the 2xx
/// answer (the receive), else why not.
pub fn create_invoice(
    payee: &Daemon,
    body: &Value,
    key: &str,
    deadline: Instant,
) -> Result<Value, String> {
    loop {
        let last =
            match payee.post_with_key("/api/v1/lightning/receives/invoice", body.clone(), key) {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) => e.to_string(),
                Err(e) => return Err(format!("refused: {e}")),
            };
        if Instant::now() >= deadline {
            return Err(format!("no answer before the deadline; last: {last}"));
        }
        std::thread::sleep(DOWN_PAUSE);
    }
}

/// The `status` of a payment answer or record, and its failure reason if any.
fn status_of(v: &Value) -> (String, String) {
    let status = v["status"].as_str().unwrap_or("?").to_string();
    let reason = v["failure_reason"].as_str().or(v["message"].as_str()).unwrap_or("").to_string();
    (status, reason)
}

/// Finds the outgoing payment made with idempotency key `key` in `payer`'s history.
pub fn find_outgoing_by_key(payer: &Daemon, key: &str) -> Result<Option<Value>, ApiFailure> {
    Ok(super::check::history(payer, "outgoing")?
        .into_iter()
        .find(|r| r["idempotency_key"].as_str() == Some(key)))
}

/// Pays: `POST path` with `body` and the idempotency key `key` at `payer` (barkd's `pay` or
/// `keysend`), retrying until a final answer or `deadline` (see the module documentation).
/// `payment_hash` is the hash when the caller knows it (an invoice's).
pub fn pay(
    payer: &Daemon,
    path: &str,
    body: &Value,
    key: &str,
    payment_hash: Option<&str>,
    deadline: Instant,
) -> PayOutcome {
    let mut out = PayOutcome {
        outcome: Outcome::Unresolved(String::new()),
        payment_hash: payment_hash.map(String::from),
        tries: 0,
        saw_complete: false,
        saw_failed: false,
        answers: Vec::new(),
    };
    loop {
        out.tries += 1;
        let answer = payer.post_with_key(path, body.clone(), key);
        let last;
        let pause;
        match answer {
            Ok(v) => {
                if out.payment_hash.is_none() {
                    out.payment_hash = v["payment_hash"].as_str().map(String::from);
                }
                let (status, reason) = status_of(&v);
                out.answers.push((200, status.clone()));
                match status.as_str() {
                    "complete" => {
                        out.saw_complete = true;
                        out.outcome = Outcome::Complete;
                        return out;
                    }
                    "failed" => {
                        out.saw_failed = true;
                        out.outcome = Outcome::Failed(reason);
                        return out;
                    }
                    _ => {
                        last = format!("answered {status}");
                        pause = BUSY_PAUSE;
                    }
                }
            }
            Err(e) if retryable(&e) => {
                out.answers.push((e.status, e.body["code"].as_str().unwrap_or("").to_string()));
                last = e.to_string();
                // The same key replays a failed payment's error: look the payment up first.
                match lookup(payer, out.payment_hash.as_deref(), key) {
                    Some(rec) => {
                        let (status, reason) = status_of(&rec);
                        if out.payment_hash.is_none() {
                            out.payment_hash = rec["payment_hash"].as_str().map(String::from);
                        }
                        match status.as_str() {
                            "complete" => {
                                out.saw_complete = true;
                                out.outcome = Outcome::Complete;
                                return out;
                            }
                            "failed" => {
                                out.saw_failed = true;
                                out.outcome = Outcome::Failed(reason);
                                return out;
                            }
                            _ => pause = BUSY_PAUSE,
                        }
                    }
                    None => pause = if e.status == 0 { DOWN_PAUSE } else { BUSY_PAUSE },
                }
            }
            Err(e) => {
                let code = e.body["code"].as_str().unwrap_or("").to_string();
                let message = e.body["message"].as_str().unwrap_or("");
                out.answers.push((e.status, code.clone()));
                out.saw_failed = true;
                out.outcome = Outcome::Failed(format!("{} {code}: {message}", e.status));
                return out;
            }
        }
        if Instant::now() >= deadline {
            out.outcome = Outcome::Unresolved(format!("no final answer in time; last: {last}"));
            return out;
        }
        std::thread::sleep(pause);
    }
}

/// The payment's record at `payer`, by hash if known, else by key; `None` when there is none
/// or the daemon cannot tell now.
fn lookup(payer: &Daemon, payment_hash: Option<&str>, key: &str) -> Option<Value> {
    match payment_hash {
        Some(h) => payer.get(&format!("/api/v1/lightning/sends/{h}")).ok(),
        None => find_outgoing_by_key(payer, key).ok().flatten(),
    }
}
