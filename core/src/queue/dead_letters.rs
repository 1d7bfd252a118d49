//! The events dead-letter queue (`<prefix>.dead`): reading it and sending messages back.
//! `ember dlq` and the admin API (`/admin/portals/{p}/dead-letters`) both use it.
//!
//! RabbitMQ cannot browse a queue, so reading takes messages with `basic.get` without
//! acknowledging them and then closes the channel, which returns every one of them to the queue.
//! Two consequences, both harmless but worth knowing: while one reader holds messages another
//! reader does not see them, and each read counts as a return in the quorum queue's
//! `x-delivery-count` (which replay therefore strips, with Ember's failure headers, so that a
//! replayed message starts with a fresh set of attempts).
//!
//! Replaying republishes a message to the events exchange with its original routing key, waits
//! for the broker's confirm, and only then acknowledges the dead letter: a crash in between
//! duplicates it, which the workers' dedupe keys absorb.

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Topology;
use crate::domain::{EventBatch, PortalId};

/// Attempts made so far (set on retried and dead-lettered messages).
pub const ATTEMPTS_HEADER: &str = "x-ember-attempts";
/// The last error of a retried or dead-lettered message.
pub const ERROR_HEADER: &str = "x-ember-error";
/// When a message was dead-lettered (RFC 3339).
pub const FAILED_AT_HEADER: &str = "x-ember-failed-at";
/// The routing key a dead letter had, for replay.
pub const ROUTING_KEY_HEADER: &str = "x-ember-routing-key";
/// The worker that dead-lettered a message.
pub const WORKER_HEADER: &str = "x-ember-worker";

/// Headers a replayed message must not carry: Ember's failure record and the broker's own
/// delivery bookkeeping, which would count the message's earlier life against its new attempts.
const STRIPPED_HEADER_PREFIXES: [&str; 5] = [
    "x-ember-",
    "x-death",
    "x-first-death",
    "x-last-death",
    "x-delivery-count",
];

/// Prefix of an event dead letter's id (write-back dead letters have their own ids).
pub const ID_PREFIX: &str = "event-";

/// One dead letter, as `ember dlq list` and the admin API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Stable while the message sits in the queue: a digest of its routing key, failure time
    /// and body, so that exactly this message can be replayed.
    pub id: String,
    /// The routing key it was published with (`portal.<id>`).
    pub routing_key: String,
    /// The portal of its routing key, or of its body when the key names none.
    pub portal_id: Option<i64>,
    pub request_id: Option<String>,
    pub events: Option<usize>,
    pub error: Option<String>,
    pub attempts: Option<i64>,
    /// When it was dead-lettered (RFC 3339), by a worker or by the broker.
    pub failed_at: Option<String>,
    pub worker: Option<String>,
    pub bytes: usize,
}

impl DeadLetter {
    /// Reads a dead-lettered message (never fails: an undecodable body is what some dead
    /// letters are).
    pub fn of(d: &Delivery) -> Self {
        let batch: Option<EventBatch> = serde_json::from_slice(&d.data).ok();
        let routing_key = original_routing_key(d);
        let x_death = header(d, "x-death");
        // Messages the broker dead-lettered by itself carry x-death instead of our headers.
        let error = text_header(d, ERROR_HEADER)
            .or_else(|| x_death.map(|_| "dead-lettered by the broker (x-death)".to_owned()));
        let failed_at = text_header(d, FAILED_AT_HEADER)
            .or_else(|| x_death.and_then(first_death_time).map(|t| t.to_rfc3339()));
        Self {
            id: message_id(&routing_key, failed_at.as_deref(), &d.data),
            portal_id: portal_of_routing_key(&routing_key)
                .map(PortalId::get)
                .or_else(|| batch.as_ref().map(|b| b.portal_id.get())),
            routing_key,
            request_id: batch.as_ref().map(|b| b.request_id.clone()),
            events: batch.as_ref().map(|b| b.events.len()),
            error,
            attempts: header(d, ATTEMPTS_HEADER).and_then(int_value),
            failed_at,
            worker: text_header(d, WORKER_HEADER),
            bytes: d.data.len(),
        }
    }

    /// When it was dead-lettered, if recorded.
    pub fn failed_at_time(&self) -> Option<DateTime<Utc>> {
        let at = DateTime::parse_from_rfc3339(self.failed_at.as_deref()?).ok()?;
        Some(at.with_timezone(&Utc))
    }
}

