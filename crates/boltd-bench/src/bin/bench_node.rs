//! B2 (payment throughput), B3 (multi-hop latency, engine overhead), B4 (the daemon's memory
//! and start-up) and B6 (memory over the payments made, and of an idle node) on a regtest
//! chain, and the report of B1-B4 and B6. Reports figures, asserts nothing about speed.
//!
//! ```text
//! bench_node [--smoke] [--boltd PATH] [--b1 ROUTES.json] [--out DIR] [--data DIR]
//!            [--only b2,anchor,b3,b6] [--b6-full] [--b6-payments N] [--no-syncs]
//!            [--daemon-arg FLAG]...
//! ```
//!
//! `--boltd`: the `boltd` binary to spawn (default: `boltd` beside this binary). `--b1`: B1's
//! JSON report (from `bench_routes`), folded into this report with its Markdown. B6's size:
//! 10,000 payments and 5 minutes idle by default (about 10 minutes), `--b6-full` 100,000
//! payments and an hour idle (about 2 hours), the smoke size 300 payments and 12 s;
//! `--b6-payments N` sets the payments (the baseline stays after 1,000 payments, with ten
//! checkpoints after it). Writes
//! `bench-<date>-<commit>.md` and `.json` under `--out` (default `bench/results/` of the
//! workspace). Needs `bitcoind` (`BITCOIND_EXE` or `scripts/bitcoind.sh`) and, to count fsyncs,
//! `perf`.

use std::path::PathBuf;

use boltd_bench::machine::workspace;
use boltd_bench::suite::{self, Options};

struct Args {
    opts: Options,
    out: PathBuf,
    b1: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_default();
    let mut a = Args {
        opts: Options {
            smoke: false,
            boltd_exe: exe_dir.join("boltd"),
            data_dir: None,
            ours: true,
            anchor: true,
            multihop: true,
            memory: true,
            b6_full: false,
            b6_payments: None,
            daemon_args: Vec::new(),
            count_syncs: true,
        },
        out: workspace().join("bench/results"),
        b1: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--smoke" => a.opts.smoke = true,
            "--boltd" => a.opts.boltd_exe = value()?.into(),
            "--b1" => a.b1 = Some(value()?.into()),
            "--out" => a.out = value()?.into(),
            "--data" => a.opts.data_dir = Some(value()?.into()),
            "--no-syncs" => a.opts.count_syncs = false,
            "--b6-full" => a.opts.b6_full = true,
            "--daemon-arg" => a.opts.daemon_args.push(value()?),
            "--b6-payments" => {
                let n = value()?;
                match n.parse::<usize>() {
                    Ok(n) if n > 0 => a.opts.b6_payments = Some(n),
                    _ => return Err(format!("--b6-payments: `{n}` is not a positive count")),
                }
            }
            "--only" => {
                let only = value()?;
                let parts: Vec<&str> = only.split(',').map(str::trim).collect();
                if let Some(bad) = parts.iter().find(|p| !["b2", "anchor", "b3", "b6"].contains(p))
                {
                    return Err(format!("--only: unknown part `{bad}` (b2, anchor, b3, b6)"));
                }
                a.opts.ours = parts.contains(&"b2");
                a.opts.anchor = parts.contains(&"anchor");
                a.opts.multihop = parts.contains(&"b3");
                a.opts.memory = parts.contains(&"b6");
            }
            "-h" | "--help" => {
                println!(
                    "bench_node [--smoke] [--boltd PATH] [--b1 ROUTES.json] [--out DIR] \
                     [--data DIR] [--only b2,anchor,b3,b6] [--b6-full] [--b6-payments N] \
                     [--no-syncs] [--daemon-arg FLAG]..."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.opts.ours && !a.opts.boltd_exe.is_file() {
        return Err(format!(
            "no boltd binary at {} (build it: cargo build --release -p boltd --bin boltd, or \
             pass --boltd)",
            a.opts.boltd_exe.display()
        ));
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_node: {e}");
            std::process::exit(2);
        }
    };
    let log = |line: &str| eprintln!("{line}");
    let report = match suite::run(&args.opts, &log) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench_node: {e}");
            std::process::exit(1);
        }
    };
    match report.write(&args.out, args.b1.as_deref()) {
        Ok((md, json)) => {
            println!("{}", report.markdown(None));
            eprintln!("wrote {} and {}", md.display(), json.display());
        }
        Err(e) => {
            eprintln!("bench_node: {e}");
            std::process::exit(1);
        }
    }
}
