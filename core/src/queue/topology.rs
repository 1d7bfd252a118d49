//! Exchange and queue names, and their idempotent declaration.

use std::sync::Arc;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::config::AmqpSettings;

/// Every name Ember uses on the broker, derived from one prefix, and the retry ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    retry_tiers: Arc<[RetryTier]>,
}

impl Topology {
    /// Names under `prefix`, with one retry tier per delay (shortest first, as configured in
    /// `amqp.retry_delays_ms`).
    pub fn new(prefix: impl Into<String>, retry_delays_ms: &[u32]) -> Self {
        Self {
            prefix: prefix.into(),
            retry_tiers: retry_delays_ms
                .iter()
                .map(|&ms| RetryTier::new(ms))
                .collect(),
        }
    }

    /// The topology the settings describe.
    pub fn from_settings(amqp: &AmqpSettings) -> Self {
        Self::new(&amqp.prefix, &amqp.retry_delays_ms)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Topic exchange the intake publishes to, routing key `portal.<id>`.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// Quorum queue the workers consume.
    pub fn events_queue(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// Fanout exchange for messages that failed for good.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// Quorum queue holding dead letters for `ember dlq`.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// Headers exchange for delayed retries: a message published with header
    /// [`RETRY_TIER_HEADER`] = a tier's name lands in that tier's queue (and only there),
    /// keeping its routing key.
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.prefix)
    }

    /// The queue of one retry tier, `<prefix>.retry.<tier>`.
    pub fn retry_queue(&self, tier: &RetryTier) -> String {
        format!("{}.retry.{}", self.prefix, tier.name)
    }

    /// Header naming the retry tier a message is published to.
    pub const RETRY_TIER_HEADER: &'static str = RETRY_TIER_HEADER;

    /// The retry ladder, shortest delay first.
    pub fn retry_tiers(&self) -> &[RetryTier] {
        &self.retry_tiers
    }

    /// The tier of a message's `attempt`-th retry (1-based); later retries stay on the last
    /// tier. `None` only for a topology without tiers, which the settings' validation refuses.
    pub fn retry_tier(&self, attempt: u32) -> Option<&RetryTier> {
        let last = self.retry_tiers.len().checked_sub(1)?;
        let i = (attempt.max(1) as usize - 1).min(last);
        self.retry_tiers.get(i)
    }
}

/// Header naming the retry tier a message is published to.
///
/// Not `x-`-prefixed on purpose: a headers exchange ignores every header whose name starts with
/// `x-` when it matches (unless the binding says `all-with-x`/`any-with-x`), so a binding on an
/// `x-` header has no condition left and matches every message. Ember 0.1 named this header
/// `x-ember-retry-tier`, and each retry landed in every tier's queue at once, four copies per
/// attempt; [`declare_topology`] removes those old bindings.
pub const RETRY_TIER_HEADER: &str = "ember-retry-tier";

/// The header name of Ember 0.1's broken bindings, unbound at declaration.
const LEGACY_RETRY_TIER_HEADER: &str = "x-ember-retry-tier";

/// One delay of the delayed-retry ladder: a queue whose messages expire after `ttl_ms` and are
/// then dead-lettered back to the events exchange with their original routing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTier {
    /// Derived from the delay (`250ms`, `1s`, `10s`, `1m`, `10m`), so that a changed delay is a
    /// new queue rather than a redeclaration the broker refuses.
    pub name: String,
    pub ttl_ms: u32,
}

impl RetryTier {
    pub fn new(ttl_ms: u32) -> Self {
        let name = if ttl_ms > 0 && ttl_ms.is_multiple_of(60_000) {
            format!("{}m", ttl_ms / 60_000)
        } else if ttl_ms > 0 && ttl_ms.is_multiple_of(1_000) {
            format!("{}s", ttl_ms / 1_000)
        } else {
            format!("{ttl_ms}ms")
        };
        Self { name, ttl_ms }
    }
}

