//! Schema versioning and migrations.
//!
//! The schema version is stored in SQLite's `PRAGMA user_version`. `MIGRATIONS[i]` upgrades a
//! database from version `i` to version `i + 1`; all pending migrations and the version bump run
//! in one transaction, so a crash leaves the database either fully migrated or untouched.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use tracing::info;

use crate::error::StoreError;

/// Version 1: LDK's key-value store.
const V1_KV: &str = "
CREATE TABLE kv (
	primary_namespace TEXT NOT NULL,
	secondary_namespace TEXT NOT NULL,
	key TEXT NOT NULL CHECK (key <> ''),
	value BLOB NOT NULL,
	PRIMARY KEY (primary_namespace, secondary_namespace, key)
) WITHOUT ROWID;
";

/// Version 2: payment records (`payments`) and the receive-side state machine (`receives`).
///
/// See `crate::payments` for the meaning of the columns and the rules the typed API keeps;
/// the constraints here are the last line of defence (one outgoing BOLT11 row and one incoming
/// row per payment hash, one row per idempotency key, well-formed hashes and JSON, a
/// completed outgoing payment always has its preimage, a failed one its failure code).
const V2_PAYMENTS: &str = "
CREATE TABLE payments (
	id INTEGER PRIMARY KEY,
	direction TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
	kind TEXT NOT NULL CHECK (kind IN ('bolt11', 'bolt12', 'keysend', 'lnurl')),
	status TEXT NOT NULL CHECK (status IN ('pending', 'complete', 'failed')),
	payment_hash BLOB CHECK (payment_hash IS NULL OR length(payment_hash) = 32),
	payment_id BLOB CHECK (payment_id IS NULL OR length(payment_id) = 32),
	preimage BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
	amount_msat INTEGER NOT NULL CHECK (amount_msat >= 0),
	fee_msat INTEGER CHECK (fee_msat >= 0),
	amount_sent_msat INTEGER CHECK (amount_sent_msat >= 0),
	parts INTEGER CHECK (parts >= 0),
	destination TEXT,
	invoice TEXT,
	description TEXT,
	label TEXT,
	metadata TEXT CHECK (metadata IS NULL OR
		CASE WHEN json_valid(metadata) THEN json_type(metadata) = 'object' ELSE 0 END),
	custom_records TEXT CHECK (custom_records IS NULL OR
		CASE WHEN json_valid(custom_records) THEN json_type(custom_records) = 'object' ELSE 0 END),
	idempotency_key TEXT CHECK (idempotency_key IS NULL OR idempotency_key <> ''),
	request_hash BLOB CHECK (request_hash IS NULL OR length(request_hash) = 32),
	failure_code INTEGER CHECK (failure_code IN (-1, 201, 203, 205, 206, 207, 210)),
	failure_reason TEXT,
	retryable INTEGER CHECK (retryable IN (0, 1)),
	attempts INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	completed_at INTEGER,
	expires_at INTEGER,
	CHECK (direction = 'outgoing' OR payment_hash IS NOT NULL),
	CHECK (direction = 'incoming' OR payment_id IS NOT NULL),
	CHECK (kind NOT IN ('bolt11', 'keysend') OR payment_hash IS NOT NULL),
	CHECK (direction = 'incoming' OR status <> 'complete' OR preimage IS NOT NULL),
	CHECK (status <> 'failed' OR failure_code IS NOT NULL)
);
CREATE UNIQUE INDEX payments_outgoing_bolt11_hash ON payments (direction, payment_hash)
	WHERE direction = 'outgoing' AND kind = 'bolt11';
CREATE UNIQUE INDEX payments_incoming_hash ON payments (direction, payment_hash)
	WHERE direction = 'incoming';
