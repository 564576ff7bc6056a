//! Backups that restore (issue 14, part 2): a node with a continuous backup loses its data
//! directory (SIGKILL, then the directory deleted); `boltd restore --from-backup-dir` builds a
//! new one, the node starts on it, its channel resumes and pays both ways, and its on-chain
//! wallet finds its coins again from the seed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_boltd"))
}

/// Runs `boltd restore` with `args`; returns its JSON report.
fn restore(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(exe())
        .args(["restore", "--network", "regtest", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("BOLTD_CONFIG")
        .output()
        .expect("boltd restore runs");
    assert!(out.status.success(), "boltd restore failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn pays(payer: &TestNode, payee: &TestNode, amount_sat: u64) -> Result<(), HarnessError> {
    let (invoice, _hash) = payee.invoice(amount_sat, "backup test")?;
    let paid = payer.pay(&invoice)?;
    assert_eq!(paid["status"], "complete", "{} pays {}: {paid}", payer.name, payee.name);
    Ok(())
}

#[test]
fn restore_from_the_continuous_backup_resumes_the_channel_and_pays() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let backup_dir = dir.path().join("a-backup");
    let backup_arg = backup_dir.to_str().unwrap().to_string();
    let backup_args = ["--backup-dir", backup_arg.as_str()];
    let a_port = free_port()?;
    let mut a = TestNode::spawn_with("alice", &exe(), &a_dir, &chain, a_port, &backup_args)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;
    pays(&a, &b, 20_000)?;
    pays(&b, &a, 5_000)?;
    pays(&a, &b, 7_000)?;
    let onchain_before = a.onchain_confirmed_sat()?;
    let spendable_before =
        a.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"].as_u64().unwrap();
    let node_id = a.node_id.clone();

    // The disk dies: the node is killed and its data directory is gone.
    a.kill()?;
    std::fs::remove_dir_all(&a_dir).unwrap();
    let _ = std::fs::remove_file(a_dir.with_extension("log"));

    let started = Instant::now();
    let report = restore(&a_dir, &["--from-backup-dir", &backup_arg]);
    let restore_ms = started.elapsed().as_millis();
    assert_eq!(report["channel_monitors"], 1, "{report}");
    assert_eq!(report["channel_manager"], true, "{report}");
    assert_eq!(report["wallet_rescan"], true, "{report}");

    // The node starts on the restored directory, still backing up to the same place.
    let a = TestNode::spawn_with("alice", &exe(), &a_dir, &chain, a_port, &backup_args)?;
    assert_eq!(a.node_id, node_id, "the same node");
    let info = a.info()?;
    assert_eq!(info["backup"]["mode"], "fail_stop", "{info}");
    assert_eq!(info["backup"]["behind"], false, "{info}");
    a.wait_channel_state(&b, "ready")?;
    let usable_ms = started.elapsed().as_millis();
    pays(&a, &b, 3_000)?;
    let paid_ms = started.elapsed().as_millis();
    pays(&b, &a, 1_000)?;
    eprintln!(
        "restore figures: boltd restore {restore_ms} ms; channel ready {usable_ms} ms and first \
         payment {paid_ms} ms after the restore began"
    );
    let expected = spendable_before - 3_000_000 + 1_000_000;
    wait_until(
        "A's balance to count both payments",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let now = a.get("/api/v1/wallet/balance").unwrap()["lightning_spendable_msat"]
                .as_u64()
                .unwrap();
            Ok((now == expected).then_some(()))
        },
    )?;

    // The wallet, made anew from the seed, finds its coins by a rescan from its birthday.
    let h = mine_and_sync(&btc, 1, &[&a, &b])?;
    a.wait_synced(h)?;
    wait_until(
        "A's wallet to find its coins",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let now = a.onchain_confirmed_sat()?;
            Ok((now == onchain_before).then_some(()))
        },
    )?;

    // A data directory put back from an old copy is refused: its backup is ahead of it.
    let mut a = a;
    a.kill()?;
    let old_copy = dir.path().join("a-old");
    copy_dir(&a_dir, &old_copy);
    let a = TestNode::spawn_with("alice", &exe(), &a_dir, &chain, a_port, &backup_args)?;
    a.wait_channel_state(&b, "ready")?;
    pays(&a, &b, 2_000)?;
    drop(a);
    std::fs::remove_dir_all(&a_dir).unwrap();
    std::fs::rename(&old_copy, &a_dir).unwrap();
    let refused = TestNode::spawn_with("alice", &exe(), &a_dir, &chain, a_port, &backup_args);
    let err = refused.err().expect("an old data directory must be refused").to_string();
    assert!(err.contains("older than its backup"), "{err}");
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// `boltd backup export --out FILE` against `node`.
fn export(node: &TestNode, out: &Path) {
    let res = Command::new(exe())
        .args(["backup", "export", "--out"])
        .arg(out)
        .args(["--url", &node.api_url])
        .env("BOLTD_TOKEN", node.admin_token())
        .env_remove("BOLTD_CONFIG")
        .output()
        .expect("boltd backup export runs");
    assert!(res.status.success(), "export failed: {}", String::from_utf8_lossy(&res.stdout));
}

/// An archive (exported through the CLI and the API) restores the node with its records, and
/// its channel resumes and pays.
#[test]
fn restore_from_an_archive_pays_with_its_records() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let a_port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;
    let (invoice, first_hash) = b.invoice(20_000, "before the archive")?;
    assert_eq!(a.pay(&invoice)?["status"], "complete");
    // The seed is kept apart from the data directory (the operator's copy).
    let seed_copy = dir.path().join("alice-seed.mnemonic");
    std::fs::copy(a_dir.join("seed.mnemonic"), &seed_copy).unwrap();
    let seed_arg = seed_copy.to_str().unwrap().to_string();

    // Archive, lose everything, restore.
    let archive = dir.path().join("alice-1.bin");
    export(&a, &archive);
    a.kill()?;
    std::fs::remove_dir_all(&a_dir).unwrap();
    let started = Instant::now();
    let report =
        restore(&a_dir, &["--archive", archive.to_str().unwrap(), "--seed-file", &seed_arg]);
    let restore_ms = started.elapsed().as_millis();
    assert_eq!(report["channel_monitors"], 1, "{report}");
    assert_eq!(report["wallet_rescan"], false, "the archive has the wallet: {report}");
    let a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    a.wait_channel_state(&b, "ready")?;
    pays(&a, &b, 3_000)?;
    pays(&b, &a, 1_000)?;
    eprintln!(
        "restore figures (archive): boltd restore {restore_ms} ms; first payment {} ms after \
         the restore began",
        started.elapsed().as_millis()
    );
    // The records came back with it.
    let first = a.get(&format!("/api/v1/lightning/sends/{first_hash}")).unwrap();
    assert_eq!(first["status"], "complete", "{first}");

    Ok(())
}

