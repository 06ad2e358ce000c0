//! An HTTP server of a test's own on loopback: the peers our binaries talk to (the Lambda
//! Runtime API, an OTLP receiver, an OpenLineage endpoint). Dropping it stops serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;

pub struct Loopback {
    pub address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Loopback {
    /// Serves `app` on a free port of 127.0.0.1; `what` names it in a failure.
    pub async fn serve(app: Router, what: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the {what}: {e}"));
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        });
        Self { address, server }
    }

    /// `http://` and the address.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A peer that takes every request and never answers: a hung collector or lineage
/// endpoint. It counts the requests it took.
pub struct Stalled {
    server: Loopback,
    requests: Arc<AtomicUsize>,
}

impl Stalled {
    pub async fn start() -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let app = Router::new().fallback(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<axum::http::StatusCode>()
        });
        let server = Loopback::serve(app, "stalled peer").await;
        Self { server, requests }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The requests taken so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}
