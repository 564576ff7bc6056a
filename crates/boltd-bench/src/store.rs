//! B7 (issue "beyond one machine"): payments per second on the B2 pair with PostgreSQL beside
//! SQLite in the same run, and the failover time of a node with a standby.
//!
//! Throughput: two real `boltd serve` daemons, one channel, the payer paying the payee's
//! invoices with `K` workers (B2's closed loop, [`crate::load`]); once with both stores on
//! SQLite, once with both on one local PostgreSQL cluster (`fsync` and `synchronous_commit` on;
//! each daemon its own database). Failover: a leader L on PostgreSQL with a channel to a payee
//! (SQLite) and a standby S on the same database; L is SIGKILLed and a client pays through S
//! every 100 ms until a payment completes: the time from the kill to that answer, `rounds`
//! times (the killed node comes back as the next standby), and its median.

use std::path::Path;
use std::time::{Duration, Instant};

use boltd_harness::{fund, open_channel, Bitcoind, ChainAccess, PgCluster, TestNode};
use serde::Serialize;

use crate::load::{self, RunFigures};
use crate::payments::{create_invoices, pay_boltd, settle_boltd, spawn_timed, Phase};
use crate::stats::percentile;

/// What B7 runs.
#[derive(Debug, Clone, Serialize)]
pub struct B7Plan {
    /// Channel size, sat.
    pub channel_sat: u64,
    /// Amount of each payment, sat.
    pub amount_sat: u64,
    /// The throughput runs, in order, on each backend.
    pub phases: Vec<Phase>,
    /// Failovers measured.
    pub failovers: usize,
    /// The lease's time to live in the failover rounds, seconds.
    pub lease_ttl_secs: u64,
}

impl B7Plan {
    /// The default size: K = 1 and 50, a few minutes on 2 cores.
    pub fn small() -> Self {
        B7Plan {
            channel_sat: 16_000_000,
            amount_sat: 5_000,
            phases: vec![
                Phase { concurrency: 1, payments: 100 },
                Phase { concurrency: 50, payments: 600 },
            ],
            failovers: 5,
            lease_ttl_secs: 4,
        }
    }

    /// The full size: B2's K = 1, 10, 50.
    pub fn full() -> Self {
        B7Plan {
            phases: vec![
                Phase { concurrency: 1, payments: 150 },
                Phase { concurrency: 10, payments: 600 },
                Phase { concurrency: 50, payments: 2_000 },
            ],
            failovers: 5,
            ..Self::small()
        }
    }

    fn invoices(&self) -> usize {
        self.phases.iter().map(|p| p.payments + p.concurrency).sum()
    }
}

/// One backend's runs.
#[derive(Debug, Clone, Serialize)]
pub struct BackendFigures {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// One per phase.
    pub runs: Vec<RunFigures>,
}

/// The failover rounds.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverFigures {
    /// The lease's time to live, seconds.
    pub lease_ttl_secs: u64,
    /// Kill to the standby's ready line, seconds, per round.
    pub to_ready_secs: Vec<f64>,
    /// Kill to the first payment completed through the standby, seconds, per round.
    pub to_first_payment_secs: Vec<f64>,
    /// Median of `to_first_payment_secs`.
    pub median_secs: f64,
}

/// B7's figures.
#[derive(Debug, Clone, Serialize)]
pub struct B7Figures {
    /// The plan.
    pub plan: B7Plan,
    /// SQLite, then PostgreSQL.
    pub backends: Vec<BackendFigures>,
    /// The failover rounds.
    pub failover: FailoverFigures,
    /// PostgreSQL's version and durability settings.
    pub postgres: String,
}

