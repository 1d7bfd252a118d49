//! Agencies, the people in them and their roles (`agencies`, `people`, `agency_members`).
//! Lookups that answer "may this person see this portal" take the person and the portal and
//! return nothing for anything outside the person's agencies.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{PortalId, Role};

/// An agency as a member sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Membership {
    pub agency_id: i64,
    pub name: String,
    pub role: Role,
}

/// Creates or updates the person with this HubSpot user id; returns their id.
pub async fn upsert_person(
    conn: &mut PgConnection,
    hub_user_id: i64,
    email: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO people (hub_user_id, email) VALUES ($1, $2) \
         ON CONFLICT (hub_user_id) DO UPDATE SET email = COALESCE(EXCLUDED.email, people.email), last_login_at = now() \
         RETURNING person_id",
    )
    .bind(hub_user_id)
    .bind(email)
    .fetch_one(conn)
    .await
}

/// The person with this HubSpot user id.
pub async fn person_by_hub_user(
    pool: &PgPool,
    hub_user_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT person_id FROM people WHERE hub_user_id = $1")
        .bind(hub_user_id)
        .fetch_optional(pool)
        .await
}

/// Creates an agency owned by `owner`; returns its id.
pub async fn create(conn: &mut PgConnection, name: &str, owner: i64) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar("INSERT INTO agencies (name) VALUES ($1) RETURNING agency_id")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    add_member(conn, id, owner, Role::Owner).await?;
    Ok(id)
}

/// Adds a member with `role`; `false` (and nothing changed) if the person already belongs to the
/// agency. Joining never changes an existing role: roles change only through [`set_role`], so an
/// old install link cannot undo a demotion or raise anyone (it used to keep the higher role,
/// and a leaked owner link made its user an owner).
pub async fn add_member(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO agency_members (agency_id, person_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (agency_id, person_id) DO NOTHING",
    )
    .bind(agency)
    .bind(person)
    .bind(role)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if added {
        record_change(conn, agency, person, None, Some(role)).await?;
    }
    Ok(added)
}

/// Records a membership change in `agency_member_changes` (`old` `None`: joined; `new` `None`:
/// removed). Invites check it: one created before a person's demotion or removal cannot be
/// used by that person.
async fn record_change(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
    old: Option<Role>,
    new: Option<Role>,
) -> Result<(), sqlx::Error> {
    let kind = match (old, new) {
        (None, _) => "joined",
        (Some(_), None) => "removed",
        (Some(o), Some(n)) if n > o => "promoted",
        (Some(o), Some(n)) if n < o => "demoted",
        // Same role: nothing changed.
        (Some(_), Some(_)) => return Ok(()),
    };
    sqlx::query(
        "INSERT INTO agency_member_changes (agency_id, person_id, kind, old_role, new_role) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(agency)
    .bind(person)
    .bind(kind)
    .bind(old)
    .bind(new)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the person is a member of the agency.
pub async fn is_member(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM agency_members WHERE agency_id = $1 AND person_id = $2)",
    )
    .bind(agency)
    .bind(person)
    .fetch_one(conn)
    .await
}

/// The person's role in the agency, if they are a member.
pub async fn role(pool: &PgPool, agency: i64, person: i64) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM agency_members WHERE agency_id = $1 AND person_id = $2")
        .bind(agency)
        .bind(person)
        .fetch_optional(pool)
        .await
}

/// Every agency the person belongs to.
pub async fn memberships(pool: &PgPool, person: i64) -> Result<Vec<Membership>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.agency_id, a.name, m.role FROM agency_members m JOIN agencies a USING (agency_id) \
         WHERE m.person_id = $1 ORDER BY a.agency_id",
    )
    .bind(person)
    .fetch_all(pool)
    .await
}

/// The first agency the person owns.
pub async fn owned_by(conn: &mut PgConnection, person: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT agency_id FROM agency_members WHERE person_id = $1 AND role = 'owner' ORDER BY agency_id LIMIT 1")
        .bind(person)
        .fetch_optional(conn)
        .await
}

/// The person's role for the agency that owns `portal`, if they belong to it. `None` means the
/// portal is not theirs to see (callers answer 404).
pub async fn role_for_portal(
    pool: &PgPool,
    portal: PortalId,
    person: i64,
) -> Result<Option<(i64, Role)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.agency_id, m.role FROM portals p JOIN agency_members m ON m.agency_id = p.agency_id \
         WHERE p.portal_id = $1 AND m.person_id = $2",
    )
    .bind(portal.get())
    .bind(person)
    .fetch_optional(pool)
    .await
}