CREATE UNIQUE INDEX payments_idempotency_key ON payments (direction, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX payments_payment_id ON payments (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX payments_hash ON payments (payment_hash);
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX payments_status_created ON payments (status, created_at, id);

CREATE TABLE receives (
	id INTEGER PRIMARY KEY,
	payment_hash BLOB NOT NULL UNIQUE CHECK (length(payment_hash) = 32),
	state TEXT NOT NULL DEFAULT 'created' CHECK (state IN
		('created', 'htlcs_arrived', 'preimage_revealed', 'settled', 'canceled', 'expired')),
	invoice TEXT,
	preimage BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
	hold INTEGER NOT NULL DEFAULT 0 CHECK (hold IN (0, 1)),
	amount_msat INTEGER CHECK (amount_msat >= 0),
	received_msat INTEGER CHECK (received_msat >= 0),
	description TEXT,
	description_hash BLOB CHECK (description_hash IS NULL OR length(description_hash) = 32),
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	htlcs_arrived_at INTEGER,
	preimage_revealed_at INTEGER,
	finished_at INTEGER,
	payer_note TEXT,
	custom_records TEXT CHECK (custom_records IS NULL OR
		CASE WHEN json_valid(custom_records) THEN json_type(custom_records) = 'object' ELSE 0 END),
	idempotency_key TEXT UNIQUE CHECK (idempotency_key IS NULL OR idempotency_key <> ''),
	request_hash BLOB CHECK (request_hash IS NULL OR length(request_hash) = 32),
	CHECK (state <> 'preimage_revealed' OR preimage IS NOT NULL)
);
CREATE INDEX receives_invoice ON receives (invoice);
CREATE INDEX receives_state_created ON receives (state, created_at, id);
";

/// Version 3: API tokens (`api_tokens`) and per-token spending on outgoing payments.
///
/// See `crate::tokens`. A token's secret is never stored, only its SHA-256; tokens are revoked,
/// never deleted, so the payments that name one keep a valid reference. On `payments`:
/// `token_id` is the token that asked for the payment (NULL without authentication),
/// `fee_limit_msat` the fee reserve counted against the token's budgets while the payment is
/// pending, and `attempted_at` when the current attempt was recorded (a retry moves it), which
/// places the payment in a budget window.
const V3_TOKENS: &str = "
CREATE TABLE api_tokens (
	id TEXT PRIMARY KEY CHECK (length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'),
	name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
	secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
	scopes TEXT NOT NULL CHECK (scopes <> ''),
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	revoked_at INTEGER,
	max_payment_msat INTEGER CHECK (max_payment_msat >= 0),
	budget_day_msat INTEGER CHECK (budget_day_msat >= 0),
	budget_week_msat INTEGER CHECK (budget_week_msat >= 0),
	budget_month_msat INTEGER CHECK (budget_month_msat >= 0)
);
ALTER TABLE payments ADD COLUMN token_id TEXT REFERENCES api_tokens (id);
ALTER TABLE payments ADD COLUMN fee_limit_msat INTEGER CHECK (fee_limit_msat >= 0);
ALTER TABLE payments ADD COLUMN attempted_at INTEGER;
UPDATE payments SET attempted_at = created_at WHERE direction = 'outgoing';
CREATE INDEX payments_token_attempted ON payments (token_id, attempted_at)
	WHERE token_id IS NOT NULL;
";

/// Version 4: notifications: the durable event log (`events`), webhook endpoints (`webhooks`),
/// one delivery per endpoint and event (`webhook_deliveries`) and every attempt of each
/// (`webhook_attempts`).
///
/// `events.seq` is `AUTOINCREMENT` so a sequence number is never reused, even if old events are
/// pruned one day: clients keep it as their cursor. Events are appended in the transaction of
/// the state change they report (see `crate::events`), and deliveries are fanned out in that
/// same transaction, so an event and its deliveries exist together or not at all.
/// `dedup_key` makes appending idempotent where the state change is not a store write (channel
/// events, which LDK may replay). A delivery is `pending` exactly while it has a next attempt
/// time. Deleting an endpoint deletes its deliveries and their attempts; events stay.
const V4_NOTIFICATIONS: &str = "
CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	type TEXT NOT NULL CHECK (type <> ''),
	created_at INTEGER NOT NULL,
	payment_hash BLOB CHECK (payment_hash IS NULL OR length(payment_hash) = 32),
	dedup_key TEXT UNIQUE CHECK (dedup_key IS NULL OR dedup_key <> ''),
	data TEXT NOT NULL CHECK (
		CASE WHEN json_valid(data) THEN json_type(data) = 'object' ELSE 0 END)
);
CREATE INDEX events_created ON events (created_at, seq);
CREATE INDEX events_payment_hash ON events (payment_hash) WHERE payment_hash IS NOT NULL;

CREATE TABLE webhooks (
	id INTEGER PRIMARY KEY,
	url TEXT NOT NULL CHECK (url <> ''),
	description TEXT,
	format TEXT NOT NULL CHECK (format IN ('native', 'alby')),
	event_types TEXT NOT NULL CHECK (
		CASE WHEN json_valid(event_types) THEN json_type(event_types) = 'array' ELSE 0 END),
	filter_types TEXT CHECK (filter_types IS NULL OR
		CASE WHEN json_valid(filter_types) THEN json_type(filter_types) = 'array' ELSE 0 END),
	secret TEXT NOT NULL CHECK (secret <> ''),
	created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
	id INTEGER PRIMARY KEY,
	webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_seq INTEGER NOT NULL REFERENCES events (seq),
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at_ms INTEGER,
	last_attempt_at_ms INTEGER,
	last_status INTEGER,
	last_error TEXT,
	created_at_ms INTEGER NOT NULL,
	finished_at_ms INTEGER,
	UNIQUE (webhook_id, event_seq),
	CHECK ((state = 'pending') = (next_attempt_at_ms IS NOT NULL)),
	CHECK (state = 'pending' OR finished_at_ms IS NOT NULL)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms, id)
	WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

CREATE TABLE webhook_attempts (
	id INTEGER PRIMARY KEY,
	delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
	attempt INTEGER NOT NULL CHECK (attempt >= 1),
	at_ms INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
	status INTEGER,
	error TEXT,
	UNIQUE (delivery_id, attempt),
	CHECK (status IS NOT NULL OR error IS NOT NULL)
);
";

/// Version 5: the outgoing payment's state machine and attempts (see `crate::attempts`), and
/// the hold invoice's claim deadline.
///
/// `payments.stage` says what a pending outgoing payment is doing (recorded, waiting for a
/// peer, in flight; NULL once final). `payment_sends` keeps every LDK `PaymentId` a payment was
/// handed to LDK under (so a late event of an earlier send still finds it; with LDK's failure of
/// the send when its payment's driver took it over), `payment_parts`
/// every path LDK reported resolved, with Core Lightning's failure details. On `receives`:
/// the block height (and estimated time) by which held HTLCs must be claimed, and why a
/// receive was canceled (`canceled`: by request; `htlcs_expired`: its held HTLCs were failed
/// back at the deadline).
const V5_ATTEMPTS: &str = "
ALTER TABLE payments ADD COLUMN stage TEXT
	CHECK (stage IS NULL OR (status = 'pending' AND direction = 'outgoing'
		AND stage IN ('recorded', 'waiting_for_peer', 'in_flight')));
UPDATE payments SET stage = 'in_flight' WHERE status = 'pending' AND direction = 'outgoing';

CREATE TABLE payment_sends (
	ldk_payment_id BLOB PRIMARY KEY CHECK (length(ldk_payment_id) = 32),
	payment_row INTEGER NOT NULL REFERENCES payments (id),
	attempt INTEGER NOT NULL CHECK (attempt >= 1),
	started_at INTEGER NOT NULL,
	failure_code INTEGER CHECK (failure_code IN (-1, 201, 203, 205, 206, 207, 210)),
	failure_reason TEXT
) WITHOUT ROWID;
CREATE INDEX payment_sends_payment ON payment_sends (payment_row);
INSERT INTO payment_sends (ldk_payment_id, payment_row, attempt, started_at)
	SELECT payment_id, id, attempts, coalesce(attempted_at, created_at) FROM payments
	WHERE direction = 'outgoing' AND payment_id IS NOT NULL;

CREATE TABLE payment_parts (
	id INTEGER PRIMARY KEY,
	payment_row INTEGER NOT NULL REFERENCES payments (id),
	ldk_payment_id BLOB NOT NULL CHECK (length(ldk_payment_id) = 32),
	path_hash BLOB NOT NULL CHECK (length(path_hash) = 32),
	succeeded INTEGER NOT NULL CHECK (succeeded IN (0, 1)),
	amount_msat INTEGER NOT NULL CHECK (amount_msat >= 0),
	fee_msat INTEGER NOT NULL CHECK (fee_msat >= 0),
	route TEXT NOT NULL CHECK (
		CASE WHEN json_valid(route) THEN json_type(route) = 'array' ELSE 0 END),
	erring_index INTEGER,
	erring_node TEXT,
	erring_channel TEXT,
	failcode INTEGER,
	created_at INTEGER NOT NULL,
	UNIQUE (ldk_payment_id, path_hash, succeeded),
	CHECK (succeeded = 1 OR failcode IS NOT NULL)
);
CREATE INDEX payment_parts_payment ON payment_parts (payment_row, id);

ALTER TABLE receives ADD COLUMN claim_deadline_height INTEGER;
ALTER TABLE receives ADD COLUMN claim_deadline_at INTEGER;
ALTER TABLE receives ADD COLUMN cancel_reason TEXT
	CHECK (cancel_reason IS NULL OR cancel_reason IN ('canceled', 'htlcs_expired'));
UPDATE receives SET cancel_reason = 'canceled' WHERE state = 'canceled';
";

/// Version 6: on-chain sends (`onchain_sends`), written by the on-chain wallet in the
/// transaction that records the signed transaction, before it is broadcast. See
/// `crate::onchain`. `idempotency_key` is the client's key (unique; NULL without one),
/// `request_hash` the request's fingerprint, `tx` the signed transaction (a retry under the
/// same key broadcasts the same transaction again, never a new one).
const V6_ONCHAIN_SENDS: &str = "
CREATE TABLE onchain_sends (
	id INTEGER PRIMARY KEY,
	txid TEXT NOT NULL UNIQUE CHECK (length(txid) = 64 AND txid NOT GLOB '*[^0-9a-f]*'),
	tx BLOB NOT NULL CHECK (length(tx) > 0),
	idempotency_key TEXT UNIQUE CHECK (idempotency_key IS NULL OR idempotency_key <> ''),
	request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),
	state TEXT NOT NULL CHECK (state IN ('recorded', 'broadcast', 'unknown', 'evicted')),
	reason TEXT,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX onchain_sends_unsettled ON onchain_sends (state) WHERE state IN ('recorded', 'unknown');
";

/// Version 7: per-token isolation. A client's idempotency key on an outgoing payment is
/// unique per token (`token_id`, NULL without authentication), not across the node: one app
/// can neither find nor block another's payments by guessing its keys. `begin_outgoing` checks
/// the key of its token in the transaction that records the intent, as before. Receives record
/// the token that created them (`token_id`), so only that token (or an admin) can cancel one.
const V7_TOKEN_SCOPES: &str = "
DROP INDEX payments_idempotency_key;
CREATE UNIQUE INDEX payments_idempotency_key
	ON payments (direction, coalesce(token_id, ''), idempotency_key)
	WHERE idempotency_key IS NOT NULL;
ALTER TABLE receives ADD COLUMN token_id TEXT REFERENCES api_tokens (id);
";

/// Version 8: how to send an outgoing payment again (`payments.send_plan`, the engine's JSON,
/// written with the intent): a payment a restart interrupted (waiting for a route, or given up
/// by the node as it reloaded) is resumed with it while its retry window, counted from
/// `attempted_at`, lasts. NULL for payments that are never resumed, and for those recorded
/// before this version.
const V8_SEND_PLAN: &str = "
ALTER TABLE payments ADD COLUMN send_plan TEXT
	CHECK (send_plan IS NULL OR (json_valid(send_plan) AND json_type(send_plan) = 'object'));
";

/// Version 9: deleted invoices
/// (Core Lightning's `delinvoice`). A deleted receive keeps its row, so that a payment that
/// arrives for it later is still failed back (an unpaid invoice is canceled when deleted) and
/// a paid one's record stays, but `deleted_at` hides it from every listing and lookup of the
/// API; its label (`idempotency_key`) is cleared, so the label can be used again, as in Core
/// Lightning. See `crate::receives_delete`.
const V9_DELETED_RECEIVES: &str = "
ALTER TABLE receives ADD COLUMN deleted_at INTEGER;
";

/// Version 10: a receive's idempotency key is unique per token, as an outgoing payment's is
/// since version 7 (one app can neither find nor block another's invoices by guessing its
/// keys), and Core Lightning labels get a column of their own (`label`, unique across the
/// node; they were idempotency keys with the prefix `cln·label:`). SQLite cannot drop the
/// column's inline `UNIQUE`, so the table is rebuilt (nothing references it) with its indexes.
const V10_RECEIVE_KEYS: &str = "
CREATE TABLE receives_v10 (
	id INTEGER PRIMARY KEY,
	payment_hash BLOB NOT NULL UNIQUE CHECK (length(payment_hash) = 32),
	state TEXT NOT NULL DEFAULT 'created' CHECK (state IN
		('created', 'htlcs_arrived', 'preimage_revealed', 'settled', 'canceled', 'expired')),
	invoice TEXT,
	preimage BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
	hold INTEGER NOT NULL DEFAULT 0 CHECK (hold IN (0, 1)),
	amount_msat INTEGER CHECK (amount_msat >= 0),
	received_msat INTEGER CHECK (received_msat >= 0),
	description TEXT,
	description_hash BLOB CHECK (description_hash IS NULL OR length(description_hash) = 32),
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	htlcs_arrived_at INTEGER,
	preimage_revealed_at INTEGER,
	finished_at INTEGER,
	payer_note TEXT,
	custom_records TEXT CHECK (custom_records IS NULL OR
		CASE WHEN json_valid(custom_records) THEN json_type(custom_records) = 'object' ELSE 0 END),
	idempotency_key TEXT CHECK (idempotency_key IS NULL OR idempotency_key <> ''),
	request_hash BLOB CHECK (request_hash IS NULL OR length(request_hash) = 32),
	claim_deadline_height INTEGER,
	claim_deadline_at INTEGER,
	cancel_reason TEXT
		CHECK (cancel_reason IS NULL OR cancel_reason IN ('canceled', 'htlcs_expired')),
	token_id TEXT REFERENCES api_tokens (id),
	deleted_at INTEGER,
	label TEXT CHECK (label IS NULL OR label <> ''),
	CHECK (state <> 'preimage_revealed' OR preimage IS NOT NULL)
);
INSERT INTO receives_v10 (id, payment_hash, state, invoice, preimage, hold, amount_msat,
	received_msat, description, description_hash, created_at, expires_at, htlcs_arrived_at,
	preimage_revealed_at, finished_at, payer_note, custom_records, idempotency_key,
	request_hash, claim_deadline_height, claim_deadline_at, cancel_reason, token_id, deleted_at,
	label)
SELECT id, payment_hash, state, invoice, preimage, hold, amount_msat, received_msat,
	description, description_hash, created_at, expires_at, htlcs_arrived_at,
	preimage_revealed_at, finished_at, payer_note, custom_records,
	CASE WHEN idempotency_key GLOB 'cln·label:*' THEN NULL ELSE idempotency_key END,
	request_hash, claim_deadline_height, claim_deadline_at, cancel_reason, token_id, deleted_at,
	CASE WHEN idempotency_key GLOB 'cln·label:*'
		THEN substr(idempotency_key, length('cln·label:') + 1) END
FROM receives;
DROP TABLE receives;
ALTER TABLE receives_v10 RENAME TO receives;
CREATE INDEX receives_invoice ON receives (invoice);
CREATE INDEX receives_state_created ON receives (state, created_at, id);
CREATE UNIQUE INDEX receives_idempotency_key ON receives (coalesce(token_id, ''), idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX receives_label ON receives (label) WHERE label IS NOT NULL;
";

/// Version 11: closed channels (`closed_channels`), one row per channel, written with its
/// `channel_closed` event, and the transactions seen spending a channel's funding output
/// (`channel_closings`, written by the node's chain listener as blocks connect, forgotten when
/// their block is disconnected). See `crate::closed_channels`.
const V11_CLOSED_CHANNELS: &str = "
CREATE TABLE closed_channels (
	channel_id BLOB PRIMARY KEY CHECK (length(channel_id) = 32),
	counterparty_node_id TEXT,
	capacity_sat INTEGER CHECK (capacity_sat >= 0),
	funding_txo TEXT,
	kind TEXT NOT NULL CHECK (kind IN
		('cooperative', 'local_force_close', 'remote_force_close', 'abandoned')),
	reason TEXT NOT NULL,
	last_local_balance_msat INTEGER CHECK (last_local_balance_msat >= 0),
	closed_at INTEGER NOT NULL
);
CREATE TABLE channel_closings (
	channel_id BLOB PRIMARY KEY CHECK (length(channel_id) = 32),
	closing_txid TEXT NOT NULL CHECK (length(closing_txid) = 64),
	closing_height INTEGER NOT NULL
);
";

/// Version 12: Nostr Wallet Connect connections: a NIP-47 client's public key (x-only,
/// lowercase hex) to the API token whose scopes and limits it has. See `crate::nwc`.
const V12_NWC_CONNECTIONS: &str = "
CREATE TABLE nwc_connections (
	client_pubkey TEXT PRIMARY KEY CHECK (length(client_pubkey) = 64),
	token_id TEXT NOT NULL UNIQUE REFERENCES api_tokens (id),
	created_at INTEGER NOT NULL
);
";

/// Version 13: the LSP of a receive made through an LSPS2 provider (a just-in-time channel):
/// the fee it promised and, once paid, what it took. See `crate::receives_lsp`.
const V13_RECEIVE_LSPS: &str = "
CREATE TABLE receive_lsps (
	payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
	lsp_node_id TEXT NOT NULL,
	opening_fee_msat INTEGER NOT NULL CHECK (opening_fee_msat >= 0),
	valid_until INTEGER NOT NULL,
	skimmed_fee_msat INTEGER CHECK (skimmed_fee_msat >= 0),
	created_at INTEGER NOT NULL
);
";

/// `MIGRATIONS[i]` migrates from schema version `i` to `i + 1`. Only ever append.
const MIGRATIONS: &[&str] = &[
    V1_KV,
    V2_PAYMENTS,
    V3_TOKENS,
    V4_NOTIFICATIONS,
    V5_ATTEMPTS,
    V6_ONCHAIN_SENDS,
    V7_TOKEN_SCOPES,
    V8_SEND_PLAN,
    V9_DELETED_RECEIVES,
    V10_RECEIVE_KEYS,
    V11_CLOSED_CHANNELS,
    V12_NWC_CONNECTIONS,
    V13_RECEIVE_LSPS,
];

/// The newest database schema version this code knows (and creates).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads the schema version (`PRAGMA user_version`).
pub(crate) fn read_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::sqlite(path, e))?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("invalid schema version {v}"),
    })
}

