//! Core Lightning's `signmessage` (with the node key, which never leaves the node crate) and
//! `checkmessage`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use boltd_node::deps::bitcoin::secp256k1::PublicKey;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::dialect::cln::ClnErrorBody;
use crate::dialect::cln::{rpc_error, ClnError, Created, Params, TAG};
use crate::AppState;

/// The longest message to sign or check, in characters: Core Lightning takes up to 65535, but a
/// request body is at most 64 KiB, and a character may take up to 12 bytes of JSON (a
/// surrogate pair escaped, `\ud83d\ude00`): one more than 4096 still fits, so a message too
/// long is refused as such (-32602), never as a body too large.
const MAX_MESSAGE_CHARS: usize = 4096;

/// Core Lightning's `checkmessage`: the signer is not a node it knows.
const SIGNER_UNKNOWN: i32 = 1301;

/// Core Lightning's `signmessage` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnSignMessageParams {
    /// The message (at most 4096 characters: a request body is at most 64 KiB).
    #[schema(max_length = 4096)]
    message: String,
}

/// `signmessage`'s result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnSignedMessage {
    /// The compact signature (64 bytes, hex).
    signature: String,
    /// The recovery id (one byte, hex).
    recid: String,
    /// Recovery byte and signature in zbase32, as LND's `signmessage`.
    zbase: String,
}

/// The message parameter, checked.
fn message(p: &Params) -> Result<String, ClnError> {
    let m = p
        .text("message")?
        .ok_or_else(|| ClnError::invalid("missing required parameter `message`"))?;
    if m.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ClnError::invalid(format!(
            "message must be at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    Ok(m)
}

/// Core Lightning's `signmessage`: signs `message` with the node key (a recoverable signature
/// over `sha256d("Lightning Signed Message:" + message)`).
#[utoipa::path(post, path = "/v1/signmessage", tag = TAG, operation_id = "cln_signmessage",
    security(("bearer" = ["node:admin"])),
    request_body = ClnSignMessageParams,
    responses(
        (status = 201, description = "The signature", body = ClnSignedMessage),
        (status = 400, description = "Bad parameters (-32602)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_signmessage(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Created<ClnSignedMessage>, ClnError> {
    let p = Params::parse(&body, &["message"], &[])?;
    let message = message(&p)?;
    let zbase = engine.node().sign_message(message.as_bytes()).map_err(|e| {
        tracing::error!("signing a message: {e}");
        ClnError::from(boltd_engine::PayError::Other("the node key could not sign".into()))
    })?;
    let (signature, recid) = boltd_node::message::signature_parts(&zbase).ok_or_else(|| {
        ClnError::from(boltd_engine::PayError::Other("the signature is malformed".into()))
    })?;
    Ok(Created(ClnSignedMessage {
        signature: hex::encode(signature),
        recid: hex::encode([recid]),
        zbase,
    }))
}

/// Core Lightning's `checkmessage` parameters.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ClnCheckMessageParams {
    /// The message (at most 4096 characters).
    #[schema(max_length = 4096)]
    message: String,
    /// The signature (zbase32).
    zbase: String,
    /// The expected signer (node id, hex); without it, the signer must be a known node.
    pubkey: Option<String>,
}

/// `checkmessage`'s result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClnCheckedMessage {
    /// Always true (a signature that does not verify is an error).
    verified: bool,
    /// The signer.
    pubkey: String,
}

/// Core Lightning's `checkmessage`: verifies that `zbase` signs `message` by `pubkey`, or,
/// without one, by a node it knows (this node or one of the network graph; error 1301
/// otherwise, naming the key that signed). A signature by another key than `pubkey` is refused
/// with -32602 (Core Lightning's schema answers `verified` true only).
#[utoipa::path(post, path = "/v1/checkmessage", tag = TAG, operation_id = "cln_checkmessage",
    security(("bearer" = [])),
    request_body = ClnCheckMessageParams,
    responses(
        (status = 201, description = "Verified", body = ClnCheckedMessage),
        (status = 400, description = "Bad parameters, or signed by another key (-32602)", body = ClnErrorBody),
        (status = 500, description = "The signer is not a known node (1301)", body = ClnErrorBody),
    ))]
pub(crate) async fn cln_checkmessage(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Response, ClnError> {
    let p = Params::parse(&body, &["message", "zbase", "pubkey"], &[])?;
    let message = message(&p)?;
    let zbase =
        p.text("zbase")?.ok_or_else(|| ClnError::invalid("missing required parameter `zbase`"))?;
    let expected = p
        .text("pubkey")?
        .map(|s| {
            s.parse::<PublicKey>()
                .map_err(|_| ClnError::invalid(format!("pubkey: `{s}` is not a node id")))
        })
        .transpose()?;
    let signer = boltd_node::Node::recover_signer(message.as_bytes(), &zbase)
        .map_err(|e| ClnError::invalid(format!("zbase: {e}")))?;
    match expected {
        Some(pk) if pk != signer => Err(ClnError::invalid(format!(
            "the signature does not verify for pubkey {pk}: it was made by {signer}"
        ))),
        Some(_) => Ok(Created(ClnCheckedMessage { verified: true, pubkey: signer.to_string() })
            .into_response()),
        None if engine.known_node(&signer) => {
            Ok(Created(ClnCheckedMessage { verified: true, pubkey: signer.to_string() })
                .into_response())
        }
        None => Ok(rpc_error(
            SIGNER_UNKNOWN,
            format!("pubkey {signer} not found in the graph"),
            Value::Null,
        )),
    }
}
