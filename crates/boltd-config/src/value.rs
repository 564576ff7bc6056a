//! The types a key's value can have, and how each is spelled in the three layers: the TOML file,
//! the environment and the command line. A key's declaration names only its type; everything
//! about spelling comes from here, so two keys of one type are always read the same way.

use std::net::SocketAddr;
use std::path::PathBuf;

use bitcoin::Network;
use clap::{value_parser, Arg, ArgAction, ArgMatches};
use serde::{Deserialize, Deserializer};

/// A value type of a configuration key.
pub trait Value: Clone + Send + Sync + 'static {
    /// Parses the environment's spelling (also the spelling of [`Value::from_toml`]'s strings
    /// where the TOML type is a string with a shape, such as the network).
    fn from_env(text: &str) -> Result<Self, String>;

    /// Reads the value from the TOML file.
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;

    /// Gives the flag its parser and action (one value per flag unless overridden).
    fn flag(arg: Arg) -> Arg;

    /// The flag's value in parsed command-line matches, if it was given.
    fn from_flag(matches: &ArgMatches, id: &str) -> Option<Self> {
        matches.get_one::<Self>(id).cloned()
    }

    /// How the value is written in docs/CONFIG.md's default column.
    fn describe(&self) -> String;
}

/// `deserialize_with` for the optional fields of [`crate::ConfigLayer`]: present keys are read by
/// their type's [`Value::from_toml`].
pub(crate) fn toml_option<'de, D: Deserializer<'de>, T: Value>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::from_toml(d).map(Some)
}

/// The network names boltd accepts, for error messages.
const NETWORKS_EXPECTED: &str = "bitcoin (or mainnet), testnet, testnet4, signet, regtest";

/// A network name: `bitcoin` or `mainnet`, `testnet`, `testnet4`, `signet`, `regtest`.
pub fn parse_network(s: &str) -> Result<Network, String> {
    match s {
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        _ => Err(format!("unknown network `{s}`; expected one of {NETWORKS_EXPECTED}")),
    }
}

fn parse_number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("`{s}` is not a whole number in range"))
}

fn single(arg: Arg) -> Arg {
    arg.action(ArgAction::Set).required(false)
}

fn ticked(s: impl std::fmt::Display) -> String {
    format!("`{s}`")
}

impl Value for Network {
    fn from_env(text: &str) -> Result<Self, String> {
        parse_network(text)
    }
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_network(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
    fn flag(arg: Arg) -> Arg {
        single(arg).value_parser(parse_network)
    }
    fn describe(&self) -> String {
        ticked(self)
    }
}

impl Value for PathBuf {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PathBuf::deserialize(d)
    }
    fn flag(arg: Arg) -> Arg {
        single(arg).value_parser(value_parser!(PathBuf))
    }
    fn describe(&self) -> String {
        ticked(self.display())
    }
}

impl Value for SocketAddr {
    fn from_env(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| format!("`{text}` is not an IP address and port (e.g. 127.0.0.1:3000)"))
    }
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SocketAddr::deserialize(d)
    }
    fn flag(arg: Arg) -> Arg {
        single(arg).value_parser(value_parser!(SocketAddr))
    }
    fn describe(&self) -> String {
        ticked(self)
    }
}

impl Value for String {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)
    }
    fn flag(arg: Arg) -> Arg {
        single(arg).value_parser(value_parser!(String))
    }
    fn describe(&self) -> String {
        if self.is_empty() {
            "empty".into()
        } else {
            ticked(self)
        }
    }
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn from_env(text: &str) -> Result<Self, String> {
                parse_number(text)
            }
            fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$t>::deserialize(d)
            }
            fn flag(arg: Arg) -> Arg {
                single(arg).value_parser(value_parser!($t))
            }
            fn describe(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
number!(u32, u64);

/// A boolean: `true`/`false` in the file and on the command line (`--key false`), and also `1`/`0`
/// in the environment.
impl Value for bool {
    fn from_env(text: &str) -> Result<Self, String> {
        match text {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("expected true, false, 1 or 0, got `{text}`")),
        }
    }
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bool::deserialize(d)
    }
    fn flag(arg: Arg) -> Arg {
        single(arg).value_parser(value_parser!(bool))
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

/// A list of strings: a TOML array; in the environment comma-separated, items trimmed and empty
/// items dropped (so an empty value is an empty list); on the command line the same, and the flag
/// may also be repeated.
impl Value for Vec<String> {
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(list(text.split(',')))
    }
    fn from_toml<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d)
    }
    fn flag(arg: Arg) -> Arg {
        arg.action(ArgAction::Append)
            .required(false)
            .value_delimiter(',')
            .value_parser(value_parser!(String))
    }
    fn from_flag(matches: &ArgMatches, id: &str) -> Option<Self> {
        matches.get_many::<String>(id).map(|items| list(items.map(String::as_str)))
    }
    fn describe(&self) -> String {
        if self.is_empty() {
            "empty".into()
        } else {
            self.iter().map(ticked).collect::<Vec<_>>().join(", ")
        }
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    items.map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}
