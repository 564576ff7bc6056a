//! `declare_keys!`: from one declaration per key (in `keys.rs`) it generates
//!
//! * [`crate::Config`], the resolved configuration, one field per key, documented by the
//!   declaration's doc comment (which is also the key's meaning in docs/CONFIG.md);
//! * [`crate::ConfigLayer`], one layer (the file, the environment or the flags) with every key
//!   optional, deserialized from TOML with unknown keys refused;
//! * [`crate::KEYS`], the table of keys: name (= TOML key), environment variable, flag, flag
//!   help, meaning and whether the value is secret;
//! * the environment setter, the clap flags and their reading, the overlay of one layer on
//!   another, the resolution of every key by its [`crate::rule::Rule`] (in declaration order), the
//!   defaults column of docs/CONFIG.md, and `Debug` for both structs with secrets redacted.
//!
//! The environment variable (`BOLTD_` and the key in upper case) and the flag (`--` and the key
//! with `-` for `_`) are derived from the key's name at compile time, so no key can be spelled
//! differently in two places.

/// One configuration key as the table [`crate::KEYS`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key: a field of [`crate::Config`] and a key of the TOML file.
    pub name: &'static str,
    /// The environment variable: `BOLTD_` and the key in upper case.
    pub env: &'static str,
    /// The flag without its leading `--`: the key with `-` for `_`.
    pub flag: &'static str,
    /// The flag's value name in `--help`.
    pub value_name: &'static str,
    /// The flag's help line.
    pub help: &'static str,
    /// The key's meaning (markdown): its doc comment.
    pub doc: &'static str,
    /// Whether the value is a secret, printed `<redacted>` by `Debug`.
    pub secret: bool,
}

impl Key {
    /// The key named `name`.
    pub fn get(name: &str) -> Option<&'static Key> {
        crate::KEYS.iter().find(|k| k.name == name)
    }

    /// The key's meaning on one line (its doc comment's lines joined).
    pub fn meaning(&self) -> String {
        self.doc.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
    }
}

/// `key` with `-` for `_`, as bytes (`N` is the key's length).
pub(crate) const fn kebab<const N: usize>(key: &str) -> [u8; N] {
    let key = key.as_bytes();
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = if key[i] == b'_' { b'-' } else { key[i] };
        i += 1;
    }
    out
}

/// `BOLTD_` and `key` in upper case, as bytes (`N` is the key's length plus 6).
pub(crate) const fn env_name<const N: usize>(key: &str) -> [u8; N] {
    let prefix = crate::ENV_PREFIX.as_bytes();
    let key = key.as_bytes();
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] =
            if i < prefix.len() { prefix[i] } else { key[i - prefix.len()].to_ascii_uppercase() };
        i += 1;
    }
    out
}

/// A `&'static str` made at compile time by `$f` (above) from the key's name.
macro_rules! key_str {
    ($f:ident, $len:expr, $key:ident) => {{
        const BYTES: [u8; $len] = $crate::macros::$f(stringify!($key));
        const STR: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(s) => s,
            Err(_) => panic!("a key is ASCII"),
        };
        STR
    }};
}