/// A payer and a payee with one channel, each started with `args(name)`; runs the plan's phases.
fn throughput(
    btc: &Bitcoind,
    exe: &Path,
    dir: &Path,
    plan: &B7Plan,
    args: &dyn Fn(&str) -> Vec<String>,
    log: &dyn Fn(&str),
) -> Result<Vec<RunFigures>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let chain = ChainAccess::from(btc);
    let e = |e: boltd_harness::HarnessError| e.to_string();
    let port = || boltd_harness::free_port().map_err(e);
    let (mut payer, _) =
        spawn_timed("payer", exe, &dir.join("payer"), &chain, port()?, &args("payer"))?;
    let (mut payee, _) =
        spawn_timed("payee", exe, &dir.join("payee"), &chain, port()?, &args("payee"))?;
    fund(btc, &payer, &[&payee]).map_err(e)?;
    open_channel(btc, &payer, &payee, plan.channel_sat, 0, &[&payer, &payee]).map_err(e)?;
    let invoices = create_invoices(&payee, plan.invoices(), plan.amount_sat)?;
    let (url, token) = (payer.api_url.clone(), payer.admin_token().to_string());
    let mut next = 0;
    let mut runs = Vec::new();
    for phase in &plan.phases {
        let warm = &invoices[next..next + phase.concurrency];
        next += phase.concurrency;
        load::run(warm.len(), phase.concurrency, |i| pay_boltd(&url, &token, &warm[i]));
        settle_boltd(&[&payer, &payee])?;
        let batch = &invoices[next..next + phase.payments];
        next += phase.payments;
        let (outcomes, wall) =
            load::run(batch.len(), phase.concurrency, |i| pay_boltd(&url, &token, &batch[i]));
        settle_boltd(&[&payer, &payee])?;
        let run = RunFigures::of(phase.concurrency, &outcomes, wall);
        log(&format!(
            "  K={}: {}/{} complete, {:.1} payments/s, p50 {:.1} ms, p99 {:.1} ms",
            run.concurrency,
            run.completed,
            run.attempted,
            run.payments_per_sec,
            run.p50_ms,
            run.p99_ms
        ));
        runs.push(run);
    }
    payer.stop().map_err(e)?;
    payee.stop().map_err(e)?;
    Ok(runs)
}

/// The standby's arguments: the store and lease, and its own API address.
fn pg_args(url: &str, ttl_secs: u64, api: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "--store-url".to_string(),
        url.to_string(),
        "--lease-ttl-secs".into(),
        ttl_secs.to_string(),
        "--lease-renew-secs".into(),
        "1".into(),
    ];
    if let Some(api) = api {
        args.extend(["--api-listen".to_string(), api.to_string()]);
    }
    args
}

/// Starts `name` on `dir` as a standby in a thread (it reports ready once it holds the lease).
fn standby(
    name: &'static str,
    exe: &Path,
    dir: &Path,
    chain: &ChainAccess,
    args: Vec<String>,
) -> Result<std::thread::JoinHandle<Result<TestNode, String>>, String> {
    let (exe, dir, chain) = (exe.to_path_buf(), dir.to_path_buf(), chain.clone());
    let p2p = boltd_harness::free_port().map_err(|e| e.to_string())?;
    Ok(std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        TestNode::spawn_with(name, &exe, &dir, &chain, p2p, &args).map_err(|e| e.to_string())
    }))
}

