//! The Lambda Runtime API on loopback, as Lambda (or its Runtime Interface Emulator) serves
//! it to a function's bootstrap: `GET .../invocation/next` hands out the queued events with
//! their request headers, and the bootstrap posts each one's response or error back.
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::loopback::Loopback;

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Answer {
    Response(Value),
    /// The `Lambda-Runtime-Function-Error-Type` header (the runtime's category, e.g.
    /// `unhandled`) and the error document (`errorType`, `errorMessage`).
    Error {
        error_type: String,
        body: Value,
    },
    /// The bootstrap reported a failed start (`/runtime/init/error`).
    InitError(Value),
}

/// A queued invocation: its request id, its event, and how long the function may take
/// from the moment it receives it (its deadline header).
type Invocation = (String, Value, Duration);

/// Lambda's longest function timeout.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Default)]
struct Exchange {
    waiting: HashMap<String, oneshot::Sender<Answer>>,
    init_error: Option<oneshot::Sender<Answer>>,
}

#[derive(Clone)]
struct Api {
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    exchange: Arc<std::sync::Mutex<Exchange>>,
}

/// A Runtime API server; dropping it stops serving.
pub struct RuntimeApi {
    server: Loopback,
    events: mpsc::UnboundedSender<Invocation>,
    exchange: Arc<std::sync::Mutex<Exchange>>,
    next_id: AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (events, queue) = mpsc::unbounded_channel();
        let exchange = Arc::new(std::sync::Mutex::new(Exchange::default()));
        let api = Api {
            queue: Arc::new(Mutex::new(queue)),
            exchange: exchange.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        Self {
            server: Loopback::serve(app, "Runtime API").await,
            events,
            exchange,
            next_id: AtomicU64::new(1),
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the function's process.
    pub fn address(&self) -> String {
        self.server.address.to_string()
    }

    /// The variables Lambda sets for a function's bootstrap.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "bydelsfakta".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ]
    }

    /// Queues `event`, and waits up to `timeout` for the function's answer.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Answer {
        self.invoke_with_function_timeout(event, FUNCTION_TIMEOUT, timeout)
            .await
    }

    /// Queues `event` for a function configured with `function_timeout` (its invocation's
    /// deadline is that long after the function receives it), and waits up to `timeout`
    /// for its answer.
    pub async fn invoke_with_function_timeout(
        &self,
        event: &Value,
        function_timeout: Duration,
        timeout: Duration,
    ) -> Answer {
        let id = format!("request-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (answered, answer) = oneshot::channel();
        let (init_failed, init_error) = oneshot::channel();
        {
            let mut exchange = self.exchange.lock().unwrap();
            exchange.waiting.insert(id.clone(), answered);
            exchange.init_error = Some(init_failed);
        }
        self.events
            .send((id.clone(), event.clone(), function_timeout))
            .expect("queue");
        let answer = async {
            tokio::select! {
                Ok(answer) = answer => answer,
                Ok(answer) = init_error => answer,
            }
        };
        tokio::time::timeout(timeout, answer)
            .await
            .unwrap_or_else(|_| panic!("no answer to {id} within {timeout:?}"))
    }
}

async fn next(State(api): State<Api>) -> Response {
    let Some((id, event, function_timeout)) = api.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let trace = trace_header(&id);
    let deadline = SystemTime::now() + function_timeout;
    let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
    (
        [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:000000000000:function:bydelsfakta".into(),
            ),
            ("lambda-runtime-trace-id", trace),
            ("content-type", "application/json".into()),
        ],
        event.to_string(),
    )
        .into_response()
}

/// The X-Ray trace header the invocation `id` (`request-N`) carries: the caller's trace
/// (`Root`) and span (`Parent`), sampled.
pub fn trace_header(id: &str) -> String {
    let n: u64 = id.trim_start_matches("request-").parse().unwrap_or(0);
    format!("Root=1-6756c0de-5be1b0a2c3d4e5f6{n:08x};Parent=53995c3f{n:08x};Sampled=1")
}

fn answer(api: &Api, id: &str, answer: Answer) -> StatusCode {
    match api.exchange.lock().unwrap().waiting.remove(id) {
        Some(waiting) => {
            let _ = waiting.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        Value::String(format!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
    })
}

async fn response(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&api, &id, Answer::Response(json(&body)))
}

async fn error(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    answer(
        &api,
        &id,
        Answer::Error {
            error_type,
            body: json(&body),
        },
    )
}

async fn init_error(State(api): State<Api>, body: Bytes) -> StatusCode {
    if let Some(failed) = api.exchange.lock().unwrap().init_error.take() {
        let _ = failed.send(Answer::InitError(json(&body)));
    }
    StatusCode::ACCEPTED
}