/// Why the dead-letter queue could not be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot reach RabbitMQ")]
    Connect(#[source] lapin::Error),
    #[error("RabbitMQ refused an operation on the dead-letter queue")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not take the replayed message ({0}); it stays dead-lettered")]
    NotConfirmed(String),
}

/// Up to `limit` dead letters of every portal, oldest first; they stay in the queue.
pub async fn list(
    url: &str,
    topology: &Topology,
    limit: usize,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let session = Session::open(url, topology).await?;
    let mut out = Vec::new();
    while out.len() < limit {
        match session.get().await? {
            Some(d) => out.push(DeadLetter::of(&d)),
            None => break,
        }
    }
    session.close("listed").await;
    Ok(out)
}

/// The dead letters of one portal among the first `scan_limit` messages of the queue, oldest
/// first; they all stay in the queue.
pub async fn list_for_portal(
    url: &str,
    topology: &Topology,
    portal: PortalId,
    scan_limit: usize,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let session = Session::open(url, topology).await?;
    let mut out = Vec::new();
    for _ in 0..scan_limit {
        let Some(d) = session.get().await? else {
            break;
        };
        let letter = DeadLetter::of(&d);
        if letter.portal_id == Some(portal.get()) {
            out.push(letter);
        }
    }
    session.close("listed").await;
    Ok(out)
}

/// Sends up to `limit` dead letters (all if `None`) back to the events exchange; returns how
/// many. Only the messages there when it starts: one that fails again comes back to the queue
/// and must not be replayed in a loop.
pub async fn replay(
    url: &str,
    topology: &Topology,
    limit: Option<usize>,
) -> Result<usize, DeadLetterError> {
    let session = Session::open(url, topology).await?;
    session.confirm().await?;
    let present = session.depth().await?;
    let limit = limit.map_or(present, |l| l.min(present));
    let mut replayed = 0;
    while replayed < limit {
        let Some(d) = session.get().await? else {
            break;
        };
        session.republish(&d).await?;
        replayed += 1;
    }
    session.close("replayed").await;
    Ok(replayed)
}

/// Sends exactly the dead letter `id` of `portal` back to the events exchange, looking at no more
/// than the first `scan_limit` messages; every other message stays. Returns whether it was found.
pub async fn replay_one(
    url: &str,
    topology: &Topology,
    portal: PortalId,
    id: &str,
    scan_limit: usize,
) -> Result<bool, DeadLetterError> {
    let session = Session::open(url, topology).await?;
    session.confirm().await?;
    let mut found = false;
    for _ in 0..scan_limit {
        let Some(d) = session.get().await? else {
            break;
        };
        let letter = DeadLetter::of(&d);
        if letter.id == id && letter.portal_id == Some(portal.get()) {
            session.republish(&d).await?;
            found = true;
            break;
        }
    }
    session.close("replayed").await;
    Ok(found)
}

/// The portal a routing key `portal.<id>` names.
pub fn portal_of_routing_key(key: &str) -> Option<PortalId> {
    key.strip_prefix("portal.")?.parse().ok()
}

/// A connection and channel on the dead-letter queue. Closing it returns every message taken
/// and not acknowledged.
struct Session {
    connection: Connection,
    channel: Channel,
    queue: String,
    exchange: String,
}

impl Session {
    async fn open(url: &str, topology: &Topology) -> Result<Self, DeadLetterError> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(DeadLetterError::Connect)?;
        let channel = connection.create_channel().await?;
        Ok(Self {
            connection,
            channel,
            queue: topology.dead_letter_queue(),
            exchange: topology.events_exchange(),
        })
    }

    async fn confirm(&self) -> Result<(), DeadLetterError> {
        self.channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(())
    }

    /// How many messages the queue holds now.
    async fn depth(&self) -> Result<usize, DeadLetterError> {
        let queue = self
            .channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(queue.message_count() as usize)
    }

    /// The next message, unacknowledged (it returns to the queue when the session closes).
    async fn get(&self) -> Result<Option<Delivery>, DeadLetterError> {
        let message = self
            .channel
            .basic_get(
                self.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?;
        Ok(message.map(|m| m.delivery))
    }

    /// Publishes the message to the events exchange with its original routing key and without
    /// its failure record; acknowledges the dead letter once the broker confirmed.
    async fn republish(&self, d: &Delivery) -> Result<(), DeadLetterError> {
        let mut headers = FieldTable::default();
        if let Some(h) = d.properties.headers().as_ref() {
            for (k, v) in h.inner() {
                if !STRIPPED_HEADER_PREFIXES
                    .iter()
                    .any(|p| k.as_str().starts_with(p))
                {
                    headers.insert(k.clone(), v.clone());
                }
            }
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let confirm = self
            .channel
            .basic_publish(
                self.exchange.as_str().into(),
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
                Ok(())
            }
            Confirmation::Ack(Some(_)) => Err(DeadLetterError::NotConfirmed(format!(
                "{} routed it nowhere",
                self.exchange
            ))),
            other => Err(DeadLetterError::NotConfirmed(format!("{other:?}"))),
        }
    }

    async fn close(self, why: &str) {
        // Closing the channel returns every unacknowledged message to the queue. A failure here
        // changes nothing for the caller: the broker returns them when the connection drops.
        let _ = self.channel.close(200, why.into()).await;
        let _ = self.connection.close(200, why.into()).await;
    }
}

