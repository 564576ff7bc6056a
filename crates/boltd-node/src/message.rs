//! The parts of a message signature as [`Node::sign_message`](crate::Node::sign_message) makes
//! it (zbase32 of a recovery byte, `31 + recid`, and a 64-byte compact signature), for APIs
//! that show them apart (Core Lightning's `signmessage`: `signature`, `recid`, `zbase`).

/// zbase32's alphabet (<https://philzimmermann.com/docs/human-oriented-base-32-encoding.txt>).
const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// The bytes of a zbase32 string (trailing bits that do not make a whole byte are dropped), or
/// `None` if it has a character outside the alphabet.
fn zbase32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ZBASE32.iter().position(|&a| a == c)?;
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A signature's compact form (64 bytes) and recovery id (0 to 3), from its zbase32 form.
/// `None` if it is not a 65-byte zbase32 recoverable signature.
pub fn signature_parts(zbase: &str) -> Option<([u8; 64], u8)> {
    let bytes = zbase32_decode(zbase.trim())?;
    let (&prefix, sig) = bytes.split_first()?;
    let recid = prefix.checked_sub(31).filter(|r| *r <= 3)?;
    Some((<[u8; 64]>::try_from(sig).ok()?, recid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::SecretKey;
    use lightning::util::message_signing::sign;

    #[test]
    fn parts_of_ldks_signature() {
        let key = SecretKey::from_slice(&[1; 32]).unwrap();
        let zbase = sign(b"hello", &key);
        let (sig, recid) = signature_parts(&zbase).unwrap();
        assert!(recid <= 3);
        // The parts make the same zbase32 again: recover the key from them.
        let rid = bitcoin::secp256k1::ecdsa::RecoveryId::from_i32(i32::from(recid)).unwrap();
        let rec = bitcoin::secp256k1::ecdsa::RecoverableSignature::from_compact(&sig, rid).unwrap();
        let secp = bitcoin::secp256k1::Secp256k1::new();
        use bitcoin::hashes::{sha256d, Hash};
        let hash = sha256d::Hash::hash(b"Lightning Signed Message:hello");
        let msg = bitcoin::secp256k1::Message::from_digest(hash.to_byte_array());
        let pk = secp.recover_ecdsa(&msg, &rec).unwrap();
        assert_eq!(pk, key.public_key(&secp));
        assert_eq!(signature_parts("not zbase!"), None);
        assert_eq!(signature_parts("yy"), None);
    }
}
