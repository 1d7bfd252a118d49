//! Becoming and ceasing to be a tenant: completing an OAuth install, registering a portal that
//! uses a static token (a private app's or a Service Key), uninstalling (refresh token revoked +
//! HubSpot self-uninstall) and purging.

use std::sync::Arc;

use chrono::Utc;
use ember_hubspot::properties::ProvisionReport;
use ember_hubspot::wire::oauth::AccessTokenIntrospection;
use ember_hubspot::wire::properties::{PropertyCreate, PropertyGroupCreate};
use ember_hubspot::{HubSpot, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::crypto::{Purpose, TokenCipher};
use super::tokens::TokenManager;
use crate::domain::{InviteId, PortalId};
use crate::scoring::Model;
use crate::store::agencies;
use crate::store::invites::{self, ClaimError, InviteRefusal};
use crate::store::portals::{self, AppKind, PortalStatus};
use crate::store::tokens::{self as store, SealedTokens, TokenKind};

/// HubSpot's contacts object.
pub const CONTACTS: &str = "contacts";
/// Ember's property group on contacts.
pub const GROUP: &str = "ember";

/// Ember's property group.
pub fn score_group() -> PropertyGroupCreate {
    PropertyGroupCreate {
        name: GROUP.into(),
        label: "Ember lead scoring".into(),
        display_order: Some(-1),
    }
}

/// The properties the default model's output mapping writes (`scoring/data/default-model.yaml`).
pub fn score_properties() -> Vec<PropertyCreate> {
    let p = |name: &str, label: &str, type_: &str, field_type: &str, description: &str| {
        PropertyCreate {
            name: name.into(),
            label: label.into(),
            type_: type_.into(),
            field_type: field_type.into(),
            group_name: GROUP.into(),
            description: Some(description.into()),
            options: None,
            display_order: None,
            has_unique_value: None,
            hidden: None,
            form_field: Some(false),
            calculation_formula: None,
            data_sensitivity: None,
            external_options: None,
            referenced_object_type: None,
            number_display_hint: None,
            text_display_hint: None,
            show_currency_symbol: None,
            currency_property_name: None,
        }
    };
    vec![
        p(
            "ember_score",
            "Ember score",
            "number",
            "number",
            "Total lead score (fit + engagement, decayed).",
        ),
        p(
            "ember_fit",
            "Ember fit",
            "number",
            "number",
            "Fit part of the Ember score.",
        ),
        p(
            "ember_engagement",
            "Ember engagement",
            "number",
            "number",
            "Engagement part of the Ember score.",
        ),
        p(
            "ember_grade",
            "Ember grade",
            "string",
            "text",
            "Letter grade of the Ember score.",
        ),
        p(
            "ember_matrix",
            "Ember matrix cell",
            "string",
            "text",
            "Fit × engagement cell, e.g. A1.",
        ),
        p(
            "ember_reasons",
            "Ember reasons",
            "string",
            "textarea",
            "The rules that contributed most.",
        ),
    ]
}

/// Who the install link says the installer joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgencyChoice {
    /// No invitation: the portal's current agency, else the person's own, else a new one.
    Default,
    /// An invitation (`invites` row, checked at `/oauth/install`): claimed in the install's
    /// transaction, it adds the person to its agency with its role unless they already belong
    /// there (an existing role is never changed by an invite), and a new portal joins that agency.
    Invited(InviteId),
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub portal: PortalId,
    /// The installing person.
    pub person: i64,
    /// The agency owning the portal.
    pub agency: Option<i64>,
    /// Whether the installing person may see the portal (member of its agency).
    pub person_has_access: bool,
    /// Property provisioning, or why it failed.
    pub provision: Result<ProvisionReport, ember_hubspot::Error>,
    /// The model version installed now (`None`: the portal already had an active model).
    pub model_version: Option<i32>,
}

/// Why an install could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("HubSpot reported an invalid account id {0}")]
    BadHubId(u64),
    #[error("the token could not be sealed")]
    Crypto(#[from] super::CryptoError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("HubSpot call failed")]
    HubSpot(#[from] ember_hubspot::Error),
    #[error("the token belongs to portal {actual}, not {expected}")]
    WrongPortal { expected: i64, actual: i64 },
    #[error("the default scoring model could not be stored")]
    Model(#[source] serde_json::Error),
    /// The invitation could not be used; nothing was installed.
    #[error("the invitation cannot be used: {0}")]
    Invite(InviteRefusal),
    /// The tier is not one HubSpot gives that credential; nothing was stored.
    #[error("{0}")]
    BadTier(String),
}

impl From<ClaimError> for InstallError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Refused(r) => Self::Invite(r),
            ClaimError::Database(e) => Self::Database(e),
        }
    }
}

