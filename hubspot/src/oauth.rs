//! OAuth 2.0 for the public app on HubSpot's 2026-03 endpoints (docs/hubspot.md D): the authorize
//! URL, code exchange and refresh (the `oauth2` crate, driven by our reqwest 0.13 through
//! [`oauth_http`], docs/dependencies.md, "oauth2"), access-token introspection, refresh-token
//! revocation, and the app's self-uninstall (docs/hubspot.md A.6). Every parameter goes in the
//! form body; the paths come from [`crate::version`].

use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RedirectUrl,
    RefreshToken, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::HubSpot;
use crate::error::{Error, OAuthFailure, shorten};
use crate::version::{self, endpoint};
use crate::wire::oauth::{
    AccessTokenIntrospection, TOKEN_USE_ACCESS, TOKEN_USE_REFRESH, TokenActivity, TokenForm,
};

/// What to put in the authorize URL.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    /// Ember's callback, registered in the app's settings.
    pub redirect_uri: &'a str,
    /// Required scopes (`scope`, space-separated).
    pub scopes: &'a [String],
    /// Optional scopes (`optional_scope`; dropped silently when the account lacks the tool).
    pub optional_scopes: &'a [String],
    /// Echoed back to the callback.
    pub state: &'a str,
    /// Pin one account (`/oauth/{portal}/authorize`).
    pub portal: Option<i64>,
}

/// The tokens of a successful exchange or refresh.
pub struct TokenSet {
    /// The bearer token (30 minutes).
    pub access_token: SecretString,
    /// The refresh token (HubSpot returns the same one on refresh; OBS).
    pub refresh_token: Option<SecretString>,
    /// Lifetime from now.
    pub expires_in: Duration,
    /// The account, when HubSpot includes it.
    pub hub_id: Option<u64>,
    /// The installing user, when included.
    pub user_id: Option<u64>,
    /// Granted scopes, when included.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .field("hub_id", &self.hub_id)
            .field("user_id", &self.user_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// HubSpot's extra token-response fields (SPEC `AccessTokenResponse`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HubSpotTokenFields {
    #[serde(default)]
    hub_id: Option<u64>,
    #[serde(default)]
    user_id: Option<u64>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

impl oauth2::ExtraTokenFields for HubSpotTokenFields {}

/// The token endpoint's error body, parsed leniently: RFC 6749 fields and HubSpot's own, any of
/// which may be missing on older bodies (docs/hubspot.md D.6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HubSpotOAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_uri: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default, rename = "correlationId")]
    correlation_id: Option<String>,
}

impl std::fmt::Display for HubSpotOAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}",
            self.error
                .as_deref()
                .or(self.status.as_deref())
                .or(self.category.as_deref())
                .unwrap_or("oauth error")
        )
    }
}

impl oauth2::ErrorResponse for HubSpotOAuthError {}

impl From<HubSpotOAuthError> for OAuthFailure {
    fn from(e: HubSpotOAuthError) -> Self {
        OAuthFailure {
            error: e.error,
            status: e.status,
            message: shorten(
                &e.message
                    .or(e.error_description)
                    .unwrap_or_else(|| "no message".into()),
            ),
            correlation_id: e.correlation_id,
        }
    }
}

type HubSpotTokenResponse = StandardTokenResponse<HubSpotTokenFields, BasicTokenType>;
type OAuthClient = oauth2::Client<
    HubSpotOAuthError,
    HubSpotTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What the adapter reports when the token endpoint could not give an OAuth answer.
#[derive(Debug, thiserror::Error)]
enum AdapterError {
    #[error("{0}")]
    Transport(Error),
    /// 429 or 5xx from the token endpoint: not an OAuth refusal, retry later.
    #[error("token endpoint answered {status}")]
    Status {
        status: u16,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    },
}

/// The oauth2 5 HTTP client over reqwest 0.13 (docs/dependencies.md, "oauth2"). 429 and 5xx answers are turned into
/// errors here, so that they stay transient instead of being parsed as OAuth refusals.
async fn oauth_http(
    client: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, AdapterError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| AdapterError::Transport(Error::transport(e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| AdapterError::Transport(Error::transport(e)))?
        .to_vec();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(AdapterError::Status {
            status: status.as_u16(),
            headers,
            body: bytes,
        });
    }
    let mut builder = http::Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    builder
        .body(bytes)
        .map_err(|e| AdapterError::Transport(Error::Invalid(e.to_string())))
}

