//! Query-string and body helpers shared by the HubSpot handlers.

use actix_web::HttpResponse;
use serde::de::DeserializeOwned;

use super::errors;

/// Parsed query parameters, keeping repeats (`properties=a&properties=b`).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(qs: &str) -> Self {
        Self(
            url::form_urlencoded::parse(qs.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A list parameter: repeated and/or comma-separated.
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Parses a JSON body strictly, answering HubSpot's 400 when it does not fit.
#[allow(clippy::result_large_err)] // an answer, built once per failed call
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpResponse> {
    serde_json::from_slice(bytes).map_err(|e| errors::bad_json(&e.to_string()))
}
