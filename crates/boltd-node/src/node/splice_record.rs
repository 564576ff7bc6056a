//! The record of a channel's splice until it locks: what the channel record shows while a
//! splice is under way (LDK 0.2's `ChannelDetails` says nothing about one).
//!
//! One record per channel, in the store's key-value table (namespace `boltd_splices`, keyed by
//! the channel id), so it survives a restart like the splice itself, and in memory (loaded at
//! start, every change written to the store first), so listing channels reads no store:
//! - written **before** the node asks LDK to splice (`negotiating`; removed again when LDK
//!   refuses), so no splice of ours is ever under way without it;
//! - moved to `pending_confirmation` with the new funding outpoint by `Event::SplicePending`
//!   (created then for a splice the peer started);
//! - removed by `Event::SpliceFailed`, by `Event::ChannelReady` once the channel runs on the
//!   new funding outpoint (the splice confirmed and both sides locked it), and by
//!   `Event::ChannelClosed`.
//!
//! A record still `negotiating` after [`NEGOTIATION_SECS`] is stale (the negotiation ended
//! without an event, as when a restart cut it short: LDK does not keep an unsigned negotiation)
//! and is neither shown nor in the way of a new splice.

use std::collections::HashMap;
use std::sync::MutexGuard;

use bitcoin::OutPoint;
use lightning::io;

use super::*;

/// The key-value namespace of the splice records.
const SPLICES_NAMESPACE: &str = "boltd_splices";

/// How long a splice may stay `negotiating` before its record counts as stale, seconds (a
/// negotiation takes a few round trips with the peer).
pub const NEGOTIATION_SECS: u64 = 300;

/// Where a splice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpliceState {
    /// Started; the splice transaction is being agreed and signed with the peer.
    Negotiating,
    /// Signed and broadcast; the channel moves to the new funding output once it has confirmed
    /// and both sides locked it (until then the capacity is the old one).
    PendingConfirmation,
}

/// Which way a splice moves funds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpliceDirection {
    /// Funds from the node's wallet into the channel.
    In,
    /// Funds from the channel to an on-chain address.
    Out,
    /// Started by the peer (what it adds or takes is its own).
    Peer,
}

/// A splice of a channel that has not locked yet (see [`ChannelInfo::splice`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelSplice {
    /// Where the splice is.
    pub state: SpliceState,
    /// Which way it moves funds.
    pub direction: SpliceDirection,
    /// The amount added or taken, in sat (`null` for a splice the peer started).
    pub amount_sat: Option<u64>,
    /// Where a splice-out pays.
    pub address: Option<String>,
    /// The new funding outpoint `txid:vout`, once the splice transaction is signed.
    pub funding_outpoint: Option<String>,
    /// When the splice started (ours) or was first seen (the peer's), unix seconds.
    pub started_at: u64,
}

impl ChannelSplice {
    /// Whether the record still describes a splice under way at `now` (unix seconds).
    fn is_live(&self, now: u64) -> bool {
        self.state == SpliceState::PendingConfirmation
            || now.saturating_sub(self.started_at) < NEGOTIATION_SECS
    }
}

fn node_error(e: io::Error) -> NodeError {
    NodeError::Io(std::io::Error::other(format!("the splice record: {e}")))
}

/// The splice records (see the module documentation): in the store, and in memory (loaded at
/// start, written through), so that listing channels reads no store.
pub(crate) struct Splices {
    store: Arc<Store>,
    /// Every record in the store, by channel id (hex). Held across a record's check and write,
    /// so that two changes of one channel's record never interleave.
    records: Mutex<HashMap<String, ChannelSplice>>,
}

/// Unix seconds.
fn now_secs() -> u64 {
    now().as_secs()
}

fn read_record(store: &Store, key: &str) -> io::Result<Option<ChannelSplice>> {
    match KVStoreSync::read(store, SPLICES_NAMESPACE, "", key) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The records being changed, and the store to write them to.
struct Locked<'a> {
    store: &'a Store,
    records: MutexGuard<'a, HashMap<String, ChannelSplice>>,
}

impl Locked<'_> {
    fn get(&self, key: &str) -> Option<ChannelSplice> {
        self.records.get(key).cloned()
    }

    fn write(&mut self, key: &str, splice: ChannelSplice) -> io::Result<()> {
        let bytes = serde_json::to_vec(&splice)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        KVStoreSync::write(self.store, SPLICES_NAMESPACE, "", key, bytes)?;
        self.records.insert(key.to_string(), splice);
        Ok(())
    }

    fn remove(&mut self, key: &str) -> io::Result<()> {
        KVStoreSync::remove(self.store, SPLICES_NAMESPACE, "", key, false)?;
        self.records.remove(key);
        Ok(())
    }
}

