//! An S3-protocol server on loopback: s3s over a store in memory, SigV4-signed requests
//! checked against known keys, a log of which key asked for what, and faults a test
//! injects by operation (an error status, or an answer that takes its time).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use super::memory::MemoryS3;

/// One request as the server saw it: the signing key, the operation, whether it was
/// ranged, and the object's key when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub access_key: String,
    pub operation: String,
    pub ranged: bool,
    pub key: Option<String>,
}

/// What the server does to a request a test picked.
#[derive(Debug, Clone)]
pub enum ServerFault {
    /// Answers with this error (`SlowDown` is 503, `InternalError` 500, `AccessDenied` 403).
    Error(S3ErrorCode),
    /// Waits this long before handling it.
    Delay(Duration),
}

/// The next `times` requests of `operation` get `fault`.
#[derive(Debug, Clone)]
struct Scheduled {
    operation: String,
    times: usize,
    fault: ServerFault,
}

#[derive(Clone, Default)]
struct Recorder {
    requests: Arc<Mutex<Vec<Request>>>,
    faults: Arc<Mutex<Vec<Scheduled>>>,
}

impl Recorder {
    /// The fault the next request of `operation` gets, if one is scheduled.
    fn fault_for(&self, operation: &str) -> Option<ServerFault> {
        let mut faults = self.faults.lock().unwrap();
        let scheduled = faults
            .iter_mut()
            .find(|f| f.operation == operation && f.times > 0)?;
        scheduled.times -= 1;
        Some(scheduled.fault.clone())
    }
}

#[async_trait::async_trait]
impl S3Access for Recorder {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "anonymous requests are refused"));
        };
        let operation = cx.s3_op().name().to_string();
        self.requests.lock().unwrap().push(Request {
            access_key: credentials.access_key.clone(),
            operation: operation.clone(),
            ranged: cx.headers().contains_key("range"),
            key: match cx.s3_path() {
                s3s::path::S3Path::Object { key, .. } => Some(key.to_string()),
                _ => None,
            },
        });
        match self.fault_for(&operation) {
            None => Ok(()),
            Some(ServerFault::Error(code)) => Err(S3Error::new(code)),
            Some(ServerFault::Delay(wait)) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
        }
    }
}

pub struct S3Server {
    pub endpoint: String,
    requests: Recorder,
}

impl S3Server {
    /// Serves `store` on a free loopback port, accepting requests signed by `keys`.
    pub async fn start(store: MemoryS3, keys: &[(&str, &str)]) -> Self {
        let mut auth = SimpleAuth::new();
        for (access, secret) in keys {
            auth.register(access.to_string(), secret.to_string().into());
        }
        let requests = Recorder::default();
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(auth);
        builder.set_access(requests.clone());
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(connection);
            }
        });
        Self { endpoint, requests }
    }

    /// The next `times` requests of `operation` (`PutObject`, `CopyObject`, ...) get `fault`.
    pub fn inject(&self, operation: &str, times: usize, fault: ServerFault) {
        self.requests.faults.lock().unwrap().push(Scheduled {
            operation: operation.into(),
            times,
            fault,
        });
    }

    /// No more faults: those scheduled and not yet taken are dropped.
    pub fn clear_faults(&self) {
        self.requests.faults.lock().unwrap().clear();
    }

    /// Every request signed by `access_key` so far.
    pub fn requests_by(&self, access_key: &str) -> Vec<Request> {
        let requests = self.requests.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.access_key == access_key)
            .cloned()
            .collect()
    }
}

/// Asserts that `requests` only planned: listings, headers, and ranged reads of the inputs'
/// first bytes (their header rows). Reading data or writing is the executors' work.
pub fn assert_only_planning(who: &str, requests: &[Request]) {
    assert!(!requests.is_empty(), "{who} made no request");
    for request in requests {
        let metadata = matches!(request.operation.as_str(), "ListObjectsV2" | "HeadObject");
        let header = request.operation == "GetObject" && request.ranged;
        // How an input was typed by an earlier run (reader::typed_record): planning too.
        let typed_record = request.operation == "GetObject"
            && request.key.as_deref().is_some_and(|key| {
                key.contains(bydelsfakta_queries::reader::typed_record::RECORDS_PREFIX)
            });
        assert!(metadata || header || typed_record, "{who} made {request:?}");
    }
}

/// Asserts that `requests` read the inputs and wrote, staged and published documents.
pub fn assert_read_and_wrote(who: &str, requests: &[Request]) {
    for operation in ["GetObject", "PutObject", "CopyObject", "DeleteObjects"] {
        assert!(
            requests.iter().any(|r| r.operation == operation),
            "no {operation} by {who}: {requests:?}"
        );
    }
}