/// Completes an OAuth install: person, agency, portal (created or re-activated), sealed
/// tokens; then the score properties and the default model. With an invitation that cannot be
/// used by this person (revoked, expired, used up, bound to another e-mail, or created before
/// the person was demoted or removed), nothing is stored: [`InstallError::Invite`].
pub async fn complete_oauth_install(
    pool: &PgPool,
    hubspot: &HubSpot,
    cipher: &TokenCipher,
    tokens: &TokenSet,
    info: &AccessTokenIntrospection,
    choice: AgencyChoice,
) -> Result<Installed, InstallError> {
    let portal = i64::try_from(info.hub_id)
        .ok()
        .and_then(|id| PortalId::new(id).ok())
        .ok_or(InstallError::BadHubId(info.hub_id))?;
    let hub_user = i64::try_from(info.user_id).map_err(|_| InstallError::BadHubId(info.user_id))?;
    let refresh = tokens.refresh_token.as_ref().ok_or_else(|| {
        InstallError::HubSpot(ember_hubspot::Error::Invalid(
            "the token answer had no refresh token".into(),
        ))
    })?;
    let sealed = SealedTokens {
        kind: TokenKind::Oauth,
        access_token: cipher.seal(
            portal,
            Purpose::AccessToken,
            tokens.access_token.expose_secret(),
        )?,
        refresh_token: Some(cipher.seal(portal, Purpose::RefreshToken, refresh.expose_secret())?),
        expires_at: Some(
            Utc::now()
                + chrono::Duration::from_std(tokens.expires_in)
                    .unwrap_or(chrono::Duration::minutes(30)),
        ),
        scopes: info.scopes.clone(),
        hub_user_id: Some(hub_user),
        key_id: cipher.key_id(),
        refresh_count: 0,
    };

    let mut tx = pool.begin().await?;
    let person = agencies::upsert_person(&mut tx, hub_user, info.user.as_deref()).await?;
    let current = crate::store::portals::lock_agency(&mut tx, portal).await?;
    let current = current.flatten();
    let invited = match choice {
        AgencyChoice::Invited(invite) => {
            let claimed = invites::claim(&mut tx, invite, person, info.user.as_deref()).await?;
            // An existing member keeps their role: only the team page changes roles.
            agencies::add_member(&mut tx, claimed.agency, person, claimed.role).await?;
            Some(claimed.agency)
        }
        AgencyChoice::Default => None,
    };
    let agency = match (current, invited) {
        (Some(existing), _) => existing,
        (None, Some(agency)) => agency,
        (None, None) => match agencies::owned_by(&mut tx, person).await? {
            Some(own) => own,
            None => {
                let name = info
                    .hub_domain
                    .clone()
                    .unwrap_or_else(|| format!("Portal {}", portal.get()));
                agencies::create(&mut tx, &name, person).await?
            }
        },
    };
    portals::register(
        &mut tx,
        portal,
        Some(agency),
        AppKind::Public,
        None,
        info.hub_domain.as_deref(),
    )
    .await?;
    store::put(&mut tx, portal, &sealed).await?;
    let person_has_access = agencies::is_member(&mut tx, agency, person).await?;
    tx.commit().await?;
    tracing::info!(
        portal_id = portal.get(),
        agency_id = agency,
        "Portal installed."
    );

    let provision = hubspot
        .ensure_properties(
            portal.get(),
            &tokens.access_token,
            CONTACTS,
            &score_group(),
            &score_properties(),
        )
        .await;
    match &provision {
        Ok(report) if !report.conflicts.is_empty() => {
            tracing::warn!(portal_id = portal.get(), conflicts = ?report.conflicts, "Score properties exist with another type.");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(portal_id = portal.get(), error = %e, "Score properties could not be provisioned.")
        }
    }
    let model_version = install_default_model(pool, portal).await?;
    Ok(Installed {
        portal,
        person,
        agency: Some(agency),
        person_has_access,
        provision,
        model_version,
    })
}

/// Installs the default scoring model as version 1 if the portal has no active model.
pub async fn install_default_model(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Option<i32>, InstallError> {
    if crate::store::models::active(pool, portal).await?.is_some() {
        return Ok(None);
    }
    let next = {
        let mut conn = pool.acquire().await?;
        crate::store::models::next_version(&mut conn, portal).await?
    };
    crate::store::models::insert(pool, portal, next, &Model::default_model(), "install").await?;
    crate::store::models::activate(pool, portal, next).await?;
    Ok(Some(next))
}

/// A static token a portal can be registered with instead of the OAuth install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticCredential {
    /// A legacy private app's access token (`pat-...`); tiers 100, 150 or 190 per 10 s.
    PrivateApp,
    /// A Service Key (2026 platform, beta). HubSpot limits it as a privately distributed app:
    /// 100 per 10 s on Free/Starter, 190 on Professional/Enterprise (docs/tenancy.md
    /// "Service Keys"). It receives no webhooks.
    ServiceKey,
}

impl StaticCredential {
    /// The portals table's `app_kind` of a portal using this credential.
    pub fn app_kind(self) -> AppKind {
        match self {
            StaticCredential::PrivateApp => AppKind::Private,
            StaticCredential::ServiceKey => AppKind::ServiceKey,
        }
    }

