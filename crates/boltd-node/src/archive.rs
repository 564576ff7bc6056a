//! Exported backup archives: everything needed to restore the node but the seed, encrypted with
//! a key derived from the seed.
//!
//! # Contents
//! - `boltd.sqlite`: a consistent snapshot of the node's database (SQLite's `VACUUM INTO`, one
//!   read transaction: the channel manager and monitors as one write left them, the on-chain
//!   wallet, payment records, invoices, API tokens, the event log, webhooks); without the network
//!   graph and the scorer, which gossip rebuilds;
//! - `admin.token`, when the data directory has one;
//! - `manifest.json`: when, which network, which node.
//!
//! # Format
//! `BOLTDARC`, a version byte (1), a random 12-byte nonce, then the entries (each a 2-byte name
//! length, the name, an 8-byte length and the bytes, big-endian) sealed with ChaCha20-Poly1305
//! under [`Seed::derive_key`]`("boltd backup archive v1")`, the header as associated data. Without
//! the seed an archive reveals nothing but its size; a modified one is refused whole.
//!
//! # Staleness
//! An archive is the node's state when it was taken. Restored after the node made further
//! channel updates, its channels are behind their peers': LDK learns it when the peer reconnects
//! (`channel_reestablish` proves the peer has a newer state) and closes those channels without
//! broadcasting the old commitment (which would be revoked), waiting for the peer to close them
//! and claiming our outputs of the peer's commitment. A node started with its continuous backup
//! refuses a data directory older than that backup before that (see [`crate::backup`]).

use std::path::Path;

use bitcoin::Network;
use boltd_store::{Store, DB_FILE_NAME};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::error::{NodeError, NodeResult};
use crate::keys::Seed;

const MAGIC: &[u8; 8] = b"BOLTDARC";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = MAGIC.len() + 1 + NONCE_LEN;
/// The key's purpose given to [`Seed::derive_key`].
const KEY_PURPOSE: &str = "boltd backup archive v1";
/// The API token file an archive carries (the engine's `admin.token`).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
const MANIFEST: &str = "manifest.json";

/// What an archive says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// When it was taken (seconds since the Unix epoch).
    pub created_at: u64,
    /// The network, as `bitcoin::Network` spells it.
    pub network: String,
    /// The node id.
    pub node_id: String,
}

/// The decrypted contents of an archive.
#[derive(Debug)]
pub struct Contents {
    /// The manifest.
    pub manifest: Manifest,
    /// The database snapshot.
    pub database: Vec<u8>,
    /// The admin token file, if the node had one.
    pub admin_token: Option<Vec<u8>>,
}

fn invalid(what: impl std::fmt::Display) -> NodeError {
    NodeError::InvalidInput(format!("backup archive: {what}"))
}

fn cipher(seed: &Seed) -> ChaCha20Poly1305 {
    let key = seed.derive_key(KEY_PURPOSE);
    ChaCha20Poly1305::new(Key::from_slice(&key))
}

/// Takes a consistent snapshot of `store` (without graph and scorer) and seals it with the
/// data directory's admin token file.
pub fn export(
    store: &Store,
    data_dir: &Path,
    seed: &Seed,
    network: Network,
    node_id: &str,
) -> NodeResult<Vec<u8>> {
    let tmp = tempfile_in(data_dir)?;
    let result = snapshot(store, &tmp).and_then(|()| Ok(std::fs::read(&tmp)?));
    let _ = std::fs::remove_file(&tmp);
    let database = result?;
    let admin_token = match std::fs::read(data_dir.join(ADMIN_TOKEN_FILE)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let manifest = Manifest {
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        network: network.to_string(),
        node_id: node_id.to_string(),
    };
    seal(seed, &Contents { manifest, database, admin_token })
}

fn tempfile_in(dir: &Path) -> NodeResult<std::path::PathBuf> {
    let mut r = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut r);
    Ok(dir.join(format!("export-{}.sqlite.tmp", hex::encode(r))))
}

