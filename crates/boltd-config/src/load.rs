//! The three layers (file, environment, flags), their merging and [`Config::load`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::rule::Cx;
use crate::{Config, ConfigError, ConfigLayer, Key, KEYS, NON_CONFIG_ENV_VARS};

/// The environment variable naming the config file, like `--config`.
const CONFIG_ENV_VAR: &str = "BOLTD_CONFIG";

impl ConfigLayer {
    /// The configuration keys, in declaration order.
    pub fn keys() -> Vec<&'static str> {
        KEYS.iter().map(|k| k.name).collect()
    }

    /// Parses a config file's contents; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|source| ConfigError::Toml { path: path.to_path_buf(), source })?;
        if let Some(key) = table.keys().find(|k| Key::get(k).is_none()) {
            return Err(ConfigError::UnknownKey { key: key.clone(), path: path.to_path_buf() });
        }
        // Parse the text again rather than the table so that errors carry line numbers.
        toml::from_str(text)
            .map_err(|source| ConfigError::Toml { path: path.to_path_buf(), source })
    }

    /// Reads and parses a config file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::ReadFile { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, path)
    }

    /// The environment layer: `BOLTD_<KEY>` for each key (`BOLTD_NETWORK`, `BOLTD_DATA_DIR`...),
    /// each value spelled as its type says (`value.rs`: lists comma-separated, booleans also
    /// `1`/`0`). Variables not starting with `BOLTD_` and those in [`NON_CONFIG_ENV_VARS`] are
    /// ignored; any other `BOLTD_*` variable is an error.
    pub fn from_env(vars: impl Iterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut layer = ConfigLayer::default();
        for (name, value) in vars {
            if !name.starts_with(crate::ENV_PREFIX) || NON_CONFIG_ENV_VARS.contains(&name.as_str())
            {
                continue;
            }
            let key = KEYS
                .iter()
                .find(|k| k.env == name)
                .ok_or_else(|| ConfigError::UnknownEnvVar { name: name.clone() })?;
            layer
                .set_from_env(key.name, &value)
                .map_err(|message| ConfigError::Invalid { setting: name.clone(), message })?;
        }
        Ok(layer)
    }
}

/// The configuration flags, to `#[command(flatten)]` into the daemon's clap parser: `--config`
/// and a flag per key.
///
/// The flags do not read the environment themselves (no clap `env`): [`Config::load`] reads the
/// environment as its own layer, so the order file < environment < flags holds for every key.
///
/// `Debug` prints `<redacted>` instead of secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfigArgs {
    /// `--config`: the config file (TOML) to read. Overrides `BOLTD_CONFIG`.
    pub config: Option<PathBuf>,
    /// The keys given as flags.
    pub flags: ConfigLayer,
}

impl ConfigArgs {
    /// The flags as a configuration layer (everything but `--config`).
    pub fn to_layer(&self) -> ConfigLayer {
        self.flags.clone()
    }
}

impl fmt::Debug for ConfigArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigArgs")
            .field("config", &self.config)
            .field("flags", &self.flags)
            .finish()
    }
}

impl clap::FromArgMatches for ConfigArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(ConfigArgs {
            config: matches.get_one::<PathBuf>("config").cloned(),
            flags: ConfigLayer::from_flags(matches),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let given = Self::from_arg_matches(matches)?;
        if given.config.is_some() {
            self.config = given.config;
        }
        self.flags.overlay(given.flags, |_| {});
        Ok(())
    }
}

impl clap::Args for ConfigArgs {
    fn augment_args(cmd: Command) -> Command {
        ConfigLayer::augment_flags(
            cmd.arg(
                Arg::new("config")
                    .long("config")
                    .value_name("PATH")
                    .help("Config file (TOML) to read. Overrides BOLTD_CONFIG; a named file must exist")
                    .action(ArgAction::Set)
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Where a key's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Env,
    Flag,
    /// Built in code ([`Config::from_layer`]).
    Code,
}

impl Source {
    /// How an operator sets `key` in this source, for error messages.
    fn setting(&self, key: &str) -> String {
        let Some(k) = Key::get(key) else { return format!("`{key}`") };
        match self {
            Source::File(path) => format!("`{key}` in {}", path.display()),
            Source::Env => k.env.to_string(),
            Source::Flag => format!("--{}", k.flag),
            Source::Code => format!("`{key}`"),
        }
    }
}

/// Layers merged so far, with the source of each key that is set.
#[derive(Default)]
pub(crate) struct Merged {
    pub(crate) values: ConfigLayer,
    sources: BTreeMap<&'static str, Source>,
}

impl Merged {
    /// Lays `layer` over what is there: every key it sets wins.
    fn push(&mut self, layer: ConfigLayer, source: Source) {
        let sources = &mut self.sources;
        self.values.overlay(layer, |key| {
            sources.insert(key, source.clone());
        });
    }

    /// Where `key` was set, as an operator would write it.
    pub(crate) fn setting(&self, key: &str) -> String {
        match self.sources.get(key) {
            Some(source) => source.setting(key),
            None => format!("`{key}` (default)"),
        }
    }
}

impl Config {
    /// Loads the configuration: the file named by `--config` (or else `BOLTD_CONFIG`), then the
    /// `BOLTD_*` variables of `env`, then the flags, each overriding the previous for the keys it
    /// sets; then defaults and validation.
    ///
    /// `env` is the process environment in production (`std::env::vars()`, which panics on a
    /// non-UTF-8 variable; filter `std::env::vars_os()` to avoid that). `HOME`, used by the
    /// defaults of `data_dir` and `bitcoind_rpc_cookie`, is read from it too.
    pub fn load(
        args: &ConfigArgs,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.collect();
        let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);

        let config_path = match (&args.config, lookup(CONFIG_ENV_VAR)) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) if path.is_empty() => {
                return Err(ConfigError::Invalid {
                    setting: CONFIG_ENV_VAR.into(),
                    message: "is empty; unset it or name a config file".into(),
                })
            }
            (None, Some(path)) => Some(PathBuf::from(path)),
            (None, None) => None,
        };

        let mut merged = Merged::default();
        if let Some(path) = config_path {
            merged.push(ConfigLayer::read(&path)?, Source::File(path));
        }
        merged.push(ConfigLayer::from_env(env.iter().cloned())?, Source::Env);
        merged.push(args.to_layer(), Source::Flag);

        let home = lookup("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        Self::resolve(merged, home.as_deref())
    }

    /// Applies defaults to a single, already merged layer and validates the result. For callers
    /// that build their configuration in code (tests, the harness, the playground). `home`
    /// stands for `$HOME` in the defaults.
    pub fn from_layer(layer: ConfigLayer, home: Option<&Path>) -> Result<Config, ConfigError> {
        let mut merged = Merged::default();
        merged.push(layer, Source::Code);
        Self::resolve(merged, home)
    }

    fn resolve(merged: Merged, home: Option<&Path>) -> Result<Config, ConfigError> {
        let network = merged.values.network.ok_or(ConfigError::Missing { key: "network" })?;
        Config::resolve_keys(&Cx::new(network, home, &merged))
    }
}
