//! B2's anchor: the same runs with two `ldk-node` 0.7.1 nodes on their default SQLite store.
//!
//! Both nodes run in this process with ldk-node's defaults apart from the network, storage
//! directory, chain source (the same regtest bitcoind over RPC) and listening address. The payee
//! creates the invoices ahead (`bolt11_payment().receive`), the payer's workers call
//! `bolt11_payment().send` and wait for the `PaymentSuccessful` event; one thread per node takes
//! the events and acknowledges them (`event_handled`), as an application must.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use boltd_harness::{wait_until, Bitcoind, HarnessError};
use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::{Builder, Event, Node};

use crate::load::{self, RunFigures};
use crate::payments::{phase_line, sync_counting, B2Figures, B2Plan, PhaseFigures, Window};

const TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// Outcomes of the payer's payments, by id, filled by its event thread.
#[derive(Default)]
struct Outcomes {
    done: Mutex<HashMap<PaymentId, Result<(), String>>>,
    changed: Condvar,
}

impl Outcomes {
    fn wait(&self, id: PaymentId, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut done = self.done.lock().unwrap();
        loop {
            if let Some(r) = done.remove(&id) {
                return r;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no PaymentSuccessful within {} s", timeout.as_secs()));
            }
            done = self.changed.wait_timeout(done, left).unwrap().0;
        }
    }
}

/// Takes a node's events and acknowledges them until `stop`; payment outcomes go to `outcomes`.
fn event_loop(node: Arc<Node>, outcomes: Arc<Outcomes>, stop: Arc<AtomicBool>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    while !stop.load(Ordering::Acquire) {
        let event = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(200), node.next_event_async()).await.ok()
        });
        let Some(event) = event else { continue };
        let outcome = match &event {
            Event::PaymentSuccessful { payment_id: Some(id), payment_preimage, .. } => {
                Some((*id, payment_preimage.map(|_| ()).ok_or_else(|| "no preimage".to_string())))
            }
            Event::PaymentFailed { payment_id: Some(id), reason, .. } => {
                Some((*id, Err(format!("PaymentFailed: {reason:?}"))))
            }
            _ => None,
        };
        // Acknowledged outside the runtime above: ldk-node blocks on its own runtime here.
        if let Err(e) = node.event_handled() {
            eprintln!("ldk-node: event_handled failed: {e:?}");
        }
        if let Some((id, r)) = outcome {
            outcomes.done.lock().unwrap().insert(id, r);
            outcomes.changed.notify_all();
        }
    }
}

fn ldk_err(what: &str) -> impl FnOnce(ldk_node::NodeError) -> String + '_ {
    move |e| format!("ldk-node: {what}: {e:?}")
}

fn start_node(btc: &Bitcoind, dir: &Path, port: u16) -> Result<Node, String> {
    let mut builder = Builder::new();
    builder
        .set_network(Network::Regtest)
        .set_storage_dir_path(dir.to_string_lossy().into_owned())
        .set_chain_source_bitcoind_rpc(
            "127.0.0.1".into(),
            btc.rpc_port(),
            btc.rpc_user().into(),
            btc.rpc_password().into(),
        );
    builder
        .set_listening_addresses(vec![SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port }])
        .map_err(|e| format!("ldk-node builder: {e:?}"))?;
    let node = builder.build().map_err(|e| format!("ldk-node build: {e:?}"))?;
    node.start().map_err(ldk_err("start"))?;
    Ok(node)
}

struct Pair {
    payer: Arc<Node>,
    payee: Arc<Node>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = self.payer.stop();
        let _ = self.payee.stop();
    }
}

fn wait_height(btc: &Bitcoind, nodes: &[&Node]) -> Result<(), String> {
    let h = btc.height().map_err(|e| e.to_string())?;
    for n in nodes {
        wait_until(&format!("ldk-node to sync to height {h}"), TIMEOUT, POLL, || {
            Ok((n.status().current_best_block.height >= h).then_some(()))
        })
        .map_err(|e: HarnessError| e.to_string())?;
    }
    Ok(())
}

