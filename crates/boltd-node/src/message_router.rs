//! Onion message routing (BOLT12 invoice requests and invoices) over the channel graph.
//!
//! LDK's `DefaultMessageRouter` only sends onion messages directly: to a connected peer, or to
//! a node it connects to first, which needs that node's announced network address. Its blinded
//! paths use an announced recipient itself as the introduction node. So a payer that is not a
//! peer of the offer's issuer, paying an issuer that announces no address (most nodes behind
//! NAT, and every lab node), buffers its invoice request forever waiting for a connection that
//! can never be made; the invoice's reply fails the same way.
//!
//! [`NodeMessageRouter`] keeps LDK's blinded paths and direct sends, and when the first node
//! of the message (the destination, or a blinded path's introduction node) is not a peer, it
//! finds a multi-hop path to it through the channel graph, starting at a connected peer and
//! avoiding nodes whose announcement says they do not relay onion messages. Only when there is
//! no such path does it fall back to LDK's direct connection.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bitcoin::secp256k1::{self, PublicKey, Secp256k1};
use lightning::blinded_path::message::{BlindedMessagePath, MessageContext, MessageForwardNode};
use lightning::blinded_path::IntroductionNode;
use lightning::onion_message::messenger::{
    DefaultMessageRouter, Destination, MessageRouter, OnionMessagePath,
};
use lightning::routing::gossip::{NodeId, ReadOnlyNetworkGraph};
use lightning::sign::{KeysManager, ReceiveAuthKey};

use crate::logger::LdkLogger;
use crate::types::Graph;

/// Most intermediate nodes on a path found through the graph (each adds an onion layer).
pub const MAX_INTERMEDIATE_NODES: usize = 6;

/// Routes onion messages directly or, when the first node is not a peer, through the channel
/// graph. See the module documentation.
pub struct NodeMessageRouter {
    graph: Arc<Graph>,
    default: DefaultMessageRouter<Arc<Graph>, Arc<LdkLogger>, Arc<KeysManager>>,
}

impl NodeMessageRouter {
    /// A router over `graph`; `entropy` randomises blinded paths.
    pub fn new(graph: Arc<Graph>, entropy: Arc<KeysManager>) -> Self {
        Self { default: DefaultMessageRouter::new(Arc::clone(&graph), entropy), graph }
    }
}

/// The node a message to `destination` goes to first (a blinded path's introduction node, if
/// it is known by node id).
fn first_node(destination: &Destination) -> Option<PublicKey> {
    match destination {
        Destination::Node(n) => Some(*n),
        Destination::BlindedPath(p) => match p.introduction_node() {
            IntroductionNode::NodeId(n) => Some(*n),
            IntroductionNode::DirectedShortChannelId(..) => None,
        },
    }
}

/// Whether `node` may relay onion messages: yes unless its announcement says otherwise (a node
/// without an announcement is given the benefit of the doubt).
fn may_relay(graph: &ReadOnlyNetworkGraph, node: &NodeId) -> bool {
    graph
        .node(node)
        .and_then(|n| n.announcement_info.as_ref())
        .is_none_or(|a| a.features().supports_onion_messages())
}

/// The intermediate nodes of a shortest path from us to `target`: the first is one of
/// `peers`, the following ones are linked by channels in `graph`. `None` if there is none with
/// at most [`MAX_INTERMEDIATE_NODES`] intermediate nodes.
pub fn graph_path(
    graph: &ReadOnlyNetworkGraph,
    sender: &PublicKey,
    peers: &[PublicKey],
    target: &PublicKey,
) -> Option<Vec<PublicKey>> {
    let target_id = NodeId::from_pubkey(target);
    let sender_id = NodeId::from_pubkey(sender);
    // node -> (previous node, number of intermediate nodes up to and including this one)
    let mut seen: HashMap<NodeId, (Option<NodeId>, usize)> = HashMap::new();
    let mut queue = VecDeque::new();
    seen.insert(sender_id, (None, 0));
    for p in peers {
        let id = NodeId::from_pubkey(p);
        if id == target_id {
            return Some(vec![]);
        }
        if seen.contains_key(&id) || !may_relay(graph, &id) {
            continue;
        }
        seen.insert(id, (None, 1));
        queue.push_back(id);
    }
    while let Some(node) = queue.pop_front() {
        let depth = seen[&node].1;
        let Some(info) = graph.node(&node) else { continue };
        for scid in &info.channels {
            let Some(ch) = graph.channel(*scid) else { continue };
            let next = if ch.node_one == node { ch.node_two } else { ch.node_one };
            if seen.contains_key(&next) {
                continue;
            }
            if next == target_id {
                let mut hops = vec![node];
                let mut at = node;
                while let Some((Some(prev), _)) = seen.get(&at) {
                    hops.push(*prev);
                    at = *prev;
                }
                hops.reverse();
                return hops.iter().map(|n| n.as_pubkey().ok()).collect();
            }
            if depth < MAX_INTERMEDIATE_NODES && may_relay(graph, &next) {
                seen.insert(next, (Some(node), depth + 1));
                queue.push_back(next);
            }
        }
    }
    None
}

