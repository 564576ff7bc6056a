//! Defaults and the checks of single values (credentials, URLs, addresses, relays, secrets).

use super::*;

#[test]
fn defaults() {
    let c = regtest(&[]);
    assert_eq!(c.data_dir, PathBuf::from("/home/alice/.boltd/regtest"));
    assert_eq!(c.p2p_listen, "0.0.0.0:9735".parse().unwrap());
    assert!(c.announce_addrs.is_empty());
    assert_eq!(c.alias, "");
    assert_eq!(c.api_listen, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(c.bitcoind_rpc_user, None);
    assert_eq!(c.bitcoind_rpc_password, None);
    assert_eq!(c.chain_poll_interval_ms, 1000);
    assert_eq!(c.wallet_sync_interval_ms, 2000);
    assert_eq!(c.log_level, "info");
    assert!(c.accept_inbound_channels);
    assert!(c.lnurl_names.is_empty());
    assert_eq!(c.lnurl_public_url, None);
    assert!(!c.lnurl_allow_http);
}

#[test]
fn defaults_per_network() {
    for (name, port, net_dir, data_dir, fee) in [
        ("bitcoin", 8332, "", "bitcoin", 1000),
        ("mainnet", 8332, "", "bitcoin", 1000),
        ("testnet", 18332, "testnet3/", "testnet", 1000),
        ("testnet4", 48332, "testnet4/", "testnet4", 1000),
        ("signet", 38332, "signet/", "signet", 1000),
        ("regtest", 18443, "regtest/", "regtest", 253),
    ] {
        let c = load(&["--network", name], &[]).unwrap();
        assert_eq!(c.bitcoind_rpc_url, format!("http://127.0.0.1:{port}"));
        assert_eq!(
            c.bitcoind_rpc_cookie,
            Some(PathBuf::from(format!("/home/alice/.bitcoin/{net_dir}.cookie")))
        );
        assert_eq!(c.data_dir, PathBuf::from(format!("/home/alice/.boltd/{data_dir}")));
        assert_eq!(c.fee_rate_fallback_sat_per_kwu, fee);
    }
}

#[test]
fn home_is_needed_only_for_defaults_under_it() {
    let layer = |dir: bool, cookie: bool| ConfigLayer {
        network: Some(Network::Regtest),
        data_dir: dir.then(|| PathBuf::from("/d")),
        bitcoind_rpc_cookie: cookie.then(|| PathBuf::from("/c")),
        ..Default::default()
    };
    let err = Config::from_layer(layer(false, true), None).unwrap_err();
    assert!(matches!(err, ConfigError::NoHome { key: "data_dir" }));
    let err = Config::from_layer(layer(true, false), None).unwrap_err();
    assert!(matches!(err, ConfigError::NoHome { key: "bitcoind_rpc_cookie" }));
    assert!(err.to_string().contains("BOLTD_BITCOIND_RPC_COOKIE"), "{err}");
    assert!(Config::from_layer(layer(true, true), None).is_ok());
}

#[test]
fn bitcoind_credentials() {
    let c = regtest(&["--bitcoind-rpc-user", "u", "--bitcoind-rpc-password", "p"]);
    assert_eq!(c.bitcoind_rpc_user.as_deref(), Some("u"));
    assert_eq!(c.bitcoind_rpc_password.as_deref(), Some("p"));
    assert_eq!(c.bitcoind_rpc_cookie, None);

    let c = regtest(&["--bitcoind-rpc-cookie", "/tmp/.cookie"]);
    assert_eq!(c.bitcoind_rpc_cookie, Some(PathBuf::from("/tmp/.cookie")));

    let err = load(&["--network", "regtest"], &[("BOLTD_BITCOIND_RPC_USER", "u")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "BOLTD_BITCOIND_RPC_USER: is set but bitcoind_rpc_password is not; set both, or use a \
         cookie file"
    );
    let err = load(&["--network", "regtest", "--bitcoind-rpc-password", "p"], &[]).unwrap_err();
    assert!(err.to_string().starts_with("--bitcoind-rpc-password: is set but"), "{err}");

    let file = write_file("network = \"regtest\"\nbitcoind_rpc_cookie = \"/c\"\n");
    let err = load(
        &["--config", file.path().to_str().unwrap(), "--bitcoind-rpc-user", "u"],
        &[("BOLTD_BITCOIND_RPC_PASSWORD", "secret")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("use one or the other") && err.contains("`bitcoind_rpc_cookie` in"));
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn rpc_url_shape() {
    regtest(&["--bitcoind-rpc-url", "http://bitcoind:18443/wallet/x"]);
    for bad in ["https://h:1", "http://h", "127.0.0.1:18443", "http://:1"] {
        let err = load(&["--network", "regtest", "--bitcoind-rpc-url", bad], &[]).unwrap_err();
        assert!(err.to_string().starts_with("--bitcoind-rpc-url: "), "{err}");
    }
}

#[test]
fn alias_length() {
    let ok = "a".repeat(32);
    assert_eq!(regtest(&["--alias", &ok]).alias, ok);
    // 11 three-byte characters: 11 chars but 33 bytes.
    let long = "€".repeat(11);
    let err = load(&["--network", "regtest"], &[("BOLTD_ALIAS", &long)]).unwrap_err();
    assert!(err.to_string().starts_with("BOLTD_ALIAS: "), "{err}");
    assert!(err.to_string().contains("33 bytes; at most 32"), "{err}");
}

#[test]
fn value_checks() {
    let bad = |flags: &[&str], start: &str| {
        let mut all = vec!["--network", "regtest"];
        all.extend_from_slice(flags);
        let err = load(&all, &[]).unwrap_err().to_string();
        assert!(err.starts_with(start), "{err}");
    };
    bad(&["--log-level", "verbose"], "--log-level: unknown level `verbose`");
    bad(&["--chain-poll-interval-ms", "0"], "--chain-poll-interval-ms: must be at least 1");
    bad(&["--wallet-sync-interval-ms", "0"], "--wallet-sync-interval-ms: must be at least 1");
    bad(&["--fee-rate-fallback-sat-per-kwu", "252"], "--fee-rate-fallback-sat-per-kwu: 252");
    bad(&["--announce-addrs", "example.com"], "--announce-addrs: `example.com`");
    // clap rejects an empty path flag itself; the environment can still give one.
    let err = load(&["--network", "regtest"], &[("BOLTD_DATA_DIR", "")]).unwrap_err();
    assert_eq!(err.to_string(), "BOLTD_DATA_DIR: must not be empty");
    assert_eq!(
        regtest(&["--fee-rate-fallback-sat-per-kwu", "253"]).fee_rate_fallback_sat_per_kwu,
        253
    );
}

#[test]
fn announce_addrs_flag_forms() {
    let c = regtest(&["--announce-addrs", "a:1,b:2", "--announce-addrs", "c:3"]);
    assert_eq!(c.announce_addrs, ["a:1", "b:2", "c:3"]);
    // A flag with an empty value clears a list set by the file or the environment.
    let c =
        load(&["--network", "regtest", "--announce-addrs", ""], &[("BOLTD_ANNOUNCE_ADDRS", "a:1")])
            .unwrap();
    assert!(c.announce_addrs.is_empty());
}

#[test]
fn nwc_relays_are_websocket_urls_listed_once() {
    let c = regtest(&["--nwc-relays", "wss://relay.example.com,ws://127.0.0.1:7000/nostr"]);
    assert_eq!(c.nwc_relays, ["wss://relay.example.com", "ws://127.0.0.1:7000/nostr"]);
    assert!(regtest(&[]).nwc_relays.is_empty(), "off by default");
    let bad = |value: &str, want: &str| {
        let err = load(&["--network", "regtest", "--nwc-relays", value], &[]).unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("--nwc-relays: ") && err.contains(want), "{value}: {err}");
    };
    bad("https://relay.example.com", "must start with wss://");
    bad("wss://", "needs a host");
    bad("wss://a.example,wss://a.example", "listed twice");
}

#[test]
fn accept_inbound_channels_flag_takes_a_value() {
    assert!(!regtest(&["--accept-inbound-channels", "false"]).accept_inbound_channels);
    assert!(regtest(&["--accept-inbound-channels", "true"]).accept_inbound_channels);
}

#[test]
fn password_is_redacted_in_debug() {
    let a = args(&[
        "--network",
        "regtest",
        "--bitcoind-rpc-user",
        "u",
        "--bitcoind-rpc-password",
        "hunter2",
    ]);
    let c = Config::load(&a, env(&[])).unwrap();
    for debug in
        [format!("{c:?}"), format!("{c:#?}"), format!("{a:?}"), format!("{:?}", a.to_layer())]
    {
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
    assert!(!format!("{:?}", regtest(&[])).contains("<redacted>"));
}

#[test]
fn lnurl_keys() {
    let c = regtest(&[
        "--lnurl-names",
        "carol,dave",
        "--lnurl-public-url",
        "https://pay.example.com/boltd/",
    ]);
    assert_eq!(c.lnurl_names, ["carol", "dave"]);
    assert_eq!(c.lnurl_public_url.as_deref(), Some("https://pay.example.com/boltd"));
    assert!(!c.lnurl_allow_http);

    // Plain http: regtest only, loopback only, and only when allowed.
    let c = regtest(&["--lnurl-allow-http", "true", "--lnurl-names", "carol"]);
    assert!(c.lnurl_allow_http && c.lnurl_public_url.is_none());
    let c = load(
        &["--network", "regtest", "--lnurl-public-url", "http://127.0.0.1:3000"],
        &[("BOLTD_LNURL_ALLOW_HTTP", "1"), ("BOLTD_LNURL_NAMES", "carol")],
    )
    .unwrap();
    assert_eq!(c.lnurl_public_url.as_deref(), Some("http://127.0.0.1:3000"));
    let err = load(&["--network", "signet", "--lnurl-allow-http", "true"], &[]).unwrap_err();
    assert!(
        err.to_string().starts_with("--lnurl-allow-http: plain-http LNURL is only allowed on"),
        "{err}"
    );

    let bad = |flags: &[&str], start: &str| {
        let mut all = vec!["--network", "regtest"];
        all.extend_from_slice(flags);
        let err = load(&all, &[]).unwrap_err().to_string();
        assert!(err.starts_with(start), "{err}");
    };
    bad(&["--lnurl-public-url", "http://127.0.0.1:3000"], "--lnurl-public-url: `http://");
    bad(
        &["--lnurl-allow-http", "true", "--lnurl-public-url", "http://example.com"],
        "--lnurl-public-url: `http://example.com`: plain http",
    );
    bad(&["--lnurl-public-url", "example.com"], "--lnurl-public-url: `example.com` must");
    bad(&["--lnurl-public-url", "https://x.com/?a=1"], "--lnurl-public-url: `https://x.com/?a");
    bad(&["--lnurl-names", "Carol"], "--lnurl-names: `Carol` is not a Lightning-address");
    bad(&["--lnurl-names", "a@b"], "--lnurl-names: `a@b` is not");
    bad(&["--lnurl-names", "carol,carol"], "--lnurl-names: `carol` is listed twice");
    // Names without a public URL (and without regtest's http fallback).
    bad(&["--lnurl-names", "carol"], "--lnurl-names: needs lnurl_public_url");

    let file =
        write_file("network = \"regtest\"\nlnurl_names = [\"carol\"]\nlnurl_allow_http = true\n");
    let c = load(&["--config", file.path().to_str().unwrap()], &[]).unwrap();
    assert_eq!(c.lnurl_names, ["carol"]);
    assert!(c.lnurl_allow_http);
}

#[test]
fn cors_origins_are_checked() {
    let c = regtest(&["--api-cors-origins", "https://app.example.com,http://localhost:8080"]);
    assert_eq!(c.api_cors_origins, ["https://app.example.com", "http://localhost:8080"]);
    assert_eq!(regtest(&["--api-cors-origins", "*"]).api_cors_origins, ["*"]);
    for bad in ["app.example.com", "https://app.example.com/", "ftp://x", "https://APP.example"] {
        let err = load(&["--network", "regtest", "--api-cors-origins", bad], &[]).unwrap_err();
        assert!(err.to_string().starts_with("--api-cors-origins: `"), "{err}");
    }
    let err = load(&["--network", "regtest", "--api-cors-origins", "https://a,https://a"], &[])
        .unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
}
