//! The native dialect's wire types that clients build and read (`boltd-client` uses them): the
//! request bodies, and the responses whose types are public and `Deserialize` (the others are
//! still private to the API; clients read them as JSON values).

pub use crate::dialect::native::barkd::{
    BarkInvoiceRequest, BarkPayRequest, CreateOfferRequest, PayResponse,
};
pub use crate::dialect::native::node::{
    Address, CloseRequest, ConnectRequest, DisconnectRequest, OnchainBalance, OnchainDrainRequest,
    OnchainSendRequest, OpenRequest, SpliceInRequest, SpliceOutRequest,
};
pub use crate::dialect::native::tokens::CreateTokenRequest;
pub use boltd_engine::keysend::KeysendRequest;
pub use boltd_engine::offer::{OfferInfo, OfferPayRequest};
pub use boltd_node::node::{NodeInfo, PeerInfo};
pub use boltd_node::wallet::Utxo;
