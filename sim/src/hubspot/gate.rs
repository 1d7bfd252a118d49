//! The door every authenticated HubSpot call walks through: token → portal, scopes, injected
//! faults, then rate limits. It returns a `Caller` whose answers carry the
//! `X-HubSpot-RateLimit-*` headers HubSpot sends (none on search, none before auth).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder};
use ember_hubspot::wire::rate_limit as rl;
use serde::Serialize;

use super::errors;
use crate::config::{AppType, BURST_WINDOW_MS};
use crate::ratelimit::{RateHeaders, Verdict};
use crate::state::{PortalId, Shared};

/// Which limit a route is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The burst and daily limits, with headers.
    Standard,
    /// Search: 5/s, no headers (docs/hubspot.md E.5).
    Search,
}

/// Tag on a response: the portal the call belonged to (for the call log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortalTag(pub(crate) PortalId);
/// Tag on a response: the 429's policy (for the call log).
#[derive(Debug, Clone)]
pub(crate) struct PolicyTag(pub(crate) String);
/// Tag on a response: the connection was reset instead of answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResetTag;

/// An admitted call.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) portal: PortalId,
    headers: Option<RateHeaders>,
}

impl Caller {
    /// A response builder that already carries the rate-limit headers.
    pub(crate) fn respond(&self, status: StatusCode) -> HttpResponseBuilder {
        let mut b = HttpResponse::build(status);
        if let Some(h) = self.headers {
            add_headers(&mut b, h);
        }
        b
    }

    pub(crate) fn json<T: Serialize>(&self, status: StatusCode, body: &T) -> HttpResponse {
        self.respond(status).json(body)
    }

    /// Adds the headers to a response built elsewhere (errors).
    pub(crate) fn finish(&self, mut resp: HttpResponse) -> HttpResponse {
        if let Some(h) = self.headers {
            let headers = resp.headers_mut();
            for (k, v) in header_pairs(h) {
                if let (Ok(k), Ok(v)) = (
                    actix_web::http::header::HeaderName::from_bytes(k.as_bytes()),
                    actix_web::http::header::HeaderValue::from_str(&v),
                ) {
                    headers.insert(k, v);
                }
            }
        }
        resp
    }
}

fn header_pairs(h: RateHeaders) -> Vec<(&'static str, String)> {
    let mut v = vec![
        (rl::HEADER_INTERVAL_MS, BURST_WINDOW_MS.to_string()),
        (rl::HEADER_MAX, h.max.to_string()),
        (rl::HEADER_REMAINING, h.remaining.to_string()),
        (rl::HEADER_SECONDLY, h.secondly.to_string()),
        (
            rl::HEADER_SECONDLY_REMAINING,
            h.secondly_remaining.to_string(),
        ),
    ];
    if let Some((limit, remaining)) = h.daily {
        v.push((rl::HEADER_DAILY, limit.to_string()));
        v.push((rl::HEADER_DAILY_REMAINING, remaining.to_string()));
    }
    v
}

fn add_headers(b: &mut HttpResponseBuilder, h: RateHeaders) {
    for (k, v) in header_pairs(h) {
        b.insert_header((k, v));
    }
}

/// The bearer token of a request.
pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A response that resets the connection: its body fails before a byte is sent.
pub(crate) fn reset_response() -> HttpResponse {
    let stream = futures_util::stream::once(async {
        Err::<actix_web::web::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated reset",
        ))
    });
    let mut resp = HttpResponse::Ok().streaming(stream);
    resp.extensions_mut().insert(ResetTag);
    resp
}

enum Decision {
    Reset,
    Error { status: u16, html: bool },
    Burst,
    Pass,
}

/// Admits one call and parses its JSON body strictly; a body that does not fit is answered
/// (and logged) as the admitted call's 400.
pub(crate) async fn admit_json<T: serde::de::DeserializeOwned>(
    shared: &Shared,
    req: &HttpRequest,
    body: &[u8],
    any_scope: &[&str],
    limit: Limit,
) -> Result<(Caller, T), HttpResponse> {
    let caller = admit(shared, req, any_scope, limit).await?;
    match super::query::json_body(body) {
        Ok(input) => Ok((caller, input)),
        Err(refusal) => Err(caller.finish(refusal)),
    }
}

