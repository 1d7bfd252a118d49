//! The dead-letter queue: what `ember dlq list` shows and `ember dlq replay` sends back.
//!
//! Listing takes messages with `basic.get` without acknowledging them and closes the channel,
//! which returns them all to the queue. Replaying republishes each message to the events exchange
//! with its original routing key and without Ember's failure headers (so it gets a fresh set of
//! attempts), waits for the broker's confirm, and only then acknowledges the dead letter.

use anyhow::Context;
use ember_core::domain::EventBatch;
use ember_core::queue::Topology;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use serde::Serialize;

use crate::runner::{
    ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, ROUTING_KEY_HEADER, WORKER_HEADER, int_value,
};

/// One dead letter, as `ember dlq list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub routing_key: String,
    pub portal_id: Option<i64>,
    pub request_id: Option<String>,
    pub events: Option<usize>,
    pub error: Option<String>,
    pub attempts: Option<i64>,
    pub failed_at: Option<String>,
    pub worker: Option<String>,
    pub bytes: usize,
}

fn text_header(d: &Delivery, name: &str) -> Option<String> {
    match d.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn original_routing_key(d: &Delivery) -> String {
    text_header(d, ROUTING_KEY_HEADER).unwrap_or_else(|| d.routing_key.as_str().to_owned())
}

impl DeadLetter {
    fn of(d: &Delivery) -> Self {
        let batch: Option<EventBatch> = serde_json::from_slice(&d.data).ok();
        // Messages the broker dead-lettered by itself carry x-death instead of our headers.
        let error = text_header(d, ERROR_HEADER).or_else(|| {
            d.properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("x-death"))
                .map(|_| "dead-lettered by the broker (x-death)".to_owned())
        });
        Self {
            routing_key: original_routing_key(d),
            portal_id: batch.as_ref().map(|b| b.portal_id.get()),
            request_id: batch.as_ref().map(|b| b.request_id.clone()),
            events: batch.as_ref().map(|b| b.events.len()),
            error,
            attempts: d
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(ATTEMPTS_HEADER))
                .and_then(int_value),
            failed_at: text_header(d, FAILED_AT_HEADER),
            worker: text_header(d, WORKER_HEADER),
            bytes: d.data.len(),
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<Connection> {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .context("cannot reach RabbitMQ")
}

/// Up to `limit` dead letters, oldest first; they stay in the queue.
pub async fn list(url: &str, topology: &Topology, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
    let connection = connect(url).await?;
    let channel = connection.create_channel().await?;
    let queue = topology.dead_letter_queue();
    let mut out = Vec::new();
    while out.len() < limit {
        match channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await?
        {
            Some(message) => out.push(DeadLetter::of(&message.delivery)),
            None => break,
        }
    }
    // Closing the channel returns every unacknowledged message to the queue.
    let _ = channel.close(200, "listed".into()).await;
    let _ = connection.close(200, "listed".into()).await;
    Ok(out)
}

/// Sends up to `limit` dead letters (all if `None`) back to the events exchange; returns how many.
pub async fn replay(url: &str, topology: &Topology, limit: Option<usize>) -> anyhow::Result<usize> {
    let connection = connect(url).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = topology.dead_letter_queue();
    let exchange = topology.events_exchange();
    // Only the messages there now: a replayed message that fails again comes back to this queue
    // and must not be replayed in a loop.
    let present = channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count() as usize;
    let limit = limit.map_or(present, |l| l.min(present));
    let mut replayed = 0;
    while replayed < limit {
        let Some(message) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let d = &message.delivery;
        let mut headers = FieldTable::default();
        if let Some(h) = d.properties.headers().as_ref() {
            for (k, v) in h.inner() {
                if !k.as_str().starts_with("x-ember-")
                    && !k.as_str().starts_with("x-death")
                    && !k.as_str().starts_with("x-first-death")
                {
                    headers.insert(k.clone(), v.clone());
                }
            }
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                original_routing_key(d).as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &d.data,
                properties,
            )
            .await?
            .await?;
        match confirm {
            Confirmation::Ack(None) => {
                d.acker.ack(BasicAckOptions::default()).await?;
                replayed += 1;
            }
            other => anyhow::bail!(
                "the broker did not take the replayed message ({other:?}); it stays dead-lettered"
            ),
        }
    }
    let _ = channel.close(200, "replayed".into()).await;
    let _ = connection.close(200, "replayed".into()).await;
    Ok(replayed)
}