impl MessageRouter for NodeMessageRouter {
    fn find_path(
        &self,
        sender: PublicKey,
        peers: Vec<PublicKey>,
        mut destination: Destination,
    ) -> Result<OnionMessagePath, ()> {
        let found = {
            let graph = self.graph.read_only();
            destination.resolve(&graph);
            match first_node(&destination) {
                Some(first) if first != sender && !peers.contains(&first) => {
                    graph_path(&graph, &sender, &peers, &first)
                }
                _ => None,
            }
        };
        match found {
            Some(intermediate_nodes) => Ok(OnionMessagePath {
                intermediate_nodes,
                destination,
                first_node_addresses: vec![],
            }),
            None => self.default.find_path(sender, peers, destination),
        }
    }

    fn create_blinded_paths<T: secp256k1::Signing + secp256k1::Verification>(
        &self,
        recipient: PublicKey,
        local_node_receive_key: ReceiveAuthKey,
        context: MessageContext,
        peers: Vec<MessageForwardNode>,
        secp_ctx: &Secp256k1<T>,
    ) -> Result<Vec<BlindedMessagePath>, ()> {
        self.default.create_blinded_paths(
            recipient,
            local_node_receive_key,
            context,
            peers,
            secp_ctx,
        )
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::secp256k1::SecretKey;
    use bitcoin::Network;
    use lightning::types::features::ChannelFeatures;

    use super::*;

    fn key(i: u8) -> PublicKey {
        PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[i; 32]).unwrap())
    }

    /// A graph with channels between the given pairs of nodes (by index).
    fn graph(edges: &[(u8, u8)]) -> Graph {
        let g = Graph::new(Network::Regtest, Arc::new(LdkLogger));
        for (n, (a, b)) in edges.iter().enumerate() {
            g.add_channel_from_partial_announcement(
                n as u64 + 1,
                Some(1_000_000),
                1,
                ChannelFeatures::empty(),
                NodeId::from_pubkey(&key(*a)),
                NodeId::from_pubkey(&key(*b)),
            )
            .unwrap();
        }
        g
    }

    #[test]
    fn finds_the_shortest_path_through_a_peer() {
        // 1 - 2 - 3 - 4, and a longer way 2 - 5 - 6 - 4.
        let g = graph(&[(1, 2), (2, 3), (3, 4), (2, 5), (5, 6), (6, 4)]);
        let g = g.read_only();
        assert_eq!(graph_path(&g, &key(1), &[key(2)], &key(4)), Some(vec![key(2), key(3)]));
        assert_eq!(graph_path(&g, &key(1), &[key(2)], &key(3)), Some(vec![key(2)]));
        // The target is a peer: no intermediate node.
        assert_eq!(graph_path(&g, &key(1), &[key(2)], &key(2)), Some(vec![]));
        // Without a connected peer nothing leaves.
        assert_eq!(graph_path(&g, &key(1), &[], &key(4)), None);
        // A node outside the graph cannot be reached.
        assert_eq!(graph_path(&g, &key(1), &[key(2)], &key(9)), None);
    }

    #[test]
    fn path_length_is_bounded() {
        // A line 1 - 2 - ... - 10: reaching node n takes n - 2 intermediate nodes from 1.
        let edges: Vec<(u8, u8)> = (1..10).map(|i| (i, i + 1)).collect();
        let g = graph(&edges);
        let g = g.read_only();
        let n = MAX_INTERMEDIATE_NODES as u8 + 2;
        assert_eq!(graph_path(&g, &key(1), &[key(2)], &key(n)).unwrap().len(), n as usize - 2);
        assert_eq!(graph_path(&g, &key(1), &[key(2)], &key(n + 1)), None);
    }
}
