//! The configuration loaded from file, environment and flags, compared with expectations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bitcoin::Network;
use clap::Parser;

use crate::defaults::rpc_port;
use crate::*;

const DOC: &str = include_str!("../../../../docs/CONFIG.md");

#[test]
fn the_readme_example_config_is_valid() {
    const README: &str = include_str!("../../../../README.md");
    let start = README.find("```toml\n").expect("README has a TOML example") + 8;
    let text = &README[start..start + README[start..].find("```").unwrap()];
    let file = ConfigLayer::from_toml(text, Path::new("README.md")).unwrap();
    let config = Config::from_layer(file, Some(Path::new("/home/u"))).unwrap();
    assert_eq!(config.network, Network::Signet);
    assert_eq!(config.data_dir, Path::new("/var/lib/boltd/signet"));
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

fn args(flags: &[&str]) -> ConfigArgs {
    Cli::try_parse_from(std::iter::once("boltd").chain(flags.iter().copied()))
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn env(vars: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    let mut all = vec![("HOME".to_string(), "/home/alice".to_string())];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all.into_iter()
}

fn load(flags: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load(&args(flags), env(vars))
}

fn regtest(flags: &[&str]) -> Config {
    let mut all = vec!["--network", "regtest"];
    all.extend_from_slice(flags);
    load(&all, &[]).unwrap()
}

fn write_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// Table rows of docs/CONFIG.md keyed by the first cell (backticks removed).
fn doc_rows() -> BTreeMap<String, Vec<String>> {
    let strip = |c: &str| c.trim().trim_matches('`').to_string();
    DOC.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim().trim_matches('|').split('|').map(strip).collect::<Vec<_>>())
        .filter(|cells| !cells[0].is_empty() && !cells[0].starts_with('-'))
        .map(|cells| (cells[0].clone(), cells))
        .collect()
}

#[test]
fn clap_definition_is_valid() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
    // ConfigArgs' doc comment does not leak into the about text of the command.
    assert!(Cli::command().get_about().is_none());
    assert!(Cli::command().get_long_about().is_none());
}

#[test]
fn keys_come_from_the_declarations() {
    let keys = ConfigLayer::keys();
    assert_eq!(keys.len(), KEYS.len());
    assert_eq!(keys[0], "network");
    assert!(keys.contains(&"accept_inbound_channels"));
    assert!(keys.contains(&"htlc_forward_delay_ms"));
    // Every field of the layer is a key: the TOML file accepts exactly the keys.
    let mut text = String::new();
    for key in &keys {
        text.push_str(&format!("{key} = 0\n"));
    }
    let err = ConfigLayer::from_toml(&text, Path::new("f")).unwrap_err();
    assert!(matches!(err, ConfigError::Toml { .. }), "a type error, not an unknown key: {err}");
}

#[test]
fn flag_overrides_env_overrides_file() {
    let file = write_file("network = \"regtest\"\nalias = \"file\"\nlog_level = \"warn\"\n");
    let path = file.path().to_str().unwrap();

    let c = load(&["--config", path], &[]).unwrap();
    assert_eq!((c.alias.as_str(), c.log_level.as_str()), ("file", "warn"));

    let c = load(&["--config", path], &[("BOLTD_ALIAS", "env")]).unwrap();
    assert_eq!((c.alias.as_str(), c.log_level.as_str()), ("env", "warn"));

    let c = load(&["--config", path, "--alias", "flag"], &[("BOLTD_ALIAS", "env")]).unwrap();
    assert_eq!((c.alias.as_str(), c.log_level.as_str()), ("flag", "warn"));

    // BOLTD_CONFIG names the file when --config does not.
    let c = load(&[], &[("BOLTD_CONFIG", path)]).unwrap();
    assert_eq!(c.alias, "file");
    assert_eq!(c.network, Network::Regtest);
}

#[test]
fn config_flag_overrides_boltd_config() {
    let a = write_file("network = \"regtest\"\nalias = \"a\"\n");
    let b = write_file("network = \"regtest\"\nalias = \"b\"\n");
    let (a, b) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    assert_eq!(load(&["--config", b], &[("BOLTD_CONFIG", a)]).unwrap().alias, "b");
}

