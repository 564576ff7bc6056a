//! Processing of HTLCs to forward or receive on boltd's own schedule
//! ([`Config::htlc_forward_delay_ms`](boltd_config::Config::htlc_forward_delay_ms)).
//!
//! LDK's background processor calls `process_pending_htlc_forwards` after a randomized delay
//! (log-normal, about 50 ms on average) that cannot be configured. When the operator sets a delay,
//! this thread takes over: it watches for HTLCs waiting to be processed and processes them once
//! they have waited the configured delay (0: at once). The background processor keeps its own
//! calls; LDK runs one processing at a time and the other call returns at once, so the two never
//! overlap.
//!
//! The thread polls (LDK offers no notification for "an HTLC became forwardable" that a second
//! waiter can use without taking wake-ups from the background processor): a check every
//! [`POLL`] costs a few mutex acquisitions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::failstop::Watch;
use crate::types::ChannelManager;

/// How often the thread checks for HTLCs waiting to be processed.
pub(crate) const POLL: Duration = Duration::from_millis(1);

/// Starts the thread; it stops when `stop` is set (`watch` fails the node if it ends otherwise).
pub(crate) fn start(
    channel_manager: Arc<ChannelManager>,
    delay: Duration,
    stop: Arc<AtomicBool>,
    watch: Watch,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("boltd-htlc-forwarder".into()).spawn(move || {
        let _watch = watch;
        while !stop.load(Ordering::Acquire) {
            // Also true while an outgoing payment is in flight (LDK may have to retry it): then
            // each round checks for retries too, as the background processor's calls do.
            if channel_manager.needs_pending_htlc_processing() {
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                channel_manager.process_pending_htlc_forwards();
            }
            std::thread::sleep(POLL);
        }
    })
}
