//! The node's seed: a BIP39 mnemonic created on first start and kept in the data directory with
//! mode 0600. Everything else (LDK's `KeysManager`, the BDK wallet's descriptors) derives from it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bitcoin::bip32::{ChildNumber, Xpriv};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::Network;

use crate::error::{NodeError, NodeResult};

/// File name of the mnemonic inside the data directory.
pub const SEED_FILE: &str = "seed.mnemonic";

/// BIP32 child (hardened) from which LDK's 32-byte seed is derived, so that it never equals a key
/// the on-chain wallet uses.
const LDK_SEED_CHILD: u32 = 535;

/// The node's secret material. Its `Debug` output never shows the secret.
pub struct Seed {
    mnemonic: bip39::Mnemonic,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

impl Seed {
    /// Path of the mnemonic file in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(SEED_FILE)
    }

    /// Reads the mnemonic from `data_dir`. `Ok(None)` only when the file does not exist; any
    /// other failure (permissions, bad words, bad checksum) is an error, never a new seed.
    pub fn read(data_dir: &Path) -> NodeResult<Option<Seed>> {
        let path = Self::path(data_dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(NodeError::UnreadableState {
                    what: "seed",
                    path,
                    reason: e.to_string(),
                })
            }
        };
        let mnemonic =
            bip39::Mnemonic::parse(text.trim()).map_err(|_| NodeError::UnreadableState {
                what: "seed",
                path: path.clone(),
                reason: "not a valid BIP39 mnemonic".into(),
            })?;
        Ok(Some(Seed { mnemonic }))
    }

    /// Creates a new 24-word mnemonic and writes it durably to `data_dir` with mode 0600
    /// (see [`Seed::write_to`]). Fails if one exists.
    pub fn create(data_dir: &Path) -> NodeResult<Seed> {
        let mut entropy = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut entropy);
        let mnemonic = bip39::Mnemonic::from_entropy(&entropy)
            .map_err(|e| NodeError::Wallet(format!("mnemonic generation failed: {e}")))?;
        let seed = Seed { mnemonic };
        seed.write_to(data_dir)?;
        Ok(seed)
    }

    /// Reads a mnemonic from the file `path` (a `seed.mnemonic` kept elsewhere, for a restore).
    pub fn read_file(path: &Path) -> NodeResult<Seed> {
        let text = fs::read_to_string(path).map_err(|e| NodeError::UnreadableState {
            what: "seed",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mnemonic =
            bip39::Mnemonic::parse(text.trim()).map_err(|_| NodeError::UnreadableState {
                what: "seed",
                path: path.to_path_buf(),
                reason: "not a valid BIP39 mnemonic".into(),
            })?;
        Ok(Seed { mnemonic })
    }

    /// Writes the mnemonic durably to `dir` with mode 0600 (write to a temporary file, fsync,
    /// rename, fsync the directory). Fails if one exists.
    pub fn write_to(&self, dir: &Path) -> NodeResult<()> {
        let path = Self::path(dir);
        if path.exists() {
            return Err(NodeError::InvalidInput(format!("{} already exists", path.display())));
        }
        let tmp = dir.join(format!("{SEED_FILE}.tmp"));
        {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(self.mnemonic.to_string().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// A key for `purpose` derived from the seed (HKDF-SHA256 of the BIP39 seed, `purpose` as
    /// its info), independent of every key LDK and the wallet use.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
        let ikm = self.mnemonic.to_seed("");
        let mut extract = hmac::HmacEngine::<sha256::Hash>::new(b"boltd key derivation");
        extract.input(&ikm);
        let prk = hmac::Hmac::<sha256::Hash>::from_engine(extract);
        let mut expand = hmac::HmacEngine::<sha256::Hash>::new(prk.as_byte_array());
        expand.input(purpose.as_bytes());
        expand.input(&[1u8]);
        hmac::Hmac::<sha256::Hash>::from_engine(expand).to_byte_array()
    }

    fn bip32_master(&self, network: Network) -> NodeResult<Xpriv> {
        let seed = self.mnemonic.to_seed("");
        Xpriv::new_master(network, &seed).map_err(|e| NodeError::Wallet(e.to_string()))
    }

    /// The 32-byte seed given to LDK's `KeysManager`.
    pub fn ldk_seed(&self, network: Network) -> NodeResult<[u8; 32]> {
        let secp = Secp256k1::new();
        let child = ChildNumber::from_hardened_idx(LDK_SEED_CHILD)
            .map_err(|e| NodeError::Wallet(e.to_string()))?;
        let xprv = self
            .bip32_master(network)?
            .derive_priv(&secp, &[child])
            .map_err(|e| NodeError::Wallet(e.to_string()))?;
        Ok(xprv.private_key.secret_bytes())
    }

    /// The BIP32 master key the on-chain wallet's BIP84 descriptors derive from.
    pub fn wallet_master(&self, network: Network) -> NodeResult<Xpriv> {
        self.bip32_master(network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_read_same_seed_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Seed::read(dir.path()).unwrap().is_none());
        let s = Seed::create(dir.path()).unwrap();
        let r = Seed::read(dir.path()).unwrap().unwrap();
        assert_eq!(s.ldk_seed(Network::Regtest).unwrap(), r.ldk_seed(Network::Regtest).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(Seed::path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(Seed::create(dir.path()).is_err(), "must not overwrite an existing seed");
        assert!(!format!("{r:?}").contains(&r.mnemonic.to_string()));
    }

    #[test]
    fn corrupt_seed_is_an_error_not_a_new_node() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(Seed::path(dir.path()), "not a mnemonic at all").unwrap();
        let err = Seed::read(dir.path()).unwrap_err();
        assert!(matches!(err, NodeError::UnreadableState { what: "seed", .. }), "{err}");
        assert_eq!(fs::read_to_string(Seed::path(dir.path())).unwrap(), "not a mnemonic at all");
    }

    #[test]
    fn a_seed_file_kept_elsewhere_reads_back_and_derived_keys_depend_on_the_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let s = Seed::create(dir.path()).unwrap();
        let copy = dir.path().join("elsewhere.txt");
        fs::copy(Seed::path(dir.path()), &copy).unwrap();
        let r = Seed::read_file(&copy).unwrap();
        assert_eq!(s.derive_key("a"), r.derive_key("a"));
        assert_ne!(s.derive_key("a"), s.derive_key("b"));
        assert_ne!(s.derive_key("a"), s.ldk_seed(Network::Regtest).unwrap());
        fs::write(&copy, "nope").unwrap();
        assert!(Seed::read_file(&copy).is_err());
    }
}