/// A member of an agency, as the team page shows them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Member {
    pub person_id: i64,
    /// What to call the person. Ember keeps no names (HubSpot's token info carries only the
    /// user's email), so this is the email, or `HubSpot user <id>` when none is known.
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

const MEMBER: &str = "SELECT m.person_id, COALESCE(p.email, 'HubSpot user ' || p.hub_user_id) AS name, \
                      p.email, m.role, m.created_at AS joined_at \
                      FROM agency_members m JOIN people p USING (person_id)";

/// Every member of the agency: owners first, then editors and viewers, each by when they joined.
pub async fn members(pool: &PgPool, agency: i64) -> Result<Vec<Member>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{MEMBER} WHERE m.agency_id = $1 \
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, m.created_at, m.person_id"
    )))
    .bind(agency)
    .fetch_all(pool)
    .await
}

/// One member of the agency, if the person belongs to it.
pub async fn member(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{MEMBER} WHERE m.agency_id = $1 AND m.person_id = $2"
    )))
    .bind(agency)
    .bind(person)
    .fetch_optional(conn)
    .await
}

/// Why a team change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TeamChangeError {
    /// The person does not belong to the agency.
    #[error("person {person} is not a member of agency {agency}")]
    NotAMember { agency: i64, person: i64 },
    /// The change would leave the agency without an owner.
    #[error(
        "person {person} is the last owner of agency {agency}; make someone else an owner first"
    )]
    LastOwner { agency: i64, person: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Gives a member another role; returns the member as changed. Demoting the agency's last owner
/// is refused: see [`lock_team`] for why two concurrent demotions cannot both pass. The change
/// is recorded (invites created before a demotion no longer work for that person), and an owner
/// who stops being one loses their pending invites.
pub async fn set_role(
    pool: &PgPool,
    agency: i64,
    person: i64,
    role: Role,
) -> Result<Member, TeamChangeError> {
    let mut tx = pool.begin().await?;
    let current = lock_team(&mut tx, agency, person).await?;
    if current == Role::Owner && role != Role::Owner && owners(&mut tx, agency).await? <= 1 {
        return Err(TeamChangeError::LastOwner { agency, person });
    }
    sqlx::query("UPDATE agency_members SET role = $3 WHERE agency_id = $1 AND person_id = $2")
        .bind(agency)
        .bind(person)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    record_change(&mut tx, agency, person, Some(current), Some(role)).await?;
    if current == Role::Owner && role != Role::Owner {
        crate::store::invites::revoke_created_by(&mut tx, agency, person).await?;
    }
    let changed = member(&mut tx, agency, person)
        .await?
        .ok_or(TeamChangeError::NotAMember { agency, person })?;
    tx.commit().await?;
    Ok(changed)
}

/// Removes a member from the agency. Removing the agency's last owner is refused. Like
/// [`set_role`], the change is recorded and a removed owner's pending invites are revoked.
pub async fn remove_member(pool: &PgPool, agency: i64, person: i64) -> Result<(), TeamChangeError> {
    let mut tx = pool.begin().await?;
    let current = lock_team(&mut tx, agency, person).await?;
    if current == Role::Owner && owners(&mut tx, agency).await? <= 1 {
        return Err(TeamChangeError::LastOwner { agency, person });
    }
    sqlx::query("DELETE FROM agency_members WHERE agency_id = $1 AND person_id = $2")
        .bind(agency)
        .bind(person)
        .execute(&mut *tx)
        .await?;
    record_change(&mut tx, agency, person, Some(current), None).await?;
    if current == Role::Owner {
        crate::store::invites::revoke_created_by(&mut tx, agency, person).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Locks the agency's row for the rest of the transaction and returns the person's role in it.
///
/// Every change that can take a role away runs under this lock, so changes to one team are
/// serialized: without it, two owners demoting each other at once would each count two owners
/// and together leave none. Read Committed gives each later statement a fresh snapshot, so the
/// owner count taken after the lock sees every change committed before it.
async fn lock_team(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
) -> Result<Role, TeamChangeError> {
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT agency_id FROM agencies WHERE agency_id = $1 FOR UPDATE")
            .bind(agency)
            .fetch_optional(&mut *conn)
            .await?;
    if locked.is_none() {
        return Err(TeamChangeError::NotAMember { agency, person });
    }
    sqlx::query_scalar("SELECT role FROM agency_members WHERE agency_id = $1 AND person_id = $2")
        .bind(agency)
        .bind(person)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(TeamChangeError::NotAMember { agency, person })
}

async fn owners(conn: &mut PgConnection, agency: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM agency_members WHERE agency_id = $1 AND role = 'owner'",
    )
    .bind(agency)
    .fetch_one(conn)
    .await
}