impl Splices {
    /// Loads the records of `store`. One that cannot be read is logged and left out (the
    /// channel list still answers; a later event about its channel rewrites or removes it).
    pub(crate) fn new(store: Arc<Store>) -> Self {
        let keys = KVStoreSync::list(&*store, SPLICES_NAMESPACE, "").unwrap_or_else(|e| {
            tracing::error!("cannot list the splice records: {e}");
            Vec::new()
        });
        let records = keys
            .into_iter()
            .filter_map(|key| match read_record(&store, &key) {
                Ok(s) => s.map(|s| (key, s)),
                Err(e) => {
                    tracing::error!(channel_id = %key, "cannot read the splice record: {e}");
                    None
                }
            })
            .collect();
        Self { store, records: Mutex::new(records) }
    }

    fn lock(&self) -> Locked<'_> {
        Locked {
            store: &self.store,
            records: self.records.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// The live splice of every channel that has one, by channel id (hex), from memory.
    pub(crate) fn all(&self) -> HashMap<String, ChannelSplice> {
        let at = now_secs();
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.iter().filter(|(_, s)| s.is_live(at)).map(|(k, s)| (k.clone(), s.clone())).collect()
    }

    /// Records a splice of ours before LDK is asked for it; refused while another splice of
    /// the channel is under way.
    pub(crate) fn start(
        &self,
        channel_id: &ChannelId,
        direction: SpliceDirection,
        amount_sat: u64,
        address: Option<String>,
    ) -> NodeResult<()> {
        let key = channel_id.to_string();
        let mut records = self.lock();
        if let Some(s) = records.get(&key).filter(|s| s.is_live(now_secs())) {
            let what = match (&s.state, &s.funding_outpoint) {
                (SpliceState::PendingConfirmation, Some(o)) => {
                    format!("waits for the confirmation of {o}")
                }
                _ => "is being negotiated".to_string(),
            };
            return Err(NodeError::InvalidInput(format!(
                "a splice of channel {key} {what}; start another once it has locked"
            )));
        }
        let splice = ChannelSplice {
            state: SpliceState::Negotiating,
            direction,
            amount_sat: Some(amount_sat),
            address,
            funding_outpoint: None,
            started_at: now_secs(),
        };
        records.write(&key, splice).map_err(node_error)
    }

    /// LDK refused the splice the node asked for: its record goes.
    pub(crate) fn refused(&self, channel_id: &ChannelId) {
        if let Err(e) = self.lock().remove(&channel_id.to_string()) {
            tracing::error!(%channel_id, "cannot remove the record of a refused splice: {e}");
        }
    }

    /// `Event::SplicePending`: the splice transaction is signed and broadcast.
    pub(crate) fn pending(&self, channel_id: &ChannelId, funding: OutPoint) -> io::Result<()> {
        let key = channel_id.to_string();
        let outpoint = funding.to_string();
        let mut records = self.lock();
        let mut splice = match records.get(&key) {
            // The event replayed: nothing new.
            Some(s) if s.funding_outpoint.as_deref() == Some(&outpoint) => return Ok(()),
            // Ours (or a splice already seen, now on another transaction).
            Some(s) if s.is_live(now_secs()) => s,
            // None, or a negotiation of ours that died: the peer's.
            _ => ChannelSplice {
                state: SpliceState::Negotiating,
                direction: SpliceDirection::Peer,
                amount_sat: None,
                address: None,
                funding_outpoint: None,
                started_at: now_secs(),
            },
        };
        splice.state = SpliceState::PendingConfirmation;
        splice.funding_outpoint = Some(outpoint);
        records.write(&key, splice)
    }

    /// `Event::ChannelReady`: the splice of the channel locked when the channel now runs on
    /// its funding outpoint (`funding`).
    pub(crate) fn ready(
        &self,
        channel_id: &ChannelId,
        funding: Option<OutPoint>,
    ) -> io::Result<()> {
        let key = channel_id.to_string();
        let mut records = self.lock();
        let Some(splice) = records.get(&key) else { return Ok(()) };
        let current = funding.map(|o| o.to_string());
        if splice.funding_outpoint.is_some() && splice.funding_outpoint == current {
            tracing::info!(%channel_id, outpoint = ?current, "splice locked");
            records.remove(&key)?;
        }
        Ok(())
    }

    /// `Event::SpliceFailed` or `Event::ChannelClosed`: the channel has no splice under way.
    pub(crate) fn ended(&self, channel_id: &ChannelId) -> io::Result<()> {
        self.lock().remove(&channel_id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn splices() -> (tempfile::TempDir, Splices) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        (dir, Splices::new(store))
    }

    fn outpoint(n: u8) -> OutPoint {
        OutPoint { txid: bitcoin::Txid::from_byte_array([n; 32]), vout: 1 }
    }

    #[test]
    fn a_splice_is_shown_from_its_start_until_it_locks() {
        let (_dir, s) = splices();
        let id = ChannelId([7; 32]);
        s.start(&id, SpliceDirection::Out, 50_000, Some("bcrt1q".into())).unwrap();
        let shown = s.all().remove(&id.to_string()).unwrap();
        assert_eq!(shown.state, SpliceState::Negotiating);
        assert_eq!((shown.direction, shown.amount_sat), (SpliceDirection::Out, Some(50_000)));
        // A second splice of the channel meanwhile is refused, naming why.
        let err = s.start(&id, SpliceDirection::In, 1, None).unwrap_err().to_string();
        assert!(err.contains("is being negotiated"), "{err}");

        s.pending(&id, outpoint(2)).unwrap();
        s.pending(&id, outpoint(2)).unwrap(); // replayed
        let shown = s.all().remove(&id.to_string()).unwrap();
        assert_eq!(shown.state, SpliceState::PendingConfirmation);
        assert_eq!(shown.direction, SpliceDirection::Out, "ours, not the peer's");
        assert_eq!(shown.funding_outpoint, Some(format!("{}:1", outpoint(2).txid)));
        let err = s.start(&id, SpliceDirection::In, 1, None).unwrap_err().to_string();
        assert!(err.contains("waits for the confirmation of"), "{err}");

        // ChannelReady on the old funding (a reconnection) keeps it; on the new one ends it.
        s.ready(&id, Some(outpoint(1))).unwrap();
        assert!(s.all().contains_key(&id.to_string()));
        s.ready(&id, Some(outpoint(2))).unwrap();
        assert!(s.all().is_empty());
        s.start(&id, SpliceDirection::In, 1, None).unwrap();
    }

    #[test]
    fn the_records_are_in_the_store_and_loaded_at_start() {
        let (_dir, s) = splices();
        let (a, b) = (ChannelId([1; 32]), ChannelId([2; 32]));
        s.start(&a, SpliceDirection::In, 5, None).unwrap();
        s.pending(&b, outpoint(3)).unwrap();
        s.start(&b, SpliceDirection::In, 5, None).unwrap_err();
        // A node starting on the same store shows the same records and refuses the same.
        let again = Splices::new(Arc::clone(&s.store));
        assert_eq!(again.all(), s.all());
        assert_eq!(again.all().len(), 2);
        again.start(&b, SpliceDirection::In, 5, None).unwrap_err();
        // Removals are written through too.
        again.ended(&a).unwrap();
        assert_eq!(Splices::new(Arc::clone(&s.store)).all().len(), 1);
    }

    #[test]
    fn a_peer_splice_a_refused_one_and_a_failed_one() {
        let (_dir, s) = splices();
        let (a, b, c) = (ChannelId([1; 32]), ChannelId([2; 32]), ChannelId([3; 32]));
        s.pending(&a, outpoint(9)).unwrap();
        let peer = s.all().remove(&a.to_string()).unwrap();
        assert_eq!((peer.direction, peer.amount_sat), (SpliceDirection::Peer, None));
        s.start(&b, SpliceDirection::In, 10, None).unwrap();
        s.refused(&b);
        s.start(&c, SpliceDirection::In, 10, None).unwrap();
        s.ended(&c).unwrap();
        assert_eq!(s.all().into_keys().collect::<Vec<_>>(), vec![a.to_string()]);
    }

    #[test]
    fn a_stale_negotiation_is_not_shown_nor_in_the_way() {
        let (_dir, s) = splices();
        let id = ChannelId([4; 32]);
        let stale = ChannelSplice {
            state: SpliceState::Negotiating,
            direction: SpliceDirection::In,
            amount_sat: Some(5),
            address: None,
            funding_outpoint: None,
            started_at: now_secs() - NEGOTIATION_SECS,
        };
        s.lock().write(&id.to_string(), stale.clone()).unwrap();
        assert!(s.all().is_empty());
        s.start(&id, SpliceDirection::Out, 6, None).unwrap();
        assert_eq!(s.all()[&id.to_string()].amount_sat, Some(6));
        // A splice signed after a negotiation of ours died is the peer's, not ours.
        let other = ChannelId([5; 32]);
        s.lock().write(&other.to_string(), stale).unwrap();
        s.pending(&other, outpoint(6)).unwrap();
        let shown = &s.all()[&other.to_string()];
        assert_eq!((shown.direction, shown.amount_sat), (SpliceDirection::Peer, None));
    }
}
