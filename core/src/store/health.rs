//! A portal's health as Postgres knows it, for the console and the admin API. The limiter's
//! half (calls today, a pause for the daily limit) is in Redis:
//! [`crate::limiter::Limiter::status`].
//!
//! What each figure means, exactly:
//! - **events last hour / day**: rows of `processed_events` (one per unique event the workers
//!   committed, plus one per privacy erasure) in the last 60 minutes and the last 24 hours.
//! - **write-back backlog**: rows in `score_outbox`, i.e. contacts whose new values wait to be
//!   written to HubSpot.
//! - **queue lag**: how long the oldest work still waiting for this portal has waited: the oldest
//!   pending outbox row (`created_at`: a row keeps it while newer values replace its values) or
//!   context fetch (`requested_at`); 0 when nothing waits. Messages still in RabbitMQ are not
//!   counted: the events queue is shared by every portal and cannot be read per portal without
//!   consuming it.
//! - HubSpot's **error ratio** is not here: the limiter gate counts every answer per account and
//!   day ([`crate::limiter::AnswerCounts`]).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::PortalId;

/// The Postgres figures of one portal's health.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PortalFigures {
    pub portal_id: i64,
    pub events_last_hour: i64,
    pub events_last_day: i64,
    pub writeback_backlog: i64,
    pub queue_lag_seconds: i64,
    /// The database's clock when the figures were taken.
    pub measured_at: DateTime<Utc>,
}

/// The figures of each portal, in the order given; one statement whatever their number, each
/// figure read through the portal's own index range.
pub async fn figures(
    pool: &PgPool,
    portals: &[PortalId],
) -> Result<Vec<PortalFigures>, sqlx::Error> {
    let ids: Vec<i64> = portals.iter().map(|p| p.get()).collect();
    sqlx::query_as(
        "SELECT p.portal_id, e.last_hour AS events_last_hour, e.last_day AS events_last_day, \
                o.backlog AS writeback_backlog, \
                GREATEST(0, COALESCE(floor(extract(epoch FROM now() - LEAST(o.oldest, c.oldest)))::bigint, 0)) \
                    AS queue_lag_seconds, \
                now() AS measured_at \
         FROM unnest($1::bigint[]) WITH ORDINALITY AS p(portal_id, position) \
         CROSS JOIN LATERAL ( \
             SELECT count(*) FILTER (WHERE processed_at > now() - interval '1 hour') AS last_hour, \
                    count(*) AS last_day \
             FROM processed_events \
             WHERE portal_id = p.portal_id AND processed_at > now() - interval '1 day') e \
         CROSS JOIN LATERAL ( \
             SELECT count(*) AS backlog, min(created_at) AS oldest \
             FROM score_outbox WHERE portal_id = p.portal_id) o \
         CROSS JOIN LATERAL ( \
             SELECT min(requested_at) AS oldest \
             FROM context_requests WHERE portal_id = p.portal_id) c \
         ORDER BY p.position",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
}
