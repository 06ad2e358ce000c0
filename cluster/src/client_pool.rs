//! The executor's pool of connections to other executors (shuffle fetches), as Ballista's
//! default pool keeps them. Ballista builds its pool only for its own execution engine, and
//! the pool type is private in 55; ours counts tasks ([`crate::task_metrics`]), so it brings
//! the same pool: idle clients per `(host, port, settings)`, reused newest first, dropped
//! once idle for `--client-ttl` seconds. Without it, every fetch would open and close a
//! connection of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ballista_core::client::BallistaClient;
use ballista_core::client_pool::{BallistaClientPool, PooledClient};
use ballista_core::error::Result;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::utils::GrpcClientConfig;

type Key = (String, u16, GrpcClientConfig);
type Idle = Mutex<HashMap<Key, VecDeque<(BallistaClient, Instant)>>>;

pub struct ClientPool {
    idle: Arc<Idle>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPool")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientPool {
    /// A pool whose idle clients are dropped after `idle_timeout`, checked by a task of the
    /// current runtime (every third of it, at least every 15 s) while the pool lives.
    pub fn new(idle_timeout: Duration) -> Self {
        let idle = Arc::new(Idle::default());
        let weak: Weak<Idle> = Arc::downgrade(&idle);
        let every = Duration::from_secs((idle_timeout.as_secs() / 3).max(15));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                let Some(idle) = weak.upgrade() else { break };
                evict(&idle, idle_timeout);
            }
        });
        Self { idle, idle_timeout }
    }
}

fn evict(idle: &Idle, timeout: Duration) {
    let Some(deadline) = Instant::now().checked_sub(timeout) else {
        return;
    };
    let mut idle = idle.lock().expect("client pool lock");
    idle.retain(|_, clients| {
        while clients.front().is_some_and(|(_, since)| *since < deadline) {
            clients.pop_front();
        }
        !clients.is_empty()
    });
}

#[async_trait::async_trait]
impl BallistaClientPool for ClientPool {
    async fn acquire(
        &self,
        host: &str,
        port: u16,
        config: &GrpcClientConfig,
        customize_endpoint: Option<Arc<BallistaConfigGrpcEndpoint>>,
    ) -> Result<PooledClient> {
        let key: Key = (host.to_string(), port, config.clone());
        let reused = {
            let mut idle = self.idle.lock().expect("client pool lock");
            idle.get_mut(&key).and_then(VecDeque::pop_back)
        };
        let client = match reused {
            Some((client, _)) => client,
            None => {
                BallistaClient::try_new(
                    host,
                    port,
                    config.max_message_size,
                    config.use_tls,
                    customize_endpoint,
                    config.io_retries_times,
                    config.io_retry_wait_time_ms,
                    config.initial_connection_window_size,
                    config.initial_stream_window_size,
                )
                .await?
            }
        };
        let idle = Arc::clone(&self.idle);
        Ok(PooledClient::new(
            client,
            Box::new(move |client| {
                let mut idle = idle.lock().expect("client pool lock");
                idle.entry(key)
                    .or_default()
                    .push_back((client, Instant::now()));
            }),
        ))
    }

    async fn evict_idle(&self) {
        evict(&self.idle, self.idle_timeout);
    }
}
