//! The queue loop, and the only code that acknowledges messages.
//!
//! It consumes the events queue with a bounded prefetch (at most `prefetch` unacknowledged
//! messages, each handled on its own task), decodes the versioned envelope, opens a span with the
//! portal id, calls the handler, and settles the handler's [`Outcome`]:
//! - `Done` → ack (the transaction has committed);
//! - `Retry` → republish to the retry exchange with the next tier's delay and an attempt count,
//!   then ack; after `max_attempts` → dead letter;
//! - `Reject` (or an undecodable message) → publish to the dead-letter exchange with the reason in
//!   `x-ember-error`, then ack;
//! - `Partial` → publish each refused event alone (a one-event batch of the same request) to the
//!   dead-letter exchange with its reason, then ack; the rest of the message is committed.
//!
//! Republishing waits for the broker's confirm before the ack, so a crash in between can only
//! duplicate a message, which the dedupe keys absorb. If the connection drops, unacked messages
//! return to the queue and the loop reconnects. A message redelivered more than
//! `redelivery_limit` times without reaching an outcome (it keeps killing its worker) is
//! dead-lettered on its next delivery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ember_core::domain::EventBatch;
use ember_core::queue::dead_letters::int_value;
use ember_core::queue::{Topology, declare_topology};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::consumers::Outcome;
use crate::consumers::process::Processor;

/// Attempts made so far (set on retried messages).
pub const ATTEMPTS_HEADER: &str = "x-ember-attempts";
/// The last error of a retried or dead-lettered message.
pub const ERROR_HEADER: &str = "x-ember-error";
/// When a message was dead-lettered (RFC 3339).
pub const FAILED_AT_HEADER: &str = "x-ember-failed-at";
/// The routing key a dead letter had, for replay.
pub const ROUTING_KEY_HEADER: &str = "x-ember-routing-key";
/// The worker that dead-lettered a message.
pub const WORKER_HEADER: &str = "x-ember-worker";
/// Set by quorum queues on redelivery: how many earlier deliveries failed.
const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// How the runner consumes and settles.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub amqp_url: String,
    pub topology: Topology,
    pub consumer_tag: String,
    pub prefetch: u16,
    pub max_attempts: u32,
    pub redelivery_limit: u32,
    pub shutdown_grace: Duration,
}

struct Ctx {
    config: RunnerConfig,
    processor: Arc<Processor>,
    publish: Channel,
}

/// Consumes until `shutdown` turns true, reconnecting after broker failures; then stops
/// consuming and waits (at most the grace period) for messages in flight.
pub async fn run(
    config: RunnerConfig,
    processor: Arc<Processor>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(250);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        match consume(&config, processor.clone(), &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "broker connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn consume(
    config: &RunnerConfig,
    processor: Arc<Processor>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connection = Connection::connect(&config.amqp_url, ConnectionProperties::default()).await?;
    let setup = connection.create_channel().await?;
    declare_topology(&setup, &config.topology).await?;
    let _ = setup.close(200, "topology declared".into()).await;

    let publish = connection.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let channel = connection.create_channel().await?;
    // Bounded prefetch: the broker sends at most this many unacknowledged messages.
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            config.topology.events_queue().as_str().into(),
            config.consumer_tag.as_str().into(),
            // Manual acks: a message is acknowledged only after its transaction committed.
            BasicConsumeOptions {
                no_ack: false,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %config.topology.events_queue(), prefetch = config.prefetch, consumer = %config.consumer_tag, "consuming");
    let ctx = Arc::new(Ctx {
        config: config.clone(),
        processor,
        publish,
    });
    let in_flight = Arc::new(Semaphore::new(usize::from(config.prefetch)));
    let result = loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = channel.basic_cancel(config.consumer_tag.as_str().into(), BasicCancelOptions::default()).await;
                break Ok(());
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let permit = in_flight.clone().acquire_owned().await?;
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        handle(&ctx, delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("consumer failed")),
                None => break Err(anyhow::anyhow!("the broker closed the consumer")),
            }
        }
    };
    // Let messages in flight finish (and ack) within the grace period; what does not finish is
    // redelivered to another worker when the connection closes.
    let all = u32::from(config.prefetch);
    if tokio::time::timeout(config.shutdown_grace, in_flight.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = config.shutdown_grace.as_millis() as u64,
            "messages still in flight at the end of the grace period"
        );
    }
    let _ = channel.close(200, "worker stopping".into()).await;
    let _ = ctx.publish.close(200, "worker stopping".into()).await;
    let _ = connection.close(200, "worker stopping".into()).await;
    result
}

