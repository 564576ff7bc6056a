//! boltd's storage layer.
//!
//! Everything boltd persists lives in one SQLite database, `boltd.sqlite`, inside the data
//! directory:
//!
//! * [`Store`] opens (or creates) that database, applies schema migrations and implements LDK's
//!   key-value persistence traits ([`KVStoreSync`], [`KVStore`] and [`MigratableKVStore`]) over a
//!   single `kv` table. Every write is durable when it returns; concurrent writers share their
//!   disk flushes (group commit: [`Store::sync`], [`Store::deferring_sync`]).
//! * Payment records (schema version 2): [`Store::begin_outgoing`] and its siblings keep one
//!   durable, truthful row per payment in either direction (`payments`), idempotent by payment
//!   hash and by client key, and [`Store::insert_receive`] and its siblings the state machine of
//!   every invoice we issue (`receives`). They are methods on [`Store`] (shared as
//!   `Arc<Store>`), each one transaction on the store's connection; see the `payments` and
//!   `receives` modules' documentation for the rules.
//! * Notifications (schema version 4): the event log (`events`), appended in the transaction
//!   of the state change it reports and read with a cursor ([`Store::events_after`]), and
//!   webhook endpoints with one durable delivery per endpoint and event
//!   ([`Store::due_deliveries`], [`Store::record_attempt`]); see the `events` and `webhooks`
//!   modules.
//! * Payment attempts (schema version 5): every send of an outgoing payment to LDK and every
//!   path LDK reported resolved, with Core Lightning's failure details ([`Store::record_part`],
//!   [`Store::new_send`]), and the stage of a pending payment; see the `attempts` module.
//! * API tokens (schema version 3): [`Store::insert_token`] and its siblings keep the tokens
//!   (only the SHA-256 of their secrets), and [`Store::begin_outgoing`] checks a token's
//!   per-payment maximum and budgets in the transaction that records the payment intent; see
//!   the `tokens` module's documentation.
//! * On-chain sends (schema version 6): the [`onchain`] module's functions record each send of
//!   the on-chain wallet with its idempotency key, in the wallet's own transaction.
//! * Deleted invoices (schema version 9): [`Store::delete_receive`] hides a receive from the
//!   API (Core Lightning's `delinvoice`) and keeps its row; see the `receives_delete` module.
//! * Nostr Wallet Connect connections (schema version 12): a NIP-47 client's key to its API
//!   token ([`Store::insert_nwc_connection`]); see the `nwc` module.
//! * The LSP of a receive (schema version 13): the fee an LSPS2 provider promised for a
//!   just-in-time channel and what it took ([`Store::insert_receive_lsp`]); see the
//!   `receives_lsp` module.
//! * [`DataDirLock`] makes sure only one boltd process uses a data directory at a time.
//! * [`StoreError`] describes what went wrong, naming the file involved and never containing
//!   stored values.
//!
//! A database that is not a valid SQLite file, or whose schema is newer than this code knows,
//! is refused with an error; it is never recreated or overwritten.
//!
//! [`KVStoreSync`]: lightning::util::persist::KVStoreSync
//! [`KVStore`]: lightning::util::persist::KVStore
//! [`MigratableKVStore`]: lightning::util::persist::MigratableKVStore

#![deny(missing_docs)]

mod attempts;
mod batch;
mod closed_channels;
pub mod db;
mod durability;
mod error;
mod events;
mod fatal;
#[cfg(test)]
mod isolation_tests;
mod kv;
mod lease;
mod lock;
mod nwc;
pub mod onchain;
mod payments;
#[cfg(any(test, feature = "pg-cluster"))]
pub mod pg_cluster;
mod pg_schema;
mod postgres;
mod receives;
mod receives_delete;
mod receives_lsp;
mod schema;
mod store;
mod token_cache;
mod tokens;
mod webhooks;

pub use attempts::{NewPart, PartFailure, PartHop, PartRecord, StoredSendPlan};
pub use batch::KvOp;
pub use closed_channels::{CloseKind, ClosedChannelRecord, NewClosedChannel};
pub use durability::SyncStats;
pub use error::StoreError;
pub use events::{EventRecord, EventType, NewChannelEvent};
pub use fatal::{is_db_persistence_failure, is_persistence_failure, FatalHandler};
pub use lease::{LeaseOptions, LeaseState};
pub use lock::{DataDirLock, LOCK_FILE_NAME};
pub use nwc::NwcConnectionRecord;
pub use payments::{
    BeginOutgoing, Direction, FailureCode, NewIncoming, NewOutgoing, PaymentCursor, PaymentFilter,
    PaymentKind, PaymentRecord, PaymentStage, PaymentStatus, RecordIncoming,
};
pub use receives::{
    CancelOutcome, CancelReason, InsertReceive, NewReceive, ReceiveRecord, ReceiveState,
    ReceiveUpdate,
};
pub use receives_delete::DeleteOutcome;
pub use receives_lsp::{NewReceiveLsp, ReceiveLspRecord};
pub use schema::SCHEMA_VERSION;
pub use store::{Store, BUSY_TIMEOUT, DB_FILE_NAME};
pub use tokens::{
    BudgetUse, BudgetWindow, NewToken, RevokeToken, SpendRefusal, SpendingLimits, TokenRecord,
};
pub use webhooks::{
    AttemptOutcome, AttemptRecord, DeliveryFilter, DeliveryRecord, DeliveryState, DueDelivery,
    NewWebhook, NextAttempt, WebhookFormat, WebhookRecord,
};
