//! A key's rule: how its merged value (set in some layer, or not) becomes the value in
//! [`crate::Config`], i.e. its default, normalization and checks, and how that default is
//! described in docs/CONFIG.md. Rules are built in the key declarations (`keys.rs`) from the
//! constructors here: [`required`], [`or`], [`or_else`], [`optional`] and [`custom`], refined
//! with [`Rule::map`] and [`Rule::check`].

use std::path::Path;

use bitcoin::Network;

use crate::load::Merged;
use crate::value::Value;
use crate::{ConfigError, ConfigLayer};

/// What a rule sees besides its own value: the network, `$HOME` and every key as set.
pub struct Cx<'a> {
    /// The network (already checked to be set).
    pub network: Network,
    /// `$HOME`, used by defaults under it.
    pub home: Option<&'a Path>,
    merged: &'a Merged,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(network: Network, home: Option<&'a Path>, merged: &'a Merged) -> Self {
        Cx { network, home, merged }
    }

    /// Every key as set in the layers (merged, before defaults).
    pub fn set(&self) -> &ConfigLayer {
        &self.merged.values
    }

    /// Where `key` was set, as an operator would write it: "`alias` in /etc/boltd.toml",
    /// "BOLTD_ALIAS", "--alias", or "`alias` (default)".
    pub fn setting(&self, key: &str) -> String {
        self.merged.setting(key)
    }
}

/// Why a rule refused a value. The key's name and where it was set are added by the caller.
#[derive(Debug)]
pub enum Fail {
    /// The value is malformed or out of range: this message follows the setting's name.
    Invalid(String),
    /// A required key was set nowhere.
    Missing,
    /// The default lives under `$HOME`, which is not set.
    NoHome,
}

impl From<String> for Fail {
    fn from(message: String) -> Self {
        Fail::Invalid(message)
    }
}

type Resolve<T, O> = Box<dyn Fn(Option<T>, &Cx<'_>) -> Result<O, Fail>>;

/// How a key's value in the layers (of type `T`, maybe unset) becomes its value in
/// [`crate::Config`] (of type `O`).
pub struct Rule<T, O> {
    default_text: String,
    resolve: Resolve<T, O>,
}

impl<T: 'static, O: 'static> Rule<T, O> {
    /// The default as docs/CONFIG.md shows it.
    pub fn default_text(&self) -> &str {
        &self.default_text
    }

    /// Rewrites the value (set or default) before it is checked, e.g. to lower-case it.
    pub fn map(self, f: fn(O) -> O) -> Self {
        let resolve = self.resolve;
        Rule {
            default_text: self.default_text,
            resolve: Box::new(move |v, cx| resolve(v, cx).map(f)),
        }
    }

    /// Checks the value (set or default); the message of an error names what is wrong with it.
    pub fn check(self, f: fn(&O, &Cx<'_>) -> Result<(), String>) -> Self {
        let resolve = self.resolve;
        Rule {
            default_text: self.default_text,
            resolve: Box::new(move |v, cx| {
                let value = resolve(v, cx)?;
                f(&value, cx)?;
                Ok(value)
            }),
        }
    }

    /// Applies the rule to `value`, naming `key` (and where it was set) in errors.
    pub(crate) fn apply(
        &self,
        key: &'static str,
        value: Option<T>,
        cx: &Cx<'_>,
    ) -> Result<O, ConfigError> {
        (self.resolve)(value, cx).map_err(|fail| match fail {
            Fail::Invalid(message) => ConfigError::Invalid { setting: cx.setting(key), message },
            Fail::Missing => ConfigError::Missing { key },
            Fail::NoHome => ConfigError::NoHome { key },
        })
    }
}

/// A key that must be set: it has no default.
pub fn required<T: Value>() -> Rule<T, T> {
    Rule {
        default_text: "none (required)".into(),
        resolve: Box::new(|v, _| v.ok_or(Fail::Missing)),
    }
}

/// A key whose default is the constant `default`; docs/CONFIG.md shows it as its type writes it.
pub fn or<T: Value, D: Into<T>>(default: D) -> Rule<T, T> {
    let default: T = default.into();
    Rule {
        default_text: default.describe(),
        resolve: Box::new(move |v, _| Ok(v.unwrap_or_else(|| default.clone()))),
    }
}

/// A key whose default is computed (from the network or `$HOME`), described by `text`.
pub fn or_else<T: Value>(
    text: &'static str,
    default: fn(&Cx<'_>) -> Result<T, Fail>,
) -> Rule<T, T> {
    Rule {
        default_text: text.into(),
        resolve: Box::new(move |v, cx| match v {
            Some(v) => Ok(v),
            None => default(cx),
        }),
    }
}

/// A key that may stay unset (`None` in [`crate::Config`]); `text` says what unset means.
pub fn optional<T: Value>(text: &'static str) -> Rule<T, Option<T>> {
    Rule { default_text: text.into(), resolve: Box::new(|v, _| Ok(v)) }
}

/// A key resolved by `f` from its value as set and the other keys, described by `text`.
pub fn custom<T: Value, O: 'static>(
    text: &'static str,
    f: fn(Option<T>, &Cx<'_>) -> Result<O, Fail>,
) -> Rule<T, O> {
    Rule { default_text: text.into(), resolve: Box::new(f) }
}