#[test]
fn missing_named_file_is_an_error() {
    let err = load(&["--config", "/nonexistent/boltd.toml"], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/boltd.toml"), "{err}");
    let err = load(&[], &[("BOLTD_CONFIG", "/nonexistent/boltd.toml")]).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
}

#[test]
fn network_is_required() {
    let err = load(&[], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { key: "network" }));
    assert_eq!(
        err.to_string(),
        "`network` is required: set it in the config file, BOLTD_NETWORK or --network"
    );
    assert!(matches!(
        Config::from_layer(ConfigLayer::default(), None),
        Err(ConfigError::Missing { key: "network" })
    ));
}

#[test]
fn network_names() {
    for (name, network) in [
        ("bitcoin", Network::Bitcoin),
        ("mainnet", Network::Bitcoin),
        ("testnet", Network::Testnet),
        ("testnet4", Network::Testnet4),
        ("signet", Network::Signet),
        ("regtest", Network::Regtest),
    ] {
        assert_eq!(load(&["--network", name], &[]).unwrap().network, network);
        assert_eq!(load(&[], &[("BOLTD_NETWORK", name)]).unwrap().network, network);
        let file = ConfigLayer::from_toml(&format!("network = \"{name}\""), Path::new("f"));
        assert_eq!(file.unwrap().network, Some(network));
    }
    let err = load(&[], &[("BOLTD_NETWORK", "x")]).unwrap_err().to_string();
    assert_eq!(
        err,
        "BOLTD_NETWORK: unknown network `x`; expected one of bitcoin (or mainnet), testnet, \
         testnet4, signet, regtest"
    );
    let err = Cli::try_parse_from(["boltd", "--network", "x"]).err().unwrap().to_string();
    assert!(err.contains("unknown network `x`"), "{err}");
    let err = ConfigLayer::from_toml("network = \"x\"", Path::new("/etc/boltd.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/etc/boltd.toml") && err.contains("unknown network `x`"), "{err}");
}

#[test]
fn unknown_toml_key_is_an_error() {
    let err = ConfigLayer::from_toml("network = \"regtest\"\nfoo = 1\n", Path::new("/etc/b.toml"))
        .unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "foo"), "{err:?}");
    assert!(err.to_string().starts_with("unknown key `foo` in /etc/b.toml"), "{err}");

    // A table is a key too.
    let err =
        ConfigLayer::from_toml("[bitcoind]\nrpc_url = \"x\"\n", Path::new("b.toml")).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "bitcoind"));

    // Through load, with the real path.
    let file = write_file("network = \"regtest\"\nalais = \"typo\"\n");
    let err = load(&["--config", file.path().to_str().unwrap()], &[]).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "alais"));
}

#[test]
fn toml_type_errors_name_file_and_line() {
    let err = ConfigLayer::from_toml(
        "network = \"regtest\"\nchain_poll_interval_ms = \"fast\"\n",
        Path::new("/etc/boltd.toml"),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Toml { .. }));
    assert!(msg.contains("/etc/boltd.toml") && msg.contains("line 2"), "{msg}");
    assert!(msg.contains("chain_poll_interval_ms"), "{msg}");
}

#[test]
fn full_toml_file() {
    let text = r#"
        network = "signet"
        data_dir = "/var/lib/boltd"
        p2p_listen = "0.0.0.0:9736"
        announce_addrs = ["203.0.113.5:9736", "node.example.com:9736"]
        alias = "bolt"
        api_listen = "127.0.0.1:3001"
        bitcoind_rpc_url = "http://10.0.0.2:38332"
        bitcoind_rpc_user = "u"
        bitcoind_rpc_password = "p"
        chain_poll_interval_ms = 500
        wallet_sync_interval_ms = 5000
        fee_rate_fallback_sat_per_kwu = 2500
        log_level = "debug"
        accept_inbound_channels = false
    "#;
    let layer = ConfigLayer::from_toml(text, Path::new("f")).unwrap();
    let c = Config::from_layer(layer, None).unwrap();
    assert_eq!(c.network, Network::Signet);
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/boltd"));
    assert_eq!(c.announce_addrs, ["203.0.113.5:9736", "node.example.com:9736"]);
    assert_eq!(c.p2p_listen.port(), 9736);
    assert_eq!(c.bitcoind_rpc_cookie, None);
    assert_eq!(c.fee_rate_fallback_sat_per_kwu, 2500);
    assert!(!c.accept_inbound_channels);
}

