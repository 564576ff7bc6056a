//! A node whose bitcoind lost blocks it had processed (bitcoind was killed before writing them
//! to its index) says so in one log line naming the heights, waits instead of refusing to start,
//! and starts once bitcoind has the blocks again (here: `-reindex` finds them in its block files).
//! Real binary, real regtest bitcoind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boltd_harness::bitcoincore_rpc::RpcApi;
use boltd_harness::{free_port, Bitcoind, ChainAccess, HarnessError, TestNode};

const BOLTD: &str = env!("CARGO_BIN_EXE_boltd");
const LOST: &str = "bitcoind lost blocks this node has processed";

fn start_bitcoind(dir: &Path, ports: (u16, u16), extra: &[&str]) -> Bitcoind {
    Bitcoind::start_persistent_with(dir, ports.0, ports.1, "u", "p", extra).unwrap()
}

/// The node's log lines that contain `needle`.
fn log_lines(data: &Path, needle: &str) -> Vec<String> {
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    log.lines().filter(|l| l.contains(needle)).map(String::from).collect()
}

fn wait(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_waits_for_blocks_bitcoind_lost_and_recovers() -> Result<(), HarnessError> {
    let tmp = tempfile::tempdir().unwrap();
    let (btc_dir, data) = (tmp.path().join("bitcoind"), tmp.path().join("a"));
    let ports = (free_port()?, free_port()?);
    let btc = start_bitcoind(&btc_dir, ports, &[]);
    let chain = ChainAccess::from(&btc);
    let port = free_port()?;
    let exe = PathBuf::from(BOLTD);

    // 101 blocks written to bitcoind's index (`gettxoutsetinfo` flushes), 5 more only in its
    // memory; the node processes all 106 and stops cleanly.
    btc.mine(101)?;
    btc.client().call::<serde_json::Value>("gettxoutsetinfo", &["none".into()]).unwrap();
    btc.mine(5)?;
    let tip = btc.height()?;
    let mut a = TestNode::spawn("alice", &exe, &data, &chain, port)?;
    a.wait_synced(tip)?;
    a.stop()?;

    // bitcoind is killed: it comes back without the 5 blocks.
    unsafe { libc::kill(btc.pid().unwrap() as i32, libc::SIGKILL) };
    drop(btc);
    let btc = start_bitcoind(&btc_dir, ports, &[]);
    assert_eq!(btc.height()?, 101, "bitcoind lost the unwritten blocks");

    // The node does not refuse to start: it says which blocks are missing, once, and waits;
    // then bitcoind recovers them from its block files (`-reindex`), and the node starts, at the
    // tip it had. (Another thread watches the log and restarts bitcoind meanwhile.)
    let d = data.clone();
    let recovery = std::thread::spawn(move || {
        wait("the node to report the lost blocks", Duration::from_secs(30), || {
            !log_lines(&d, LOST).is_empty()
        });
        std::thread::sleep(3 * boltd_node::chain::LOST_BLOCKS_RETRY);
        let lines = log_lines(&d, LOST);
        let started = log_lines(&d, "node started").len();
        drop(btc);
        (start_bitcoind(&btc_dir, ports, &["-reindex"]), lines, started)
    });
    let mut a = TestNode::spawn("alice", &exe, &data, &chain, port)?;
    let (btc, lines, started_while_waiting) = recovery.join().unwrap();
    assert_eq!(lines.len(), 1, "one line, not one per retry: {lines:?}");
    assert!(lines[0].contains(&format!("height {tip} (")), "{}", lines[0]);
    assert!(lines[0].contains("its chain ends at height 101"), "{}", lines[0]);
    assert_eq!(started_while_waiting, 1, "only the first run had started: the node waited");
    assert!(btc.height()? >= tip, "bitcoind has the blocks again");
    if let Err(e) = a.wait_synced(tip) {
        let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        panic!("{e}\nlog tail:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    assert_eq!(log_lines(&data, "has the blocks this node processed again").len(), 1);
    assert_eq!(a.stop()?, Some(0));
    Ok(())
}
