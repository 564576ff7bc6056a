//! NIP-44 v2 (preferred) and NIP-04 (fallback) encryption of requests, responses and
//! notifications, and the negotiation through a request's `encryption` tag.
//!
//! The `nostr` crate's NIP-47 helpers encrypt with NIP-04 only; this module uses its NIP-44
//! module (which carries the specification's test vectors) and its NIP-04 module directly.

use nostr::nips::{nip04, nip44};
use nostr::{PublicKey, SecretKey};

use crate::error::NwcError;

/// An encryption scheme boltd speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// NIP-44 version 2 (`nip44_v2`), preferred.
    Nip44V2,
    /// NIP-04 (`nip04`), for clients that predate NIP-44.
    Nip04,
}

/// The info event's `encryption` tag: what boltd speaks, preferred first.
pub const SUPPORTED_ENCRYPTIONS: &str = "nip44_v2 nip04";

impl Encryption {
    /// The scheme's name in `encryption` tags.
    pub fn name(self) -> &'static str {
        match self {
            Encryption::Nip44V2 => "nip44_v2",
            Encryption::Nip04 => "nip04",
        }
    }

    /// The scheme of a request: its `encryption` tag (one name, or several separated by spaces,
    /// the first boltd speaks wins), NIP-04 without a tag (as NIP-47 says), and
    /// `UNSUPPORTED_ENCRYPTION` for a tag that names nothing boltd speaks.
    pub fn negotiate(tag: Option<&str>) -> Result<Encryption, NwcError> {
        let Some(tag) = tag else { return Ok(Encryption::Nip04) };
        for name in tag.split_whitespace() {
            match name {
                "nip44_v2" => return Ok(Encryption::Nip44V2),
                "nip04" => return Ok(Encryption::Nip04),
                _ => {}
            }
        }
        Err(NwcError::UnsupportedEncryption(format!(
            "encryption `{tag}` is not supported; boltd speaks {SUPPORTED_ENCRYPTIONS}"
        )))
    }

    /// `plaintext` encrypted from `secret_key` to `public_key`.
    pub fn encrypt(
        self,
        secret_key: &SecretKey,
        public_key: &PublicKey,
        plaintext: &str,
    ) -> Result<String, NwcError> {
        let out = match self {
            Encryption::Nip44V2 => {
                nip44::encrypt(secret_key, public_key, plaintext, nip44::Version::V2)
                    .map_err(|e| e.to_string())
            }
            Encryption::Nip04 => {
                nip04::encrypt(secret_key, public_key, plaintext).map_err(|e| e.to_string())
            }
        };
        out.map_err(|e| NwcError::Internal(format!("cannot encrypt ({}): {e}", self.name())))
    }

    /// `payload` decrypted with `secret_key` from `public_key`. A payload that is not of this
    /// scheme, or does not decrypt, is `OTHER` (never a panic).
    pub fn decrypt(
        self,
        secret_key: &SecretKey,
        public_key: &PublicKey,
        payload: &str,
    ) -> Result<String, NwcError> {
        let out = match self {
            Encryption::Nip44V2 => {
                nip44::decrypt(secret_key, public_key, payload).map_err(|e| e.to_string())
            }
            Encryption::Nip04 => {
                nip04::decrypt(secret_key, public_key, payload).map_err(|e| e.to_string())
            }
        };
        out.map_err(|e| NwcError::bad(format!("cannot decrypt the request ({}): {e}", self.name())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::Keys;

    #[test]
    fn negotiation_prefers_what_the_tag_names_and_defaults_to_nip04() {
        assert_eq!(Encryption::negotiate(None), Ok(Encryption::Nip04));
        assert_eq!(Encryption::negotiate(Some("nip44_v2")), Ok(Encryption::Nip44V2));
        assert_eq!(Encryption::negotiate(Some("nip04")), Ok(Encryption::Nip04));
        assert_eq!(Encryption::negotiate(Some("nip44_v3 nip04")), Ok(Encryption::Nip04));
        assert_eq!(Encryption::negotiate(Some("nip44_v2 nip04")), Ok(Encryption::Nip44V2));
        let e = Encryption::negotiate(Some("nip44_v3")).unwrap_err();
        assert_eq!(e.code(), "UNSUPPORTED_ENCRYPTION");
        assert_eq!(Encryption::negotiate(Some("")).unwrap_err().code(), "UNSUPPORTED_ENCRYPTION");
    }

    #[test]
    fn nip44_reads_the_specifications_vector() {
        // NIP-44's first encrypt_decrypt vector: what sec1 sent to sec2.
        let sec1 = SecretKey::from_hex(&format!("{:064x}", 1)).unwrap();
        let sec2 = SecretKey::from_hex(&format!("{:064x}", 2)).unwrap();
        let pub1 = Keys::new(sec1).public_key();
        let payload =
            "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4D\
                       wrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb";
        assert_eq!(Encryption::Nip44V2.decrypt(&sec2, &pub1, payload).unwrap(), "a");
    }

    #[test]
    fn both_schemes_round_trip_and_do_not_mix() {
        let (wallet, client) = (Keys::generate(), Keys::generate());
        for scheme in [Encryption::Nip44V2, Encryption::Nip04] {
            let c = scheme.encrypt(client.secret_key(), &wallet.public_key(), "{\"a\":1}").unwrap();
            let p = scheme.decrypt(wallet.secret_key(), &client.public_key(), &c).unwrap();
            assert_eq!(p, "{\"a\":1}");
            // Another key cannot read it.
            let other = Keys::generate();
            assert!(scheme.decrypt(other.secret_key(), &client.public_key(), &c).is_err());
        }
        let c04 =
            Encryption::Nip04.encrypt(client.secret_key(), &wallet.public_key(), "x").unwrap();
        let e = Encryption::Nip44V2.decrypt(wallet.secret_key(), &client.public_key(), &c04);
        assert_eq!(e.unwrap_err().code(), "OTHER");
        assert!(Encryption::Nip04
            .decrypt(wallet.secret_key(), &client.public_key(), "!!")
            .is_err());
    }
}
