//! Core Lightning's amount syntax: a whole number of msat, or with the suffix `msat`, `sat`
//! (whole, or with exactly three decimals), or `btc` (1 to 11 decimals).

/// The most any amount can be: 21 million bitcoin, in msat. Larger amounts are refused with a
/// 400 naming the parameter, before anything is recorded (the store keeps amounts as SQLite
/// integers, which end at `i64::MAX`).
pub const MAX_AMOUNT_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// `amount_msat` if it is at most [`MAX_AMOUNT_MSAT`]; else an error naming `name`.
pub fn at_most_supply(name: &str, amount_msat: u64) -> Result<u64, String> {
    if amount_msat > MAX_AMOUNT_MSAT {
        return Err(format!(
            "{name} must be at most {MAX_AMOUNT_MSAT} msat (21 million bitcoin); got {amount_msat}"
        ));
    }
    Ok(amount_msat)
}

/// `amount_sat` in msat if that is at most [`MAX_AMOUNT_MSAT`]; else an error naming `name`.
pub fn sat_to_msat(name: &str, amount_sat: u64) -> Result<u64, String> {
    amount_sat.checked_mul(1000).filter(|m| *m <= MAX_AMOUNT_MSAT).ok_or_else(|| {
        format!(
            "{name} must be at most {} sat (21 million bitcoin); got {amount_sat}",
            MAX_AMOUNT_MSAT / 1000
        )
    })
}

/// Parses a Core Lightning amount into msat.
pub fn parse_msat(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad =
        || format!("`{s}` is not an amount (examples: 1000, 1000msat, 1sat, 0.001sat, 0.0001btc)");
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = s.strip_suffix("msat") {
        return if digits(n) { n.parse().map_err(|_| bad()) } else { Err(bad()) };
    }
    if let Some(n) = s.strip_suffix("sat") {
        return match n.split_once('.') {
            None if digits(n) => {
                n.parse::<u64>().ok().and_then(|v| v.checked_mul(1000)).ok_or_else(bad)
            }
            Some((w, f)) if digits(w) && f.len() == 3 && digits(f) => {
                let w: u64 = w.parse().map_err(|_| bad())?;
                let f: u64 = f.parse().map_err(|_| bad())?;
                w.checked_mul(1000).and_then(|v| v.checked_add(f)).ok_or_else(bad)
            }
            _ => Err(bad()),
        };
    }
    if let Some(n) = s.strip_suffix("btc") {
        let (w, f) = n.split_once('.').ok_or_else(bad)?;
        if !digits(w) || !digits(f) || f.len() > 11 {
            return Err(bad());
        }
        let w: u64 = w.parse().map_err(|_| bad())?;
        let frac: u64 = format!("{f:0<11}").parse().map_err(|_| bad())?;
        return w.checked_mul(100_000_000_000).and_then(|v| v.checked_add(frac)).ok_or_else(bad);
    }
    if digits(s) {
        return s.parse().map_err(|_| bad());
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_above_the_bitcoin_supply_are_refused_by_name() {
        assert_eq!(at_most_supply("amount_msat", MAX_AMOUNT_MSAT), Ok(MAX_AMOUNT_MSAT));
        let e = at_most_supply("amount_msat", MAX_AMOUNT_MSAT + 1).unwrap_err();
        assert!(e.starts_with("amount_msat must be at most"), "{e}");
        assert!(at_most_supply("maxfee", u64::MAX).unwrap_err().starts_with("maxfee"));
        assert_eq!(sat_to_msat("amount_sat", 5), Ok(5000));
        assert_eq!(sat_to_msat("amount_sat", MAX_AMOUNT_MSAT / 1000), Ok(MAX_AMOUNT_MSAT));
        // Would overflow a u64 when multiplied (no panic, no saturation to u64::MAX).
        let e = sat_to_msat("amount", u64::MAX).unwrap_err();
        assert!(e.starts_with("amount must be at most"), "{e}");
        assert!(sat_to_msat("amount", MAX_AMOUNT_MSAT / 1000 + 1).is_err());
        assert!(MAX_AMOUNT_MSAT < i64::MAX as u64);
    }

    #[test]
    fn core_lightning_amount_forms() {
        assert_eq!(parse_msat("1000"), Ok(1000));
        assert_eq!(parse_msat("1000msat"), Ok(1000));
        assert_eq!(parse_msat("2sat"), Ok(2000));
        assert_eq!(parse_msat("2.005sat"), Ok(2005));
        assert_eq!(parse_msat("0.00000001btc"), Ok(1000));
        assert_eq!(parse_msat("0.00000000001btc"), Ok(1));
        assert_eq!(parse_msat("1.5btc"), Ok(150_000_000_000));
        for bad in ["", "sat", "1.5sat", "1.0001sat", "-1", "1e3", "0.000000000001btc", "abc"] {
            assert!(parse_msat(bad).is_err(), "{bad}");
        }
    }
}