impl HubSpot {
    /// The authorize URL a person is sent to (docs/hubspot.md D.1).
    pub fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Url {
        let mut url = self.inner.config.auth_base_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        match request.portal {
            Some(portal) => url.set_path(&format!("{base}/oauth/{portal}/authorize")),
            None => url.set_path(&format!("{base}/oauth/authorize")),
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.inner.config.client_id);
            q.append_pair("redirect_uri", request.redirect_uri);
            q.append_pair("scope", &request.scopes.join(" "));
            if !request.optional_scopes.is_empty() {
                q.append_pair("optional_scope", &request.optional_scopes.join(" "));
            }
            q.append_pair("state", request.state);
        }
        // Space must be %20, not '+' (docs/hubspot.md D.1).
        let fixed = url.as_str().replace('+', "%20");
        Url::parse(&fixed).unwrap_or(url)
    }

    fn oauth_client(&self) -> Result<OAuthClient, Error> {
        let config = &self.inner.config;
        let secret = config
            .client_secret
            .as_ref()
            .ok_or_else(|| Error::Invalid("the app's client secret is not configured".into()))?;
        let token_url = TokenUrl::from_url(self.api_url(version::TOKEN));
        Ok(oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
            // The 2026-03 endpoint takes every parameter, the app's credentials included, in
            // the form body (docs/hubspot.md D.2).
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url))
    }

    /// Exchanges an authorization code (single use) for tokens.
    pub async fn exchange_code(
        &self,
        code: &SecretString,
        redirect_uri: &str,
    ) -> Result<TokenSet, Error> {
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| Error::Invalid(e.to_string()))?;
        let client = self.oauth_client()?.set_redirect_uri(redirect);
        let http = self.inner.http.clone();
        let call = move |req| oauth_http(http.clone(), req);
        let result = client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .request_async(&call)
            .await;
        token_result(result)
    }

    /// Gets a fresh access token with a refresh token.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, Error> {
        let client = self.oauth_client()?;
        let http = self.inner.http.clone();
        let call = move |req| oauth_http(http.clone(), req);
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let result = client
            .exchange_refresh_token(&token)
            .request_async(&call)
            .await;
        token_result(result)
    }

    /// The app's credentials and a token, as the form of introspect and revoke.
    fn token_form(&self, token: &SecretString, hint: &str) -> Result<TokenForm, Error> {
        let config = &self.inner.config;
        let secret = config
            .client_secret
            .as_ref()
            .ok_or_else(|| Error::Invalid("the app's client secret is not configured".into()))?;
        Ok(TokenForm {
            client_id: Some(config.client_id.clone()),
            client_secret: Some(secret.expose_secret().to_owned()),
            token: Some(token.expose_secret().to_owned()),
            token_type_hint: Some(hint.to_owned()),
        })
    }

    /// Posts a token form and returns the 2xx body; any other answer (429 and 5xx transient,
    /// the rest permanent) is an error of `endpoint`.
    async fn post_token_form(
        &self,
        endpoint: &'static str,
        path: &str,
        form: &TokenForm,
    ) -> Result<Vec<u8>, Error> {
        let response = self
            .request(Method::POST, self.api_url(path))
            .form(form)
            .send()
            .await
            .map_err(Error::transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::transport)?;
        if !(200..300).contains(&status) {
            return Err(Error::from_answer(endpoint, status, &headers, &body));
        }
        Ok(body.to_vec())
    }

    /// `POST /oauth/2026-03/token/introspect` for an access token: the hub, user and scopes it
    /// was granted for (docs/hubspot.md D.3). `Ok(None)` when HubSpot says the token is not
    /// active (unknown, expired or revoked). Not gated: it is no portal API call.
    pub async fn introspect_access_token(
        &self,
        token: &SecretString,
    ) -> Result<Option<AccessTokenIntrospection>, Error> {
        let form = self.token_form(token, TOKEN_USE_ACCESS)?;
        let body = crate::client::bytes_body::Body(
            self.post_token_form(endpoint::TOKEN_INTROSPECT, version::TOKEN_INTROSPECT, &form)
                .await?,
        );
        let state: TokenActivity = body.decode(endpoint::TOKEN_INTROSPECT)?;
        if !state.active {
            return Ok(None);
        }
        let info: AccessTokenIntrospection = body.decode(endpoint::TOKEN_INTROSPECT)?;
        if info.token_use != TOKEN_USE_ACCESS {
            return Err(Error::Decode {
                endpoint: endpoint::TOKEN_INTROSPECT,
                message: format!("token_use is {:?}, not an access token", info.token_use),
            });
        }
        Ok(Some(info))
    }

    /// `POST /oauth/2026-03/token/revoke`: revokes the refresh token; later refreshes with it
    /// are `invalid_grant`. Issued access tokens are not revoked and the app stays installed
    /// (docs/hubspot.md D.4). Any 2xx is success: the spec names no success status (K.15).
    pub async fn revoke_refresh_token(&self, refresh_token: &SecretString) -> Result<(), Error> {
        let form = self.token_form(refresh_token, TOKEN_USE_REFRESH)?;
        self.post_token_form(endpoint::TOKEN_REVOKE, version::TOKEN_REVOKE, &form)
            .await?;
        Ok(())
    }

    /// `DELETE /appinstalls/2026-09/external-install`: the app uninstalls itself from the portal
    /// whose token this is (docs/hubspot.md A.6). Gated.
    pub async fn uninstall_app(&self, portal: i64, token: &SecretString) -> Result<(), Error> {
        let request = self.request(Method::DELETE, self.api_url(version::EXTERNAL_INSTALL));
        self.send(endpoint::EXTERNAL_INSTALL, portal, token, request, &[])
            .await?;
        Ok(())
    }
}

