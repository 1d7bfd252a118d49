//! A minimal browser for the OAuth install: it follows redirects across hosts itself and keeps
//! the cookies Ember sets (only for Ember's origin, as a browser would per site).

use std::collections::HashMap;

use anyhow::Context;

pub struct Browser {
    http: reqwest::Client,
    /// Ember's public origin (`http://localhost:<port>`): relative redirects resolve against it.
    ember: String,
    cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(ember_origin: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            ember: ember_origin.to_owned(),
            cookies: HashMap::new(),
        })
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.ember)
        } else {
            url.to_owned()
        }
    }

    /// Follows redirects from `start` until a page that is not a redirect, or until Ember sends
    /// the person to its console (`/app/...`). Returns every URL visited.
    pub async fn follow(&mut self, start: &str) -> anyhow::Result<Vec<String>> {
        let mut url = self.absolute(start);
        let mut visited = vec![url.clone()];
        for _ in 0..10 {
            let on_ember = url.starts_with(&self.ember);
            let mut request = self.http.get(&url);
            if on_ember && !self.cookies.is_empty() {
                let header: Vec<String> = self
                    .cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                request = request.header("cookie", header.join("; "));
            }
            let response = request.send().await.with_context(|| format!("GET {url}"))?;
            if on_ember {
                for value in response.headers().get_all("set-cookie") {
                    let text = value.to_str().context("set-cookie is not text")?;
                    let pair = text.split(';').next().unwrap_or_default();
                    let Some((name, val)) = pair.split_once('=') else {
                        continue;
                    };
                    if val.is_empty() || text.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), val.to_owned());
                    }
                }
            }
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            match location {
                Some(next) if status.is_redirection() => {
                    url = self.absolute(&next);
                    visited.push(url.clone());
                    if next.starts_with("/app/") {
                        return Ok(visited);
                    }
                }
                _ => {
                    let body = response.text().await.unwrap_or_default();
                    anyhow::bail!(
                        "the install stopped at {url} with {status}: {}",
                        body.chars().take(500).collect::<String>()
                    );
                }
            }
        }
        anyhow::bail!("too many redirects: {visited:?}")
    }
}
