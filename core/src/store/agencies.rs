//! Agencies, the people in them and their roles (`agencies`, `people`, `agency_members`).
//! Lookups that answer "may this person see this portal" take the person and the portal and
//! return nothing for anything outside the person's agencies.

use sqlx::{PgConnection, PgPool};

use crate::domain::PortalId;

/// A person's role in an agency. Ordered: viewer < editor < owner.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    sqlx::Type,
    serde::Serialize,
    serde::Deserialize,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and changes portals' settings.
    Editor,
    /// Everything, including members and install links.
    Owner,
}

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

/// Adds a member (an existing membership keeps the higher role).
pub async fn add_member(
    conn: &mut PgConnection,
    agency: i64,
    person: i64,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO agency_members (agency_id, person_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (agency_id, person_id) DO UPDATE SET role = CASE \
           WHEN agency_members.role = 'owner' OR EXCLUDED.role = 'owner' THEN 'owner' \
           WHEN agency_members.role = 'editor' OR EXCLUDED.role = 'editor' THEN 'editor' ELSE 'viewer' END",
    )
    .bind(agency)
    .bind(person)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

/// The person's role in the agency, if a member.
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
