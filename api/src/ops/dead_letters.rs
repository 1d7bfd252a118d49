//! What did not go through for a portal, as the admin API and the console both list it: dead letters (write-backs HubSpot refused for good, in
//! Postgres; event messages the workers gave up on, in RabbitMQ's `<prefix>.dead`), replaying
//! one. (The intake's recent rejections are `crate::rejections`.)
//!
//! Ids say where a dead letter lives: `writeback-<n>` is a row of `writeback_dead_letters`,
//! `event-<digest>` a message of the dead-letter queue (see
//! [`ember_core::queue::dead_letters::DeadLetter::id`]). Only the portal's own are listed or
//! replayed: event messages are matched by their routing key `portal.<id>`.

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use ember_core::domain::PortalId;
use ember_core::queue::dead_letters::{self as event_dead_letters, DeadLetter};
use ember_core::store::writeback_dead_letters::{
    self as writeback_dead_letters, Replayed, WritebackDeadLetter,
};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::Operations;

fn db(e: sqlx::Error) -> ApiError {
    ApiError::internal(e.into())
}

/// Write-back dead letters listed per portal (newest first).
const WRITEBACK_LIMIT: i64 = 200;
/// Messages of the dead-letter queue looked at per request: the queue is shared by every portal
/// and RabbitMQ can only be read message by message.
const EVENT_SCAN_LIMIT: usize = 2_000;
/// `Retry-After` when RabbitMQ cannot be reached, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// Where a dead letter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeadLetterKind {
    /// Values HubSpot refused for good (Postgres).
    Writeback,
    /// An event message the workers gave up on (RabbitMQ).
    Event,
}

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct DeadLetterItem {
    /// `writeback-<n>` or `event-<digest>`: what `replay` takes.
    pub id: String,
    pub kind: DeadLetterKind,
    /// Why it failed: HubSpot's error category, or the worker's error.
    pub reason: String,
    /// When it failed, if recorded.
    pub at: Option<DateTime<Utc>>,
    /// The contact of a write-back; `null` for an event message (a batch of up to 500 events).
    pub contact_id: Option<i64>,
    pub detail: String,
}

impl From<WritebackDeadLetter> for DeadLetterItem {
    fn from(d: WritebackDeadLetter) -> Self {
        let values = d
            .properties
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            id: d.public_id(),
            kind: DeadLetterKind::Writeback,
            detail: format!("{} (score version {}: {values})", d.reason, d.version),
            reason: d.category,
            at: Some(d.created_at),
            contact_id: Some(d.contact_id),
        }
    }
}

impl From<DeadLetter> for DeadLetterItem {
    fn from(d: DeadLetter) -> Self {
        let events = d.events.map_or_else(
            || "an undecodable message".to_owned(),
            |n| format!("{n} event(s)"),
        );
        let attempts = d
            .attempts
            .map_or_else(String::new, |n| format!(", {n} attempt(s)"));
        let request = d
            .request_id
            .as_deref()
            .map_or_else(String::new, |r| format!(", request {r}"));
        Self {
            at: d.failed_at_time(),
            reason: d
                .error
                .clone()
                .unwrap_or_else(|| "no reason recorded".into()),
            detail: format!("{events} ({} bytes){request}{attempts}", d.bytes),
            id: d.id,
            kind: DeadLetterKind::Event,
            contact_id: None,
        }
    }
}

/// The portal's dead letters of both kinds, newest first.
pub(crate) async fn dead_letters_of(
    pool: &PgPool,
    ops: &Operations,
    portal: PortalId,
) -> Result<Vec<DeadLetterItem>, ApiError> {
    let writebacks = writeback_dead_letters::list(pool, portal, WRITEBACK_LIMIT)
        .await
        .map_err(db)?;
    let events =
        event_dead_letters::list_for_portal(&ops.amqp_url, &ops.topology, portal, EVENT_SCAN_LIMIT)
            .await
            .map_err(broker)?;
    let mut items: Vec<DeadLetterItem> = writebacks
        .into_iter()
        .map(DeadLetterItem::from)
        .chain(events.into_iter().map(DeadLetterItem::from))
        .collect();
    items.sort_by_key(|item| std::cmp::Reverse(item.at));
    Ok(items)
}

/// Replays one of the portal's dead letters: a write-back goes back into the outbox, an event
/// message back to the events exchange (exactly that message; every other one stays).
pub(crate) async fn replay_dead_letter(
    pool: &PgPool,
    ops: &Operations,
    portal: PortalId,
    id: &str,
) -> Result<Replayed, ApiError> {
    if let Some(row) = id.strip_prefix(writeback_dead_letters::ID_PREFIX) {
        let row: i64 = row.parse().map_err(|_| malformed_id(id))?;
        return writeback_dead_letters::replay(pool, portal, row)
            .await
            .map_err(db)?
            .ok_or_else(|| no_such_dead_letter(id));
    }
    if id
        .strip_prefix(event_dead_letters::ID_PREFIX)
        .is_some_and(|digest| digest.len() == 16 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        let found = event_dead_letters::replay_one(
            &ops.amqp_url,
            &ops.topology,
            portal,
            id,
            EVENT_SCAN_LIMIT,
        )
        .await
        .map_err(broker)?;
        return if found {
            Ok(Replayed::Requeued)
        } else {
            Err(no_such_dead_letter(id))
        };
    }
    Err(malformed_id(id))
}

fn broker(e: event_dead_letters::DeadLetterError) -> ApiError {
    ApiError::unavailable(
        "the dead-letter queue cannot be read now; retry later",
        RETRY_AFTER_SECS,
        e.into(),
    )
}

fn malformed_id(id: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_dead_letter_id",
        format!(
            "{id:?} is not a dead-letter id: they look like writeback-123 or event-0123456789abcdef"
        ),
    )
}

fn no_such_dead_letter(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no dead letter {id} for this portal (it may have been replayed already)"),
    )
}
