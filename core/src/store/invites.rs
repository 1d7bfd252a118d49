//! Agency invitations (`invites`): install links that let a new person join an agency with a
//! role. A link carries an opaque random token; only its SHA-256 is stored.
//!
//! Life of an invite: an owner creates it (role, optional e-mail, expiry, use limit); the link
//! is checked at `GET /oauth/install` ([`find_by_token`]) and a use is counted at the OAuth
//! callback ([`claim`]) in the same transaction that adds the membership. It stops working when
//! it is revoked, expires, or has been used `max_uses` times, and for one person when that
//! person was demoted in or removed from the agency after it was created. An owner who stops
//! being an owner takes their pending invites with them ([`revoke_created_by`]).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::Role;
use crate::domain::{InviteEmail, InviteId, InviteToken};

/// An invite as the team page and the admin API show it (never its token).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Invite {
    pub invite_id: i64,
    pub agency_id: i64,
    pub role: Role,
    /// Only the HubSpot user with this e-mail may use it.
    pub email: Option<String>,
    pub created_by: Option<i64>,
    /// What to call its creator (their e-mail, or `HubSpot user <id>`).
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: i32,
    pub uses: i32,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an owner asks for.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub role: Role,
    pub email: Option<InviteEmail>,
    pub created_by: i64,
    /// From now until the link stops working.
    pub valid_for: chrono::Duration,
    pub max_uses: i32,
}

/// Why an invite cannot be used (also the reason code of the page and the log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteRefusal {
    #[error("no such invite")]
    Unknown,
    #[error("the invite was revoked")]
    Revoked,
    #[error("the invite has expired")]
    Expired,
    #[error("the invite was used as often as it may be")]
    UsedUp,
    #[error("the invite is for another e-mail address")]
    WrongEmail,
    #[error("the person's membership changed after the invite was created")]
    Superseded,
}

impl InviteRefusal {
    /// Stable, machine-readable reason.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "invalid_invite",
            Self::Revoked => "invite_revoked",
            Self::Expired => "invite_expired",
            Self::UsedUp => "invite_used",
            Self::WrongEmail => "invite_wrong_email",
            Self::Superseded => "invite_superseded",
        }
    }
}

/// Why a [`claim`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(transparent)]
    Refused(#[from] InviteRefusal),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// What a claimed invite grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub agency: i64,
    pub role: Role,
}

const INVITE: &str = "SELECT i.invite_id, i.agency_id, i.role, i.email, i.created_by, \
                      COALESCE(p.email, 'HubSpot user ' || p.hub_user_id) AS created_by_name, \
                      i.created_at, i.expires_at, i.max_uses, i.uses, i.revoked_at \
                      FROM invites i LEFT JOIN people p ON p.person_id = i.created_by";

/// Stores a new invite for `token` (its hash only) and returns it.
pub async fn create(
    pool: &PgPool,
    agency: i64,
    invite: &NewInvite,
    token: &InviteToken,
) -> Result<Invite, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO invites (agency_id, token_sha256, role, email, created_by, expires_at, max_uses) \
         VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 second', $7) RETURNING invite_id",
    )
    .bind(agency)
    .bind(token.sha256())
    .bind(invite.role)
    .bind(invite.email.as_ref().map(|e| e.as_ref()))
    .bind(invite.created_by)
    .bind(invite.valid_for.num_seconds() as f64)
    .bind(invite.max_uses)
    .fetch_one(pool)
    .await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INVITE} WHERE i.agency_id = $1 AND i.invite_id = $2"
    )))
    .bind(agency)
    .bind(id)
    .fetch_one(pool)
    .await
}

/// The agency's invites that can still be used (not revoked, not expired, uses left), newest
/// first.
pub async fn pending(pool: &PgPool, agency: i64) -> Result<Vec<Invite>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INVITE} WHERE i.agency_id = $1 AND i.revoked_at IS NULL AND i.expires_at > now() \
         AND i.uses < i.max_uses ORDER BY i.created_at DESC, i.invite_id DESC"
    )))
    .bind(agency)
    .fetch_all(pool)
    .await
}

/// One invite of the agency, whatever its state.
pub async fn get(
    pool: &PgPool,
    agency: i64,
    invite: InviteId,
) -> Result<Option<Invite>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INVITE} WHERE i.agency_id = $1 AND i.invite_id = $2"
    )))
    .bind(agency)
    .bind(invite.get())
    .fetch_optional(pool)
    .await
}

