//! The store's SQL, as PostgreSQL spells it.
//!
//! Statements are written once, in the SQL SQLite and PostgreSQL share. Three spellings differ
//! and are rewritten here (outside string literals):
//!
//! * parameters: `?1` becomes `$1`, and a bare `?` the next number;
//! * null-safe comparison with a parameter: `IS ?1` becomes `IS NOT DISTINCT FROM $1` and
//!   `IS NOT ?1` becomes `IS DISTINCT FROM $1`;
//! * `INSERT OR IGNORE INTO ...` becomes `INSERT INTO ... ON CONFLICT DO NOTHING` (placed
//!   before a `RETURNING` clause when there is one).
//!
//! Anything else SQLite-only (JSON functions, `GLOB`, two-argument `max`) is not used in
//! statements; the store does that work in Rust.

/// `sql` for PostgreSQL.
pub(crate) fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next_bare = 0u32;
    let mut chars = sql.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\'' {
                in_string = false;
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() {
                        digits.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let n = if digits.is_empty() {
                    next_bare += 1;
                    next_bare.to_string()
                } else {
                    digits
                };
                rewrite_is(&mut out);
                out.push('$');
                out.push_str(&n);
            }
            _ => out.push(c),
        }
    }
    or_ignore(&out)
}

/// Rewrites a trailing `IS ` / `IS NOT ` (just before a parameter) into its PostgreSQL form.
fn rewrite_is(out: &mut String) {
    let upper = out.to_ascii_uppercase();
    if upper.ends_with(" IS NOT ") {
        out.truncate(out.len() - " IS NOT ".len());
        out.push_str(" IS DISTINCT FROM ");
    } else if upper.ends_with(" IS ") {
        out.truncate(out.len() - " IS ".len());
        out.push_str(" IS NOT DISTINCT FROM ");
    }
}

fn or_ignore(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    let Some(at) = upper.find("INSERT OR IGNORE INTO") else {
        return sql.to_string();
    };
    let mut out = String::with_capacity(sql.len() + 24);
    out.push_str(&sql[..at]);
    out.push_str("INSERT INTO");
    let rest = &sql[at + "INSERT OR IGNORE INTO".len()..];
    match rest.to_ascii_uppercase().find(" RETURNING ") {
        Some(r) => {
            out.push_str(&rest[..r]);
            out.push_str(" ON CONFLICT DO NOTHING");
            out.push_str(&rest[r..]);
        }
        None => {
            out.push_str(rest.trim_end().trim_end_matches(';'));
            out.push_str(" ON CONFLICT DO NOTHING");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn numbered_and_bare_parameters() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = $12"
        );
        assert_eq!(to_postgres("x = ? AND y = ? LIMIT ?"), "x = $1 AND y = $2 LIMIT $3");
    }

    #[test]
    fn string_literals_are_left_alone() {
        assert_eq!(to_postgres("SELECT '?1 IS ?' WHERE a = ?1"), "SELECT '?1 IS ?' WHERE a = $1");
    }

    #[test]
    fn null_safe_comparisons() {
        assert_eq!(
            to_postgres("token_id IS ?3 AND stage IS NOT ?2 AND x IS NULL"),
            "token_id IS NOT DISTINCT FROM $3 AND stage IS DISTINCT FROM $2 AND x IS NULL"
        );
    }

    #[test]
    fn insert_or_ignore() {
        assert_eq!(
            to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?1)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?1) RETURNING id"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id"
        );
    }
}
