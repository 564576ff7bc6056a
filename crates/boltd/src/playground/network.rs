//! The playground's network: starting the nodes, the first start's channels and payments,
//! resuming a saved network, and the miner.

use super::*;

pub(super) struct Ctx {
    pub(super) dir: PathBuf,
    pub(super) ports: Ports,
    pub(super) password: String,
    pub(super) saved: Option<PlaygroundFile>,
    pub(super) started: Instant,
}

/// A node running in this process.
pub(super) struct PgNode {
    name: &'static str,
    engine: Arc<Engine>,
    api_url: String,
    p2p_addr: SocketAddr,
    data_dir: PathBuf,
    /// The admin token.
    token: String,
    api_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl PgNode {
    fn node(&self) -> &boltd_node::Node {
        self.engine.node()
    }
}

/// What is running, so that every way out stops it.
pub(super) struct Running {
    btc: Option<Arc<Bitcoind>>,
    /// [`RUNNING_MARKER`], once bitcoind runs: removed when it stops cleanly.
    marker: Option<PathBuf>,
    nodes: Vec<PgNode>,
    api_stop: watch::Sender<bool>,
}

impl Running {
    fn btc(&self) -> &Arc<Bitcoind> {
        self.btc.as_ref().expect("bitcoind runs")
    }

    /// Stops the APIs, then each node (`Engine::stop`), then bitcoind.
    async fn shutdown(mut self) {
        let _ = self.api_stop.send(true);
        for mut n in self.nodes.drain(..).rev() {
            if tokio::time::timeout(Duration::from_secs(5), &mut n.api_task).await.is_err() {
                n.api_task.abort();
            }
            progress(format!("stopping {}", n.name));
            if let Err(e) = n.engine.stop().await {
                progress(format!("{} did not stop cleanly: {e}", n.name));
            }
        }
        if let Some(btc) = self.btc.take() {
            progress("stopping bitcoind");
            match Arc::try_unwrap(btc) {
                Ok(mut b) => {
                    let clean = tokio::task::spawn_blocking(move || b.stop()).await;
                    // Its chain state is on disk: the next start needs no reindex.
                    if let (Ok(true), Some(marker)) = (clean, self.marker.take()) {
                        let _ = std::fs::remove_file(marker);
                    }
                }
                // Someone still holds it: it stops when the last holder drops it.
                Err(b) => drop(b),
            }
        }
    }
}

pub(super) async fn playground(ctx: Ctx, mut stop: Stop) -> Result<(), String> {
    let (api_stop, _) = watch::channel(false);
    let mut running = Running { btc: None, marker: None, nodes: Vec::new(), api_stop };
    let result = run_network(&ctx, &mut running, &mut stop).await;
    match &result {
        Ok(()) | Err(Halt::Signal) => {}
        Err(Halt::Fail(_)) => progress("shutting down after an error"),
    }
    running.shutdown().await;
    match result {
        Ok(()) => {
            progress("stopped");
            Ok(())
        }
        Err(Halt::Signal) => {
            if ctx.saved.is_none() && !ctx.dir.join(STATE_FILE).exists() {
                progress("stopped before the first start finished; the next start starts over");
            } else {
                progress("stopped");
            }
            Ok(())
        }
        Err(Halt::Fail(e)) => Err(e),
    }
}

pub(super) async fn run_network(ctx: &Ctx, r: &mut Running, stop: &mut Stop) -> Result<(), Halt> {
    let ports = ctx.ports;
    let btc_dir = ctx.dir.join(BITCOIND_DIR);
    progress(format!(
        "starting bitcoind -regtest (RPC 127.0.0.1:{}, P2P 127.0.0.1:{})",
        ports.rpc(),
        ports.bitcoind_p2p()
    ));
    let password = ctx.password.clone();
    let d = btc_dir.clone();
    let marker = ctx.dir.join(RUNNING_MARKER);
    // Left by a run that did not stop cleanly: bitcoind may have lost blocks it had not written
    // to its index; `-reindex` finds them again in its block files.
    let reindex = ctx.saved.is_some() && marker.exists();
    if reindex {
        progress(
            "the last run did not stop cleanly: bitcoind reindexes its blocks to recover any it \
             had not written (the nodes wait for it)",
        );
    }
    let extra: &'static [&'static str] = if reindex { &["-reindex"] } else { &[] };
    let btc = tokio::task::spawn_blocking(move || {
        Bitcoind::start_persistent_with(
            &d,
            ports.rpc(),
            ports.bitcoind_p2p(),
            RPC_USER,
            &password,
            extra,
        )
    })
    .await
    .map_err(|e| format!("bitcoind start task failed: {e}"))?
    .map_err(|e| e.to_string())?;
    r.btc = Some(Arc::new(btc));
    File::create(&marker)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    r.marker = Some(marker);
    check_stop(stop)?;