fn channel(node: &TestNode) -> Option<serde_json::Value> {
    node.channels().unwrap().into_iter().next()
}

/// An archive older than the channel's state (taken before a payment): when the peer
/// reconnects, LDK sees that the node is behind and stops it (fail-stop) before anything is
/// broadcast. `boltd restore --recover` then gets the funds of the latest state back: the peer,
/// asked to close, broadcasts its commitment (no breach), and the stale monitor, loaded once
/// that close confirmed, claims the node's output of it.
#[test]
fn a_stale_archive_is_refused_and_recovery_gets_the_latest_balance_back() -> Result<(), HarnessError>
{
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let a_port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;
    pays(&a, &b, 20_000)?;
    let seed_copy = dir.path().join("alice-seed.mnemonic");
    std::fs::copy(a_dir.join("seed.mnemonic"), &seed_copy).unwrap();
    let seed_arg = seed_copy.to_str().unwrap().to_string();

    // The archive, then a payment that moves the channel on: the archive is stale.
    let stale = dir.path().join("alice-stale.bin");
    export(&a, &stale);
    let stale_arg = stale.to_str().unwrap().to_string();
    pays(&a, &b, 50_000)?;
    wait_until("A's side to settle", Duration::from_secs(30), Duration::from_millis(100), || {
        Ok(channel(&a).filter(|c| c["pending_htlcs"] == 0).map(|_| ()))
    })?;
    // A funded the channel and paid B 70,000 sat: its balance in the latest state.
    let latest_sat = 1_000_000 - 70_000;
    let onchain_before = a.onchain_confirmed_sat()?;
    a.kill()?;
    std::fs::remove_dir_all(&a_dir).unwrap();
    restore(&a_dir, &["--archive", &stale_arg, "--seed-file", &seed_arg]);

    // Detected: the node stops on B's channel_reestablish, having broadcast nothing.
    let log = a_dir.with_extension("log");
    let _ = std::fs::remove_file(&log);
    match TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port) {
        Ok(mut stopped) => {
            let status = wait_until(
                "the stale node to stop",
                Duration::from_secs(60),
                Duration::from_millis(200),
                || stopped.try_exit_status(),
            )?;
            assert_eq!(status.code(), Some(70), "fail-stop exit");
        }
        Err(e) => assert!(e.to_string().contains("fallen behind"), "{e}"),
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("We have fallen behind"), "{text}");
    assert!(btc.get_raw_mempool()?.is_empty(), "the stale node broadcast something");
    assert!(channel(&b).is_some(), "B's channel is still open");

    // Recovery: B is asked to close, and broadcasts its latest commitment.
    std::fs::remove_dir_all(&a_dir).unwrap();
    let report = restore(&a_dir, &["--archive", &stale_arg, "--seed-file", &seed_arg, "--recover"]);
    assert_eq!(report["channel_manager"], false, "{report}");
    let mut a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    wait_until(
        "B's commitment in the mempool",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || Ok((!btc.get_raw_mempool()?.is_empty()).then_some(())),
    )?;
    mine_and_sync(&btc, 1, &[&a, &b])?;
    // Restarted after the close confirmed, the node loads the stale monitor, which claims.
    a.kill()?;
    let a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    // The sweeper runs on a 30-second timer: up to two minutes, a block every second.
    let gain = wait_until(
        "A's output of B's commitment to reach its wallet",
        Duration::from_secs(120),
        Duration::from_millis(1000),
        || {
            mine_and_sync(&btc, 1, &[&a, &b])?;
            let gain = a.onchain_confirmed_sat()?.saturating_sub(onchain_before);
            Ok((gain > 0).then_some(gain))
        },
    )
    .unwrap_or(0);
    if gain == 0 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<_> = text.lines().rev().take(400).collect();
        eprintln!("A's log tail:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    let b_closed = b.get("/api/v1/node/channels/closed").unwrap()[0].clone();
    assert_eq!(b_closed["breach"], false, "A broadcast revoked state: {b_closed}");
    assert!(
        gain <= latest_sat && gain + 5_000 >= latest_sat,
        "A got {gain} sat back; its balance in the latest state was {latest_sat} sat"
    );
    eprintln!("stale archive: A recovered {gain} of {latest_sat} sat; B's close: {b_closed}");
    Ok(())
}

