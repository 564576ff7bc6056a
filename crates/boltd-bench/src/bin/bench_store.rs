//! B7: payments per second on the B2 pair with PostgreSQL beside SQLite, and failover with a
//! standby (see `boltd_bench::store`). Reports figures, asserts nothing about speed.
//!
//! ```text
//! bench_store [--boltd PATH] [--full] [--out DIR]
//! ```
//!
//! Needs `BITCOIND_EXE` (or bitcoind on the PATH) and PostgreSQL's server binaries (Debian's
//! `postgresql`, or `BOLTD_PG_BIN`). Writes `store-<date>-<commit>.md` and `.json` under `--out`
//! (default `bench/results/` of the workspace).

use std::path::PathBuf;

use boltd_bench::machine::{commit, cpu_model, utc_now, workspace};
use boltd_bench::store::{self, B7Plan};
use boltd_harness::Bitcoind;

fn main() {
    let mut exe = workspace().join("target/release/boltd");
    let mut out = workspace().join("bench/results");
    let mut plan = B7Plan::small();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--boltd" => exe = PathBuf::from(args.next().expect("--boltd PATH")),
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            "--full" => plan = B7Plan::full(),
            other => {
                eprintln!(
                    "bench_store: unknown argument `{other}` (--boltd PATH, --full, --out DIR)"
                );
                std::process::exit(2);
            }
        }
    }
    let log = |line: &str| eprintln!("{line}");
    let btc = match Bitcoind::start() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench_store: bitcoind: {e}");
            std::process::exit(1);
        }
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let figures = match store::run(&btc, &exe, dir.path(), &plan, &log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench_store: {e}");
            std::process::exit(1);
        }
    };
    let (date, time) = utc_now();
    let (commit, dirty) = commit();
    let stamp =
        format!("{time}, commit {commit}{}, {}", if dirty { " (dirty)" } else { "" }, cpu_model());
    let md = store::markdown(&figures, &stamp);
    println!("{md}");
    let base = out.join(format!("store-{date}-{commit}"));
    let written = std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(base.with_extension("md"), &md))
        .and_then(|()| {
            let json = serde_json::to_string_pretty(&figures).unwrap_or_default();
            std::fs::write(base.with_extension("json"), json)
        });
    match written {
        Ok(()) => eprintln!("wrote {}.md and .json", base.display()),
        Err(e) => {
            eprintln!("bench_store: writing the report: {e}");
            std::process::exit(1);
        }
    }
}
