//! Peers: connecting (with the connection race both sides reconnecting at once can run),
//! disconnecting, listing.

use super::*;

/// A connected peer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerInfo {
    /// The peer's node id.
    pub node_id: String,
    /// The address of the connection, if known.
    pub address: Option<String>,
    /// Whether the peer connected to us.
    pub inbound: bool,
}

/// How long a connection attempt that the peer closed waits for the peer's own connection to
/// us (both sides reconnecting at once: LDK keeps one of the two).
const PEER_RACE_WAIT: Duration = Duration::from_secs(2);

impl Node {
    /// Connects to a peer and waits for the handshake; remembers the address for reconnection.
    pub async fn connect_peer(&self, node_id: PublicKey, addr: &str) -> NodeResult<()> {
        let socket: SocketAddr = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| NodeError::InvalidInput(format!("bad peer address `{addr}`: {e}")))?
            .next()
            .ok_or_else(|| {
                NodeError::InvalidInput(format!("peer address `{addr}` resolves to nothing"))
            })?;
        if node_id == self.node_id() {
            return Err(NodeError::InvalidInput("cannot connect to ourselves".into()));
        }
        let op = boltd_store::KvOp::Write {
            primary: PEERS_NAMESPACE.into(),
            secondary: String::new(),
            key: node_id.to_string(),
            value: socket.to_string().into_bytes(),
        };
        // Through the gate: the backup keeps the channel peers' addresses too.
        self.gate.write_now(&[op]).inspect_err(|e| {
            self.fail_stop.fail(FatalKind::Storage, &format!("cannot persist a peer: {e}"));
        })?;
        if self.peer_manager.peer_by_node_id(&node_id).is_some() {
            return Ok(());
        }
        let fut = crate::net::connect_outbound(Arc::clone(&self.peer_manager), node_id, socket)
            .await
            .ok_or_else(|| NodeError::Connection(format!("cannot reach {node_id} at {socket}")))?;
        let mut conn = Box::pin(fut);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.peer_manager.peer_by_node_id(&node_id).is_some() {
                tokio::spawn(conn);
                return Ok(());
            }
            tokio::select! {
                _ = &mut conn => {
                    // The peer may have connected to us meanwhile (its own reconnection): LDK
                    // keeps one connection per peer and drops the other. Connected is connected.
                    if self.wait_peer_connected(&node_id, PEER_RACE_WAIT).await {
                        return Ok(());
                    }
                    return Err(NodeError::Connection(format!(
                        "{node_id} at {socket} closed the connection"
                    )));
                }
                _ = tokio::time::sleep(Duration::from_millis(10)) => {},
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::Connection(format!(
                    "handshake with {node_id} at {socket} timed out"
                )));
            }
        }
    }

    /// Whether `node_id` is (or, within `wait`, becomes) a connected peer.
    async fn wait_peer_connected(&self, node_id: &PublicKey, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.peer_manager.peer_by_node_id(node_id).is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Disconnects a peer and forgets its address.
    pub fn disconnect_peer(&self, node_id: PublicKey) -> NodeResult<()> {
        let op = boltd_store::KvOp::Remove {
            primary: PEERS_NAMESPACE.into(),
            secondary: String::new(),
            key: node_id.to_string(),
        };
        self.gate.write_now(&[op]).inspect_err(|e| {
            self.fail_stop.fail(FatalKind::Storage, &format!("cannot forget a peer: {e}"));
        })?;
        self.peer_manager.disconnect_by_node_id(node_id);
        Ok(())
    }

    /// Connected peers.
    pub fn list_peers(&self) -> Vec<PeerInfo> {
        self.peer_manager
            .list_peers()
            .into_iter()
            .map(|p| PeerInfo {
                node_id: p.counterparty_node_id.to_string(),
                address: p.socket_address.map(|a| a.to_string()),
                inbound: p.is_inbound_connection,
            })
            .collect()
    }
}