    for (i, name) in NAMES.iter().enumerate() {
        progress(format!("starting {name} (API http://127.0.0.1:{})", ports.api(i)));
        let node = start_node(ctx, i, name, &r.api_stop).await?;
        r.nodes.push(node);
        check_stop(stop)?;
    }

    if ctx.saved.is_some() {
        resume(r, stop).await?;
    } else {
        first_start(r, stop).await?;
    }

    let state = PlaygroundFile {
        network: "regtest".into(),
        pid: std::process::id(),
        base_port: ports.base,
        auth: AUTH_NOTE.into(),
        nodes: r
            .nodes
            .iter()
            .map(|n| NodeEntry {
                name: n.name.into(),
                api_url: n.api_url.clone(),
                token: Some(n.token.clone()),
                node_id: n.node().node_id().to_string(),
                p2p_addr: n.p2p_addr.to_string(),
                data_dir: n.data_dir.clone(),
            })
            .collect(),
        bitcoind: BitcoindEntry {
            rpc_url: r.btc().rpc_url(),
            rpc_user: RPC_USER.into(),
            rpc_password: ctx.password.clone(),
            p2p_addr: format!("127.0.0.1:{}", ports.bitcoind_p2p()),
            data_dir: btc_dir,
        },
    };
    write_state(&ctx.dir.join(STATE_FILE), &state)?;
    progress(format!("ready in {:.1} s", ctx.started.elapsed().as_secs_f64()));
    println!("{}", summary(&state, &ctx.dir));

    mine_until_stopped(r.btc(), stop).await;
    Ok(())
}

pub(super) fn check_stop(stop: &Stop) -> Result<(), Halt> {
    if *stop.borrow() {
        Err(Halt::Signal)
    } else {
        Ok(())
    }
}

pub(super) async fn start_node(
    ctx: &Ctx,
    i: usize,
    name: &'static str,
    api_stop: &watch::Sender<bool>,
) -> Result<PgNode, Halt> {
    let ports = ctx.ports;
    let data_dir = ctx.dir.join(name);
    let api_addr = SocketAddr::from(([127, 0, 0, 1], ports.api(i)));
    let p2p_addr = SocketAddr::from(([127, 0, 0, 1], ports.p2p(i)));
    let layer = ConfigLayer {
        network: Some(Network::Regtest),
        data_dir: Some(data_dir.clone()),
        p2p_listen: Some(p2p_addr),
        announce_addrs: Some(vec![p2p_addr.to_string()]),
        alias: Some(name.to_string()),
        api_listen: Some(api_addr),
        bitcoind_rpc_url: Some(format!("http://127.0.0.1:{}", ports.rpc())),
        bitcoind_rpc_user: Some(RPC_USER.into()),
        bitcoind_rpc_password: Some(ctx.password.clone()),
        chain_poll_interval_ms: Some(100),
        wallet_sync_interval_ms: Some(200),
        ..Default::default()
    };
    // The environment is left out on purpose: BOLTD_* settings are for `serve`.
    let config = Config::from_layer(layer, None).map_err(|e| format!("{name}: {e}"))?;
    let listener = boltd_api::bind(api_addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "port {} ({name}'s API) is already in use; choose another --base-port",
                api_addr.port()
            )
        } else {
            format!("{name}: {e}")
        }
    })?;
    let engine = Engine::start(config).await.map_err(|e| match e {
        NodeError::Store(StoreError::Locked { path, pid }) => already_running(&path, pid),
        e => format!("{name} could not start: {e}"),
    })?;
    // The first start makes the admin token; later starts read it back from its file, or from
    // the saved playground.json if the file was deleted.
    let fresh = engine
        .bootstrap_admin_token()
        .await
        .map_err(|e| format!("{name}: cannot create the admin token: {e}"))?;
    let saved = ctx.saved.as_ref().and_then(|s| s.nodes.iter().find(|n| n.name == name));
    let token = match fresh {
        Some(t) => t,
        None => boltd_engine::auth::read_admin_token_file(&data_dir)
            .map_err(|e| format!("{name}: cannot read its admin token file: {e}"))?
            .or_else(|| saved.and_then(|n| n.token.clone()))
            .ok_or_else(|| {
                format!(
                    "{name}: its admin token is lost ({} is missing); start over with --reset",
                    boltd_engine::auth::admin_token_path(&data_dir).display()
                )
            })?,
    };
    let mut rx = api_stop.subscribe();
    let api_task = tokio::spawn(boltd_api::serve(listener, Arc::clone(&engine), async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    Ok(PgNode {
        name,
        p2p_addr: engine.node().p2p_addr(),
        engine,
        api_url: format!("http://{api_addr}"),
        data_dir,
        token,
        api_task,
    })
}

/// Polls `f` until it gives a value, a signal arrives (`Halt::Signal`) or `timeout` elapses.
pub(super) async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    stop: &mut Stop,
    mut f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, Halt> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        check_stop(stop)?;
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            let last = last_error.map(|e| format!("; last error: {e}")).unwrap_or_default();
            return Err(Halt::Fail(format!(
                "timed out after {} s waiting for {what}{last}",
                timeout.as_secs()
            )));
        }
        tokio::select! {
            _ = stop.changed() => {},
            _ = tokio::time::sleep(POLL) => {},
        }
    }
}