#[test]
fn unknown_boltd_env_var_is_an_error() {
    let err = load(&["--network", "regtest"], &[("BOLTD_NETWROK", "regtest")]).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownEnvVar { name } if name == "BOLTD_NETWROK"));
    assert!(err.to_string().starts_with("unknown environment variable BOLTD_NETWROK"));
    // Lower-case spelling of a key is not the key's variable.
    assert!(load(&["--network", "regtest"], &[("BOLTD_network", "regtest")]).is_err());
    // The allow-list and other prefixes are ignored.
    let c = load(
        &["--network", "regtest"],
        &[
            ("BOLTD_URL", "http://x"),
            ("BOLTD_TOKEN", "t"),
            ("BOLTD_LOG", "info,ldk=trace"),
            ("BOLTDX", "1"),
            ("PATH", "/bin"),
        ],
    )
    .unwrap();
    assert_eq!(c.network, Network::Regtest);
    assert!(load(&[], &[("BOLTD_NETWORK", "regtest"), ("BOLTD_CONFIG", "")]).is_err());
}

#[test]
fn every_key_has_an_env_var_and_a_flag() {
    let sample = |key: &str| match key {
        "network" => "regtest",
        "p2p_listen" | "api_listen" => "127.0.0.1:1",
        "announce_addrs" => "a:1, b:2,",
        "chain_poll_interval_ms" | "wallet_sync_interval_ms" | "htlc_forward_delay_ms" => "7",
        "fee_rate_fallback_sat_per_kwu" => "300",
        "accept_inbound_channels" | "lnurl_allow_http" | "anchor_channels" => "false",
        "anchor_reserve_per_channel_sat" | "anchor_reserve_max_sat" => "1000",
        "max_bump_fee_rate_sat_per_vb" => "50",
        "lnurl_names" => "carol, dave,",
        "api_cors_origins" => "https://a.example, http://127.0.0.1:8080",
        "backup_mode" => "best_effort",
        "lease_ttl_secs" => "20",
        "lease_renew_secs" => "5",
        "standby" => "false",
        "store_url" => "postgres://boltd@127.0.0.1:5432/boltd",
        "lsps" => "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@a:1",
        "lsps2_service" => "true",
        "lsp_max_fee_msat"
        | "lsps2_service_min_fee_msat"
        | "lsps2_service_min_payment_msat"
        | "lsps2_service_max_payment_msat"
        | "lsps2_service_offer_validity_secs" => "1000",
        "lsps2_service_fee_ppm" | "lsps2_service_over_provisioning_ppm" => "100",
        _ => "x",
    };
    let keys = ConfigLayer::keys();
    let vars: Vec<(String, String)> = keys
        .iter()
        .map(|k| (Key::get(k).unwrap().env.to_string(), sample(k).to_string()))
        .collect();
    let layer = ConfigLayer::from_env(vars.into_iter()).unwrap();
    assert_eq!(layer.announce_addrs, Some(vec!["a:1".to_string(), "b:2".to_string()]));
    assert_eq!(layer.accept_inbound_channels, Some(false));
    assert_eq!(layer.lnurl_names, Some(vec!["carol".to_string(), "dave".to_string()]));

    let mut flags = Vec::new();
    for k in keys {
        flags.push(format!("--{}", k.replace('_', "-")));
        flags.push(sample(k).to_string());
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // Every field set by both layers, to the same values.
    assert_eq!(args(&flags).to_layer(), layer);
    assert!(layer.bitcoind_rpc_password.is_some() && layer.fee_rate_fallback_sat_per_kwu.is_some());
}

#[test]
fn env_values_are_parsed() {
    let c = load(
        &[],
        &[
            ("BOLTD_NETWORK", "regtest"),
            ("BOLTD_P2P_LISTEN", "[::]:9735"),
            ("BOLTD_ANNOUNCE_ADDRS", "203.0.113.5:9735,[2001:db8::1]:9735"),
            ("BOLTD_CHAIN_POLL_INTERVAL_MS", "250"),
            ("BOLTD_ACCEPT_INBOUND_CHANNELS", "0"),
            ("BOLTD_LOG_LEVEL", "DEBUG"),
        ],
    )
    .unwrap();
    assert_eq!(c.p2p_listen, "[::]:9735".parse().unwrap());
    assert_eq!(c.announce_addrs, ["203.0.113.5:9735", "[2001:db8::1]:9735"]);
    assert_eq!(c.chain_poll_interval_ms, 250);
    assert!(!c.accept_inbound_channels);
    assert_eq!(c.log_level, "debug");

    let err =
        load(&[], &[("BOLTD_NETWORK", "regtest"), ("BOLTD_API_LISTEN", "localhost")]).unwrap_err();
    assert!(err.to_string().starts_with("BOLTD_API_LISTEN: `localhost`"), "{err}");
    let err = load(&[], &[("BOLTD_NETWORK", "regtest"), ("BOLTD_WALLET_SYNC_INTERVAL_MS", "-1")])
        .unwrap_err();
    assert!(err.to_string().starts_with("BOLTD_WALLET_SYNC_INTERVAL_MS:"), "{err}");
}

#[test]
fn doc_table_lists_every_key() {
    let rows = doc_rows();
    let keys: Vec<&str> = ConfigLayer::keys();
    for key in &keys {
        let row = rows.get(*key).unwrap_or_else(|| panic!("docs/CONFIG.md lacks `{key}`"));
        assert_eq!(row.len(), 5, "row of `{key}` needs 5 cells: {row:?}");
        assert_eq!(row[1], Key::get(key).unwrap().env, "env var of `{key}`");
        assert_eq!(row[2], format!("--{}", key.replace('_', "-")), "flag of `{key}`");
    }
    let extra: Vec<&String> =
        rows.keys().filter(|k| *k != "key" && !keys.contains(&k.as_str())).collect();
    assert!(extra.is_empty(), "docs/CONFIG.md lists unknown keys {extra:?}");
    assert_eq!(DOC.matches("| key |").count(), 1, "one table");
}

#[test]
fn doc_table_defaults_match_the_code() {
    let rows = doc_rows();
    let default = |key: &str| rows[key][3].clone();
    let c = regtest(&[]);
    assert_eq!(default("network"), "none (required)");
    assert_eq!(default("p2p_listen"), c.p2p_listen.to_string());
    assert_eq!(default("api_listen"), c.api_listen.to_string());
    assert_eq!(default("chain_poll_interval_ms"), c.chain_poll_interval_ms.to_string());
    assert_eq!(default("wallet_sync_interval_ms"), c.wallet_sync_interval_ms.to_string());
    assert_eq!(default("log_level"), c.log_level);
    assert_eq!(default("accept_inbound_channels"), c.accept_inbound_channels.to_string());
    assert_eq!(default("lnurl_allow_http"), c.lnurl_allow_http.to_string());
    assert_eq!(default("lnurl_names"), "empty");
    assert_eq!(default("api_cors_origins"), "empty");
    assert!(c.api_cors_origins.is_empty());
    assert_eq!(default("lnurl_public_url"), "unset");
    assert_eq!(c.htlc_forward_delay_ms, None);
    assert!(default("htlc_forward_delay_ms").starts_with("unset"));
    assert!(default("data_dir").contains("$HOME/.boltd/"));
    for network in
        [Network::Bitcoin, Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest]
    {
        let port = rpc_port(network).to_string();
        assert!(DOC.contains(&port), "docs/CONFIG.md lacks port {port}");
    }
    let fee = default("fee_rate_fallback_sat_per_kwu");
    assert!(fee.contains("253") && fee.contains("1000"), "{fee}");
}

#[test]
fn htlc_forward_delay_is_bounded() {
    assert_eq!(regtest(&["--htlc-forward-delay-ms", "0"]).htlc_forward_delay_ms, Some(0));
    let c = load(&["--network", "regtest"], &[("BOLTD_HTLC_FORWARD_DELAY_MS", "25")]).unwrap();
    assert_eq!(c.htlc_forward_delay_ms, Some(25));
    let err = load(&["--network", "regtest", "--htlc-forward-delay-ms", "10001"], &[])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--htlc-forward-delay-ms: must be at most 10000"), "{err}");
}

/// File keys, environment variables and flags are a user contract: every spelling, pinned.
#[test]
fn spellings_are_a_contract() {
    let expected = [
        ("network", "BOLTD_NETWORK", "network"),
        ("data_dir", "BOLTD_DATA_DIR", "data-dir"),
        ("p2p_listen", "BOLTD_P2P_LISTEN", "p2p-listen"),
        ("announce_addrs", "BOLTD_ANNOUNCE_ADDRS", "announce-addrs"),
        ("alias", "BOLTD_ALIAS", "alias"),
        ("api_listen", "BOLTD_API_LISTEN", "api-listen"),
        ("api_cors_origins", "BOLTD_API_CORS_ORIGINS", "api-cors-origins"),
        ("bitcoind_rpc_url", "BOLTD_BITCOIND_RPC_URL", "bitcoind-rpc-url"),
        ("bitcoind_rpc_user", "BOLTD_BITCOIND_RPC_USER", "bitcoind-rpc-user"),
        ("bitcoind_rpc_password", "BOLTD_BITCOIND_RPC_PASSWORD", "bitcoind-rpc-password"),
        ("bitcoind_rpc_cookie", "BOLTD_BITCOIND_RPC_COOKIE", "bitcoind-rpc-cookie"),
        ("chain_poll_interval_ms", "BOLTD_CHAIN_POLL_INTERVAL_MS", "chain-poll-interval-ms"),
        ("wallet_sync_interval_ms", "BOLTD_WALLET_SYNC_INTERVAL_MS", "wallet-sync-interval-ms"),
        (
            "fee_rate_fallback_sat_per_kwu",
            "BOLTD_FEE_RATE_FALLBACK_SAT_PER_KWU",
            "fee-rate-fallback-sat-per-kwu",
        ),
        ("log_level", "BOLTD_LOG_LEVEL", "log-level"),
        ("accept_inbound_channels", "BOLTD_ACCEPT_INBOUND_CHANNELS", "accept-inbound-channels"),
        ("lnurl_names", "BOLTD_LNURL_NAMES", "lnurl-names"),
        ("lnurl_public_url", "BOLTD_LNURL_PUBLIC_URL", "lnurl-public-url"),
        ("lnurl_allow_http", "BOLTD_LNURL_ALLOW_HTTP", "lnurl-allow-http"),
        ("htlc_forward_delay_ms", "BOLTD_HTLC_FORWARD_DELAY_MS", "htlc-forward-delay-ms"),
        ("backup_dir", "BOLTD_BACKUP_DIR", "backup-dir"),
        ("backup_mode", "BOLTD_BACKUP_MODE", "backup-mode"),
        ("lsps", "BOLTD_LSPS", "lsps"),
        ("lsp_token", "BOLTD_LSP_TOKEN", "lsp-token"),
        ("lsps2_service", "BOLTD_LSPS2_SERVICE", "lsps2-service"),
    ];
    // New keys may be added anywhere; these must stay, spelled so.
    let actual: Vec<(&str, &str, &str)> = KEYS.iter().map(|k| (k.name, k.env, k.flag)).collect();
    for spelling in expected {
        assert!(actual.contains(&spelling), "{spelling:?} is gone");
    }
    assert_eq!(
        KEYS.iter().filter(|k| k.secret).map(|k| k.name).collect::<Vec<_>>(),
        ["store_url", "bitcoind_rpc_password", "lsp_token", "lsps2_service_token"]
    );
    // `--config` is a flag too, though not a key.
    use clap::CommandFactory;
    let cmd = Cli::command();
    let longs: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
    let mut expected_longs = vec!["config"];
    expected_longs.extend(KEYS.iter().map(|k| k.flag));
    assert_eq!(longs, expected_longs);
}

/// Every key set in the layer that wins for it, the others by default; the whole `Config`
/// compared, so a key that is not merged or resolved shows.
#[test]
fn file_env_and_flags_make_the_expected_config() {
    let file = write_file(
        "network = \"signet\"\n\
         data_dir = \"/file/dir\"\n\
         alias = \"from-file\"\n\
         api_listen = \"127.0.0.1:4000\"\n\
         bitcoind_rpc_user = \"file-user\"\n\
         bitcoind_rpc_password = \"file-secret\"\n\
         chain_poll_interval_ms = 10\n\
         log_level = \"warn\"\n\
         lnurl_names = [\"carol\"]\n\
         lnurl_public_url = \"https://file.example/\"\n",
    );
    let path = file.path().to_str().unwrap();
    let c = load(
        &["--config", path, "--alias", "from-flag", "--wallet-sync-interval-ms", "30"],
        &[
            ("BOLTD_ALIAS", "from-env"),
            ("BOLTD_LOG_LEVEL", "TRACE"),
            ("BOLTD_BITCOIND_RPC_PASSWORD", "env-secret"),
            ("BOLTD_WALLET_SYNC_INTERVAL_MS", "20"),
            ("BOLTD_HTLC_FORWARD_DELAY_MS", "5"),
            ("BOLTD_API_CORS_ORIGINS", "https://app.example"),
        ],
    )
    .unwrap();
    let expected = Config {
        network: Network::Signet,
        data_dir: "/file/dir".into(),
        p2p_listen: "0.0.0.0:9735".parse().unwrap(),
        announce_addrs: vec![],
        alias: "from-flag".into(),
        api_listen: "127.0.0.1:4000".parse().unwrap(),
        api_cors_origins: vec!["https://app.example".into()],
        bitcoind_rpc_url: "http://127.0.0.1:38332".into(),
        bitcoind_rpc_user: Some("file-user".into()),
        bitcoind_rpc_password: Some("env-secret".into()),
        bitcoind_rpc_cookie: None,
        chain_poll_interval_ms: 10,
        wallet_sync_interval_ms: 30,
        fee_rate_fallback_sat_per_kwu: 1000,
        log_level: "trace".into(),
        accept_inbound_channels: true,
        anchor_channels: true,
        anchor_reserve_per_channel_sat: 25_000,
        anchor_reserve_max_sat: 500_000,
        max_bump_fee_rate_sat_per_vb: 1_000,
        lnurl_names: vec!["carol".into()],
        lnurl_public_url: Some("https://file.example".into()),
        lnurl_allow_http: false,
        nwc_relays: vec![],
        htlc_forward_delay_ms: Some(5),
        backup_dir: None,
        backup_mode: "fail_stop".into(),
        store_url: None,
        lease_ttl_secs: 10,
        lease_renew_secs: 3,
        standby: true,
        lsps: vec![],
        lsp_token: None,
        lsp_max_fee_msat: 10_000_000,
        lsps2_service: false,
        lsps2_service_token: None,
        lsps2_service_min_fee_msat: 2_000_000,
        lsps2_service_fee_ppm: 10_000,
        lsps2_service_min_payment_msat: 10_000_000,
        lsps2_service_max_payment_msat: 10_000_000_000,
        lsps2_service_offer_validity_secs: 600,
        lsps2_service_over_provisioning_ppm: 100_000,
    };
    assert_eq!(c, expected);
    let debug = format!("{c:?}");
    assert!(!debug.contains("secret") && debug.contains("<redacted>"), "{debug}");
}

#[test]
fn a_postgres_store_is_a_url_with_lease_times_that_make_sense() {
    let c = regtest(&["--store-url", "postgres://boltd:pw@db:5432/boltd"]);
    assert_eq!(c.store_url.as_deref(), Some("postgres://boltd:pw@db:5432/boltd"));
    assert!(!format!("{c:?}").contains("pw@db"), "the URL's password is redacted");
    assert_eq!((c.lease_ttl_secs, c.lease_renew_secs, c.standby), (10, 3, true));
    let err = |flags: &[&str]| {
        let mut all = vec!["--network", "regtest"];
        all.extend_from_slice(flags);
        load(&all, &[]).unwrap_err().to_string()
    };
    assert!(err(&["--store-url", "mysql://x"]).contains("--store-url: must be a PostgreSQL URL"));
    assert!(err(&["--store-url", "postgres://h/db", "--backup-dir", "/b"]).contains("backup_dir"));
    assert!(err(&["--lease-ttl-secs", "1"]).contains("--lease-ttl-secs"));
    assert!(err(&["--lease-renew-secs", "5"]).contains("less than half"));
    let c = regtest(&["--lease-ttl-secs", "30", "--lease-renew-secs", "10", "--standby", "false"]);
    assert_eq!((c.lease_ttl_secs, c.lease_renew_secs, c.standby), (30, 10, false));
}

/// A bad value is refused with the key named as its layer spells it.
#[test]
fn invalid_values_name_the_key_in_each_layer() {
    let file = write_file("network = \"regtest\"\nalias = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n");
    let path = file.path().to_str().unwrap();
    let err = load(&["--config", path], &[]).unwrap_err().to_string();
    assert!(err.starts_with(&format!("`alias` in {path}: ")), "{err}");
    assert!(err.contains("33 bytes; at most 32"), "{err}");
    let err = load(&["--network", "regtest"], &[("BOLTD_LOG_LEVEL", "loud")]).unwrap_err();
    assert!(err.to_string().starts_with("BOLTD_LOG_LEVEL: unknown level `loud`"), "{err}");
    let err = load(&["--network", "regtest", "--chain-poll-interval-ms", "0"], &[]).unwrap_err();
    assert_eq!(err.to_string(), "--chain-poll-interval-ms: must be at least 1");
    let layer = ConfigLayer {
        network: Some(Network::Regtest),
        data_dir: Some("/d".into()),
        fee_rate_fallback_sat_per_kwu: Some(1),
        ..Default::default()
    };
    let err = Config::from_layer(layer, Some(Path::new("/h"))).unwrap_err().to_string();
    assert!(err.starts_with("`fee_rate_fallback_sat_per_kwu`: 1 is below"), "{err}");
    // Flags with a parser of their own are refused by clap, naming the flag.
    let err = Cli::try_parse_from(["boltd", "--p2p-listen", "nowhere"]).err().unwrap().to_string();
    assert!(err.contains("--p2p-listen"), "{err}");
}

#[test]
fn secrets_are_redacted_in_every_layer() {
    let file = write_file("network = \"regtest\"\nbitcoind_rpc_password = \"hunter2\"\n");
    let layer = ConfigLayer::read(file.path()).unwrap();
    assert_eq!(layer.bitcoind_rpc_password.as_deref(), Some("hunter2"));
    let env = ConfigLayer::from_env(
        [("BOLTD_BITCOIND_RPC_PASSWORD".to_string(), "hunter2".to_string())].into_iter(),
    )
    .unwrap();
    for debug in [format!("{layer:?}"), format!("{env:?}"), format!("{:#?}", layer)] {
        assert!(!debug.contains("hunter2") && debug.contains("<redacted>"), "{debug}");
    }
    // Unset secrets print as unset.
    assert!(format!("{:?}", ConfigLayer::default()).contains("bitcoind_rpc_password: None"));
}

#[test]
fn backup_keys_are_checked() {
    let c = regtest(&["--backup-dir", "/mnt/backup", "--backup-mode", "BEST_EFFORT"]);
    assert_eq!(c.backup_dir, Some(PathBuf::from("/mnt/backup")));
    assert_eq!(c.backup_mode, "best_effort");
    assert_eq!(regtest(&[]).backup_mode, "fail_stop");
    let err = load(&["--network", "regtest", "--backup-mode", "maybe"], &[]).unwrap_err();
    assert!(err.to_string().starts_with("--backup-mode: unknown mode `maybe`"), "{err}");
    let err =
        load(&["--network", "regtest", "--data-dir", "/d", "--backup-dir", "/d"], &[]).unwrap_err();
    assert!(err.to_string().contains("must not be the data directory"), "{err}");
}

#[test]
fn lsp_keys_are_checked() {
    let id = format!("02{}", "ab".repeat(32));
    let c = regtest(&["--lsps", &format!("{id}@127.0.0.1:9735"), "--lsp-token", "t0k"]);
    assert_eq!(c.lsps, vec![format!("{id}@127.0.0.1:9735")]);
    assert!(!format!("{c:?}").contains("t0k"), "the token is redacted");
    let err = load(&["--network", "regtest", "--lsps", "nobody@127.0.0.1:1"], &[]).unwrap_err();
    assert!(err.to_string().contains("is not a node id"), "{err}");
    let err = load(&["--network", "regtest", "--lsps", &id], &[]).unwrap_err();
    assert!(err.to_string().contains("is not NODE_ID@HOST:PORT"), "{err}");
    let err = load(
        &[
            "--network",
            "regtest",
            "--lsps2-service-min-payment-msat",
            "5000",
            "--lsps2-service-max-payment-msat",
            "4000",
        ],
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("below lsps2_service_min_payment_msat"), "{err}");
}

mod values;