/// Admits one call or answers it with HubSpot's refusal.
pub(crate) async fn admit(
    shared: &Shared,
    req: &HttpRequest,
    any_scope: &[&str],
    limit: Limit,
) -> Result<Caller, HttpResponse> {
    let now = shared.clock.now_ms();
    let (caller, decision, latency) = {
        let mut w = shared.world();
        let Some(token) = bearer(req) else {
            return Err(errors::unauthenticated());
        };
        let (portal, scopes_ok) = if let Some(t) = w.access_tokens.get(token) {
            if t.expires_ms <= now {
                let ago = now - t.expires_ms;
                let portal = t.portal;
                req.extensions_mut().insert(PortalTag(portal));
                return Err(errors::expired(ago));
            }
            let ok =
                any_scope.is_empty() || t.scopes.iter().any(|s| any_scope.contains(&s.as_str()));
            (t.portal, ok)
        } else if let Some(p) = w.private_tokens.get(token) {
            (*p, true)
        } else {
            return Err(errors::unauthenticated());
        };
        req.extensions_mut().insert(PortalTag(portal));
        let Some(p) = w.portals.get(&portal) else {
            return Err(errors::unauthenticated());
        };
        if matches!(p.app_type, AppType::Public) && !p.installed {
            return Err(errors::unauthenticated());
        }
        if !scopes_ok {
            return Err(errors::missing_scopes(any_scope));
        }
        let mut faults = w.faults_for(Some(portal)).clone();
        let decision = if faults.reset_next > 0 {
            faults.reset_next -= 1;
            Decision::Reset
        } else if faults.error_next > 0 {
            faults.error_next -= 1;
            Decision::Error {
                status: faults.error_status,
                html: faults.error_html,
            }
        } else if faults.burst_429 > 0 {
            faults.burst_429 -= 1;
            Decision::Burst
        } else if faults.reset_rate > 0.0 && w.rng.chance(faults.reset_rate) {
            Decision::Reset
        } else if faults.error_rate > 0.0 && w.rng.chance(faults.error_rate) {
            Decision::Error {
                status: faults.error_status,
                html: faults.error_html,
            }
        } else {
            Decision::Pass
        };
        let latency = faults.latency_ms;
        *w.faults_for_mut(Some(portal)) = faults;
        let Some(p) = w.portals.get_mut(&portal) else {
            return Err(errors::unauthenticated());
        };
        let caller = match (limit, &decision) {
            (_, Decision::Reset | Decision::Error { .. }) => Caller {
                portal,
                headers: None,
            },
            (Limit::Search, _) => {
                if matches!(decision, Decision::Pass) && !p.limiter.check_search(now) {
                    return Err(limited(None, "SECONDLY"));
                }
                Caller {
                    portal,
                    headers: None,
                }
            }
            (Limit::Standard, Decision::Burst) => {
                let h =
                    match p
                        .limiter
                        .check(p.app_type, p.public_daily_limit, now, p.utc_offset_ms)
                    {
                        Verdict::Allowed(h) | Verdict::Limited { headers: h, .. } => h,
                    };
                return Err(limited(
                    Some(RateHeaders { remaining: 0, ..h }),
                    rl::POLICY_TEN_SECONDLY_ROLLING,
                ));
            }
            (Limit::Standard, _) => {
                match p
                    .limiter
                    .check(p.app_type, p.public_daily_limit, now, p.utc_offset_ms)
                {
                    Verdict::Allowed(h) => Caller {
                        portal,
                        headers: Some(h),
                    },
                    Verdict::Limited { policy, headers } => {
                        return Err(limited(Some(headers), policy));
                    }
                }
            }
        };
        (caller, decision, latency)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match decision {
        Decision::Reset => Err(reset_response()),
        Decision::Error { status, html } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            if html {
                return Err(errors::edge_page(status));
            }
            Err(errors::respond(
                status,
                &errors::body("INTERNAL_ERROR", "internal error"),
            ))
        }
        Decision::Burst if limit == Limit::Search => Err(limited(None, "SECONDLY")),
        _ => Ok(caller),
    }
}

fn limited(headers: Option<RateHeaders>, policy: &str) -> HttpResponse {
    let mut b = HttpResponse::TooManyRequests();
    if let Some(h) = headers {
        add_headers(&mut b, h);
    }
    let mut resp = b.json(errors::rate_limited(policy));
    resp.extensions_mut().insert(PolicyTag(policy.to_string()));
    resp
}
