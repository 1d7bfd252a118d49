//! CRM contacts on the dated objects API (docs/hubspot.md E): batch read and batch update of up to 100 records, with the
//! per-row outcomes of a 207 multi-status answer, and single reads.

mod batch;

pub use batch::{
    BatchRead, BatchUpdate, RowOutcome, RowResult, UpdateRow, properties as property_inputs,
};

use reqwest::Method;
use secrecy::SecretString;

use crate::client::HubSpot;
use crate::error::Error;
use crate::telemetry::Reply;
use crate::wire::crm::SimplePublicObject;

/// Most inputs of one batch call (docs/hubspot.md E.3).
pub const MAX_BATCH_INPUTS: usize = 100;

/// The contacts object path.
pub(crate) const CONTACTS: &str = crate::version::CONTACTS;

impl HubSpot {
    /// `GET /crm/objects/2026-09/contacts/{id}?properties=...`; `None` when HubSpot has no such
    /// contact (404). Merged ids resolve to the merged record (docs/hubspot.md E.4).
    pub async fn get_contact(
        &self,
        portal: i64,
        token: &SecretString,
        id: &str,
        properties: &[String],
    ) -> Result<Reply<Option<SimplePublicObject>>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::GET_CONTACT;
        let mut url = self.api_url(CONTACTS);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(id);
        }
        if !properties.is_empty() {
            url.query_pairs_mut()
                .append_pair("properties", &properties.join(","));
        }
        let (status, rate_limit, body) = self
            .send(
                ENDPOINT,
                portal,
                token,
                self.request(Method::GET, url),
                &[404],
            )
            .await?;
        let value = if status == 404 {
            None
        } else {
            Some(body.decode(ENDPOINT)?)
        };
        Ok(Reply { value, rate_limit })
    }
}
