//! The small HTML pages the install flow shows (inline, no external assets).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// Escapes text for HTML.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page with a title, a message and an optional link; `code` is shown for support.
pub(crate) fn page(
    status: StatusCode,
    title: &str,
    message: &str,
    code: &str,
    link: Option<(&str, &str)>,
) -> HttpResponse {
    let link = link
        .map(|(href, text)| format!(r#"<p><a href="{}">{}</a></p>"#, escape(href), escape(text)))
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title} · Ember</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}}code{{background:#f3f3f3;padding:0 .3em}}</style></head>
<body><h1>{title}</h1><p>{message}</p>{link}<p><small>Reference: <code>{code}</code></small></p></body></html>"#,
        title = escape(title),
        message = escape(message),
        code = escape(code),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

/// An install failure: logged with its reason, shown to the person.
pub(crate) fn failure(status: StatusCode, code: &'static str, message: &str) -> HttpResponse {
    metrics::counter!("ember_oauth_installs_total", "outcome" => code).increment(1);
    page(
        status,
        "The installation did not complete",
        message,
        code,
        Some(("/oauth/install", "Start again")),
    )
}

/// The page for an install link that cannot be used, with the reason in the person's terms.
/// Revoked, expired and used-up links are 410 (gone for good: ask for a new one); a link for
/// someone else, or one made before the person's membership changed, is 403.
pub(crate) fn invite_refused(refusal: ember_core::store::invites::InviteRefusal) -> HttpResponse {
    use ember_core::store::invites::InviteRefusal as R;
    let (status, message) = match refusal {
        R::Unknown => (
            StatusCode::BAD_REQUEST,
            "This install link is not valid. Ask your agency's owner for a new one.",
        ),
        R::Revoked => (
            StatusCode::GONE,
            "This install link was revoked by your agency's owner. Ask them for a new one.",
        ),
        R::Expired => (
            StatusCode::GONE,
            "This install link has expired. Ask your agency's owner for a new one.",
        ),
        R::UsedUp => (
            StatusCode::GONE,
            "This install link was already used. Ask your agency's owner for a new one.",
        ),
        R::WrongEmail => (
            StatusCode::FORBIDDEN,
            "This install link was made for another person's e-mail address, so nothing was installed. Sign in to HubSpot as that person, or ask your agency's owner for a link of your own.",
        ),
        R::Superseded => (
            StatusCode::FORBIDDEN,
            "Your membership in this agency changed after this install link was made, so it cannot be used. Ask your agency's owner for a new one.",
        ),
    };
    failure(status, refusal.code(), message)
}
