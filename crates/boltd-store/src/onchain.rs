//! On-chain sends (`onchain_sends`, schema version 6): one row per transaction the wallet sends
//! on an API request, with the client's idempotency key and what is known of its broadcast.
//!
//! The row is written by the on-chain wallet in the same transaction that records the signed
//! transaction as the wallet's, before anything is broadcast: on SQLite on the wallet's own
//! connection (the one BDK persists the wallet with), on PostgreSQL in a transaction of the
//! store ([`Store::write_with`](crate::Store::write_with)); so these are free functions over a
//! [`Conn`], not [`Store`](crate::Store) methods.
//!
//! States ([`OnchainSendState`]): `recorded` (written, not yet handed to bitcoind, or the daemon
//! stopped in between), `broadcast` (bitcoind has it: it accepted it, or it is in its mempool or
//! a block), `unknown` (the call failed without bitcoind's verdict: a timeout, a transport
//! error; it may have been accepted) and `evicted` (bitcoind refused it, or a later check found
//! it neither in bitcoind's mempool nor in a block: its inputs are free again).

use crate::db::{params, Conn, OptionalExtension, Result, Row};

/// What is known of an on-chain send's broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnchainSendState {
    /// Recorded, not yet handed to bitcoind.
    Recorded,
    /// bitcoind has it (accepted, in its mempool or in a block).
    Broadcast,
    /// The broadcast call failed without bitcoind's verdict; it may have been accepted.
    Unknown,
    /// bitcoind refused it, or it was later found neither in the mempool nor in a block.
    Evicted,
}

impl OnchainSendState {
    /// The column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            OnchainSendState::Recorded => "recorded",
            OnchainSendState::Broadcast => "broadcast",
            OnchainSendState::Unknown => "unknown",
            OnchainSendState::Evicted => "evicted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recorded" => OnchainSendState::Recorded,
            "broadcast" => OnchainSendState::Broadcast,
            "unknown" => OnchainSendState::Unknown,
            "evicted" => OnchainSendState::Evicted,
            _ => return None,
        })
    }
}

/// A send to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOnchainSend {
    /// The transaction id (hex).
    pub txid: String,
    /// The signed transaction (consensus encoding).
    pub tx: Vec<u8>,
    /// The client's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// A fingerprint of the request (same key, different request: a conflict).
    pub request_hash: [u8; 32],
}

/// A recorded send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnchainSend {
    /// Row id.
    pub id: i64,
    /// The transaction id (hex).
    pub txid: String,
    /// The signed transaction (consensus encoding).
    pub tx: Vec<u8>,
    /// The client's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// The request's fingerprint.
    pub request_hash: [u8; 32],
    /// What is known of its broadcast.
    pub state: OnchainSendState,
    /// bitcoind's words when it refused it, or why it is unknown or evicted.
    pub reason: Option<String>,
    /// When it was recorded (unix seconds).
    pub created_at: u64,
    /// When its state last changed (unix seconds).
    pub updated_at: u64,
}

const COLUMNS: &str =
    "id, txid, tx, idempotency_key, request_hash, state, reason, created_at, updated_at";

fn from_row(row: &Row<'_>) -> Result<OnchainSend> {
    let bad = |i: usize, what: &str| crate::db::Error::conversion(i, format!("invalid {what}"));
    let hash: Vec<u8> = row.get(4)?;
    let state: String = row.get(5)?;
    Ok(OnchainSend {
        id: row.get(0)?,
        txid: row.get(1)?,
        tx: row.get(2)?,
        idempotency_key: row.get(3)?,
        request_hash: hash.try_into().map_err(|_| bad(4, "request hash"))?,
        state: OnchainSendState::parse(&state).ok_or_else(|| bad(5, "state"))?,
        reason: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

/// The send recorded under the client's idempotency `key`, if any.
pub fn onchain_send_by_key(conn: &Conn, key: &str) -> Result<Option<OnchainSend>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM onchain_sends WHERE idempotency_key = ?1"))?
        .query_row([key], from_row)
        .optional()
}

/// The send of transaction `txid`, if it is one.
pub fn onchain_send_by_txid(conn: &Conn, txid: &str) -> Result<Option<OnchainSend>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM onchain_sends WHERE txid = ?1"))?
        .query_row([txid], from_row)
        .optional()
}

/// Sends whose broadcast is not settled (`recorded` or `unknown`), oldest first.
pub fn unsettled_onchain_sends(conn: &Conn) -> Result<Vec<OnchainSend>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM onchain_sends WHERE state IN ('recorded', 'unknown') ORDER BY id"
    ))?
    .query_map([], from_row)?
    .collect()
}

