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
use crate::wire::crm::{CollectionResponse, SimplePublicObject};

/// Most inputs of one batch call (docs/hubspot.md E.3).
pub const MAX_BATCH_INPUTS: usize = 100;

/// Most records of one page of the contacts list (docs/hubspot.md E).
pub const MAX_LIST_LIMIT: u32 = 100;

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

    /// `GET /crm/objects/2026-09/contacts?limit=..&after=..&properties=..`: one page of the
    /// portal's unarchived contacts in id order; `after` is the previous page's
    /// `paging.next.after` (none for the first page). The answer's `paging` is absent on the
    /// last page.
    pub async fn list_contacts(
        &self,
        portal: i64,
        token: &SecretString,
        limit: u32,
        after: Option<&str>,
        properties: &[String],
    ) -> Result<Reply<CollectionResponse>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::LIST_CONTACTS;
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(Error::Invalid(format!(
                "a contacts page holds 1 to {MAX_LIST_LIMIT} records, not {limit}"
            )));
        }
        let mut url = self.api_url(CONTACTS);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &limit.to_string());
            if let Some(after) = after {
                query.append_pair("after", after);
            }
            if !properties.is_empty() {
                query.append_pair("properties", &properties.join(","));
            }
            query.append_pair("archived", "false");
        }
        let request = self.request(Method::GET, url);
        self.send_json(ENDPOINT, portal, token, request).await
    }
}
