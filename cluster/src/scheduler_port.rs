//! The scheduler's one port (`--bind-port`): its gRPC service, the embedded Flight proxy
//! when `--enable-embedded-flight-proxy` asks for it, `/healthz`, `/readyz` and `/metrics`.
//!
//! We serve it ourselves because Ballista's `start_grpc_service` builds its router inside
//! and takes no routes of ours: this is its `start_grpc_service_with_listener` (55.0.0,
//! `scheduler_process.rs`) with `/metrics` added. What it mounts there and we do not:
//! Flight SQL, which ours serves on a port of its own (`flight_sql`), and the REST API,
//! which this build leaves out (`/api/...` answers 404, as Ballista's does without it).

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ballista_core::BALLISTA_VERSION;
use ballista_core::error::BallistaError;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::flight_proxy_service::BallistaFlightProxyService;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::DATAFUSION_VERSION;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tonic::service::RoutesBuilder;

use crate::http::{Readiness, routes};

type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Serves `scheduler` on `address` until the process ends (Ballista's scheduler has no
/// shutdown).
pub async fn serve(address: SocketAddr, scheduler: Scheduler) -> ballista_core::error::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(BallistaError::from)?;
    let router = with_version_headers(grpc_routes(&scheduler).merge(http_routes(scheduler)));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(BallistaError::from)
}

/// The scheduler's gRPC service and, when configured, the Flight proxy to the executors;
/// anything else they do not know answers 404.
fn grpc_routes(scheduler: &Scheduler) -> Router {
    let config = &scheduler.state.config;
    let max_decoding = config.grpc_server_max_decoding_message_size as usize;
    let max_encoding = config.grpc_server_max_encoding_message_size as usize;
    let mut services = RoutesBuilder::default();
    services.add_service(
        SchedulerGrpcServer::new(scheduler.clone())
            .max_encoding_message_size(max_encoding)
            .max_decoding_message_size(max_decoding),
    );
    if !config.flight_sql_enabled() && config.enable_embedded_flight_proxy {
        tracing::info!("Adding embedded flight proxy service on scheduler");
        let customize_endpoint = config
            .override_create_grpc_client_endpoint
            .clone()
            .map(|f| Arc::new(BallistaConfigGrpcEndpoint::new(f)));
        let proxy = BallistaFlightProxyService::new(
            max_decoding,
            max_encoding,
            config.use_tls,
            customize_endpoint,
        );
        services.add_service(
            FlightServiceServer::new(proxy)
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(max_encoding),
        );
    }
    services
        .routes()
        .into_axum_router()
        .fallback(|| async { not_found(None) })
}

/// The probes, `/metrics`, and `/api/...` answered as a build without Ballista's REST API
/// answers it.
fn http_routes(scheduler: Scheduler) -> Router {
    let readiness: Readiness = Arc::new(move || {
        let required = scheduler.state.config.min_ready_executors;
        match scheduler.is_ready() {
            true => Ok("ready\n".into()),
            false => Err(format!(
                "not ready: fewer than {required} executors registered\n"
            )),
        }
    });
    routes(readiness).route(
        "/api/{*path}",
        axum::routing::any(|| async {
            not_found(Some("REST API has been disabled at compile time"))
        }),
    )
}

/// Ballista's error body: `{"http_code":404,"reason":"Not Found"[,"error":"..."]}`.
fn not_found(error: Option<&str>) -> Response {
    let error = error.map_or(String::new(), |e| format!(r#","error":"{e}""#));
    let body = format!(r#"{{"http_code":404,"reason":"Not Found"{error}}}"#);
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Every answer names Ballista's and DataFusion's versions, as Ballista's router does.
fn with_version_headers(router: Router) -> Router {
    let server = HeaderValue::from_str(&format!("ballista/{BALLISTA_VERSION}"))
        .expect("a version is a header value");
    let powered_by = HeaderValue::from_str(&format!("datafusion/{DATAFUSION_VERSION}"))
        .expect("a version is a header value");
    router.layer(axum::middleware::map_response(
        move |mut response: Response| {
            let (server, powered_by) = (server.clone(), powered_by.clone());
            async move {
                let headers = response.headers_mut();
                headers.insert(header::SERVER, server);
                headers.insert(HeaderName::from_static("x-powered-by"), powered_by);
                response
            }
        },
    ))
}
