//! docs/CONFIG.md's table of keys, rendered from the declarations. The rest of that file is
//! written by hand; the table sits between [`BEGIN`] and [`END`]. A unit test fails when the
//! checked-in file differs from [`render`]'s; `BOLTD_UPDATE_CONFIG_DOC=1 cargo test -p
//! boltd-config --lib doc` rewrites it.

use crate::KEYS;

/// The line before the generated table.
pub const BEGIN: &str =
    "<!-- BEGIN KEYS: generated from crates/boltd-config/src/keys.rs; do not edit -->";
/// The line after the generated table.
pub const END: &str = "<!-- END KEYS -->";

/// The markdown table of every key: key, environment variable, flag, default and meaning.
pub fn table() -> String {
    let mut out =
        String::from("| key | env var | flag | default | meaning |\n|---|---|---|---|---|\n");
    for (key, default) in KEYS.iter().zip(crate::keys::default_texts()) {
        out.push_str(&format!(
            "| `{}` | `{}` | `--{}` | {} | {} |\n",
            key.name,
            key.env,
            key.flag,
            default,
            key.meaning().replace('|', "\\|")
        ));
    }
    out
}

/// `doc` (docs/CONFIG.md's text) with the part between [`BEGIN`] and [`END`] replaced by
/// [`table`]; `None` when a marker is missing.
pub fn render(doc: &str) -> Option<String> {
    let start = doc.find(BEGIN)? + BEGIN.len();
    let end = start + doc[start..].find(END)?;
    Some(format!("{}\n\n{}\n{}", &doc[..start], table(), &doc[end..]))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Set to regenerate docs/CONFIG.md's table.
    const UPDATE_ENV: &str = "BOLTD_UPDATE_CONFIG_DOC";

    #[test]
    fn docs_config_md_is_up_to_date() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIG.md");
        let checked_in = std::fs::read_to_string(&path).unwrap();
        let generated = render(&checked_in).expect("docs/CONFIG.md has the BEGIN and END lines");
        if std::env::var_os(UPDATE_ENV).is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        assert!(
            checked_in == generated,
            "docs/CONFIG.md's table of keys differs from the one keys.rs generates; regenerate \
             it with\n\n    {UPDATE_ENV}=1 cargo test -p boltd-config --lib doc\n\nand commit it"
        );
    }

    #[test]
    fn every_key_has_one_row() {
        let table = table();
        assert_eq!(table.lines().count(), KEYS.len() + 2);
        for key in KEYS {
            let row = format!("| `{}` | `{}` | `--{}` | ", key.name, key.env, key.flag);
            assert_eq!(table.matches(&row).count(), 1, "{row}");
        }
    }
}