/// Declares the exchanges and queues the intake and the workers rely on. Idempotent: every process runs it
/// at start-up, and a declaration with different arguments fails loudly (PRECONDITION_FAILED)
/// rather than silently changing a live queue.
pub async fn declare_topology(channel: &Channel, topology: &Topology) -> lapin::Result<()> {
    // Durable: the exchanges must survive a broker restart or publishes would be unroutable.
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            topology.events_exchange().as_str().into(),
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            topology.dead_letter_exchange().as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;

    // Quorum queues are replicated and must be durable; they also count deliveries, which the
    // worker's retry policy reads.
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let mut events_args = quorum();
    events_args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(topology.dead_letter_exchange().into()),
    );
    channel
        .queue_declare(
            topology.events_queue().as_str().into(),
            durable_queue,
            events_args,
        )
        .await?;
    channel
        .queue_bind(
            topology.events_queue().as_str().into(),
            topology.events_exchange().as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            topology.dead_letter_queue().as_str().into(),
            durable_queue,
            quorum(),
        )
        .await?;
    channel
        .queue_bind(
            topology.dead_letter_queue().as_str().into(),
            topology.dead_letter_exchange().as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    // Delayed retries: a headers exchange routes on the tier header, so the message keeps its
    // `portal.<id>` routing key for the trip back. Tier queues are classic durable queues with a
    // fixed per-queue TTL (every message in one queue expires in arrival order), dead-lettering
    // to the events exchange when the TTL ends.
    channel
        .exchange_declare(
            topology.retry_exchange().as_str().into(),
            ExchangeKind::Headers,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    for tier in topology.retry_tiers() {
        let mut args = FieldTable::default();
        args.insert(
            ShortString::from("x-message-ttl"),
            AMQPValue::LongUInt(tier.ttl_ms),
        );
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(topology.events_exchange().into()),
        );
        let queue = topology.retry_queue(tier);
        channel
            .queue_declare(queue.as_str().into(), durable_queue, args)
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                topology.retry_exchange().as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                tier_binding(RETRY_TIER_HEADER, tier),
            )
            .await?;
        // A broker that ran Ember 0.1 still has the binding that matches everything; unbinding
        // one that does not exist is a no-op for RabbitMQ.
        channel
            .queue_unbind(
                queue.as_str().into(),
                topology.retry_exchange().as_str().into(),
                "".into(),
                tier_binding(LEGACY_RETRY_TIER_HEADER, tier),
            )
            .await?;
    }
    Ok(())
}

/// The arguments of a tier queue's binding: `header` must equal the tier's name.
fn tier_binding(header: &str, tier: &RetryTier) -> FieldTable {
    let mut binding = FieldTable::default();
    binding.insert(
        ShortString::from("x-match"),
        AMQPValue::LongString("all".into()),
    );
    binding.insert(
        ShortString::from(header),
        AMQPValue::LongString(tier.name.as_str().into()),
    );
    binding
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_names_follow_their_delays() {
        let names: Vec<String> = [250, 1_000, 10_000, 60_000, 600_000, 90_000]
            .into_iter()
            .map(|ms| RetryTier::new(ms).name)
            .collect();
        assert_eq!(names, ["250ms", "1s", "10s", "1m", "10m", "90s"]);
    }

    #[test]
    fn later_retries_stay_on_the_last_tier() {
        let t = Topology::new("p", &[1_000, 10_000]);
        let ttl = |n| t.retry_tier(n).map(|tier| tier.ttl_ms);
        assert_eq!(
            [ttl(0), ttl(1), ttl(2), ttl(3), ttl(9)],
            [
                Some(1_000),
                Some(1_000),
                Some(10_000),
                Some(10_000),
                Some(10_000)
            ]
        );
        assert_eq!(Topology::new("p", &[]).retry_tier(1), None);
    }

    #[test]
    fn the_tier_header_is_one_a_headers_exchange_matches_on() {
        assert!(!RETRY_TIER_HEADER.starts_with("x-"));
    }
}
