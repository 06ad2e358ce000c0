//! An HTTP server of a test's own on loopback: the peers our binaries talk to (the Lambda
//! Runtime API, an OTLP receiver, an OpenLineage endpoint). Dropping it stops serving.

use std::net::SocketAddr;

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
