//! Exchange and queue names, and their idempotent declaration.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

/// Every name Ember uses on the broker, derived from one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
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
    /// [`RETRY_TIER_HEADER`] = a tier's name lands in that tier's queue, keeping its routing key.
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
    pub fn retry_tiers(&self) -> &'static [RetryTier] {
        &RETRY_TIERS
    }

    /// The tier of a message's `attempt`-th retry (1-based); later retries stay on the last tier.
    pub fn retry_tier(&self, attempt: u32) -> &'static RetryTier {
        retry_tier(attempt)
    }
}

/// Header naming the retry tier a message is published to.
pub const RETRY_TIER_HEADER: &str = "x-ember-retry-tier";

/// One delay of the delayed-retry ladder: a queue whose messages expire after `ttl_ms` and are
/// then dead-lettered back to the events exchange with their original routing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryTier {
    pub name: &'static str,
    pub ttl_ms: u32,
}

/// The retry ladder: the n-th retry of a message waits `RETRY_TIERS[min(n, len) - 1]`.
pub const RETRY_TIERS: [RetryTier; 4] = [
    RetryTier {
        name: "1s",
        ttl_ms: 1_000,
    },
    RetryTier {
        name: "10s",
        ttl_ms: 10_000,
    },
    RetryTier {
        name: "1m",
        ttl_ms: 60_000,
    },
    RetryTier {
        name: "10m",
        ttl_ms: 600_000,
    },
];

/// The tier of a message's `attempt`-th retry (1-based); later retries stay on the last tier.
pub fn retry_tier(attempt: u32) -> &'static RetryTier {
    let i = (attempt.max(1) as usize - 1).min(RETRY_TIERS.len() - 1);
    &RETRY_TIERS[i]
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
    for tier in &RETRY_TIERS {
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
        let mut binding = FieldTable::default();
        binding.insert(
            ShortString::from("x-match"),
            AMQPValue::LongString("all".into()),
        );
        binding.insert(
            ShortString::from(RETRY_TIER_HEADER),
            AMQPValue::LongString(tier.name.into()),
        );
        channel
            .queue_bind(
                queue.as_str().into(),
                topology.retry_exchange().as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                binding,
            )
            .await?;
    }
    Ok(())
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args
}
