//! The `boltd` command: `boltd serve` runs the daemon; `boltd playground` runs a regtest network
//! of three nodes on this machine; `boltd restore` builds a data directory from a backup; the
//! client commands (`cli/`) talk to a running daemon.

mod cli;
mod playground;
mod restore;

use std::process::ExitCode;
use std::sync::Arc;

use boltd_api::AuthMode;
use boltd_config::{Config, ConfigArgs};
use boltd_engine::Engine;
use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc (issue 10, B5: memory over many payments). Measured in
/// `bench/results/b5-memory-2026-12-04.md`: at the same payment rate, after 40,000 payments the
/// B2 pair held 164 / 163 MiB with glibc's malloc and 136 / 147 MiB with jemalloc; from 20,000 on,
/// once LDK's table of recent payments had stopped growing, glibc's RSS kept rising by about
/// 2 MiB per 1,000 payments against 0.7-1.3 for jemalloc, while the live heap grew by about
/// 0.2 (LDK's channel monitor). jemalloc starts higher (+3 to +11 MiB after 1,000 payments).
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "boltd", version, about = "A self-hosted Lightning payments daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    conn: cli::Conn,
}

#[derive(Subcommand)]
// Parsed once: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the daemon.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Serve the API without authentication (no tokens: anyone who can connect may do
        /// everything). Only allowed when the API listens on a loopback address.
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Run a regtest network on this machine: bitcoind and three nodes (alice, bob, carol) with
    /// funded wallets and channels, resumed on the next start.
    Playground(playground::PlaygroundArgs),
    /// Build a data directory from a backup: the continuous backup directory (`backup_dir`) or
    /// an exported archive (with the seed); then start the node on it with `boltd serve`.
    Restore(restore::RestoreArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// Print a shell completion script (e.g. `boltd completions bash > /etc/bash_completion.d/boltd`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Playground(args) => playground::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Client(command) => cli::run(cli.conn, command),
        Command::Completions { shell } => cli::completions(shell, Cli::command()),
        Command::Serve { config, insecure_no_auth } => {
            let config = match Config::load(&config, std::env::vars()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("boltd: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config.log_level);
            install_fail_stop_panic_hook();
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("boltd: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(serve(config, insecure_no_auth)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("boltd: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// A panic in the daemon is fatal (fail-stop, see `boltd_node::failstop`): one `fatal:` line in
/// the log, then the process ends at once, whatever thread panicked (release builds also abort
/// through `panic = "abort"`; this hook makes debug builds behave the same).
fn install_fail_stop_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        tracing::error!(
            exit_code = boltd_node::failstop::EXIT_INTERNAL,
            "fatal: panic in thread {name}: {info}; boltd stops now"
        );
        eprintln!("boltd: fatal: panic in thread {name}: {info}");
        std::process::exit(boltd_node::failstop::EXIT_INTERNAL);
    }));
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_env("BOLTD_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},ldk=warn,hyper=warn")));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// How long a stopping daemon waits for open API requests.
const API_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn serve(config: Config, insecure_no_auth: bool) -> Result<(), String> {
    let loopback = config.api_listen.ip().is_loopback();
    if insecure_no_auth && !loopback {
        return Err(format!(
            "--insecure-no-auth is only allowed when the API listens on loopback, not {}: \
             anyone who can reach it could spend the node's funds. Drop the flag (every request \
             then needs a token) or listen on 127.0.0.1",
            config.api_listen
        ));
    }
    if insecure_no_auth && !config.api_cors_origins.is_empty() {
        return Err(format!(
            "api_cors_origins ({}) cannot be set with --insecure-no-auth: every web page of an \
             allowed origin could then spend the node's funds from a browser on this machine. \
             Drop one of them (browsers need tokens)",
            config.api_cors_origins.join(", ")
        ));
    }
    let token_file = boltd_engine::auth::admin_token_path(&config.data_dir);
    // Signal handlers first, so a SIGTERM that follows the ready line is a clean shutdown.
    let shutdown = shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let api_listener = boltd_api::bind(config.api_listen).await.map_err(|e| e.to_string())?;
    let api_addr = api_listener.local_addr().map_err(|e| e.to_string())?;
    // On PostgreSQL the node may have to wait for the lease (a standby): meanwhile the API's
    // address answers `/ping` and `/readyz` (503) and nothing else, and a SIGTERM stops the wait.
    let (api_listener, standby) = standby_api(api_listener, config.store_url.is_some())?;
    let mut shutdown = Box::pin(shutdown);
    let engine = tokio::select! {
        started = Engine::start(config) => started.map_err(|e| e.to_string())?,
        _ = &mut shutdown => {
            tracing::info!("stopped while waiting for the node's lease");
            // The wait runs on a blocking thread that only ends with the lease: exit now.
            std::process::exit(0);
        }
    };
    if let Some((stop, task)) = standby {
        let _ = stop.send(true);
        let _ = task.await;
    }
    let node = Arc::clone(engine.node());
    // On the first start only: a new admin token, written to its file. Neither stdout nor the
    // log ever shows it (service managers keep stdout in journals): the ready line says where
    // it is.
    let created = engine
        .bootstrap_admin_token()
        .await
        .map_err(|e| format!("cannot create the admin token: {e}"))?
        .is_some();
    if created {
        tracing::info!("created the admin token in {}", token_file.display());
    }

    // Nostr Wallet Connect, when `nwc_relays` names relays: another dialect, through relays.
    let nwc = boltd_nwc::NwcService::start(Arc::clone(&engine))?;

    let auth = if insecure_no_auth { AuthMode::Disabled } else { AuthMode::Tokens };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut api_stop = stop_rx.clone();
    let api =
        tokio::spawn(boltd_api::serve_with(api_listener, Arc::clone(&engine), auth, async move {
            let _ = api_stop.wait_for(|s| *s).await;
        }));

    // One machine-readable line on stdout says the daemon is ready (tests and scripts wait for it).
    let ready = serde_json::json!({
        "event": "ready",
        "node_id": node.node_id().to_string(),
        "api_url": format!("http://{api_addr}"),
        "p2p_addr": node.p2p_addr().to_string(),
        "auth": if insecure_no_auth { "none" } else { "tokens" },
        "admin_token_file": token_file,
        "admin_token_created": created,
        "nwc_wallet_pubkey": nwc.as_ref().map(|n| n.wallet_pubkey().to_hex()),
    });
    println!("{ready}");
    if insecure_no_auth {
        tracing::warn!(
            "API listening on http://{api_addr} WITHOUT authentication (--insecure-no-auth): \
             every local user and program can spend this node's funds"
        );
    } else {
        tracing::info!("API listening on http://{api_addr} (bearer tokens)");
        if !loopback {
            tracing::warn!(
                "the API listens on {api_addr}, beyond loopback, in plain HTTP: tokens cross the \
                 network in clear; put a TLS proxy in front of it"
            );
        }
    }

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // Requests still waiting for a payment's result (Core Lightning's `pay` waits up to its
    // retry window) get a short grace; the payments themselves go on after a restart, from
    // their persisted state.
    if tokio::time::timeout(API_DRAIN, api).await.is_err() {
        tracing::warn!(
            "API requests still open after {} s: stopping without them",
            API_DRAIN.as_secs()
        );
    }
    if let Some(nwc) = nwc {
        nwc.stop().await;
    }
    engine.stop().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// While a PostgreSQL node waits for its lease: the standby's API (see
/// `boltd_api::standby_router`) on a second handle of the same socket, and what stops it once
/// the node serves. On SQLite: nothing.
#[allow(clippy::type_complexity)]
fn standby_api(
    listener: tokio::net::TcpListener,
    postgres: bool,
) -> Result<
    (
        tokio::net::TcpListener,
        Option<(tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<std::io::Result<()>>)>,
    ),
    String,
> {
    if !postgres {
        return Ok((listener, None));
    }
    let std_listener = listener.into_std().map_err(|e| e.to_string())?;
    let second = std_listener.try_clone().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
    let second = tokio::net::TcpListener::from_std(second).map_err(|e| e.to_string())?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        boltd_api::serve_standby(second, async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
    });
    Ok((listener, Some((stop, task))))
}

/// Installs SIGTERM and SIGINT handlers now; the returned future resolves on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
