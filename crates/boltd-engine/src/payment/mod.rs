//! The outgoing payment: one state machine, persisted before it is acted on, with one owner.
//!
//! ```text
//!                 begin_outgoing (one transaction: idempotency key, hash, token budget)
//!                        │
//!                        ▼
//!   ┌───────────── pending/recorded ──── no balance or route, a channel peer away ──┐
//!   │                    │   ▲                                                       ▼
//!   │   node refused,    │   └────────────── peer back ──────────── pending/waiting_for_peer
//!   │   no route, 205,   │ handed to the node                                        │
//!   │   206, ...         ▼                                                           │
//!   │            pending/in_flight ── LDK: no route (a peer away, a hop down) ──────┘
//!   │              │          │          (a new send, within retry_for; after a
//!   │              │          │           restart too: reconciliation resumes it)
//!   │   PaymentSent│          │PaymentFailed
//!   ▼              ▼          ▼
//! failed ◄──── (final) ─── complete        window over / node forgot it: failed
//! ```
//!
//! * **One owner.** A payment's state is its row in the store (`payments.status` and
//!   `payments.stage`), its sends (`payment_sends`: every LDK `PaymentId` it was handed to the
//!   node under) and its parts (`payment_parts`: every path LDK reported, with Core Lightning's
//!   failure details). Nothing in memory keeps a copy: waiters re-read the row, and the
//!   [`registry`] only knows who waits and which payments a driver owns right now.
//! * **Persisted before acted on.** The intent is durable before the driver hands the payment
//!   to the node; a new send is durable before the node gets it; a failure is durable before
//!   anyone hears of it (one LDK hands over to a driver is noted on its send first). Complete and failed are final (two deliberate exceptions, in the store:
//!   a late preimage completes a failed payment, and paying a failed invoice again starts it
//!   over).
//! * **Independent of the request.** The driver ([`outgoing`]) runs as its own task: a client
//!   that disconnects, or stops waiting, changes nothing about the payment.
//! * **Who moves it.** The driver (recorded → waiting_for_peer → in_flight, and failures before
//!   anything left), the ledger (LDK's `PaymentSent` and `PaymentFailed`; a failure the driver
//!   may answer with a new send is noted on the send and handed to it), and reconciliation (at
//!   start and every [`RECONCILE_INTERVAL`]: a pending payment no driver owns whose send the node
//!   reported failed, or does not know on two passes in a row, is resumed by a new driver while
//!   its retry window lasts ([`resume`]: a restart does not cost a payment its `retry_for`), else
//!   failed).
//! * **The node behind a trait** ([`lightning::Lightning`]), so the flow has unit tests with a
//!   fake node and a real store.

pub(crate) mod lightning;
pub(crate) mod node;
pub(crate) mod outgoing;
pub(crate) mod registry;
pub(crate) mod resume;
pub mod spans;

use std::time::Duration;

/// How often pending payments are reconciled with the node.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(10);
