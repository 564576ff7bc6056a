//! Why the configuration could not be loaded.

use std::path::PathBuf;

use crate::{Key, KEYS, NON_CONFIG_ENV_VARS};

/// Why the configuration could not be loaded. Messages name where the bad value came from (the
/// file and key, the environment variable or the flag) and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required key (`network`) was set nowhere.
    #[error(
        "`{key}` is required: set it in the config file, {} or --{}",
        env_of(key),
        flag_of(key)
    )]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// The config file could not be read (a named file that does not exist included).
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The config file has a key boltd does not know.
    #[error(
        "unknown key `{key}` in {}; the keys are: {}",
        path.display(),
        KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
    )]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// The file.
        path: PathBuf,
    },
    /// The config file is not valid TOML or a value has the wrong type.
    #[error("invalid config file {}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error, with the line and key.
        source: toml::de::Error,
    },
    /// A `BOLTD_*` environment variable that is neither a configuration key nor in
    /// [`NON_CONFIG_ENV_VARS`].
    #[error(
        "unknown environment variable {name}: boltd reads BOLTD_<KEY> for each configuration key \
         (see docs/CONFIG.md) plus {}",
        NON_CONFIG_ENV_VARS.join(", ")
    )]
    UnknownEnvVar {
        /// The variable's name.
        name: String,
    },
    /// A value is malformed or out of range.
    #[error("{setting}: {message}")]
    Invalid {
        /// Where the value was set: "`alias` in /etc/boltd.toml", "BOLTD_ALIAS" or "--alias".
        setting: String,
        /// What is wrong with it.
        message: String,
    },
    /// A default needs `$HOME`, which is not set.
    #[error(
        "`{key}` has no default because HOME is not set: set it in the config file, {} or --{}",
        env_of(key),
        flag_of(key)
    )]
    NoHome {
        /// The key whose default lives under `$HOME`.
        key: &'static str,
    },
}

fn env_of(key: &str) -> &'static str {
    Key::get(key).map_or("", |k| k.env)
}

fn flag_of(key: &str) -> &'static str {
    Key::get(key).map_or("", |k| k.flag)
}
