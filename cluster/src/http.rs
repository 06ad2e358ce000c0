//! What the scheduler's port and each executor's health port answer over plain HTTP:
//! `/healthz` (the process is up), `/readyz` (it can take work; 503 with the reason when
//! not) and `/metrics` (every metric of the process in Prometheus' text format, README
//! "Metrics"). The probes keep Ballista's semantics; `/metrics` is why we serve them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ballista_core::error::BallistaError;
use ballista_executor::health::ExecutorHealth;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Whether the process can take work: `Ok` with what says so, `Err` with what is missing.
pub type Readiness = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// `/healthz`, `/readyz` as `readiness` says, and `/metrics`.
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = readiness();
                async move {
                    match ready {
                        Ok(line) => (StatusCode::OK, line),
                        Err(line) => (StatusCode::SERVICE_UNAVAILABLE, line),
                    }
                }
            }),
        )
        .route("/metrics", get(metrics))
}

async fn metrics() -> Response {
    let (text, content_type) = bydelsfakta_queries::metrics::text();
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// The executor's health port, until `shutdown` fires: ready once its last heartbeat
/// reached the scheduler (as Ballista's `spawn_health_server`).
pub fn spawn_executor_server(
    address: SocketAddr,
    health: ExecutorHealth,
    shutdown: oneshot::Receiver<()>,
) -> JoinHandle<Result<(), BallistaError>> {
    let readiness: Readiness = Arc::new(move || match health.is_ready() {
        true => Ok("ready\n".into()),
        false => Err("not ready: no successful heartbeat yet\n".into()),
    });
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| BallistaError::General(format!("--bind-health-port {address}: {e}")))?;
        tracing::info!("executor health and metrics on {address}");
        axum::serve(listener, routes(readiness))
            .with_graceful_shutdown(async move {
                let _ = shutdown.await;
            })
            .await
            .map_err(|e| BallistaError::General(format!("health port {address}: {e}")))
    })
}