/// Records a send as `recorded`; fails (writing nothing) if its key or txid is already used.
pub fn insert_onchain_send(conn: &Conn, new: &NewOnchainSend, now: u64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO onchain_sends (txid, tx, idempotency_key, request_hash, state, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, 'recorded', ?5, ?5) RETURNING id",
    )?
    .query_row(params![new.txid, new.tx, new.idempotency_key, new.request_hash, now], |r| r.get(0))
}

/// Moves the send of `txid` to `state` with `reason`; returns whether a row changed.
pub fn set_onchain_send_state(
    conn: &Conn,
    txid: &str,
    state: OnchainSendState,
    reason: Option<&str>,
    now: u64,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE onchain_sends SET state = ?2, reason = ?3, updated_at = ?4 WHERE txid = ?1",
        )?
        .execute(params![txid, state.as_str(), reason, now])?;
    Ok(n > 0)
}

/// The on-chain wallet's change sets on PostgreSQL (BDK's `ChangeSet`s as JSON objects), oldest
/// first: the wallet is their merge. (On SQLite, BDK keeps its own tables.)
pub fn wallet_changesets(conn: &Conn) -> Result<Vec<String>> {
    conn.prepare_cached("SELECT changeset FROM bdk_changesets ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// Appends one of the wallet's change sets (a JSON object) on PostgreSQL.
pub fn append_wallet_changeset(conn: &Conn, changeset_json: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO bdk_changesets (changeset) VALUES (?1)")?
        .execute([changeset_json])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn new(txid: char, key: Option<&str>) -> NewOnchainSend {
        NewOnchainSend {
            txid: txid.to_string().repeat(64),
            tx: vec![1, 2, 3],
            idempotency_key: key.map(String::from),
            request_hash: [9; 32],
        }
    }

    #[test]
    fn a_key_finds_its_send_and_cannot_be_used_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // One transaction per statement, as the wallet writes them (a failed statement ends
        // its transaction on PostgreSQL).
        let insert =
            |txid, key, at| store.write_with(|c| insert_onchain_send(c, &new(txid, key), at));
        let set = |txid: &str, state, reason: Option<&str>, at| {
            store.write_with(|c| set_onchain_send_state(c, txid, state, reason, at)).unwrap()
        };
        assert_eq!(store.read_with(|c| onchain_send_by_key(c, "k")).unwrap(), None);
        insert('a', Some("k"), 100).unwrap();
        insert('b', None, 101).unwrap();
        insert('c', None, 102).unwrap();
        let got = store.read_with(|c| onchain_send_by_key(c, "k")).unwrap().unwrap();
        assert_eq!((got.txid, got.state), ("a".repeat(64), OnchainSendState::Recorded));
        assert_eq!((got.tx, got.request_hash, got.created_at), (vec![1, 2, 3], [9; 32], 100));
        // The same key again (another transaction) or the same txid: refused.
        assert!(insert('d', Some("k"), 103).is_err());
        assert!(insert('b', None, 103).is_err());
        assert!(insert('e', Some(""), 103).is_err(), "empty key");

        let b = "b".repeat(64);
        assert!(set(&b, OnchainSendState::Unknown, Some("timeout"), 110));
        set(&"c".repeat(64), OnchainSendState::Broadcast, None, 111);
        let unsettled = store.read_with(unsettled_onchain_sends).unwrap();
        let txids: Vec<_> = unsettled.iter().map(|s| s.txid.clone()).collect();
        assert_eq!(txids, vec!["a".repeat(64), b.clone()]);
        let b_row = store.read_with(|c| onchain_send_by_txid(c, &b)).unwrap().unwrap();
        assert_eq!((b_row.reason.as_deref(), b_row.updated_at), (Some("timeout"), 110));
        assert!(!set(&"f".repeat(64), OnchainSendState::Evicted, None, 1));
    }

    #[test]
    fn sends_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.write_with(|c| insert_onchain_send(c, &new('a', Some("k")), 100)).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.read_with(|c| onchain_send_by_key(c, "k")).unwrap().is_some());
    }
}