fn header<'a>(d: &'a Delivery, name: &str) -> Option<&'a AMQPValue> {
    d.properties.headers().as_ref()?.inner().get(name)
}

fn text_header(d: &Delivery, name: &str) -> Option<String> {
    match header(d, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn original_routing_key(d: &Delivery) -> String {
    text_header(d, ROUTING_KEY_HEADER).unwrap_or_else(|| d.routing_key.as_str().to_owned())
}

/// The `time` of the most recent entry of an `x-death` header (the broker puts it first).
fn first_death_time(x_death: &AMQPValue) -> Option<DateTime<Utc>> {
    let AMQPValue::FieldArray(deaths) = x_death else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let seconds = int_value(first.inner().get("time")?)?;
    DateTime::from_timestamp(seconds, 0)
}

fn message_id(routing_key: &str, failed_at: Option<&str>, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(routing_key.as_bytes());
    digest.update([0]);
    digest.update(failed_at.unwrap_or_default().as_bytes());
    digest.update([0]);
    digest.update(body);
    format!("{ID_PREFIX}{}", hex::encode(&digest.finalize()[..8]))
}

/// An integer header, whatever integer type the sender used.
pub fn int_value(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::ShortShortInt(x) => Some(i64::from(*x)),
        AMQPValue::ShortShortUInt(x) => Some(i64::from(*x)),
        AMQPValue::ShortInt(x) => Some(i64::from(*x)),
        AMQPValue::ShortUInt(x) => Some(i64::from(*x)),
        AMQPValue::LongInt(x) => Some(i64::from(*x)),
        AMQPValue::LongUInt(x) => Some(i64::from(*x)),
        AMQPValue::LongLongInt(x) => Some(*x),
        AMQPValue::Timestamp(x) => i64::try_from(*x).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_name_their_portal() {
        assert_eq!(
            portal_of_routing_key("portal.42").map(PortalId::get),
            Some(42)
        );
        assert_eq!(portal_of_routing_key("portal.0"), None);
        assert_eq!(portal_of_routing_key("portal.x"), None);
        assert_eq!(portal_of_routing_key("other.42"), None);
    }

    #[test]
    fn ids_tell_messages_apart_and_are_stable() {
        let a = message_id("portal.1", Some("2026-11-28T10:00:00Z"), b"{}");
        assert_eq!(
            a,
            message_id("portal.1", Some("2026-11-28T10:00:00Z"), b"{}")
        );
        assert!(
            a.starts_with(ID_PREFIX) && a.len() == ID_PREFIX.len() + 16,
            "{a}"
        );
        assert_ne!(
            a,
            message_id("portal.2", Some("2026-11-28T10:00:00Z"), b"{}")
        );
        assert_ne!(
            a,
            message_id("portal.1", Some("2026-11-28T10:00:01Z"), b"{}")
        );
        assert_ne!(
            a,
            message_id("portal.1", Some("2026-11-28T10:00:00Z"), b"[]")
        );
        assert_ne!(a, message_id("portal.1", None, b"{}"));
    }

    #[test]
    fn the_latest_death_time_is_read_from_x_death() {
        let mut death = FieldTable::default();
        death.insert("time".into(), AMQPValue::Timestamp(1_795_000_000));
        let header = AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into());
        assert_eq!(
            first_death_time(&header).map(|t| t.timestamp()),
            Some(1_795_000_000)
        );
        assert_eq!(first_death_time(&AMQPValue::Boolean(true)), None);
    }
}