/// `VACUUM INTO` on a connection of its own (a read transaction: writers go on), then the graph
/// and scorer dropped from the copy.
fn snapshot(store: &Store, to: &Path) -> NodeResult<()> {
    let conn = store.open_connection()?;
    let path = to.to_str().ok_or_else(|| invalid("the data directory's path is not UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [path]).map_err(|e| NodeError::Io(std::io::Error::other(e)))?;
    drop(conn);
    let copy =
        rusqlite::Connection::open(to).map_err(|e| NodeError::Io(std::io::Error::other(e)))?;
    copy.execute_batch(
        "DELETE FROM kv WHERE primary_namespace = '' AND secondary_namespace = '' \
         AND key IN ('network_graph', 'scorer'); VACUUM;",
    )
    .map_err(|e| NodeError::Io(std::io::Error::other(e)))?;
    Ok(())
}

fn put(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    out.extend_from_slice(data);
}

/// Encrypts `contents` under the seed's archive key.
pub fn seal(seed: &Seed, contents: &Contents) -> NodeResult<Vec<u8>> {
    let mut plain = Vec::with_capacity(contents.database.len() + 1024);
    let manifest = serde_json::to_vec(&contents.manifest).map_err(invalid)?;
    put(&mut plain, MANIFEST, &manifest);
    put(&mut plain, DB_FILE_NAME, &contents.database);
    if let Some(t) = &contents.admin_token {
        put(&mut plain, ADMIN_TOKEN_FILE, t);
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    let sealed = cipher(seed)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: &out })
        .map_err(|_| invalid("encryption failed"))?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts and parses an archive; fails on another seed's archive or a modified one.
pub fn open(seed: &Seed, archive: &[u8]) -> NodeResult<Contents> {
    if archive.len() < HEADER_LEN || &archive[..MAGIC.len()] != MAGIC {
        return Err(invalid("not a boltd backup archive"));
    }
    if archive[MAGIC.len()] != VERSION {
        return Err(invalid(format!("unknown version {}", archive[MAGIC.len()])));
    }
    let (header, sealed) = archive.split_at(HEADER_LEN);
    let nonce = &header[MAGIC.len() + 1..];
    let plain = cipher(seed)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: header })
        .map_err(|_| invalid("cannot decrypt: another node's seed, or the archive is damaged"))?;
    let (mut manifest, mut database, mut admin_token) = (None, None, None);
    let mut rest = plain.as_slice();
    while !rest.is_empty() {
        let (name, data, after) = take(rest).ok_or_else(|| invalid("truncated entry"))?;
        match name {
            MANIFEST => manifest = Some(serde_json::from_slice::<Manifest>(data).map_err(invalid)?),
            DB_FILE_NAME => database = Some(data.to_vec()),
            ADMIN_TOKEN_FILE => admin_token = Some(data.to_vec()),
            // Entries of a later minor format are skipped.
            _ => {}
        }
        rest = after;
    }
    Ok(Contents {
        manifest: manifest.ok_or_else(|| invalid("no manifest"))?,
        database: database.ok_or_else(|| invalid("no database"))?,
        admin_token,
    })
}

fn take(b: &[u8]) -> Option<(&str, &[u8], &[u8])> {
    let name_len = u16::from_be_bytes(b.get(..2)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(b.get(2..2 + name_len)?).ok()?;
    let at = 2 + name_len;
    let len = u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    let data = b.get(at + 8..(at + 8).checked_add(len)?)?;
    Some((name, data, &b[at + 8 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning::util::persist::KVStoreSync;

    #[test]
    fn an_archive_round_trips_only_with_its_seed_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let seed = Seed::create(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        KVStoreSync::write(&store, "", "", "manager", vec![1, 2, 3]).unwrap();
        KVStoreSync::write(&store, "", "", "network_graph", vec![9; 1000]).unwrap();
        std::fs::write(dir.path().join(ADMIN_TOKEN_FILE), b"secret-token").unwrap();
        let archive = export(&store, dir.path(), &seed, Network::Regtest, "02ab").unwrap();
        assert!(!archive.windows(12).any(|w| w == b"secret-token"), "encrypted");

        let contents = open(&seed, &archive).unwrap();
        assert_eq!(contents.manifest.network, "regtest");
        assert_eq!(contents.admin_token.as_deref(), Some(&b"secret-token"[..]));
        let restored = tempfile::tempdir().unwrap();
        std::fs::write(restored.path().join(DB_FILE_NAME), &contents.database).unwrap();
        crate::restore::to_wal(&restored.path().join(DB_FILE_NAME)).unwrap();
        let copy = Store::open(restored.path()).unwrap();
        assert_eq!(KVStoreSync::read(&copy, "", "", "manager").unwrap(), vec![1, 2, 3]);
        assert!(KVStoreSync::read(&copy, "", "", "network_graph").is_err(), "not archived");

        let other = tempfile::tempdir().unwrap();
        let other_seed = Seed::create(other.path()).unwrap();
        let err = open(&other_seed, &archive).unwrap_err().to_string();
        assert!(err.contains("cannot decrypt"), "{err}");
        let mut tampered = archive.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&seed, &tampered).is_err());
        assert!(open(&seed, b"not an archive").is_err());
    }
}