/// Mines `n` blocks (to an address nobody uses) and writes them to disk at once: bitcoind keeps
/// its block index and chain state in memory for up to an hour, and loses them if it is killed;
/// `gettxoutsetinfo` flushes both first. Returns the new height.
pub(super) fn mine_durably(b: &Bitcoind, n: u32) -> Result<u32, HarnessError> {
    b.mine(n)?;
    flush_chain(b)?;
    b.height()
}

/// Makes bitcoind write its blocks, block index and chain state to disk (`gettxoutsetinfo`
/// forces a flush before it counts the UTXO set; `none`: no hash, cheap on a regtest chain).
pub(super) fn flush_chain(b: &Bitcoind) -> Result<(), HarnessError> {
    use boltd_harness::bitcoincore_rpc::RpcApi;
    b.client()
        .call::<serde_json::Value>("gettxoutsetinfo", &[serde_json::json!("none")])
        .map(|_| ())
        .map_err(|e| HarnessError::rpc("gettxoutsetinfo", e))
}

/// Runs blocking bitcoind work off the async workers.
pub(super) async fn chain<T: Send + 'static>(
    btc: &Arc<Bitcoind>,
    f: impl FnOnce(&Bitcoind) -> Result<T, HarnessError> + Send + 'static,
) -> Result<T, String> {
    let btc = Arc::clone(btc);
    tokio::task::spawn_blocking(move || f(&btc))
        .await
        .map_err(|e| format!("bitcoind task failed: {e}"))?
        .map_err(|e| e.to_string())
}

pub(super) async fn wait_synced(
    nodes: &[PgNode],
    height: u32,
    stop: &mut Stop,
) -> Result<(), Halt> {
    for n in nodes {
        wait_for(&format!("{} to sync to block {height}", n.name), STEP_TIMEOUT, stop, || {
            let i = n.node().info();
            Ok((i.block_height >= height && i.wallet_height >= height).then_some(()))
        })
        .await?;
    }
    Ok(())
}

/// The channel of `from` with `to`, if any.
pub(super) fn channel_with(from: &PgNode, to: &PgNode) -> Option<boltd_node::node::ChannelInfo> {
    let id = to.node().node_id().to_string();
    from.node().list_channels().into_iter().find(|c| c.peer_node_id == id)
}