/// With nothing but the seed, `boltd restore --seed-only` makes a node with the same keys whose
/// wallet finds its coins again by scanning the chain; connecting to its old peer makes the peer
/// force-close the channel the node no longer knows, and `backup recover-channel-funds` sweeps
/// what that close paid to the seed's keys.
#[test]
fn a_seed_only_restore_gets_the_on_chain_and_the_channel_funds_back() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let a_port = free_port()?;
    let mut a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    btc.mine(101)?;
    fund(&btc, &a, &[&b])?;
    // B covers its anchor reserve (and the fee bump of its force close): an anchor channel, the
    // default, whose close pays A to a P2WSH of a seed key.
    fund(&btc, &b, &[&a])?;
    let ch = open_channel(&btc, &a, &b, 1_000_000, 0, &[&a, &b])?;
    assert_eq!(ch["anchors"], true, "{ch}");
    pays(&a, &b, 100_000)?;
    wait_until("A's side to settle", Duration::from_secs(30), Duration::from_millis(100), || {
        Ok(channel(&a).filter(|c| c["pending_htlcs"] == 0).map(|_| ()))
    })?;
    let before = a.onchain_confirmed_sat()?;
    let node_id = a.node_id.clone();
    let seed_copy = dir.path().join("alice-seed.mnemonic");
    std::fs::copy(a_dir.join("seed.mnemonic"), &seed_copy).unwrap();
    a.kill()?;
    std::fs::remove_dir_all(&a_dir).unwrap();

    let report = restore(&a_dir, &["--seed-only", "--seed-file", seed_copy.to_str().unwrap()]);
    assert_eq!(report["channel_monitors"], 0, "{report}");
    assert_eq!(report["wallet_rescan"], true, "{report}");
    let a = TestNode::spawn("alice", &exe(), &a_dir, &chain, a_port)?;
    assert_eq!(a.node_id, node_id, "the same keys");
    wait_until(
        "the wallet to find its coins",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || Ok((a.onchain_confirmed_sat()? == before).then_some(())),
    )?;

    // The peer closes the channel A no longer knows, with its latest state.
    a.connect(&b)?;
    wait_until(
        "B's commitment in the mempool",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || Ok((!btc.get_raw_mempool()?.is_empty()).then_some(())),
    )?;
    mine_and_sync(&btc, 1, &[&a, &b])?;
    let swept = a.post("/api/v1/node/recover-channel-funds", serde_json::json!({})).unwrap();
    assert_eq!(swept["outputs"], 1, "{swept}");
    let amount = swept["amount_sat"].as_u64().unwrap();
    let fee = swept["fee_sat"].as_u64().unwrap();
    // A's 900,000 sat less the commitment's fee and its two anchors (A opened the channel, A
    // pays them).
    assert!((895_000..=900_000).contains(&amount), "{swept}");
    mine_and_sync(&btc, 1, &[&a, &b])?;
    wait_until(
        "the sweep in A's wallet",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || Ok((a.onchain_confirmed_sat()? == before + amount - fee).then_some(())),
    )?;
    eprintln!("seed only: A recovered {} of 900000 sat from B's close", amount - fee);
    Ok(())
}
