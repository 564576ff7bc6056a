//! One relay: a websocket that stays connected (reconnecting with exponential backoff),
//! subscribes to the requests addressed to the wallet service, publishes the info event on
//! every connection, and publishes the responses and notifications the service hands it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nostr::{
    ClientMessage, Event, Filter, JsonUtil, Kind, PublicKey, RelayMessage, SubscriptionId,
    Timestamp,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before reconnecting.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle connection is pinged (a dead relay is noticed by the failed write).
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// A reconnection asks for requests this much older than the newest one seen (clocks
/// differ; what comes twice is answered idempotently).
const SINCE_SLACK_SECS: u64 = 30;

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The next backoff after `current`.
pub fn next_backoff(current: Duration) -> Duration {
    current.saturating_mul(2).min(MAX_BACKOFF)
}

/// What a relay task needs.
pub(crate) struct RelayTask {
    pub url: String,
    pub wallet: PublicKey,
    pub info: Event,
    pub inbox: mpsc::Sender<Event>,
    pub outbox: broadcast::Sender<Arc<Event>>,
    pub stop: watch::Receiver<bool>,
    /// The `since` of the subscription (unix seconds), moved up as requests arrive.
    pub since: Arc<AtomicU64>,
}

impl RelayTask {
    /// Connects, serves, and reconnects until the service stops.
    pub async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            if *self.stop.borrow() {
                return;
            }
            let attempt = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio_tungstenite::connect_async(self.url.as_str()),
            );
            match attempt.await {
                Ok(Ok((ws, _))) => {
                    tracing::info!(relay = %self.url, "NWC: connected to relay");
                    backoff = MIN_BACKOFF;
                    match self.session(ws).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(relay = %self.url, "NWC: relay connection lost: {e}")
                        }
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(relay = %self.url, "NWC: cannot connect to relay: {e}")
                }
                Err(_) => tracing::warn!(relay = %self.url, "NWC: connecting to relay timed out"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped(&mut self.stop) => return,
            }
            backoff = next_backoff(backoff);
        }
    }

    /// One connection: `Ok` when the service stops, `Err` when the connection ends.
    async fn session<S>(&mut self, ws: tokio_tungstenite::WebSocketStream<S>) -> Result<(), String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut sink, mut stream) = ws.split();
        // Subscribe to the outbox first: nothing published from now on is missed.
        let mut outbox = self.outbox.subscribe();
        let since = self.since.load(Ordering::Relaxed);
        let filter = Filter::new()
            .kind(Kind::WalletConnectRequest)
            .pubkey(self.wallet)
            .since(Timestamp::from(since));
        let req = ClientMessage::req(SubscriptionId::new("boltd-nwc"), filter);
        let send = |m: ClientMessage| Message::text(m.as_json());
        sink.send(send(req)).await.map_err(|e| e.to_string())?;
        sink.send(send(ClientMessage::event(self.info.clone())))
            .await
            .map_err(|e| e.to_string())?;
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let text = match msg {
                        None => return Err("closed by the relay".into()),
                        Some(Err(e)) => return Err(e.to_string()),
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) => return Err("closed by the relay".into()),
                        Some(Ok(_)) => continue,
                    };
                    self.received(text.as_str())?;
                }
                ev = outbox.recv() => match ev {
                    Ok(ev) => {
                        let m = send(ClientMessage::event((*ev).clone()));
                        sink.send(m).await.map_err(|e| e.to_string())?;
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(relay = %self.url, "NWC: {n} events to publish were dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = ping.tick() => {
                    sink.send(Message::Ping(Vec::new().into())).await.map_err(|e| e.to_string())?;
                }
                _ = stopped(&mut stop) => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ok(());
                }
            }
        }
    }

    /// Handles one relay message; `Err` when the relay closed the subscription (the
    /// connection is then made again, with a new subscription).
    fn received(&self, text: &str) -> Result<(), String> {
        match RelayMessage::from_json(text) {
            Ok(RelayMessage::Event { event, .. }) => {
                let at = event.created_at.as_u64().saturating_sub(SINCE_SLACK_SECS);
                self.since.fetch_max(at, Ordering::Relaxed);
                // Full inbox: the request is dropped (the client times out) rather than
                // holding up the relay.
                if self.inbox.try_send(*event).is_err() {
                    tracing::warn!(relay = %self.url, "NWC: too many requests; one was dropped");
                }
            }
            Ok(RelayMessage::Ok { event_id, status: false, message }) => {
                tracing::warn!(relay = %self.url, event = %event_id, "NWC: relay refused an event: {message}");
            }
            Ok(RelayMessage::Notice(m)) => {
                tracing::info!(relay = %self.url, "NWC: relay notice: {m}")
            }
            Ok(RelayMessage::Closed { message, .. }) => {
                return Err(format!("the relay closed the subscription: {message}"));
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(relay = %self.url, "NWC: unreadable relay message: {e}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = MIN_BACKOFF;
        let mut seen = vec![b];
        for _ in 0..10 {
            b = next_backoff(b);
            seen.push(b);
        }
        assert_eq!(seen[1], Duration::from_secs(1));
        assert_eq!(seen[2], Duration::from_secs(2));
        assert_eq!(*seen.last().unwrap(), MAX_BACKOFF);
    }
}
