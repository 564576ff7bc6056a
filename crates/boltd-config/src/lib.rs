//! boltd's configuration: a TOML file, `BOLTD_*` environment variables and command-line flags.
//!
//! Every key is declared once, in `keys.rs`; from that declaration come the field of [`Config`]
//! and of [`ConfigLayer`], the TOML key, the environment variable, the flag, the parsing of each
//! spelling, the default and checks, the redaction of secrets in `Debug`, and the key's row in
//! docs/CONFIG.md (generated, and tested to be up to date). Defaults are in one table,
//! [`defaults`].
//!
//! Every key can be set in three places. For each key separately, a command-line flag overrides
//! the environment, which overrides the file; keys set nowhere take their default.
//!
//! * The file is read only when `--config <path>` or `BOLTD_CONFIG` names one (the flag wins);
//!   there is no implicit default file. A named file that does not exist is an error.
//! * Unknown keys in the file are errors, and so are unknown `BOLTD_*` environment variables,
//!   except the ones in [`NON_CONFIG_ENV_VARS`]. A typo is reported, never silently ignored.
//! * `network` has no default: it must be set in one of the three places.
//!
//! [`Config::load`] does all of the above and returns a [`Config`] whose fields are all concrete.
//!
//! Source layout: `macros.rs` (what one declaration generates), `keys.rs` (the declarations),
//! `value.rs` (how each value type is spelled in the three layers), `rule.rs` (defaults,
//! normalization and checks as combinators), `checks.rs`, [`defaults`], `load.rs` (layers and
//! merging), `error.rs`, [`doc`] (docs/CONFIG.md's table).

#[macro_use]
mod macros;

mod checks;
pub mod defaults;
pub mod doc;
mod error;
mod keys;
mod load;
pub mod rule;
pub mod value;

#[cfg(test)]
mod tests;

pub use checks::{is_loopback_host, parse_lsp};
pub use error::ConfigError;
pub use keys::{Config, ConfigLayer, KEYS};
pub use load::ConfigArgs;
pub use macros::Key;

/// Environment variables that start with `BOLTD_` but are not configuration keys, so
/// [`ConfigLayer::from_env`] skips them instead of rejecting them: `BOLTD_CONFIG` (the path of
/// the config file, like `--config`), `BOLTD_URL` / `BOLTD_TOKEN` (read by the command-line
/// client) and `BOLTD_LOG` (a full log filter, e.g. `info,ldk=trace`, that overrides
/// `log_level`).
pub const NON_CONFIG_ENV_VARS: &[&str] = &["BOLTD_CONFIG", "BOLTD_URL", "BOLTD_TOKEN", "BOLTD_LOG"];

/// The maximum length of [`Config::alias`] in bytes (the size of the alias field in BOLT 7's
/// `node_announcement`).
pub const MAX_ALIAS_BYTES: usize = 32;

/// The accepted values of `log_level`.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// The largest accepted `htlc_forward_delay_ms`: HTLCs waiting longer hold up payments for
/// nothing (LDK's own randomized delay stays below 200 ms).
pub const MAX_HTLC_FORWARD_DELAY_MS: u64 = 10_000;

/// The prefix of every key's environment variable.
pub const ENV_PREFIX: &str = "BOLTD_";

/// What `Debug` prints instead of a secret.
pub const REDACTED: &str = "<redacted>";
