//! What a standby serves while it waits for the node's lease (PostgreSQL store, `standby`):
//! `/ping`, `/readyz` with its role (503: not ready, so load balancers send nothing here), and
//! a 503 `standby` answer to everything else. Nothing that moves money is served: the engine
//! does not exist yet in this process. Once the lease is taken, the full API replaces this on
//! the same listener.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::error::ErrorBody;

async fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(boltd_engine::node_role())).into_response()
}

async fn standby() -> Response {
    let message = match boltd_engine::node_role() {
        boltd_engine::NodeRole::Standby { holder, .. } => {
            format!("this boltd is a standby; the node holding the lease ({holder}) serves")
        }
        _ => "this boltd is starting; retry shortly".to_string(),
    };
    let status = StatusCode::SERVICE_UNAVAILABLE;
    (status, Json(ErrorBody::new(status, "standby", message))).into_response()
}

/// The standby's router.
pub fn standby_router() -> Router {
    Router::new()
        .route("/ping", get(crate::openapi::ping))
        .route("/readyz", get(not_ready))
        .fallback(standby)
}

/// Serves the standby's router on `listener` until `shutdown`.
pub async fn serve_standby(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, standby_router()).with_graceful_shutdown(shutdown).await
}