/// Revokes an invite of the agency. Idempotent: revoking it again keeps the first revocation.
/// `false` when the agency has no such invite.
pub async fn revoke(
    pool: &PgPool,
    agency: i64,
    invite: InviteId,
    by: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "UPDATE invites SET revoked_at = COALESCE(revoked_at, now()), \
         revoked_by = CASE WHEN revoked_at IS NULL THEN $3 ELSE revoked_by END \
         WHERE agency_id = $1 AND invite_id = $2 RETURNING invite_id",
    )
    .bind(agency)
    .bind(invite.get())
    .bind(by)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Revokes the pending invites `person` created in the agency (they stopped being an owner:
/// their links should not keep adding people). Runs in the caller's team-change transaction.
pub(crate) async fn revoke_created_by(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE invites SET revoked_at = now() \
         WHERE agency_id = $1 AND created_by = $2 AND revoked_at IS NULL",
    )
    .bind(agency)
    .bind(person)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The invite a link's token names, if it can still be used by someone: the check of
/// `GET /oauth/install`, before the person is sent to HubSpot. Who installs is not known yet, so
/// the e-mail and membership checks wait for [`claim`].
pub async fn find_by_token(
    pool: &PgPool,
    token: &InviteToken,
) -> Result<Result<Invite, InviteRefusal>, sqlx::Error> {
    let invite: Option<Invite> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INVITE} WHERE i.token_sha256 = $1"
    )))
    .bind(token.sha256())
    .fetch_optional(pool)
    .await?;
    let now = Utc::now();
    Ok(match invite {
        None => Err(InviteRefusal::Unknown),
        Some(i) if i.revoked_at.is_some() => Err(InviteRefusal::Revoked),
        Some(i) if i.expires_at <= now => Err(InviteRefusal::Expired),
        Some(i) if i.uses >= i.max_uses => Err(InviteRefusal::UsedUp),
        Some(i) => Ok(i),
    })
}

/// The check both [`claim`]'s update and its explanation use: `person` was demoted in or removed
/// from the invite's agency at or after the moment the invite was created.
const SUPERSEDED: &str = "EXISTS (SELECT 1 FROM agency_member_changes c \
                          WHERE c.agency_id = i.agency_id AND c.person_id = $2 \
                          AND c.kind IN ('demoted', 'removed') AND c.changed_at >= i.created_at)";

/// Counts one use of the invite by `person`, whose HubSpot e-mail is `email`, or says why it
/// cannot be used. Call it in the transaction that adds the membership: the conditional update
/// holds the invite's row until commit, so of two concurrent installs with a single-use link
/// exactly one claims it (the other re-checks `uses < max_uses` after the first commits, and
/// fails); if the install fails later, the use is rolled back with it.
pub async fn claim(
    conn: &mut PgConnection,
    invite: InviteId,
    person: i64,
    email: Option<&str>,
) -> Result<Claimed, ClaimError> {
    let email = email.map(|e| e.trim().to_lowercase());
    // Share-lock the agency's row first. Team changes hold it FOR UPDATE (agencies::lock_team)
    // while they record a demotion or removal and revoke a former owner's invites, so this
    // waits for one in progress and then sees it; and both take the agency row before the
    // invite row, so a claim and a team change never wait on each other in a cycle.
    let agency: Option<i64> = sqlx::query_scalar(
        "SELECT a.agency_id FROM invites i JOIN agencies a USING (agency_id) \
         WHERE i.invite_id = $1 FOR KEY SHARE OF a",
    )
    .bind(invite.get())
    .fetch_optional(&mut *conn)
    .await?;
    if agency.is_none() {
        return Err(InviteRefusal::Unknown.into());
    }
    let claimed: Option<(i64, Role)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE invites i SET uses = i.uses + 1 \
         WHERE i.invite_id = $1 AND i.revoked_at IS NULL AND i.expires_at > now() \
         AND i.uses < i.max_uses AND (i.email IS NULL OR i.email = $3) AND NOT {SUPERSEDED} \
         RETURNING i.agency_id, i.role"
    )))
    .bind(invite.get())
    .bind(person)
    .bind(email.as_deref())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((agency, role)) = claimed {
        return Ok(Claimed { agency, role });
    }
    // Not claimed: find out why, for the person's page and the log.
    type Why = (Option<DateTime<Utc>>, bool, bool, Option<String>, bool);
    let why: Option<Why> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT i.revoked_at, i.expires_at <= now(), i.uses >= i.max_uses, i.email, {SUPERSEDED} \
         FROM invites i WHERE i.invite_id = $1"
    )))
    .bind(invite.get())
    .bind(person)
    .fetch_optional(&mut *conn)
    .await?;
    let refusal = match why {
        None => InviteRefusal::Unknown,
        Some((Some(_), ..)) => InviteRefusal::Revoked,
        Some((_, true, ..)) => InviteRefusal::Expired,
        Some((_, _, true, ..)) => InviteRefusal::UsedUp,
        Some((_, _, _, Some(bound), _)) if Some(&bound) != email.as_ref() => {
            InviteRefusal::WrongEmail
        }
        Some(_) => InviteRefusal::Superseded,
    };
    Err(refusal.into())
}
