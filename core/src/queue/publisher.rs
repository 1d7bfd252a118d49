//! The confirmed publisher: a message counts as queued only once the broker has confirmed it.
//!
//! One AMQP connection per process with a small pool of confirm-mode channels; publishes from
//! many requests are pipelined on them. A broken connection is dropped and re-opened by the next
//! publish (single flight), so a broker restart costs the requests in flight, not the process.
//! The publisher may also start without a broker ([`Publisher::lazy`]): the api then answers 503
//! until the broker is back, instead of refusing to start. While the broker is unreachable, a
//! new connection is attempted at most once per [`RECONNECT_PAUSE`], so a flood of requests does
//! not become a flood of TCP connects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{Mutex, RwLock};

use super::{Topology, declare_topology};
use crate::readiness::LastOutcome;

/// The least time between two attempts to open a connection to an unreachable broker.
pub const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Why a message is not known to be queued. Every variant means: do not tell HubSpot 2xx.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot reach the broker: {0}")]
    Unavailable(#[source] lapin::Error),
    #[error("cannot reach the broker (next attempt within {RECONNECT_PAUSE:?}): {0}")]
    Reconnecting(String),
    #[error("the broker did not confirm within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the broker could not route the message to any queue")]
    Unroutable,
    #[error("the message could not be encoded: {0}")]
    Encode(String),
    #[error("the publisher has stopped")]
    Stopped,
}

struct Live {
    connection: Connection,
    channels: Vec<Channel>,
}

/// Publishes persistent, mandatory messages to the events exchange and awaits their confirms.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    topology: Topology,
    confirm_timeout: Duration,
    channel_count: usize,
    live: RwLock<Option<Arc<Live>>>,
    reconnecting: Mutex<()>,
    /// When the last attempt to connect failed, and why.
    connect_failure: std::sync::Mutex<Option<(Instant, String)>>,
    next_channel: AtomicUsize,
    /// How the last publish went, for readiness.
    last_publish: LastOutcome,
}

impl Publisher {
    /// Connects, declares the topology, and opens the confirm channels.
    pub async fn connect(
        url: &str,
        topology: Topology,
        confirm_timeout: Duration,
    ) -> Result<Self, PublishError> {
        let publisher = Self::lazy(url, topology, confirm_timeout);
        publisher.live().await?;
        Ok(publisher)
    }

    /// A publisher that connects on first use (or [`Publisher::ping`]).
    pub fn lazy(url: &str, topology: Topology, confirm_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                topology,
                confirm_timeout,
                channel_count: 4,
                live: RwLock::new(None),
                reconnecting: Mutex::new(()),
                connect_failure: std::sync::Mutex::new(None),
                next_channel: AtomicUsize::new(0),
                last_publish: LastOutcome::default(),
            }),
        }
    }

    /// Why the last publish failed, if it did less than `within` ago.
    pub fn publish_failing_within(&self, within: Duration) -> Option<String> {
        self.inner.last_publish.failing_within(within)
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Whether the connection is currently open (for readiness checks).
    pub async fn is_connected(&self) -> bool {
        match self.inner.live.read().await.as_ref() {
            Some(live) => live.connection.status().connected(),
            None => false,
        }
    }

    /// Checks the broker answers, reconnecting if needed.
    pub async fn ping(&self) -> Result<(), PublishError> {
        self.live().await.map(|_| ())
    }

    /// Publishes one message and waits for the broker's confirm, at most the confirm timeout.
    pub async fn publish(&self, routing_key: &str, payload: &[u8]) -> Result<(), PublishError> {
        let timeout = self.inner.confirm_timeout;
        let result =
            match tokio::time::timeout(timeout, self.publish_inner(routing_key, payload)).await {
                Ok(result) => result,
                Err(_) => Err(PublishError::ConfirmTimeout(timeout)),
            };
        match &result {
            Ok(()) => self.inner.last_publish.succeeded(),
            Err(e) => self.inner.last_publish.failed(e),
        }
        result
    }

    async fn publish_inner(&self, routing_key: &str, payload: &[u8]) -> Result<(), PublishError> {
        let live = self.live().await?;
        let index = self.inner.next_channel.fetch_add(1, Ordering::Relaxed) % live.channels.len();
        let channel = &live.channels[index];
        let properties = BasicProperties::default()
            .with_delivery_mode(2) // persistent
            .with_content_type("application/json".into());
        let sent = channel
            .basic_publish(
                self.inner.topology.events_exchange().as_str().into(),
                routing_key.into(),
                // Mandatory: an unroutable message comes back instead of vanishing.
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                payload,
                properties,
            )
            .await;
        let confirm = match sent {
            Ok(confirm) => confirm,
            Err(e) => {
                self.forget(&live).await;
                return Err(PublishError::Unavailable(e));
            }
        };
        match confirm.await {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(PublishError::Unroutable),
            Ok(Confirmation::Nack(_)) => Err(PublishError::Nacked),
            Ok(Confirmation::NotRequested) => Err(PublishError::Nacked),
            Err(e) => {
                self.forget(&live).await;
                Err(PublishError::Unavailable(e))
            }
        }
    }

    async fn live(&self) -> Result<Arc<Live>, PublishError> {
        if let Some(live) = self.current().await {
            return Ok(live);
        }
        let _single_flight = self.inner.reconnecting.lock().await;
        if let Some(live) = self.current().await {
            return Ok(live);
        }
        if let Some((at, reason)) = self.connect_failure()
            && at.elapsed() < RECONNECT_PAUSE
        {
            return Err(PublishError::Reconnecting(reason));
        }
        let opened = self.open().await;
        let live = match opened {
            Ok(live) => Arc::new(live),
            Err(e) => {
                *self.lock_connect_failure() = Some((Instant::now(), e.to_string()));
                return Err(PublishError::Unavailable(e));
            }
        };
        *self.lock_connect_failure() = None;
        *self.inner.live.write().await = Some(live.clone());
        Ok(live)
    }

    fn connect_failure(&self) -> Option<(Instant, String)> {
        self.lock_connect_failure().clone()
    }

    fn lock_connect_failure(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.inner
            .connect_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The open connection, if it and all its channels are still up.
    async fn current(&self) -> Option<Arc<Live>> {
        let live = self.inner.live.read().await;
        let live = live.as_ref()?;
        let healthy = live.connection.status().connected()
            && live.channels.iter().all(|c| c.status().connected());
        healthy.then(|| live.clone())
    }

    async fn open(&self) -> lapin::Result<Live> {
        let connection =
            Connection::connect(&self.inner.url, ConnectionProperties::default()).await?;
        let setup = connection.create_channel().await?;
        declare_topology(&setup, &self.inner.topology).await?;
        let _ = setup.close(200, "topology declared".into()).await;
        let mut channels = Vec::with_capacity(self.inner.channel_count);
        for _ in 0..self.inner.channel_count {
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            channels.push(channel);
        }
        Ok(Live {
            connection,
            channels,
        })
    }

    /// Drops a connection that failed, so the next publish opens a fresh one.
    async fn forget(&self, failed: &Arc<Live>) {
        let mut live = self.inner.live.write().await;
        if live
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, failed))
        {
            *live = None;
        }
    }

    /// Closes the connection (graceful shutdown).
    pub async fn close(&self) {
        if let Some(live) = self.inner.live.write().await.take() {
            let _ = live.connection.close(200, "shutting down".into()).await;
        }
    }
}