macro_rules! declare_keys {
    (@out $ty:ty => $out:ty) => { $out };
    (@out $ty:ty) => { $ty };
    (@secret secret) => { true };
    (@secret) => { false };
    (@debug [secret] $value:expr) => { &$value.as_ref().map(|_| $crate::REDACTED) };
    (@debug [] $value:expr) => { $value };
    (
        $(
            $(#[doc = $doc:literal])+
            $key:ident: $ty:ty $(=> $out:ty)? $([$secret:ident])? {
                flag: $value_name:literal, $help:literal,
                default: $rule:expr $(,)?
            }
        )+
    ) => {
        /// The resolved configuration: every layer merged, defaults applied and validated. Each
        /// field is one key; its default is in docs/CONFIG.md (generated from `keys.rs`).
        ///
        /// `Debug` prints `<redacted>` instead of secrets (the bitcoind RPC password).
        #[derive(Clone, PartialEq, Eq)]
        pub struct Config {
            $( $(#[doc = $doc])+ pub $key: declare_keys!(@out $ty $(=> $out)?), )+
        }

        /// One layer of configuration (the file, the environment or the flags): every key of
        /// [`Config`], each optional. In the TOML file unknown keys are errors.
        ///
        /// `Debug` prints `<redacted>` instead of secrets.
        #[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ConfigLayer {
            $(
                #[doc = concat!("See [`Config::", stringify!($key), "`].")]
                #[serde(default, deserialize_with = "crate::value::toml_option")]
                pub $key: Option<$ty>,
            )+
        }

        /// Every key, in declaration order (the order of docs/CONFIG.md).
        pub const KEYS: &[$crate::Key] = &[$(
            $crate::Key {
                name: stringify!($key),
                env: key_str!(env_name, stringify!($key).len() + $crate::ENV_PREFIX.len(), $key),
                flag: key_str!(kebab, stringify!($key).len(), $key),
                value_name: $value_name,
                help: $help,
                doc: concat!($($doc, "\n"),+),
                secret: declare_keys!(@secret $($secret)?),
            },
        )+];

        impl ::std::fmt::Debug for Config {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut d = f.debug_struct("Config");
                $( d.field(stringify!($key), declare_keys!(@debug [$($secret)?] &self.$key)); )+
                d.finish()
            }
        }

        impl ::std::fmt::Debug for ConfigLayer {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut d = f.debug_struct("ConfigLayer");
                $( d.field(stringify!($key), declare_keys!(@debug [$($secret)?] &self.$key)); )+
                d.finish()
            }
        }

        impl ConfigLayer {
            /// Sets `key` from its environment spelling.
            pub(crate) fn set_from_env(&mut self, key: &str, text: &str) -> Result<(), String> {
                match key {
                    $( stringify!($key) => {
                        self.$key = Some(<$ty as $crate::value::Value>::from_env(text)?)
                    } )+
                    _ => return Err(format!("`{key}` is not a configuration key")),
                }
                Ok(())
            }

            /// Adds a flag per key to `cmd`.
            pub(crate) fn augment_flags(cmd: ::clap::Command) -> ::clap::Command {
                cmd $(
                    .arg(<$ty as $crate::value::Value>::flag(
                        ::clap::Arg::new(stringify!($key))
                            .long(key_str!(kebab, stringify!($key).len(), $key))
                            .value_name($value_name)
                            .help($help),
                    ))
                )+
            }

            /// The flags given in `matches`.
            pub(crate) fn from_flags(matches: &::clap::ArgMatches) -> Self {
                ConfigLayer { $(
                    $key: <$ty as $crate::value::Value>::from_flag(matches, stringify!($key)),
                )+ }
            }

            /// Lays `layer` over `self`: every key it sets wins, and `on_set` is told its name.
            pub(crate) fn overlay(&mut self, layer: ConfigLayer, mut on_set: impl FnMut(&'static str)) {
                $( if layer.$key.is_some() {
                    self.$key = layer.$key;
                    on_set(stringify!($key));
                } )+
            }
        }

        impl Config {
            /// Resolves every key by its rule, in declaration order (the first error wins).
            pub(crate) fn resolve_keys(cx: &$crate::rule::Cx<'_>) -> Result<Config, $crate::ConfigError> {
                let set = cx.set().clone();
                $(
                    let rule: $crate::rule::Rule<$ty, declare_keys!(@out $ty $(=> $out)?)> = $rule;
                    let $key = rule.apply(stringify!($key), set.$key, cx)?;
                )+
                Ok(Config { $($key),+ })
            }
        }

        /// Each key's default as docs/CONFIG.md shows it, in declaration order.
        pub(crate) fn default_texts() -> Vec<String> {
            vec![$({
                let rule: $crate::rule::Rule<$ty, declare_keys!(@out $ty $(=> $out)?)> = $rule;
                rule.default_text().to_string()
            }),+]
        }
    };
}