/// Runs B2 with two ldk-node nodes on `btc`, data directories under `dir`.
pub fn run_anchor(
    btc: &Bitcoind,
    dir: &Path,
    plan: &B2Plan,
    log: &dyn Fn(&str),
) -> Result<B2Figures, String> {
    let setup = Instant::now();
    let e = |e: HarnessError| e.to_string();
    let payee_port = boltd_harness::free_port().map_err(e)?;
    let payer =
        Arc::new(start_node(btc, &dir.join("payer"), boltd_harness::free_port().map_err(e)?)?);
    let payee = Arc::new(start_node(btc, &dir.join("payee"), payee_port)?);
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Outcomes::default());
    let mut threads = Vec::new();
    for node in [&payer, &payee] {
        let (node, outcomes, stop) = (Arc::clone(node), Arc::clone(&outcomes), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || event_loop(node, outcomes, stop)));
    }
    let pair = Pair { payer, payee, stop, threads };
    let (payer, payee) = (&pair.payer, &pair.payee);

    // One coinbase each (the payee keeps ldk-node's on-chain reserve for anchor channels).
    for n in [payer, payee] {
        let addr = n.onchain_payment().new_address().map_err(ldk_err("new address"))?;
        btc.fund_address(&addr, 1).map_err(e)?;
    }
    wait_height(btc, &[payer, payee])?;
    for n in [payer, payee] {
        wait_until("ldk-node's wallet to see its funds", TIMEOUT, POLL, || {
            n.sync_wallets().map_err(|e| HarnessError::Other(format!("{e:?}")))?;
            Ok((n.list_balances().spendable_onchain_balance_sats > 0).then_some(()))
        })
        .map_err(e)?;
    }
    let payee_addr = SocketAddress::TcpIpV4 { addr: [127, 0, 0, 1], port: payee_port };
    payer
        .open_channel(payee.node_id(), payee_addr, plan.channel_sat, None, None)
        .map_err(ldk_err("open channel"))?;
    wait_until("the funding transaction to reach the mempool", TIMEOUT, POLL, || {
        Ok((!btc.get_raw_mempool()?.is_empty()).then_some(()))
    })
    .map_err(e)?;
    btc.mine(6).map_err(e)?;
    wait_height(btc, &[payer, payee])?;
    wait_until("the ldk-node channel to be usable", TIMEOUT, POLL, || {
        Ok((payer.list_channels().iter().any(|c| c.is_usable)
            && payee.list_channels().iter().any(|c| c.is_usable))
        .then_some(()))
    })
    .map_err(e)?;

    let description = Bolt11InvoiceDescription::Direct(
        Description::new("b2".into()).map_err(|e| format!("description: {e:?}"))?,
    );
    let mut invoices = Vec::with_capacity(plan.invoices());
    for _ in 0..plan.invoices() {
        let inv = payee
            .bolt11_payment()
            .receive(plan.amount_sat * 1000, &description, 3600)
            .map_err(ldk_err("create invoice"))?;
        // Through its text, so the payer parses it as any application would.
        invoices
            .push(Bolt11Invoice::from_str(&inv.to_string()).map_err(|e| format!("invoice: {e}"))?);
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    log(&format!("ldk-node lab ready in {setup_secs:.0} s ({} invoices)", invoices.len()));

    let pay = |inv: &Bolt11Invoice| -> Result<(), String> {
        let id = payer.bolt11_payment().send(inv, None).map_err(ldk_err("send"))?;
        outcomes.wait(id, TIMEOUT)
    };
    let (count_syncs, syncs_unavailable) = sync_counting(plan);
    let pid = std::process::id();
    let procs = [("payer and payee (one process)", pid)];
    let idle_syncs_per_sec = crate::payments::idle_syncs_per_sec(&procs, count_syncs)?;
    let mut next = 0;
    let mut phases = Vec::new();
    for phase in &plan.phases {
        let warm = &invoices[next..next + phase.concurrency];
        next += phase.concurrency;
        let (warm_out, _) = load::run(warm.len(), phase.concurrency, |i| pay(&warm[i]));
        if let Some(err) = warm_out.iter().find_map(|o| o.result.as_ref().err()) {
            log(&format!("  warm-up payment failed: {err}"));
        }
        std::thread::sleep(Duration::from_secs(1));
        let batch = &invoices[next..next + phase.payments];
        next += phase.payments;
        let window = Window::open(&procs, count_syncs)?;
        let (results, wall) = load::run(batch.len(), phase.concurrency, |i| pay(&batch[i]));
        // ldk-node does not show HTLCs in flight: give the last commitments a second to settle.
        std::thread::sleep(Duration::from_secs(1));
        let run = RunFigures::of(phase.concurrency, &results, wall);
        let (syncs, cpu) = window.close(run.completed)?;
        log(&phase_line("ldk-node", &run, syncs.as_ref()));
        let cpu_ms_per_payment = (run.completed > 0).then(|| cpu * 1e3 / run.completed as f64);
        phases.push(PhaseFigures { run, syncs, cpu_ms_per_payment });
    }
    drop(pair);
    Ok(B2Figures {
        implementation: "ldk-node 0.7.1".into(),
        method: "BOLT11 invoices created ahead on the payee (bolt11_payment().receive), paid \
                 with the payer's bolt11_payment().send; latency until its PaymentSuccessful \
                 event; both nodes in the benchmark's process, so its CPU and durability calls \
                 are the pair's (and the load generator's, which makes none)"
            .into(),
        idle_syncs_per_sec,
        syncs_unavailable,
        phases,
        setup_secs,
        store_flushes: Vec::new(),
    })
}