fn failover(
    btc: &Bitcoind,
    exe: &Path,
    dir: &Path,
    pg: &PgCluster,
    plan: &B7Plan,
    log: &dyn Fn(&str),
) -> Result<FailoverFigures, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    pg.create_database("failover").map_err(|e| e.to_string())?;
    let url = pg.url("failover");
    let chain = ChainAccess::from(btc);
    let e = |e: boltd_harness::HarnessError| e.to_string();
    let port = || boltd_harness::free_port().map_err(e);
    let q = TestNode::spawn("payee", exe, &dir.join("q"), &chain, port()?).map_err(e)?;
    let dirs = [dir.join("a"), dir.join("b")];
    let ttl = plan.lease_ttl_secs;
    let leader_args = pg_args(&url, ttl, None);
    let leader_args: Vec<&str> = leader_args.iter().map(String::as_str).collect();
    let mut leader =
        TestNode::spawn_with("a", exe, &dirs[0], &chain, port()?, &leader_args).map_err(e)?;
    fund(btc, &leader, &[&q]).map_err(e)?;
    open_channel(btc, &leader, &q, plan.channel_sat, 0, &[&leader, &q]).map_err(e)?;
    std::fs::create_dir_all(&dirs[1]).map_err(|e| e.to_string())?;
    for f in ["seed.mnemonic", "admin.token"] {
        std::fs::copy(dirs[0].join(f), dirs[1].join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    let token = leader.admin_token().to_string();
    let (mut to_ready, mut to_payment) = (Vec::new(), Vec::new());
    let mut next_dir = 1;
    for round in 0..plan.failovers {
        let api = format!("127.0.0.1:{}", port()?);
        let names = ["a", "b"];
        let waiting =
            standby(names[next_dir], exe, &dirs[next_dir], &chain, pg_args(&url, ttl, Some(&api)))?;
        // The standby waits once it answers /readyz.
        let probe = boltd_harness::ApiClient::new(&format!("http://{api}"), None);
        let started = Instant::now();
        while !probe.get("/readyz").is_err_and(|f| f.status == 503) {
            if started.elapsed() > Duration::from_secs(60) {
                return Err("the standby never answered /readyz".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let invoices = create_invoices(&q, 1, plan.amount_sat)?;
        leader.kill().map_err(e)?;
        let killed = Instant::now();
        let standby_url = format!("http://{api}");
        loop {
            if pay_boltd(&standby_url, &token, &invoices[0]).is_ok() {
                break;
            }
            if killed.elapsed() > Duration::from_secs(120) {
                return Err(format!("round {round}: no payment through the standby"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let paid = killed.elapsed().as_secs_f64();
        let new_leader = waiting.join().map_err(|_| "standby thread panicked".to_string())??;
        let ready = new_leader.ready.is_some().then(|| killed.elapsed().as_secs_f64());
        log(&format!(
            "  failover {}: first payment through the standby {paid:.2} s after the kill",
            round + 1
        ));
        to_payment.push(paid);
        to_ready.push(ready.unwrap_or(paid));
        leader = new_leader;
        next_dir = 1 - next_dir;
    }
    drop(leader);
    let mut sorted = to_payment.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(FailoverFigures {
        lease_ttl_secs: ttl,
        to_ready_secs: to_ready,
        median_secs: percentile(&sorted, 50.0),
        to_first_payment_secs: to_payment,
    })
}

/// Runs B7 with `exe` on `btc`, everything under `dir`.
pub fn run(
    btc: &Bitcoind,
    exe: &Path,
    dir: &Path,
    plan: &B7Plan,
    log: &dyn Fn(&str),
) -> Result<B7Figures, String> {
    btc.mine(101).map_err(|e| e.to_string())?;
    log("B7: the B2 pair on SQLite");
    let sqlite = throughput(btc, exe, &dir.join("sqlite"), plan, &|_| Vec::new(), log)?;
    let pg = PgCluster::start(&["fsync=on", "synchronous_commit=on"])
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    for db in ["payer", "payee"] {
        pg.create_database(db).map_err(|e| e.to_string())?;
    }
    log("B7: the B2 pair on PostgreSQL");
    let postgres = throughput(
        btc,
        exe,
        &dir.join("postgres"),
        plan,
        &|name| pg_args(&pg.url(name), 10, None),
        log,
    )?;
    log("B7: failover");
    let failover = failover(btc, exe, &dir.join("failover"), &pg, plan, log)?;
    let postgres_bin = boltd_harness::pg_bin().map(|b| b.join("postgres"));
    let version = std::process::Command::new(postgres_bin.unwrap_or_else(|_| "postgres".into()))
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Ok(B7Figures {
        plan: plan.clone(),
        backends: vec![
            BackendFigures { backend: "sqlite".into(), runs: sqlite },
            BackendFigures { backend: "postgres".into(), runs: postgres },
        ],
        failover,
        postgres: format!("{version}, local, fsync=on, synchronous_commit=on"),
    })
}

/// The report's Markdown.
pub fn markdown(f: &B7Figures, stamp: &str) -> String {
    let mut md = format!(
        "# B7: PostgreSQL beside SQLite, and failover ({stamp})\n\n\
         The B2 pair (two `boltd serve`, one channel, the payer paying the payee's invoices \
         through `POST /api/v1/lightning/pay` with K workers), once on SQLite, once on \
         PostgreSQL ({}); then {} failovers of a node with a standby on PostgreSQL \
         (`lease_ttl_secs` {}).\n\n\
         | K | payments | SQLite payments/s | PostgreSQL payments/s | SQLite p50 / p99 ms | PostgreSQL p50 / p99 ms |\n\
         |---|---|---|---|---|---|\n",
        f.postgres, f.plan.failovers, f.failover.lease_ttl_secs
    );
    for (s, p) in f.backends[0].runs.iter().zip(&f.backends[1].runs) {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} |\n",
            s.concurrency,
            s.attempted,
            s.payments_per_sec,
            p.payments_per_sec,
            s.p50_ms,
            s.p99_ms,
            p.p50_ms,
            p.p99_ms
        ));
    }
    let rounds: Vec<String> =
        f.failover.to_first_payment_secs.iter().map(|s| format!("{s:.2}")).collect();
    md.push_str(&format!(
        "\nFailover (kill of the leader to the first payment completed through the standby): \
         median **{:.2} s** of {} rounds ({} s).\n",
        f.failover.median_secs,
        rounds.len(),
        rounds.join(", ")
    ));
    md
}