fn token_result(
    result: Result<HubSpotTokenResponse, RequestTokenError<AdapterError, HubSpotOAuthError>>,
) -> Result<TokenSet, Error> {
    match result {
        Ok(t) => Ok(TokenSet {
            access_token: SecretString::from(t.access_token().secret().to_owned()),
            refresh_token: t
                .refresh_token()
                .map(|r| SecretString::from(r.secret().to_owned())),
            expires_in: t.expires_in().unwrap_or(Duration::from_secs(
                crate::wire::oauth::ACCESS_TOKEN_LIFETIME_SECS as u64,
            )),
            hub_id: t.extra_fields().hub_id,
            user_id: t.extra_fields().user_id,
            scopes: t
                .extra_fields()
                .scopes
                .clone()
                .or_else(|| {
                    t.scopes()
                        .map(|s| s.iter().map(|s| s.to_string()).collect())
                })
                .unwrap_or_default(),
        }),
        Err(RequestTokenError::ServerResponse(e)) => Err(Error::OAuth(Box::new(e.into()))),
        Err(RequestTokenError::Request(AdapterError::Transport(e))) => Err(e),
        Err(RequestTokenError::Request(AdapterError::Status {
            status,
            headers,
            body,
        })) => Err(Error::from_answer(endpoint::TOKEN, status, &headers, &body)),
        Err(RequestTokenError::Parse(e, body)) => {
            // A non-JSON or unexpected body: an error body HubSpot sent without the RFC fields
            // parses as HubSpotOAuthError above, so this is a malformed answer.
            let _ = body;
            Err(Error::Decode {
                endpoint: endpoint::TOKEN,
                message: e.to_string(),
            })
        }
        Err(RequestTokenError::Other(message)) => Err(Error::Decode {
            endpoint: endpoint::TOKEN,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::HubSpotConfig;

    #[test]
    fn authorize_url_carries_space_separated_scopes_and_state() {
        let hs = HubSpot::new(HubSpotConfig {
            api_base_url: Url::parse("http://127.0.0.1:1").unwrap(),
            auth_base_url: Url::parse("https://app.hubspot.com").unwrap(),
            client_id: "cid".into(),
            client_secret: None,
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let scopes = vec!["oauth".to_string(), "crm.objects.contacts.read".to_string()];
        let url = hs.authorize_url(&AuthorizeRequest {
            redirect_uri: "https://e.example/oauth/callback",
            scopes: &scopes,
            optional_scopes: &[],
            state: "s.t.a",
            portal: None,
        });
        let s = url.as_str();
        assert!(
            s.starts_with("https://app.hubspot.com/oauth/authorize?client_id=cid"),
            "{s}"
        );
        assert!(s.contains("scope=oauth%20crm.objects.contacts.read"), "{s}");
        assert!(s.contains("state=s.t.a"), "{s}");
        assert!(!s.contains("optional_scope"));
    }
}