/// Decodes the versioned envelope ([`EventBatch::decode`]), the error as the reason to record.
pub fn decode(data: &[u8]) -> Result<EventBatch, String> {
    EventBatch::decode(data).map_err(|e| e.to_string())
}

async fn handle(ctx: &Ctx, delivery: Delivery) {
    let started = Instant::now();
    let attempts = header_int(&delivery, ATTEMPTS_HEADER).unwrap_or(0).max(0) as u32;
    let redeliveries = header_int(&delivery, DELIVERY_COUNT_HEADER)
        .unwrap_or(0)
        .max(0) as u32;
    if redeliveries > ctx.config.redelivery_limit {
        let reason = format!(
            "delivered {} times without an outcome (does it crash the worker?)",
            redeliveries + 1
        );
        dead_letter(ctx, &delivery, attempts, &reason).await;
        return;
    }
    let batch = match decode(&delivery.data) {
        Ok(batch) => batch,
        Err(reason) => {
            tracing::error!(reason = %reason, "undecodable message");
            dead_letter(ctx, &delivery, attempts, &reason).await;
            return;
        }
    };
    let span = tracing::info_span!(
        "message",
        portal_id = %batch.portal_id,
        request_id = %batch.request_id,
        events = batch.events.len(),
        attempt = attempts + 1,
    );
    let outcome = ctx.processor.handle(&batch).instrument(span.clone()).await;
    async {
        match outcome {
            Outcome::Done(summary) => {
                tracing::debug!(applied = summary.applied, duplicates = summary.duplicates, "processed");
                settle_ack(&delivery, "done").await;
            }
            Outcome::Reject(reason) => {
                tracing::error!(reason = %reason, "permanent failure; dead-lettering");
                dead_letter(ctx, &delivery, attempts, &reason).await;
            }
            Outcome::Partial { summary, rejected } => {
                tracing::warn!(applied = summary.applied, rejected = rejected.len(), "processed all but the events the database refused; dead-lettering those alone");
                dead_letter_events(ctx, &delivery, &batch, attempts, rejected).await;
            }
            Outcome::Retry(reason) => {
                let attempt = attempts + 1;
                if attempt >= ctx.config.max_attempts {
                    tracing::error!(reason = %reason, attempts = attempt, "failed too often; dead-lettering");
                    dead_letter(ctx, &delivery, attempt, &format!("{reason} (after {attempt} attempts)")).await;
                } else {
                    tracing::warn!(reason = %reason, attempt, "transient failure; retrying later");
                    retry(ctx, &delivery, attempt, &reason).await;
                }
            }
        }
    }
    .instrument(span)
    .await;
    metrics::histogram!("ember_worker_message_seconds").record(started.elapsed().as_secs_f64());
}

async fn settle_ack(delivery: &Delivery, outcome: &'static str) {
    match delivery.acker.ack(BasicAckOptions::default()).await {
        Ok(_) => {
            metrics::counter!("ember_worker_messages_total", "outcome" => outcome).increment(1)
        }
        // The channel is gone: the broker redelivers the message, and its dedupe keys make that
        // a no-op.
        Err(e) => tracing::warn!(error = %e, "cannot ack; the message will be redelivered"),
    }
}

async fn requeue(delivery: &Delivery, why: &str) {
    tracing::warn!(reason = %why, "cannot republish; requeueing the message");
    metrics::counter!("ember_worker_messages_total", "outcome" => "requeued").increment(1);
    let _ = delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await;
}

async fn retry(ctx: &Ctx, delivery: &Delivery, attempt: u32, reason: &str) {
    let Some(tier) = ctx.config.topology.retry_tier(attempt) else {
        dead_letter(
            ctx,
            delivery,
            attempt,
            &format!("{reason} (no retry tier configured)"),
        )
        .await;
        return;
    };
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from(ATTEMPTS_HEADER),
        AMQPValue::LongLongInt(i64::from(attempt)),
    );
    headers.insert(
        ShortString::from(ERROR_HEADER),
        AMQPValue::LongString(truncate(reason).into()),
    );
    headers.insert(
        ShortString::from(Topology::RETRY_TIER_HEADER),
        AMQPValue::LongString(tier.name.as_str().into()),
    );
    let exchange = ctx.config.topology.retry_exchange();
    match publish(&ctx.publish, &exchange, delivery, &delivery.data, headers).await {
        Ok(()) => settle_ack(delivery, "retried").await,
        Err(e) => requeue(delivery, &e).await,
    }
}

