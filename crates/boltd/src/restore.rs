//! `boltd restore`: builds a data directory from a backup (see `boltd_node::restore`), then
//! `boltd serve` starts the node from it.

use std::path::PathBuf;
use std::process::ExitCode;

use boltd_node::keys::Seed;
use boltd_node::restore::{restore, RestoreSource};
use clap::{ArgGroup, Args};

/// `boltd restore`'s arguments.
#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("source").required(true).args(["from_backup_dir", "archive", "seed_only"])
))]
pub struct RestoreArgs {
    /// Bitcoin network: bitcoin (or mainnet), testnet, testnet4, signet or regtest.
    #[arg(long, value_name = "NETWORK")]
    network: String,
    /// The data directory to build; it must hold no node.
    #[arg(long, value_name = "PATH")]
    data_dir: PathBuf,
    /// The continuous backup directory (`backup_dir`) to restore from.
    #[arg(long, value_name = "PATH")]
    from_backup_dir: Option<PathBuf>,
    /// An archive exported with `boltd backup export` (or `POST /api/v1/node/backup`).
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    /// Nothing but the seed (--seed-file): a new node with the same keys; its on-chain wallet
    /// scans the chain from --rescan-from-height. Channels are not restored (see the README).
    #[arg(long, requires = "seed_file")]
    seed_only: bool,
    /// With --seed-only: the height the wallet's first sync starts from (at or before the
    /// node's first start; 0 scans the whole chain).
    #[arg(long, value_name = "HEIGHT", default_value_t = 0, requires = "seed_only")]
    rescan_from_height: u32,
    /// The node's seed: a file holding its BIP39 mnemonic (the data directory's
    /// `seed.mnemonic`). Required with --archive and --seed-only; with --from-backup-dir the
    /// backup's copy is used by default.
    #[arg(long, value_name = "FILE")]
    seed_file: Option<PathBuf>,
    /// The backup is stale (the node stopped with "We have fallen behind" after a restore):
    /// restore for recovery only. The channel manager is dropped, the peers are asked to close
    /// the channels with their latest state, and each channel's funds are claimed once its close
    /// confirms (restart the node after that to load its monitor). See the README.
    #[arg(long)]
    recover: bool,
}

/// Runs `boltd restore`: prints the report as JSON on success.
pub fn run(args: RestoreArgs) -> ExitCode {
    match run_inner(args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("boltd restore: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: RestoreArgs) -> Result<String, String> {
    let network = boltd_config::value::parse_network(&args.network)?;
    let seed =
        args.seed_file.as_deref().map(Seed::read_file).transpose().map_err(|e| e.to_string())?;
    let archive_bytes;
    let source = match (&args.from_backup_dir, &args.archive) {
        (Some(dir), _) => RestoreSource::BackupDir(dir),
        _ if args.seed_only => {
            RestoreSource::SeedOnly { rescan_from_height: args.rescan_from_height }
        }
        (None, Some(file)) => {
            archive_bytes =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            RestoreSource::Archive(&archive_bytes)
        }
        (None, None) => return Err("give --from-backup-dir or --archive".into()),
    };
    let report =
        restore(&args.data_dir, network, source, seed, args.recover).map_err(|e| e.to_string())?;
    serde_json::to_string(&report).map_err(|e| e.to_string())
}
