//! Starting the node: the start-up sequence of the module docs.

use super::*;

impl Node {
    /// Starts the node described by `config`. `events` builds, from the opened store, the
    /// payment layer that receives LDK's payment events from the first one on (replayed events
    /// after a restart included). See the module docs for the sequence.
    pub async fn start_with_events(config: Config, events: EventsFactory) -> NodeResult<Node> {
        let network = config.network;
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let lock = DataDirLock::acquire(&data_dir)?;

        // Seed and store: only "not found" for both means a new node. On SQLite the seed is
        // checked before the database is opened (a database without its seed is refused before
        // anything reads it); on PostgreSQL only the database says whether a node exists, so
        // the seed is checked once the store is open (and, for a standby, once it holds the
        // node's lease: it waits in `open_store`).
        let sqlite_seed = match config.store_url {
            None => Some(read_or_create_seed(&data_dir, Store::exists(&data_dir))?),
            Some(_) => None,
        };
        let (store, store_existed) = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || super::store_open::open_store(&config))
                .await
                .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))??
        };
        let seed = match sqlite_seed {
            Some(seed) => seed,
            None => read_or_create_seed(&data_dir, store_existed)?,
        };
        let store = Arc::new(store);
        store.start_lease_renewal();
        // From here on, a persistence failure stops the process (see `failstop`).
        let fail_stop = FailStop::exit_process();
        {
            let fail_stop = fail_stop.clone();
            store.on_fatal(move |what| fail_stop.fail(FatalKind::Storage, what));
        }
        let payment_events = events(Arc::clone(&store));
        let logger = Arc::new(LdkLogger);

        // bitcoind.
        let auth = BitcoindAuth::from_config(&config)?;
        let fees = Arc::new(FeeEstimates::new(config.fee_rate_fallback_sat_per_kwu));
        {
            let auth = auth.clone();
            let fees = Arc::clone(&fees);
            tokio::task::spawn_blocking(move || -> NodeResult<()> {
                let client = auth.blocking_client()?;
                check_bitcoind(&client, network)?;
                fees.refresh(&client);
                Ok(())
            })
            .await
            .map_err(|e| NodeError::Chain(e.to_string()))??;
        }
        let block_source = Arc::new(auth.block_source()?);
        let tip = validate_best_block_header(&*block_source)
            .await
            .map_err(|e| NodeError::Chain(format!("cannot read the chain tip: {e:?}")))?;
        let (broadcaster, broadcast_rx) = Broadcaster::new();
        let broadcaster = Arc::new(broadcaster);

        // Keys.
        let ldk_seed = seed.ldk_seed(network)?;
        let t = now();
        let keys_manager =
            Arc::new(KeysManager::new(&ldk_seed, t.as_secs(), t.subsec_nanos(), true));

        // The channel manager's presence tells whether this node ever had Lightning state.
        let cm_bytes = kv_read(
            &store,
            "channel manager",
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        )?;

        // Wallet.
        let birthday =
            match kv_read(&store, "wallet birthday", BOLTD_NAMESPACE, "", WALLET_BIRTHDAY_KEY)? {
                Some(b) => {
                    let s = String::from_utf8(b)
                        .map_err(|e| unreadable("wallet birthday", &store, e))?;
                    s.parse::<u32>().map_err(|e| unreadable("wallet birthday", &store, e))?
                }
                None => {
                    let h = tip.height;
                    KVStoreSync::write(
                        &*store,
                        BOLTD_NAMESPACE,
                        "",
                        WALLET_BIRTHDAY_KEY,
                        h.to_string().into_bytes(),
                    )?;
                    h
                }
            };
        let wallet = Arc::new(OnchainWallet::open(
            crate::wallet::WalletDb::for_store(&store)?,
            &seed,
            network,
            Arc::clone(&fees),
            auth.clone(),
            cm_bytes.is_none(),
            fail_stop.clone(),
        )?);

        // Channel monitors (full monitors and the updates stored since).
        // Monitor writes are ordered with the channel manager's (see `persist`).
        // The continuous backup, brought up to date before anything is written to it.
        let backup = match &config.backup_dir {
            Some(dir) => {
                let mode = crate::backup::BackupMode::parse(&config.backup_mode)?;
                Some(Arc::new(crate::backup::Backup::open(dir, mode, &store, &data_dir)?))
            }
            None => None,
        };
        let gate = Arc::new(ManagerGate::with_backup(Arc::clone(&store), backup));
        let persister = Arc::new(GatedPersister::new(
            crate::persist::monitor_persister(
                Arc::clone(&gate),
                Arc::clone(&logger),
                Arc::clone(&keys_manager),
                Arc::clone(&broadcaster),
                Arc::clone(&fees),
            ),
            Arc::clone(&gate),
            fail_stop.clone(),
        ));
        let mut monitors = persister
            .inner()
            .read_all_channel_monitors_with_updates()
            .map_err(|e| unreadable("channel monitors", &store, e))?;
        // Recovery from a stale backup: stale monitors wait for their peers' closes.
        let stale = crate::recovery::stale_monitors(&store)?;
        let mut recovery_peers = Vec::new();
        if !stale.is_empty() {
            let auth = auth.clone();
            let (load, waiting) = tokio::task::spawn_blocking(move || {
                crate::recovery::filter(monitors, &stale, &auth.blocking_client()?)
            })
            .await
            .map_err(|e| NodeError::Chain(e.to_string()))??;
            monitors = load;
            recovery_peers = waiting;
        }
        let chain_monitor = Arc::new(ChainMonitor::new(
            None,
            Arc::clone(&broadcaster),
            Arc::clone(&logger),
            Arc::clone(&fees),
            Arc::clone(&persister),
            Arc::clone(&keys_manager),
            keys_manager.get_peer_storage_key(),
        ));
        gate.set_chain_monitor(&chain_monitor);
        let background_store = Arc::new(BackgroundStore::new(
            Arc::clone(&store),
            Arc::clone(&gate),
            fail_stop.clone(),
        ));

        // Graph and scorer.
        let graph = match kv_read(
            &store,
            "network graph",
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        )? {
            Some(b) => Graph::read(&mut Cursor::new(b), Arc::clone(&logger))
                .map_err(|e| unreadable("network graph", &store, format!("{e:?}")))?,
            None => Graph::new(network, Arc::clone(&logger)),
        };
        let graph = Arc::new(graph);
        let routing = Arc::new(open_routing_engine(&store, &graph));
        let decay = ProbabilisticScoringDecayParameters::default();
        let scorer = match kv_read(
            &store,
            "scorer",
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
        )? {
            Some(b) => ProbabilisticScorer::read(
                &mut Cursor::new(b),
                (decay, Arc::clone(&graph), Arc::clone(&logger)),
            )
            .map_err(|e| unreadable("scorer", &store, format!("{e:?}")))?,
            None => ProbabilisticScorer::new(decay, Arc::clone(&graph), Arc::clone(&logger)),
        };
        let scorer = Arc::new(RwLock::new(scorer));
        let router = Arc::new(Router::with_engine(
            Arc::clone(&graph),
            Arc::clone(&logger),
            Arc::clone(&keys_manager),
            Arc::clone(&scorer),
            ProbabilisticScoringFeeParameters::default(),
            Arc::clone(&routing),
        ));
        // What our payments teach about channels' liquidity, for the next searches (fed by
        // the event handler; kept in memory, forgotten after an hour).
        router.set_liquidity_bounds(Some(Arc::new(RwLock::new(
            boltd_routing::LiquidityBounds::with_max_age(boltd_routing::learned::NODE_MAX_AGE),
        ))));
        let message_router =
            Arc::new(MessageRouter::new(Arc::clone(&graph), Arc::clone(&keys_manager)));

        // Channel manager.
        let ucfg = user_config(&config);
        let restarting = cm_bytes.is_some();
        let (cm_block_hash, channel_manager) = match cm_bytes {
            Some(bytes) => {
                let read_args = ChannelManagerReadArgs::new(
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    Arc::clone(&fees),
                    Arc::clone(&chain_monitor),
                    Arc::clone(&broadcaster),
                    Arc::clone(&router),
                    Arc::clone(&message_router),
                    Arc::clone(&logger),
                    ucfg,
                    monitors.iter().map(|(_, m)| m).collect(),
                );
                <(BlockHash, ChannelManager)>::read(&mut Cursor::new(bytes), read_args)
                    .map_err(|e| unreadable("channel manager", &store, format!("{e:?}")))?
            }
            None => {
                let best_block = BestBlock::new(tip.header.block_hash(), tip.height);
                let cm = ChannelManager::new(
                    Arc::clone(&fees),
                    Arc::clone(&chain_monitor),
                    Arc::clone(&broadcaster),
                    Arc::clone(&router),
                    Arc::clone(&message_router),
                    Arc::clone(&logger),
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    Arc::clone(&keys_manager),
                    ucfg,
                    ChainParameters { network, best_block },
                    t.as_secs() as u32,
                );
                (best_block.block_hash, cm)
            }
        };
        let channel_manager = Arc::new(channel_manager);

        // Sweeper.
        let sweeper = match kv_read(
            &store,
            "output sweeper",
            OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_KEY,
        )? {
            Some(b) => {
                let args = (
                    Arc::clone(&broadcaster),
                    Arc::clone(&fees),
                    None::<ChainFilter>,
                    Arc::clone(&keys_manager),
                    Arc::clone(&wallet),
                    Arc::clone(&background_store),
                    Arc::clone(&logger),
                );
                <(BestBlock, Sweeper)>::read(&mut Cursor::new(b), args)
                    .map_err(|e| unreadable("output sweeper", &store, format!("{e:?}")))?
            }
            None => {
                let best = channel_manager.current_best_block();
                let s = Sweeper::new(
                    best,
                    Arc::clone(&broadcaster),
                    Arc::clone(&fees),
                    None,
                    Arc::clone(&keys_manager),
                    Arc::clone(&wallet),
                    Arc::clone(&background_store),
                    Arc::clone(&logger),
                );
                (best, s)
            }
        };
        let (sweeper_best, sweeper) = sweeper;
        let sweeper = Arc::new(sweeper);

        // Replay the blocks the stored state missed. LDK's monitor listener owns the monitor, so
        // the monitors move into the listener tuples and out again afterwards.
        let mut cache = UnboundedCache::new();
        let mut monitor_listeners: Vec<_> = monitors
            .drain(..)
            .map(|(_, m)| {
                let hash = m.current_best_block().block_hash;
                (hash, (m, Arc::clone(&broadcaster), Arc::clone(&fees), Arc::clone(&logger)))
            })
            .collect();
        // A new manager with stored monitors: a recovery's (see `recovery`); they replay too.
        let chain_tip = if restarting || !monitor_listeners.is_empty() {
            let mut listeners: Vec<(BlockHash, &(dyn Listen + Send + Sync))> =
                vec![(cm_block_hash, &*channel_manager as &(dyn Listen + Send + Sync))];
            listeners.push((sweeper_best.block_hash, &*sweeper as &(dyn Listen + Send + Sync)));
            for (hash, l) in monitor_listeners.iter() {
                listeners.push((*hash, l as &(dyn Listen + Send + Sync)));
            }
            // Each listener's block and its height, to say which ones bitcoind may have lost.
            let mut seen = vec![
                (cm_block_hash, channel_manager.current_best_block().height),
                (sweeper_best.block_hash, sweeper_best.height),
            ];
            seen.extend(
                monitor_listeners.iter().map(|(h, (m, ..))| (*h, m.current_best_block().height)),
            );
            crate::chain::replay_blocks(&block_source, network, &mut cache, listeners, &seen)
                .await?
        } else {
            tip
        };
        for (_, (monitor, ..)) in monitor_listeners.drain(..) {
            let channel_id = monitor.channel_id();
            // Already on disk (with the blocks replayed above, which replay again after a
            // crash): no need to write it again, which would slow down every start.
            chain_monitor.load_existing_monitor(channel_id, monitor).map_err(|_| {
                unreadable("channel monitor", &store, format!("channel {channel_id} rejected"))
            })?;
        }

        // Liquidity (LSPS): the peer manager's custom messages.
        let liquidity = Arc::new(crate::liquidity::Liquidity::new(
            &config,
            &keys_manager,
            &channel_manager,
            &store,
            &broadcaster,
            &wallet,
        )?);

        // P2P.
        let onion_messenger = Arc::new(OnionMessenger::new(
            Arc::clone(&keys_manager),
            Arc::clone(&keys_manager),
            Arc::clone(&logger),
            Arc::clone(&channel_manager),
            Arc::clone(&message_router),
            Arc::clone(&channel_manager),
            Arc::clone(&channel_manager),
            IgnoringMessageHandler {},
            IgnoringMessageHandler {},
        ));
        let gossip = Arc::new(P2PGossipSync::new(
            Arc::clone(&graph),
            None::<GossipUtxoLookup>,
            Arc::clone(&logger),
        ));
        let gossip_watch = Arc::new(GossipWatch::new(Arc::clone(&gossip), Arc::clone(&routing)));
        let peer_manager = Arc::new(PeerManager::new(
            MessageHandler {
                chan_handler: Arc::clone(&channel_manager),
                route_handler: gossip_watch,
                onion_message_handler: Arc::clone(&onion_messenger),
                custom_message_handler: Arc::clone(liquidity.manager()),
                send_only_message_handler: Arc::clone(&chain_monitor),
            },
            t.as_secs() as u32,
            &keys_manager.get_secure_random_bytes(),
            Arc::clone(&logger),
            Arc::clone(&keys_manager),
        ));

        let listener = tokio::net::TcpListener::bind(config.p2p_listen).await.map_err(|e| {
            NodeError::Config(format!("cannot listen for peers on {}: {e}", config.p2p_listen))
        })?;
        let p2p_addr = listener.local_addr()?;

        // Background processor: events, persistence, timers.
        let bump_wallet = Arc::new(BumpWallet::new(Arc::clone(&wallet), Arc::clone(&logger)));
        let splices = Arc::new(crate::node::Splices::new(Arc::clone(&store)));
        let handler = NodeEventHandler {
            config: config.clone(),
            bump: BumpHandler::new(
                Arc::clone(&broadcaster),
                bump_wallet,
                Arc::clone(&keys_manager),
                Arc::clone(&logger),
            ),
            channel_manager: Arc::clone(&channel_manager),
            wallet: Arc::clone(&wallet),
            sweeper: Arc::clone(&sweeper),
            router: Arc::clone(&router),
            listener: payment_events,
            routing: Arc::clone(&routing),
            peer_manager: std::sync::OnceLock::new(),
            liquidity: Arc::clone(&liquidity),
            splices: Arc::clone(&splices),
            _keys_manager: Arc::clone(&keys_manager),
            runtime: tokio::runtime::Handle::current(),
            _watch: fail_stop.watch("background processor"),
        };
        let _ = handler.peer_manager.set(Arc::clone(&peer_manager));
        liquidity.set_peer_manager(Arc::clone(&peer_manager));
        // From here on an error drops running parts with the node: that is stopping, not failing.
        let on_error = StopOnError(Some(fail_stop.clone()));
        let background = BackgroundProcessor::start(
            Arc::clone(&background_store),
            handler,
            Arc::clone(&chain_monitor),
            Arc::new(GatedManager::new(Arc::clone(&channel_manager), Arc::clone(&gate))),
            Some(Arc::clone(&onion_messenger)),
            GossipSync::p2p(Arc::clone(&gossip)),
            Arc::clone(&peer_manager),
            Some(Arc::clone(liquidity.manager())),
            Some(Arc::clone(&sweeper)),
            Arc::clone(&logger),
            Some(Arc::clone(&scorer)),
        );

        let stop_flag = Arc::new(AtomicBool::new(false));
        // HTLCs on the operator's delay instead of LDK's randomized one, when one is set.
        let forwarder_thread = config
            .htlc_forward_delay_ms
            .map(|ms| {
                crate::forwarder::start(
                    Arc::clone(&channel_manager),
                    Duration::from_millis(ms),
                    Arc::clone(&stop_flag),
                    fail_stop.watch("HTLC forwarder"),
                )
            })
            .transpose()?;

        // Keeps boltd's routing view fresh (and persisted) on its own thread.
        let routing_thread = runtime::refresh_routing_view(
            Arc::clone(&routing),
            Arc::clone(&graph),
            Arc::clone(&store),
            Arc::clone(&stop_flag),
            fail_stop.watch("routing view refresher"),
        )?;
        let liquidity_thread =
            liquidity.start_events(Arc::clone(&stop_flag), fail_stop.watch("liquidity events"))?;
        let ldk_height = Arc::new(AtomicU32::new(chain_tip.height));
        let listeners = runtime::ChainListeners {
            channel_manager: Arc::clone(&channel_manager),
            chain_monitor: Arc::clone(&chain_monitor),
            sweeper: Arc::clone(&sweeper),
            height: Arc::clone(&ldk_height),
            store: Arc::clone(&store),
        };
        let poll_every = Duration::from_millis(config.chain_poll_interval_ms);
        let announce = (config.alias.clone(), config.announce_addrs.clone());
        let tasks = vec![
            fail_stop.spawn("broadcaster", Broadcaster::run(broadcast_rx, auth.clone())),
            fail_stop.spawn(
                "block poller",
                runtime::poll_blocks(
                    block_source,
                    network,
                    chain_tip,
                    cache,
                    listeners,
                    poll_every,
                ),
            ),
            fail_stop
                .spawn("fee estimator", runtime::refresh_fees(Arc::clone(&fees), auth.clone())),
            fail_stop
                .spawn("P2P listener", runtime::accept_peers(listener, Arc::clone(&peer_manager))),
            fail_stop.spawn(
                "peer reconnection",
                runtime::reconnect_peers(
                    Arc::clone(&peer_manager),
                    Arc::clone(&channel_manager),
                    Arc::clone(&store),
                    announce,
                    // Beside channel peers: stale channels' peers a recovery waits for, and
                    // the configured LSPs (a client waiting for a just-in-time channel must be
                    // connected when the payment reaches its LSP).
                    recovery_peers
                        .into_iter()
                        .chain(liquidity.lsps().iter().map(|l| l.node_id))
                        .collect(),
                ),
            ),
        ];
        let wallet_thread = runtime::sync_wallet(
            Arc::clone(&wallet),
            birthday,
            Duration::from_millis(config.wallet_sync_interval_ms),
            Arc::clone(&stop_flag),
            fail_stop.watch("wallet sync"),
        )?;

        on_error.disarm();
        tracing::info!(node_id = %channel_manager.get_our_node_id(), %p2p_addr, "node started");
        Ok(Node {
            config,
            store,
            keys_manager,
            wallet,
            fees,
            chain_monitor,
            channel_manager,
            sweeper,
            graph,
            router,
            peer_manager,
            p2p_addr,
            ldk_height,
            stop_flag,
            background: Mutex::new(Some(background)),
            tasks: Mutex::new(tasks),
            wallet_thread: Mutex::new(Some(wallet_thread)),
            forwarder_thread: Mutex::new(forwarder_thread),
            routing,
            routing_thread: Mutex::new(Some(routing_thread)),
            liquidity,
            splices,
            liquidity_thread: Mutex::new(Some(liquidity_thread)),
            fail_stop,
            gate,
            _lock: lock,
        })
    }
}

/// The node's seed in `data_dir`, created for a new node; refused when missing beside an
/// existing node's database (`store_existed`).
fn read_or_create_seed(data_dir: &std::path::Path, store_existed: bool) -> NodeResult<Seed> {
    match Seed::read(data_dir)? {
        Some(s) => Ok(s),
        None if store_existed => Err(NodeError::UnreadableState {
            what: "seed",
            path: Seed::path(data_dir),
            reason: "missing, but the node's database exists; restore the seed file".into(),
        }),
        None => {
            tracing::info!("creating a new node in {}", data_dir.display());
            Seed::create(data_dir)
        }
    }
}
