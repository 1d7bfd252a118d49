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