/// Fails if the database's schema is newer than [`SCHEMA_VERSION`].
pub(crate) fn check_not_newer(found: u32, path: &Path) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies all pending migrations in one immediate transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
    // Re-read under the write lock: another connection may have migrated meanwhile.
    let from = read_version(&tx, path)?;
    check_not_newer(from, path)?;
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(migration).map_err(sql)?;
        info!(path = %path.display(), version = i + 1, "applied database migration");
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql)?;
    tx.commit().map_err(sql)?;
    info!(path = %path.display(), from, to = SCHEMA_VERSION, "database schema is up to date");
    Ok(())
}

#[cfg(test)]
mod tests {
    use lightning::util::persist::KVStoreSync;

    use super::*;
    use crate::{BeginOutgoing, NewOutgoing, PaymentKind, Store, DB_FILE_NAME};

    fn schema_sql(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn v1_database_upgrades_in_place_and_keeps_kv_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A database exactly as version 1 left it.
            let conn = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
            conn.execute_batch(V1_KV).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO kv VALUES ('', '', 'manager', x'0102'), ('monitors', '', 'm', x'03')",
                [],
            )
            .unwrap();
        }
        let store = Store::open_sqlite(dir.path()).unwrap();
        assert_eq!(KVStoreSync::read(&store, "", "", "manager").unwrap(), [1, 2]);
        assert_eq!(KVStoreSync::read(&store, "monitors", "", "m").unwrap(), [3]);
        let version = store.read(|c| {
            Ok(c.sqlite()
                .unwrap()
                .pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))?)
        });
        assert_eq!(version.unwrap(), SCHEMA_VERSION);
        let started = store
            .begin_outgoing(NewOutgoing::new(PaymentKind::Bolt11, Some([1; 32]), [1; 32], 1), 1)
            .unwrap();
        assert!(matches!(started, BeginOutgoing::Started(_)));

        // The upgraded schema is exactly a new database's.
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = Store::open_sqlite(fresh_dir.path()).unwrap();
        assert_eq!(
            schema_sql(store.conn().sqlite().unwrap()),
            schema_sql(fresh.conn().sqlite().unwrap())
        );
        drop(store);
        // Reopening an up-to-date database changes nothing.
        let store = Store::open_sqlite(dir.path()).unwrap();
        assert_eq!(KVStoreSync::read(&store, "", "", "manager").unwrap(), [1, 2]);
        assert!(store.payment_by_payment_id(&[1; 32]).unwrap().is_some());
    }

    #[test]
    fn v2_payments_upgrade_to_v3_without_a_token() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
            conn.execute_batch(V1_KV).unwrap();
            conn.execute_batch(V2_PAYMENTS).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute(
                "INSERT INTO payments (direction, kind, status, payment_hash, payment_id, \
                 amount_msat, created_at, updated_at) \
                 VALUES ('outgoing', 'keysend', 'pending', ?1, ?1, 5, 70, 80)",
                [[3u8; 32]],
            )
            .unwrap();
        }
        let store = Store::open_sqlite(dir.path()).unwrap();
        let rec = store.payment_by_payment_id(&[3; 32]).unwrap().unwrap();
        assert_eq!((rec.token_id, rec.fee_limit_msat), (None, None));
        let attempted: Option<i64> = store
            .read(|c| c.query_row("SELECT attempted_at FROM payments", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(attempted, Some(70));
        assert!(store.list_tokens().unwrap().is_empty());
    }

    /// Version 10 moves Core Lightning labels out of the idempotency keys into `label` and
    /// makes keys unique per token: a v9 database keeps its receives, their labels and keys.
    #[test]
    fn v9_receives_upgrade_to_labels_and_keys_per_token() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
            for m in &MIGRATIONS[..9] {
                conn.execute_batch(m).unwrap();
            }
            conn.pragma_update(None, "user_version", 9).unwrap();
            for (n, key) in [(1u8, "cln·label:shop-1"), (2, "client-key")] {
                conn.execute(
                    "INSERT INTO receives (payment_hash, invoice, created_at, idempotency_key) \
                     VALUES (?1, 'lnbcrt1', 70, ?2)",
                    rusqlite::params![[n; 32], key],
                )
                .unwrap();
            }
        }
        let store = Store::open_sqlite(dir.path()).unwrap();
        let labeled = store.receive_by_hash(&[1; 32]).unwrap().unwrap();
        assert_eq!((labeled.label.as_deref(), labeled.idempotency_key), (Some("shop-1"), None));
        assert_eq!(store.receive_by_label("shop-1").unwrap().unwrap().id, labeled.id);
        let keyed = store.receive_by_idempotency_key("client-key", None).unwrap().unwrap();
        assert_eq!((keyed.label, keyed.payment_hash), (None, [2; 32]));
        // The label is node-wide, the key is per token.
        let mut again = crate::NewReceive::new([3; 32]);
        again.label = Some("shop-1".into());
        again.request_hash = Some([7; 32]);
        assert!(matches!(
            store.insert_receive(again, 80).unwrap(),
            crate::InsertReceive::KeyConflict(r) if r.id == labeled.id
        ));
        let token = crate::NewToken {
            id: "aaaaaaaaaaaaaaaa".into(),
            name: "app".into(),
            secret_hash: [1; 32],
            scopes: "invoices:create".into(),
            expires_at: None,
            limits: Default::default(),
        };
        let token = store.insert_token(token, 1).unwrap().id;
        let mut other = crate::NewReceive::new([4; 32]);
        other.idempotency_key = Some("client-key".into());
        other.token_id = Some(token);
        assert!(matches!(
            store.insert_receive(other, 80).unwrap(),
            crate::InsertReceive::Created(_)
        ));
    }

    #[test]
    fn failed_migration_leaves_v1_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1_KV).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO kv VALUES ('', '', 'manager', x'01')", []).unwrap();
            // A table in the way makes migration 2 fail halfway.
            conn.execute_batch("CREATE TABLE receives (x INTEGER)").unwrap();
        }
        let err = Store::open_sqlite(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(read_version(&conn, &path).unwrap(), 1);
        let payments: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'payments'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(payments, 0, "the payments table was rolled back");
        let n: i64 = conn.query_row("SELECT count(*) FROM kv", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
