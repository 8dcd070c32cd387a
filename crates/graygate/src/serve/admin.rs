//! The admin listener: the admin API (`graygate-admin`) over this gateway's
//! store, on its own address.

use graygate_admin::{AdminState, router};
use graygate_proxy::config::AdminConfig;
use graygate_proxy::{Gateway, GatewayMetrics};
use graygate_store::{KeyLookup, PolicyStore};
use std::net::SocketAddr;
use std::sync::Arc;

/// Binds `config.listen` and serves the admin API there; the bound address.
pub(super) async fn start(
    config: &AdminConfig,
    store: Arc<dyn PolicyStore>,
    lookup: Option<Arc<KeyLookup>>,
    gateway: &Arc<Gateway>,
) -> Result<SocketAddr, String> {
    let token = config.resolve_token()?;
    let protect_reads = !config.is_loopback();
    if protect_reads && token.is_none() {
        return Err(format!(
            "gateway.admin.listen {} is not loopback: set `token_file` (or `token`, or {})",
            config.listen,
            graygate_proxy::config::TOKEN_ENV
        ));
    }
    if token.is_none() {
        tracing::warn!("no admin token: the admin API refuses every change (set [gateway.admin] token_file)");
    }
    let gw = Arc::downgrade(gateway);
    let state = AdminState {
        store,
        token: token.map(Arc::from),
        protect_reads,
        lookup,
        applied: Some(Arc::new(move || {
            let gw = gw.upgrade()?;
            let snap = gw.snapshot();
            let p = &snap.policy;
            (p.version() > 0 || !p.policy().routes.is_empty()).then(|| p.version())
        })),
        metrics: GatewayMetrics::of(gateway),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("admin API: cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    });
    tracing::info!(%addr, "admin API listening");
    Ok(addr)
}
