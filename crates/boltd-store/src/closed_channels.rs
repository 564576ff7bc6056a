//! Closed channels (schema version 11): one row per channel the node has closed or seen closed,
//! written in the transaction that appends the `channel_closed` event, so the list and the event
//! log agree and both survive restarts. The closing transaction is learned from the chain: the
//! node's chain listener records a confirmed spend of a channel's funding output
//! ([`Store::record_funding_spend`]), which may come before or after the close is recorded, and
//! forgets it when its block is disconnected ([`Store::forget_funding_spends_above`]).

use crate::db::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::TxError;
use crate::events::{EventRecord, EventType, NewChannelEvent};
use crate::payments::text_enum;
use crate::{Store, StoreError};

/// Why a channel closed, in the categories an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseKind {
    /// Both sides agreed (a mutual close, whoever started it).
    Cooperative,
    /// We broadcast our commitment (asked to, or because of an error, an HTLC about to time out
    /// or a fee rate the peer would not raise).
    LocalForceClose,
    /// The peer broadcast its commitment (or a commitment confirmed that we did not broadcast).
    RemoteForceClose,
    /// The channel never got funded or was abandoned (funding timed out, peer gone before
    /// funding, a batch that failed): nothing on chain to claim.
    Abandoned,
}
text_enum!(CloseKind {
    Cooperative => "cooperative",
    LocalForceClose => "local_force_close",
    RemoteForceClose => "remote_force_close",
    Abandoned => "abandoned",
});

/// A closed channel to record with its `channel_closed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClosedChannel {
    /// The channel id.
    pub channel_id: [u8; 32],
    /// The peer, when known (hex node id).
    pub counterparty_node_id: Option<String>,
    /// The channel's value in sat, when known.
    pub capacity_sat: Option<u64>,
    /// The funding outpoint (`txid:vout`), when the channel was funded.
    pub funding_txo: Option<String>,
    /// Why it closed.
    pub kind: CloseKind,
    /// LDK's words for why.
    pub reason: String,
    /// Our balance in the channel when it closed (msat), when known.
    pub last_local_balance_msat: Option<u64>,
}

/// A closed channel as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosedChannelRecord {
    /// The channel id.
    #[serde(serialize_with = "hex32")]
    pub channel_id: [u8; 32],
    /// The peer, when known.
    pub counterparty_node_id: Option<String>,
    /// The channel's value in sat.
    pub capacity_sat: Option<u64>,
    /// The funding outpoint.
    pub funding_txo: Option<String>,
    /// Why it closed.
    pub kind: CloseKind,
    /// LDK's words for why.
    pub reason: String,
    /// Our balance in the channel when it closed (msat).
    pub last_local_balance_msat: Option<u64>,
    /// When it closed (unix seconds).
    pub closed_at: u64,
    /// The transaction that spent the funding output, once seen on chain.
    pub closing_txid: Option<String>,
    /// The height it confirmed at.
    pub closing_height: Option<u32>,
}

fn hex32<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::payments::to_hex(v))
}

const COLUMNS: &str = "c.channel_id, counterparty_node_id, capacity_sat, funding_txo, kind, \
    reason, last_local_balance_msat, closed_at, closing_txid, closing_height";

/// The closed channels with their closing transactions, when seen.
const FROM: &str = "closed_channels c LEFT JOIN channel_closings s ON s.channel_id = c.channel_id";

fn closed_from_row(r: &Row<'_>) -> crate::db::Result<ClosedChannelRecord> {
    Ok(ClosedChannelRecord {
        channel_id: r.get(0)?,
        counterparty_node_id: r.get(1)?,
        capacity_sat: r.get(2)?,
        funding_txo: r.get(3)?,
        kind: r.get(4)?,
        reason: r.get(5)?,
        last_local_balance_msat: r.get(6)?,
        closed_at: r.get(7)?,
        closing_txid: r.get(8)?,
        closing_height: r.get(9)?,
    })
}

