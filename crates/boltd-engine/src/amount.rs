//! Core Lightning's amount syntax: a whole number of msat, or with the suffix `msat`, `sat`
//! (whole, or with exactly three decimals), or `btc` (1 to 11 decimals).

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
    use super::parse_msat;

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
