//! Connections: creating one makes the client's key pair and a boltd token with the chosen
//! scopes, per-payment maximum and budgets, records the client's public key against the
//! token, and returns the `nostr+walletconnect://` URI (with the client's secret) once.
//! Revoking the token revokes the connection.

use boltd_engine::auth::{AuthError, TokenInfo, TokenSpec};
use boltd_engine::Engine;
use boltd_store::NwcConnectionRecord;
use nostr::{Keys, PublicKey};
use serde::Serialize;

use crate::keys;

/// Why a connection could not be created, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The token could not be created or revoked (bad input, not found, internal).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// `nwc_relays` is empty: a connection could not reach this node.
    #[error("Nostr Wallet Connect is off: set nwc_relays to the relays to serve it on")]
    NotConfigured,
    /// No connection with this client key.
    #[error("no connection {0}")]
    NotFound(String),
    /// The service key or the store failed (details in the daemon's log).
    #[error("internal error; see the daemon's log")]
    Internal,
}

/// A connection as listings show it (never a secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    /// The client's public key (x-only, hex): the connection's id.
    pub client_pubkey: String,
    /// When it was created (unix seconds).
    pub created_at: u64,
    /// Its token: name, scopes, limits and budgets, active or not.
    pub token: TokenInfo,
}

/// A connection just created.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedConnection {
    /// `nostr+walletconnect://<wallet pubkey>?relay=...&secret=...`: paste it into the app.
    /// Shown this once: it holds the client's secret key.
    pub uri: String,
    /// The connection.
    #[serde(flatten)]
    pub info: ConnectionInfo,
}

/// The connection URI.
pub fn connection_uri(wallet: &PublicKey, relays: &[String], client_secret_hex: &str) -> String {
    let mut uri = format!("nostr+walletconnect://{}?", wallet.to_hex());
    for r in relays {
        uri.push_str("relay=");
        uri.push_str(&url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>());
        uri.push('&');
    }
    uri.push_str("secret=");
    uri.push_str(client_secret_hex);
    uri
}

fn internal(what: &str, e: impl std::fmt::Display) -> ConnectionError {
    tracing::error!("NWC connections: {what}: {e}");
    ConnectionError::Internal
}

async fn store_op<T: Send + 'static>(
    engine: &Engine,
    f: impl FnOnce(&boltd_store::Store) -> Result<T, boltd_store::StoreError> + Send + 'static,
) -> Result<T, ConnectionError> {
    let store = std::sync::Arc::clone(engine.store());
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| internal("storage task", e))?
        .map_err(|e| internal("store", e))
}

/// Creates a connection with a token of `spec`.
pub async fn create(
    engine: &Engine,
    spec: TokenSpec,
) -> Result<CreatedConnection, ConnectionError> {
    let config = engine.node().config();
    if config.nwc_relays.is_empty() {
        return Err(ConnectionError::NotConfigured);
    }
    let wallet = keys::load_or_create(&config.data_dir).map_err(|e| internal("service key", e))?;
    let client = Keys::generate();
    let client_pubkey = client.public_key().to_hex();
    let created = engine.create_token(spec).await?;
    let (pk, id) = (client_pubkey.clone(), created.info.id.clone());
    let now = boltd_engine::ledger::now_secs();
    let rec = match store_op(engine, move |s| s.insert_nwc_connection(&pk, &id, now)).await {
        Ok(rec) => rec,
        Err(e) => {
            // No connection uses it: its string was never shown; revoke it all the same.
            let _ = engine.revoke_token(&created.info.id).await;
            return Err(e);
        }
    };
    tracing::info!(client = %rec.client_pubkey, token = %rec.token_id, "NWC connection created");
    Ok(CreatedConnection {
        uri: connection_uri(
            &wallet.public_key(),
            &config.nwc_relays,
            &client.secret_key().to_secret_hex(),
        ),
        info: ConnectionInfo {
            client_pubkey: rec.client_pubkey,
            created_at: rec.created_at,
            token: created.info,
        },
    })
}

async fn info(
    engine: &Engine,
    rec: NwcConnectionRecord,
) -> Result<ConnectionInfo, ConnectionError> {
    let token = engine.token(&rec.token_id).await?;
    Ok(ConnectionInfo { client_pubkey: rec.client_pubkey, created_at: rec.created_at, token })
}

/// Every connection, revoked ones included, oldest first.
pub async fn list(engine: &Engine) -> Result<Vec<ConnectionInfo>, ConnectionError> {
    let recs = store_op(engine, |s| s.list_nwc_connections()).await?;
    let mut out = Vec::with_capacity(recs.len());
    for r in recs {
        out.push(info(engine, r).await?);
    }
    Ok(out)
}

/// Revokes the connection of this client key (its token).
pub async fn revoke(
    engine: &Engine,
    client_pubkey: &str,
) -> Result<ConnectionInfo, ConnectionError> {
    let pk = client_pubkey.trim().to_ascii_lowercase();
    let key = pk.clone();
    let rec = store_op(engine, move |s| s.nwc_connection(&key))
        .await?
        .ok_or(ConnectionError::NotFound(pk))?;
    engine.revoke_token(&rec.token_id).await?;
    info(engine, rec).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_carry_the_relays_and_the_secret() {
        let wallet = Keys::generate().public_key();
        let relays = vec!["wss://relay.example.com".to_string(), "ws://127.0.0.1:7000".into()];
        let uri = connection_uri(&wallet, &relays, "ab");
        assert_eq!(
            uri,
            format!(
                "nostr+walletconnect://{}?relay=wss%3A%2F%2Frelay.example.com&\
                 relay=ws%3A%2F%2F127.0.0.1%3A7000&secret=ab",
                wallet.to_hex()
            )
        );
    }
}
