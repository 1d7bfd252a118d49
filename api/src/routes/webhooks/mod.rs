//! Webhook intake: app webhook subscriptions and workflow "Send a webhook" actions.
//!
//! Both follow one rule: answer 2xx only once every event of the request is confirmed by the
//! broker. Anything else is a clear 4xx (nothing queued) or a 503 with `Retry-After` (HubSpot
//! retries; the workers' dedupe makes a retry after a partial publish harmless). App events of
//! types Ember does not use are dropped with a reason inside a 2xx (`dropped`).

mod body;
mod dropped;
pub mod hubspot;
mod publish;
pub mod workflow;

/// Records a rejected request by source and reason (`ember_intake_rejected_total`).
fn count_rejection(source: &'static str, reason: &'static str) {
    metrics::counter!("ember_intake_rejected_total", "source" => source, "reason" => reason)
        .increment(1);
}

/// A stable reason label for a signature failure.
fn signature_reason(error: &ember_core::signature::SignatureError) -> &'static str {
    use ember_core::signature::SignatureError as E;
    match error {
        E::MissingHeader(_) => "signature_missing",
        E::MalformedHeader(..) => "signature_malformed",
        E::Stale { .. } => "timestamp_stale",
        E::FromTheFuture { .. } => "timestamp_future",
        E::Mismatch => "signature_mismatch",
        E::UnsupportedVersion(_) => "signature_version",
    }
}

/// The URI exactly as HubSpot called it, built from the configured public base URL, since
/// behind a proxy the host and scheme the process sees are not the ones HubSpot signed.
fn public_uri(base: &str, request: &actix_web::HttpRequest) -> String {
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    format!("{base}{path_and_query}")
}

fn header<'a>(request: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}
