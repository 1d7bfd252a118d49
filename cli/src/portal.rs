//! `ember portal ...`: register a portal that uses a private app's token or a Service Key, uninstall a portal (refresh token deleted
//! and HubSpot's self-uninstall called), purge a portal's data, list portals, rotate a portal's
//! workflow webhook secret, resync a portal's contacts from HubSpot (docs/resync.md).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ember_core::config::Settings;
use ember_core::domain::PortalId;
use ember_core::store::portals::{self, PortalStatus};
use ember_core::store::resyncs::{self, Resync};
use ember_core::tenancy::install::StaticCredential;
use ember_core::tenancy::{self, TokenCipher};
use ember_worker::resync::{ResyncOptions, Resyncer};
use secrecy::SecretString;

/// A command refused before it changed anything (unknown portal, wrong state): `ember` exits
/// with code 2 and this message.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `ember portal`.
#[derive(Debug, Args)]
pub struct PortalArgs {
    #[command(subcommand)]
    command: PortalCommand,
}

#[derive(Debug, Subcommand)]
enum PortalCommand {
    /// Register a portal that uses a static token: a private app's, or a Service Key (which
    /// replaces private apps on HubSpot's 2026 platform and receives no webhooks: see
    /// docs/tenancy.md, "Service Keys").
    #[command(group(clap::ArgGroup::new("credential").required(true).args(["private_token_file", "service_key_file"])))]
    Add {
        /// File holding the private app's access token (`pat-...`); never pass it as an argument.
        #[arg(long, value_name = "FILE")]
        private_token_file: Option<PathBuf>,
        /// File holding the Service Key (Development > Keys > Service keys in HubSpot); never
        /// pass the key itself as an argument.
        #[arg(long, value_name = "FILE", visible_alias = "service-key")]
        service_key_file: Option<PathBuf>,
        /// The HubSpot account id.
        #[arg(long)]
        portal_id: i64,
        /// The burst limit per 10 s: 100, 150 or 190 for a private app; 100 (Free/Starter) or
        /// 190 (Professional/Enterprise) for a Service Key.
        #[arg(long)]
        tier: i32,
        /// The agency that owns the portal.
        #[arg(long)]
        agency: Option<i64>,
    },
    /// Uninstall Ember from a portal: delete its refresh token, uninstall the app in HubSpot,
    /// mark it uninstalled and delete its tokens.
    Uninstall {
        /// The HubSpot account id.
        portal_id: i64,
    },
    /// Delete every row of a portal (scores, snapshots, models, tokens, the portal itself).
    Purge {
        /// The HubSpot account id.
        portal_id: i64,
        /// Purge even if the portal is still installed.
        #[arg(long)]
        force: bool,
    },
    /// Generate a new workflow webhook secret for a portal (replacing any earlier one) and print
    /// it once, with the URL for the workflow's "Send a webhook" action. Ember keeps only its
    /// SHA-256. Running api processes use it within intake.webhook_secret.cache_secs.
    WebhookSecret {
        /// The HubSpot account id.
        portal_id: i64,
    },
    /// After rotating EMBER_ENCRYPTION_KEY (old key in EMBER_PREVIOUS_ENCRYPTION_KEYS):
    /// re-seal every stored token with the new key.
    ResealTokens,
    /// Page through every contact of the portal in HubSpot (the properties its model reads),
    /// update the snapshots, rescore, and queue the changed scores for write-back; in the
    /// foreground, with a progress line per page. Resumes an unfinished resync of the portal
    /// from its last committed page. See docs/resync.md.
    Resync {
        /// The HubSpot account id.
        portal_id: i64,
        /// Abandon an unfinished resync and start again from the first page.
        #[arg(long)]
        restart: bool,
    },
    /// List portals with their status and their last resync.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `portal` subcommand.
pub async fn run(settings: &Settings, args: PortalArgs) -> anyhow::Result<()> {
    let pool = settings
        .database
        .lazy_pool()
        .context("invalid database settings")?;
    match args.command {
        PortalCommand::Add {
            private_token_file,
            service_key_file,
            portal_id,
            tier,
            agency,
        } => {
            let (credential, token_file) = match (private_token_file, service_key_file) {
                (Some(file), None) => (StaticCredential::PrivateApp, file),
                (None, Some(file)) => (StaticCredential::ServiceKey, file),
                // clap's `credential` group makes exactly one of the two present.
                _ => bail!("pass exactly one of --private-token-file and --service-key-file"),
            };
            if let Err(message) = credential.check_tier(tier) {
                bail!("--tier: {message}");
            }
            let portal = PortalId::new(portal_id).context("--portal-id")?;
            let token = std::fs::read_to_string(&token_file)
                .with_context(|| format!("cannot read the token file {}", token_file.display()))?;
            let token = token.trim();
            if token.is_empty() {
                bail!("the token file {} is empty", token_file.display());
            }
            let cipher = TokenCipher::from_settings(settings)?;
            let limiter =
                std::sync::Arc::new(ember_core::limiter::Limiter::from_settings(settings)?);
            let hubspot = tenancy::gated(&tenancy::hubspot_client(settings)?, limiter);
            let report = tenancy::install::add_static_token_portal(
                &pool,
                &hubspot,
                &cipher,
                portal,
                credential,
                &SecretString::from(token.to_owned()),
                tier,
                agency,
            )
            .await
            .with_context(|| format!("cannot register portal {portal_id}"))?;
            println!(
                "portal {portal_id} registered ({}, {tier} calls per 10 s)",
                credential.label()
            );
            println!(
                "score properties: {} created, {} existing",
                report.created.len(),
                report.existing.len()
            );
            for c in &report.conflicts {
                println!(
                    "conflict: property {} is {} in HubSpot; Ember needs {}",
                    c.name, c.found, c.wanted
                );
            }
        }
        PortalCommand::Uninstall { portal_id } => {
            let portal = PortalId::new(portal_id).context("portal id")?;
            let hubspot = tenancy::hubspot_client(settings)?;
            let tokens = Arc::new(tenancy::token_manager(settings, pool.clone(), hubspot)?);
            let done = tenancy::install::uninstall(&pool, &tokens, portal)
                .await
                .with_context(|| format!("cannot uninstall portal {portal_id}"))?;
            println!(
                "portal {portal_id} uninstalled (refresh token deleted: {}, app uninstalled in HubSpot: {})",
                done.refresh_token_deleted, done.app_uninstalled
            );
        }
        PortalCommand::WebhookSecret { portal_id } => {
            let portal = PortalId::new(portal_id).context("portal id")?;
            let Some(secret) = portals::rotate_webhook_secret(&pool, portal)
                .await
                .with_context(|| format!("cannot set the webhook secret of portal {portal_id}"))?
            else {
                bail!("portal {portal_id} is not known");
            };
            // The secret goes to stdout alone (for scripts: `ember portal webhook-secret N | ...`);
            // how to use it goes to stderr.
            eprintln!(
                "New workflow webhook secret of portal {portal_id} (shown once; Ember stores only its hash).\n\
                 Workflow action URL: {}/webhooks/workflow/{portal_id}?workflowId=<workflow id>\n\
                 Send it in the X-Ember-Webhook-Secret header, or as the ember_secret query parameter.\n\
                 Running api processes accept it within intake.webhook_secret.cache_secs seconds.",
                settings.public_base_url
            );
            println!("{}", secret.expose());
        }
        PortalCommand::Purge { portal_id, force } => {
            let portal = PortalId::new(portal_id).context("portal id")?;
            match portals::status(&pool, portal).await? {
                None => bail!("portal {portal_id} is not known"),
                Some(PortalStatus::Active | PortalStatus::NeedsReauth) if !force => {
                    bail!(
                        "portal {portal_id} is still installed: run `ember portal uninstall {portal_id}` first, or pass --force"
                    )
                }
                Some(_) => {}
            }
            let deleted = portals::purge(&pool, portal)
                .await
                .with_context(|| format!("cannot purge portal {portal_id}"))?;
            for (table, rows) in deleted.iter().filter(|(_, n)| *n > 0) {
                println!("{table}: {rows} rows deleted");
            }
            println!("portal {portal_id} purged");
        }
        PortalCommand::ResealTokens => {
            let cipher = TokenCipher::from_settings(settings)?;
            let stale = tenancy::tokens::stale_portals(&pool, &cipher)
                .await
                .context("cannot list sealed tokens")?;
            let mut resealed = 0;
            for portal in &stale {
                if tenancy::tokens::reseal(&pool, &cipher, *portal)
                    .await
                    .with_context(|| format!("cannot re-seal the tokens of portal {portal}"))?
                {
                    resealed += 1;
                }
            }
            println!("{resealed} portals re-sealed with key {}", cipher.key_id());
        }
        PortalCommand::Resync { portal_id, restart } => {
            resync(settings, pool, portal_id, restart).await?;
        }
        PortalCommand::List { json } => {
            let all = portals::list_all(&pool)
                .await
                .context("cannot list portals")?;
            let last_resyncs = resyncs::latest_by_portal(&pool)
                .await
                .context("cannot list resyncs")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<12} {:<13} {:<8} {:<5} {:<8} {:<16} reason",
                    "portal", "status", "app", "tier", "agency", "resync"
                );
                for p in all {
                    let status = serde_json::to_value(p.status)?
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let app = serde_json::to_value(p.app_kind)?
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let resync = resync_state(last_resyncs.get(&p.portal_id));
                    println!(
                        "{:<12} {:<13} {:<8} {:<5} {:<8} {:<16} {}",
                        p.portal_id,
                        status,
                        app,
                        p.private_tier
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "-".into()),
                        p.agency_id
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        resync,
                        p.status_reason.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

/// The last resync as `ember portal list` shows it: `done 5000` (contacts read), `running 1200`,
/// `failed 300` (unfinished, stopped by an error; it resumes), `abandoned 100`, or `-`.
fn resync_state(last: Option<&Resync>) -> String {
    let Some(r) = last else {
        return "-".into();
    };
    let state = match (r.finished_at, &r.error) {
        (Some(_), None) => "done",
        (Some(_), Some(_)) => "abandoned",
        (None, None) => "running",
        (None, Some(_)) => "failed",
    };
    format!("{state} {}", r.contacts_read)
}

/// `ember portal resync ID [--restart]`.
async fn resync(
    settings: &Settings,
    pool: sqlx::PgPool,
    portal_id: i64,
    restart: bool,
) -> anyhow::Result<()> {
    let portal =
        PortalId::new(portal_id).map_err(|e| Refused(format!("portal id {portal_id}: {e}")))?;
    let resyncer = Resyncer::from_settings(settings, pool)?;
    let options = ResyncOptions {
        restart,
        max_pages: None,
        share: settings.resync.share,
    };
    let result = resyncer
        .run(portal, &options, |r| {
            println!(
                "page {}: {} read, {} scored, {} outbox rows written",
                r.pages, r.contacts_read, r.contacts_scored, r.outbox_writes
            );
        })
        .await;
    // Let the limiter record what HubSpot's answers said before the process ends.
    resyncer.settled().await;
    let report = match result {
        Ok(report) => report,
        Err(e) if e.is_refusal() => return Err(Refused(e.to_string()).into()),
        Err(e) => return Err(anyhow::Error::new(e)),
    };
    let r = &report.resync;
    println!(
        "resync {} of portal {portal_id} {}{}: {} pages, {} contacts read, {} scored, {} outbox rows written ({} list calls in this run)",
        r.resync_id,
        if r.finished_at.is_some() {
            "done"
        } else {
            "stopped"
        },
        if report.resumed { " (resumed)" } else { "" },
        r.pages,
        r.contacts_read,
        r.contacts_scored,
        r.outbox_writes,
        report.list_calls
    );
    Ok(())
}