    /// The bursts per 10 s HubSpot gives this credential.
    pub fn tiers(self) -> &'static [i32] {
        match self {
            StaticCredential::PrivateApp => &[100, 150, 190],
            StaticCredential::ServiceKey => &[100, 190],
        }
    }

    /// `Ok` when `tier` is one of [`Self::tiers`]; otherwise the message to show.
    pub fn check_tier(self, tier: i32) -> Result<(), String> {
        let tiers = self.tiers();
        if tiers.contains(&tier) {
            return Ok(());
        }
        let listed: Vec<String> = tiers.iter().map(i32::to_string).collect();
        Err(format!(
            "tier must be {} (a {}'s calls per 10 s), not {tier}",
            listed.join(" or "),
            self.label()
        ))
    }

    /// How people name it.
    pub fn label(self) -> &'static str {
        match self {
            StaticCredential::PrivateApp => "private app",
            StaticCredential::ServiceKey => "service key",
        }
    }
}

/// Registers a portal that uses a static token (a private app's or a Service Key) and its tier.
/// The tier is checked first and the token against HubSpot next: it must belong to `portal`.
/// Nothing is stored when either check fails.
#[allow(clippy::too_many_arguments)]
pub async fn add_static_token_portal(
    pool: &PgPool,
    hubspot: &HubSpot,
    cipher: &TokenCipher,
    portal: PortalId,
    credential: StaticCredential,
    token: &SecretString,
    tier: i32,
    agency: Option<i64>,
) -> Result<ProvisionReport, InstallError> {
    credential.check_tier(tier).map_err(InstallError::BadTier)?;
    let details = hubspot.account_details(portal.get(), token).await?.value;
    if details.portal_id != portal.get() as u64 {
        return Err(InstallError::WrongPortal {
            expected: portal.get(),
            actual: details.portal_id as i64,
        });
    }
    let sealed = SealedTokens {
        kind: TokenKind::Private,
        access_token: cipher.seal(portal, Purpose::AccessToken, token.expose_secret())?,
        refresh_token: None,
        expires_at: None,
        scopes: Vec::new(),
        hub_user_id: None,
        key_id: cipher.key_id(),
        refresh_count: 0,
    };
    let mut tx = pool.begin().await?;
    portals::register(
        &mut tx,
        portal,
        agency,
        credential.app_kind(),
        Some(tier),
        None,
    )
    .await?;
    store::put(&mut tx, portal, &sealed).await?;
    tx.commit().await?;
    let report = hubspot
        .ensure_properties(
            portal.get(),
            token,
            CONTACTS,
            &score_group(),
            &score_properties(),
        )
        .await?;
    install_default_model(pool, portal).await?;
    Ok(report)
}

/// What `uninstall` did at HubSpot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uninstalled {
    /// The refresh token was revoked at HubSpot (`/oauth/2026-03/token/revoke` answered 2xx).
    pub refresh_token_deleted: bool,
    /// HubSpot confirmed the self-uninstall.
    pub app_uninstalled: bool,
}

/// Uninstalls Ember from a portal: revokes the refresh token at HubSpot (docs/hubspot.md D.4),
/// calls HubSpot's self-uninstall with the access token (docs/hubspot.md A.6: revoking the
/// refresh token alone does not uninstall), then marks the portal `uninstalled` and deletes its tokens. HubSpot failures
/// are reported but the local uninstall still happens when HubSpot says the tokens are dead.
pub async fn uninstall(
    pool: &PgPool,
    tokens: &Arc<TokenManager>,
    portal: PortalId,
) -> Result<Uninstalled, InstallError> {
    let mut done = Uninstalled::default();
    let row = store::get(pool, portal).await?;
    if let Some(row) = row.filter(|r| r.kind == TokenKind::Oauth) {
        let access = tokens.access_token(portal).await.ok();
        if let Some(sealed) = row.refresh_token.as_deref() {
            let refresh = tokens
                .cipher()
                .open(portal, Purpose::RefreshToken, sealed)?;
            tokens.hubspot().revoke_refresh_token(&refresh).await?;
            done.refresh_token_deleted = true;
        }
        if let Some(access) = access {
            tokens
                .hubspot()
                .uninstall_app(portal.get(), &access)
                .await?;
            done.app_uninstalled = true;
        }
    }
    mark_uninstalled(pool, portal, "uninstalled by an operator").await?;
    Ok(done)
}

/// Marks the portal uninstalled and deletes its tokens (also for uninstalls seen elsewhere).
pub async fn mark_uninstalled(
    pool: &PgPool,
    portal: PortalId,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    if portals::set_status(&mut tx, portal, PortalStatus::Uninstalled, reason).await? {
        metrics::counter!("ember_portal_status_changes_total", "status" => "uninstalled")
            .increment(1);
    }
    store::delete(&mut tx, portal).await?;
    tx.commit().await?;
    tracing::info!(
        portal_id = portal.get(),
        reason,
        "Portal uninstalled; its tokens are deleted."
    );
    Ok(())
}
