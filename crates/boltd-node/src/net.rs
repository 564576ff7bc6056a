//! Peer connections over TCP: LDK's `lightning-net-tokio`, with `TCP_NODELAY` on every socket.
//!
//! Lightning's commitment dance is a ping-pong of small messages (`update_add_htlc`,
//! `commitment_signed`, `revoke_and_ack`, `update_fulfill_htlc`). With Nagle's algorithm on (the
//! kernel's default), a small write waits until the previous one is acknowledged, and the peer's
//! kernel delays that acknowledgement (40 ms on Linux): on loopback, B2 showed both nodes idle for
//! about 50 ms at a time while a payment waited for its next message. `lightning-net-tokio` leaves
//! socket options alone, so boltd connects and accepts itself and sets the option before handing
//! the socket over.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;

use crate::types::PeerManager;

/// How long an outbound connection may take to establish (as `lightning-net-tokio`'s own
/// `connect_outbound`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the peer `node_id` at `addr`; the returned future drives the connection until it
/// closes. `None` when the address cannot be reached within [`CONNECT_TIMEOUT`].
pub(crate) async fn connect_outbound(
    peer_manager: Arc<PeerManager>,
    node_id: PublicKey,
    addr: SocketAddr,
) -> Option<impl Future<Output = ()>> {
    let connect = tokio::net::TcpStream::connect(addr);
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%node_id, %addr, "connecting to the peer failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::debug!(%node_id, %addr, "connecting to the peer timed out");
            return None;
        }
    };
    let stream = for_ldk(stream)?;
    Some(lightning_net_tokio::setup_outbound(peer_manager, node_id, stream))
}

/// Hands an accepted connection to LDK; the returned future drives it until it closes.
pub(crate) fn setup_inbound(
    peer_manager: Arc<PeerManager>,
    stream: tokio::net::TcpStream,
) -> Option<impl Future<Output = ()>> {
    let stream = for_ldk(stream)?;
    Some(lightning_net_tokio::setup_inbound(peer_manager, stream))
}

/// Turns off Nagle's algorithm and converts the socket for `lightning-net-tokio` (which takes a
/// non-blocking standard socket).
fn for_ldk(stream: tokio::net::TcpStream) -> Option<std::net::TcpStream> {
    if let Err(e) = stream.set_nodelay(true) {
        // Still usable, only slower.
        tracing::warn!("setting TCP_NODELAY on a peer connection failed: {e}");
    }
    match stream.into_std() {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!("peer connection unusable: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn peer_sockets_have_nagle_off_and_stay_non_blocking() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (outbound, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (outbound, accepted) = (outbound.unwrap(), accepted.unwrap().0);
        assert!(!outbound.nodelay().unwrap(), "the kernel's default is Nagle on");
        // Both ends stay open while they are checked.
        let ends = [for_ldk(outbound).expect("usable"), for_ldk(accepted).expect("usable")];
        for std_stream in &ends {
            assert!(std_stream.nodelay().unwrap());
            // lightning-net-tokio needs a non-blocking socket: a read with nothing to read
            // must not block.
            let mut buf = [0u8; 1];
            let err = std::io::Read::read(&mut &*std_stream, &mut buf).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        }
    }
}
