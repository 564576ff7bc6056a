//! The native dialect's wire types that clients build and read (`boltd-client` uses them): the
//! request bodies, and the responses whose types are public and `Deserialize`. The other
//! responses are still private to the API (clients read them as JSON values).

pub use crate::barkd::{BarkInvoiceRequest, BarkPayRequest, CreateOfferRequest};
pub use crate::node::{
    CloseRequest, ConnectRequest, DisconnectRequest, OnchainDrainRequest, OnchainSendRequest,
    OpenRequest,
};
pub use crate::tokens::CreateTokenRequest;
pub use boltd_engine::keysend::KeysendRequest;
pub use boltd_engine::offer::{OfferInfo, OfferPayRequest};
pub use boltd_node::node::{NodeInfo, PeerInfo};
pub use boltd_node::wallet::Utxo;