pub(super) async fn first_start(r: &Running, stop: &mut Stop) -> Result<(), Halt> {
    let btc = r.btc();
    let nodes = &r.nodes;
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);

    progress("funding the wallets: a block to each of alice, bob and carol, 100 more to mature");
    let mut addrs = Vec::new();
    for n in nodes {
        let a = n.node().new_address().await.map_err(|e| format!("{}: {e}", n.name))?;
        let a = a
            .parse::<Address<_>>()
            .map_err(|e| format!("{}: bad address {a}: {e}", n.name))?
            .require_network(Network::Regtest)
            .map_err(|e| format!("{}: {e}", n.name))?;
        addrs.push(a);
    }
    let height = chain(btc, move |b| {
        for a in &addrs {
            b.mine_to(a, 1)?;
        }
        mine_durably(b, 100)
    })
    .await?;
    wait_synced(nodes, height, stop).await?;
    for n in nodes {
        wait_for(&format!("{}'s wallet to see its coins", n.name), STEP_TIMEOUT, stop, || {
            Ok((n.node().balances().onchain.confirmed_sat > 0).then_some(()))
        })
        .await?;
    }
    check_stop(stop)?;

    progress(format!(
        "opening channels alice -> bob and bob -> carol ({} sat each, {} sat pushed)",
        group(CHANNEL_SAT),
        group(PUSH_MSAT / 1000)
    ));
    for (from, to) in [(alice, bob), (bob, carol)] {
        from.node()
            .open_channel(
                to.node().node_id(),
                Some(&to.p2p_addr.to_string()),
                CHANNEL_SAT,
                PUSH_MSAT,
                true,
            )
            .await
            .map_err(|e| format!("{} could not open a channel to {}: {e}", from.name, to.name))?;
    }
    let txids: Vec<String> = wait_for("the funding transactions", STEP_TIMEOUT, stop, || {
        let ab = channel_with(alice, bob).and_then(|c| c.funding_outpoint);
        let bc = channel_with(bob, carol).and_then(|c| c.funding_outpoint);
        Ok(ab.zip(bc).map(|(a, b)| {
            [a, b].iter().map(|o| o.split(':').next().unwrap_or_default().to_string()).collect()
        }))
    })
    .await?;
    let b = Arc::clone(btc);
    wait_for("the funding transactions to reach the mempool", STEP_TIMEOUT, stop, || {
        let pool: Vec<String> =
            b.get_raw_mempool().map_err(|e| e.to_string())?.iter().map(|t| t.to_string()).collect();
        Ok(txids.iter().all(|t| pool.contains(t)).then_some(()))
    })
    .await?;
    let height = chain(btc, |b| mine_durably(b, 6)).await?;
    wait_synced(nodes, height, stop).await?;
    for (x, y) in [(alice, bob), (bob, alice), (bob, carol), (carol, bob)] {
        wait_for(
            &format!("{}'s channel with {} to be usable", x.name, y.name),
            STEP_TIMEOUT,
            stop,
            || Ok(channel_with(x, y).filter(|c| c.state == "ready").map(|_| ())),
        )
        .await?;
    }

    progress("waiting for gossip (alice, bob and carol to know both channels)");
    for n in nodes {
        wait_for(
            &format!("{} to learn both channels by gossip", n.name),
            STEP_TIMEOUT,
            stop,
            || Ok((n.node().info().graph_channels >= 2).then_some(())),
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn resume(r: &Running, stop: &mut Stop) -> Result<(), Halt> {
    let nodes = &r.nodes;
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);
    progress("resuming the existing network (no funding, no new channels)");
    let height = chain(r.btc(), |b| b.height()).await?;
    wait_synced(nodes, height, stop).await?;

    // The nodes reconnect to their channel peers by themselves, every 5 s; connecting now saves
    // that wait, and records the current addresses if --base-port changed.
    for (from, to) in [(alice, bob), (bob, carol)] {
        let mut tries = 0;
        loop {
            check_stop(stop)?;
            match from.node().connect_peer(to.node().node_id(), &to.p2p_addr.to_string()).await {
                Ok(()) => break,
                Err(e) if tries >= 20 => {
                    progress(format!(
                        "warning: {} could not connect to {}: {e}",
                        from.name, to.name
                    ));
                    break;
                }
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    // Every channel whose funding is confirmed must become usable again.
    let mut waiting = None;
    for n in nodes {
        let res =
            wait_for(&format!("{}'s channels to be usable", n.name), RESUME_TIMEOUT, stop, || {
                Ok(n.node().list_channels().iter().all(|c| c.state != "offline").then_some(()))
            })
            .await;
        match res {
            Ok(()) => {}
            Err(Halt::Signal) => return Err(Halt::Signal),
            Err(Halt::Fail(e)) => waiting = Some(e),
        }
    }
    if let Some(e) = waiting {
        progress(format!("warning: {e}; carrying on"));
    }
    for n in nodes {
        let c = n.node().list_channels();
        let ready = c.iter().filter(|c| c.state == "ready").count();
        progress(format!("{}: {ready} of {} channels usable", n.name, c.len()));
    }
    Ok(())
}

/// Mines a block every [`MINE_INTERVAL`] (to an address nobody uses, written to disk at once)
/// until a signal arrives.
pub(super) async fn mine_until_stopped(btc: &Arc<Bitcoind>, stop: &mut Stop) {
    let mut tick = tokio::time::interval(MINE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut failing = false;
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        match chain(btc, |b| mine_durably(b, 1)).await {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                progress(format!("warning: mining failed: {e}"));
            }
            Err(_) => {}
        }
    }
}
