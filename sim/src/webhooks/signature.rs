//! HubSpot's request signatures, computed the way HubSpot computes them (docs/hubspot.md B, J):
//! v1 = hex SHA-256 of `secret + body`; v2 = hex SHA-256 of `secret + method + uri + body`;
//! v3 = base64 HMAC-SHA256 (key: the client secret) of `method + uri + body + timestamp`,
//! where `uri` has the listed percent-escapes decoded first. The simulator's own code, so
//! Ember's validator is checked against an independent implementation.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// v1: lowercase hex SHA-256 over `client_secret + body`.
pub fn v1(client_secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(client_secret.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// v2: lowercase hex SHA-256 over `client_secret + method + uri + body` (no URI decoding).
pub fn v2(client_secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(client_secret.as_bytes());
    h.update(method.as_bytes());
    h.update(uri.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// v3: base64 HMAC-SHA256 over `method + decoded uri + body + timestamp`.
pub fn v3(client_secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(decode_v3_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Decodes exactly the escapes HubSpot lists for v3, single pass, uppercase only
/// (docs/hubspot.md B: `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`).
pub fn decode_v3_uri(uri: &str) -> String {
    const MAP: &[(&str, char)] = &[
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match MAP.iter().find(|(esc, _)| tail.starts_with(esc)) {
            Some((esc, ch)) => {
                out.push(*ch);
                rest = &tail[esc.len()..];
            }
            None => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_v3_example_matches() {
        let body = r#"[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,"appId":16111050,"occurredAt":1752613920733,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":138017612137,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:76023669"}]"#;
        let sig = v3(
            "cfc68c0b-4b4e-4ef8-b764-95350e4ea479",
            "POST",
            "https://webhook.site/335453f5-94b3-49d9-b684-a55354d4b8df",
            body.as_bytes(),
            "1752613922216",
        );
        assert_eq!(sig, "gbj1XPRvUt0noT7i7fXfTzOD4sLzQmf0VT28ZYq0EYg=");
    }

    #[test]
    fn only_listed_uppercase_escapes_are_decoded() {
        assert_eq!(
            decode_v3_uri("https://x.io/a%3Ab%20c%3a%2525"),
            "https://x.io/a:b%20c%3a%2525"
        );
    }
}
