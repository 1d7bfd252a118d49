//! Installing Ember into a simulator portal the way a person does: a browser opens
//! `GET {api}/oauth/install`, follows the redirect to HubSpot's (the simulator's) authorize
//! page, consents (the simulator consents for the portal it is told to), and comes back to
//! `/oauth/callback`, which exchanges the code, stores the tokens, provisions the score
//! properties and lands on the portal's console page. Then the demo checks the result where it
//! lives: the portal is active in Postgres and its properties exist in the simulator.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use ember_core::domain::PortalId;
use ember_core::scoring::Model;
use ember_core::store::portals::PortalStatus;
use reqwest::StatusCode;

use super::system::System;

/// Most redirects a browser follows before it gives up.
const MAX_REDIRECTS: usize = 10;

/// A portal with Ember installed.
#[derive(Debug, Clone)]
pub struct InstalledPortal {
    pub id: u64,
    pub model_version: i32,
    /// The HubSpot properties Ember owns in this portal (the model's output mapping).
    pub outputs: Outputs,
}

/// The model's output properties.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub total: String,
    pub reasons: Option<String>,
    pub grade: Option<String>,
    pub fit: Option<String>,
    pub engagement: Option<String>,
    pub all: Vec<String>,
}

impl Outputs {
    fn of(model: &Model) -> Self {
        let o = &model.output;
        let all = [
            Some(o.total.clone()),
            o.fit.clone(),
            o.engagement.clone(),
            o.grade.clone(),
            o.matrix.clone(),
            o.reasons.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        Self {
            total: o.total.clone(),
            reasons: o.reasons.clone(),
            grade: o.grade.clone(),
            fit: o.fit.clone(),
            engagement: o.engagement.clone(),
            all,
        }
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }
}

/// Installs Ember into `portal` through the OAuth flow and checks the outcome.
pub async fn install(system: &System, portal: u64) -> anyhow::Result<InstalledPortal> {
    let control = system.sim().control();
    control.set_authorize(false, Some(portal));
    let mut browser = Browser::new()?;
    let start = format!("{}/oauth/install", system.api_url());
    let landing = browser.follow(&start).await?;
    let expected = format!("{}/app/portals/{portal}", system.api_url());
    match &landing {
        Landing::Console(url) if *url == expected => {}
        Landing::Console(url) => bail!("the install landed on {url}, not on {expected}"),
        Landing::Page { url, status, text } => {
            bail!("the install stopped at {url} with {status}: {text}")
        }
    }

    let id = PortalId::new(i64::try_from(portal)?)?;
    let status = ember_core::store::portals::status(system.pool(), id)
        .await
        .context("cannot read the portal's status")?;
    if status != Some(PortalStatus::Active) {
        bail!("after the install, the portal's status is {status:?}, not active");
    }
    let (model_version, document) = ember_core::store::models::active(system.pool(), id)
        .await
        .context("cannot read the portal's model")?
        .context("the install activated no model")?;
    let model = Model::from_json_str(&document.to_string())
        .map_err(|e| anyhow::anyhow!("the portal's stored model does not parse: {e}"))?;
    let outputs = Outputs::of(&model);
    let existing = control.property_names(portal);
    let missing: Vec<&String> = outputs
        .all
        .iter()
        .filter(|name| !existing.contains(name))
        .collect();
    if !missing.is_empty() {
        bail!("the install did not provision these properties in the portal: {missing:?}");
    }
    Ok(InstalledPortal {
        id: portal,
        model_version,
        outputs,
    })
}

/// Where a browser walk ended.
enum Landing {
    /// Redirected into the console (`/app/...`).
    Console(String),
    /// A page that is not a redirect (an error page, say).
    Page {
        url: String,
        status: StatusCode,
        text: String,
    },
}

/// Just enough of a browser: follows redirects itself and keeps each origin's cookies, so the
/// state cookie set by `/oauth/install` comes back with `/oauth/callback`. (reqwest's own
/// cookie store is a crate feature the rest of the workspace does not build with.)
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            cookies: HashMap::new(),
        })
    }

    async fn follow(&mut self, start: &str) -> anyhow::Result<Landing> {
        let mut url = url::Url::parse(start)?;
        for _ in 0..=MAX_REDIRECTS {
            let origin = url.origin().ascii_serialization();
            let mut request = self.http.get(url.as_str());
            if let Some(jar) = self.cookies.get(&origin).filter(|jar| !jar.is_empty()) {
                let header: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request = request.header(reqwest::header::COOKIE, header.join("; "));
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("GET {} failed", without_query(&url)))?;
            let jar = self.cookies.entry(origin).or_default();
            for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
                let Ok(text) = value.to_str() else { continue };
                let pair = text.split(';').next().unwrap_or_default();
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let expired = text.to_ascii_lowercase().contains("max-age=0");
                if value.is_empty() || expired {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            match location {
                Some(next) if status.is_redirection() => {
                    url = url
                        .join(&next)
                        .with_context(|| format!("bad redirect from {}", without_query(&url)))?;
                    if url.path().starts_with("/app/") {
                        return Ok(Landing::Console(url.to_string()));
                    }
                }
                _ => {
                    let body = response.text().await.unwrap_or_default();
                    return Ok(Landing::Page {
                        url: without_query(&url),
                        status,
                        text: page_text(&body),
                    });
                }
            }
        }
        bail!("more than {MAX_REDIRECTS} redirects from {start}")
    }
}

/// A URL for messages: the OAuth code and state stay out of them.
fn without_query(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// The readable part of a small HTML page, for an error message.
fn page_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut short = words.join(" ");
    if short.chars().count() > 300 {
        short = short.chars().take(300).collect::<String>() + "…";
    }
    short
}

#[cfg(test)]
mod tests {
    use super::page_text;

    #[test]
    fn page_text_keeps_the_words_of_an_error_page() {
        let html = "<!doctype html><title>Authorization error</title><h1>Something went wrong</h1>\
                    <p>The redirect URL does not match.</p>";
        assert_eq!(
            page_text(html),
            "Authorization error Something went wrong The redirect URL does not match."
        );
    }
}