async fn dead_letter(ctx: &Ctx, delivery: &Delivery, attempts: u32, reason: &str) {
    let headers = dead_letter_headers(ctx, delivery, attempts, reason);
    let exchange = ctx.config.topology.dead_letter_exchange();
    match publish(&ctx.publish, &exchange, delivery, &delivery.data, headers).await {
        Ok(()) => settle_ack(delivery, "dead_lettered").await,
        Err(e) => requeue(delivery, &e).await,
    }
}

/// Dead-letters each refused event as a one-event batch of its request, then acks the message
/// (whose other events are committed). If a publish fails the message is requeued: its next
/// delivery commits nothing new (dedupe) and dead-letters the refused events again, so a dead
/// letter may then be there twice, which a replay absorbs the same way.
async fn dead_letter_events(
    ctx: &Ctx,
    delivery: &Delivery,
    batch: &EventBatch,
    attempts: u32,
    rejected: Vec<(ember_core::domain::QueuedEvent, String)>,
) {
    let exchange = ctx.config.topology.dead_letter_exchange();
    for (event, reason) in rejected {
        let body = match batch.with_only(event).encode() {
            Ok(body) => body,
            Err(e) => return requeue(delivery, &format!("cannot encode a dead letter: {e}")).await,
        };
        let headers = dead_letter_headers(ctx, delivery, attempts, &reason);
        if let Err(e) = publish(&ctx.publish, &exchange, delivery, &body, headers).await {
            return requeue(delivery, &e).await;
        }
    }
    settle_ack(delivery, "partially_dead_lettered").await;
}

fn dead_letter_headers(ctx: &Ctx, delivery: &Delivery, attempts: u32, reason: &str) -> FieldTable {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from(ATTEMPTS_HEADER),
        AMQPValue::LongLongInt(i64::from(attempts)),
    );
    headers.insert(
        ShortString::from(ERROR_HEADER),
        AMQPValue::LongString(truncate(reason).into()),
    );
    headers.insert(
        ShortString::from(FAILED_AT_HEADER),
        AMQPValue::LongString(Utc::now().to_rfc3339().into()),
    );
    headers.insert(
        ShortString::from(ROUTING_KEY_HEADER),
        AMQPValue::LongString(delivery.routing_key.as_str().into()),
    );
    headers.insert(
        ShortString::from(WORKER_HEADER),
        AMQPValue::LongString(ctx.config.consumer_tag.as_str().into()),
    );
    headers
}

async fn publish(
    channel: &Channel,
    exchange: &str,
    delivery: &Delivery,
    body: &[u8],
    headers: FieldTable,
) -> Result<(), String> {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    let confirm = channel
        .basic_publish(
            exchange.into(),
            delivery.routing_key.clone(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await
        .map_err(|e| format!("publish to {exchange} failed: {e}"))?;
    match confirm.await {
        Ok(Confirmation::Ack(None)) => Ok(()),
        Ok(Confirmation::Ack(Some(_))) => Err(format!("{exchange} routed the message nowhere")),
        Ok(other) => Err(format!("{exchange} did not confirm: {other:?}")),
        Err(e) => Err(format!("publish to {exchange} failed: {e}")),
    }
}

/// Headers should stay small; errors are cut at 1000 characters.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(1000) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// An integer header, whatever integer type the sender used.
pub fn header_int(delivery: &Delivery, name: &str) -> Option<i64> {
    let headers = delivery.properties.headers().as_ref()?;
    int_value(headers.inner().get(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_formats_are_named() {
        let err = decode(br#"{"format": 9, "whatever": 1}"#).unwrap_err();
        assert!(err.contains("unknown batch format 9"), "{err}");
        assert!(
            decode(b"not json")
                .unwrap_err()
                .contains("not an event batch")
        );
        let err = decode(br#"{"format": 1}"#).unwrap_err();
        assert!(err.contains("invalid event batch"), "{err}");
    }

    #[test]
    fn long_errors_are_cut() {
        let s = "x".repeat(5000);
        assert_eq!(truncate(&s).chars().count(), 1001);
        assert_eq!(truncate("short"), "short");
    }
}
