//! Nostr Wallet Connect (NIP-47) for boltd: another dialect, reached through relays, on the
//! same engine calls as the HTTP dialects.
//!
//! * [`service::NwcService`] connects to the configured relays (`nwc_relays`; websockets,
//!   reconnecting with exponential backoff, see [`relay`]), publishes the info event (kind
//!   13194: methods, `encryption` `nip44_v2 nip04`, notifications), answers requests (kind
//!   23194) with responses (23195), and sends notifications (23197 NIP-44 and 23196 NIP-04).
//! * A connection ([`connection`]) is an API token: its scopes, per-payment maximum and
//!   budgets are the connection's, enforced by the engine in the transaction that records the
//!   payment intent. The request's event id is the engine's idempotency key, scoped to the
//!   token: a request delivered twice never pays twice. Revoking the token revokes the
//!   connection (`UNAUTHORIZED`).
//! * [`methods`] maps the methods to engine calls; [`error::NwcError`] maps the engine's
//!   errors to NIP-47's codes by exhaustive matches; [`crypto`] does NIP-44 v2 and NIP-04.
//! * The service's own key is `<data_dir>/nwc.key` ([`keys`]); neither it nor a connection's
//!   secret is ever logged.
//!
//! Crates: `nostr` 0.39 (events, signatures, NIP-04 and NIP-44 with the spec's vectors; its
//! secp256k1 0.29 is the one `bitcoin` 0.32 and LDK use, so one copy is built) and
//! `tokio-tungstenite` for the websockets, rather than `nostr-sdk`, whose relay pool and NIP-47
//! helpers (NIP-04 only) would bring a second websocket stack and database layer for what is
//! here a few hundred lines.

#![deny(missing_docs)]

pub mod connection;
pub mod crypto;
pub mod error;
pub mod keys;
pub mod methods;
pub mod relay;
pub mod request;
pub mod service;
pub mod tx;

pub use error::NwcError;
pub use service::NwcService;