impl Store {
    /// Records that a channel closed: its `channel_closed` event (see
    /// [`Store::record_channel_event`]) and its row in the closed channels, in one transaction.
    /// A replay (LDK delivers an unhandled event again) appends nothing and keeps the row.
    pub fn record_channel_closed(
        &self,
        event: NewChannelEvent,
        closed: NewClosedChannel,
        now: u64,
    ) -> Result<Option<EventRecord>, StoreError> {
        if event.event_type != EventType::ChannelClosed || event.channel_id != closed.channel_id {
            return Err(StoreError::invalid("a closed channel goes with its channel_closed event"));
        }
        self.transaction(|tx| {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO closed_channels (channel_id, counterparty_node_id, \
                 capacity_sat, funding_txo, kind, reason, last_local_balance_msat, closed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                closed.channel_id,
                closed.counterparty_node_id,
                closed.capacity_sat,
                closed.funding_txo,
                closed.kind,
                closed.reason,
                closed.last_local_balance_msat,
                now,
            ])?;
            self.append_channel_event(tx, &event, now)
        })
    }

    /// Records that `txid`, confirmed at `height`, spent the funding output of channel
    /// `channel_id` (a block connected again after a reorganization replaces it).
    pub fn record_funding_spend(
        &self,
        channel_id: &[u8; 32],
        txid: &str,
        height: u32,
    ) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.prepare_cached(
                "INSERT INTO channel_closings (channel_id, closing_txid, closing_height) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (channel_id) DO UPDATE SET \
                 closing_txid = excluded.closing_txid, closing_height = excluded.closing_height",
            )?
            .execute(params![channel_id, txid, height])?;
            Ok::<_, TxError>(())
        })
    }

    /// Forgets the funding spends confirmed above `height` (their blocks were disconnected).
    pub fn forget_funding_spends_above(&self, height: u32) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.prepare_cached("DELETE FROM channel_closings WHERE closing_height > ?1")?
                .execute([height])?;
            Ok::<_, TxError>(())
        })
    }

    /// The closed channels, the most recently closed first.
    pub fn closed_channels(&self) -> Result<Vec<ClosedChannelRecord>, StoreError> {
        self.read(|c| {
            let sql = format!("SELECT {COLUMNS} FROM {FROM} ORDER BY closed_at DESC, c.rowid DESC");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([], closed_from_row)?;
            rows.collect()
        })
    }

    /// The closed channel with this id.
    pub fn closed_channel(
        &self,
        channel_id: &[u8; 32],
    ) -> Result<Option<ClosedChannelRecord>, StoreError> {
        self.read(|c| {
            let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.channel_id = ?1");
            c.prepare_cached(&sql)?.query_row([channel_id], closed_from_row).optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(n: u8, kind: CloseKind) -> (NewChannelEvent, NewClosedChannel) {
        let event = NewChannelEvent {
            event_type: EventType::ChannelClosed,
            channel_id: [n; 32],
            channel: serde_json::json!({ "reason": "because" }),
        };
        let closed = NewClosedChannel {
            channel_id: [n; 32],
            counterparty_node_id: Some("02ab".into()),
            capacity_sat: Some(100_000),
            funding_txo: Some(format!("{}:0", "aa".repeat(32))),
            kind,
            reason: "because".into(),
            last_local_balance_msat: Some(40_000_000),
        };
        (event, closed)
    }

    #[test]
    fn a_close_is_recorded_once_with_its_event_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let (e, c) = closed(1, CloseKind::Cooperative);
            assert!(store.record_channel_closed(e.clone(), c.clone(), 100).unwrap().is_some());
            // LDK replays the event: nothing appended, the row kept as it was.
            assert!(store.record_channel_closed(e, c, 200).unwrap().is_none());
            // The chain listener can see the spend before the close is recorded.
            store.record_funding_spend(&[2; 32], &"cc".repeat(32), 330).unwrap();
            store.forget_funding_spends_above(325).unwrap();
            assert_eq!(store.closed_channel(&[2; 32]).unwrap(), None);
            store.record_funding_spend(&[2; 32], &"bb".repeat(32), 321).unwrap();
            let (e, c) = closed(2, CloseKind::RemoteForceClose);
            store.record_channel_closed(e, c, 150).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let list = store.closed_channels().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].channel_id, list[0].kind), ([2; 32], CloseKind::RemoteForceClose));
        assert_eq!(
            (list[0].closing_txid.clone(), list[0].closing_height),
            (Some("bb".repeat(32)), Some(321))
        );
        assert_eq!((list[1].closed_at, list[1].last_local_balance_msat), (100, Some(40_000_000)));
        assert_eq!(store.closed_channel(&[1; 32]).unwrap().unwrap().kind, CloseKind::Cooperative);
        let events = store.events_after(0, 10).unwrap();
        assert_eq!(events.len(), 2, "one event per close");
    }

    #[test]
    fn a_close_needs_its_own_channel_closed_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (mut e, c) = closed(1, CloseKind::Cooperative);
        e.channel_id = [9; 32];
        assert!(store.record_channel_closed(e, c.clone(), 1).is_err());
        assert!(store.closed_channels().unwrap().is_empty());
    }
}
