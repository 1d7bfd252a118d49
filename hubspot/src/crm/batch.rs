//! Batch read and batch update. Every update input carries an `objectWriteTraceId` (its own id),
//! HubSpot's documented opt-in for per-row errors: then a bad row fails alone in a 207 instead
//! of failing the whole request (docs/hubspot.md E.3). Results are matched by id or trace id, never by
//! position (HubSpot reorders them).

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use secrecy::SecretString;

use super::{CONTACTS, MAX_BATCH_INPUTS};
use crate::client::HubSpot;
use crate::error::Error;
use crate::telemetry::Reply;
use crate::wire::crm::{
    BatchReadInput, BatchResponseSimplePublicObject, BatchUpdateInput, BatchUpdateRow,
    PropertyInputs, PublicObjectId, SimplePublicObject,
};
use crate::wire::error::StandardError;

/// The records of a batch read, and the rows HubSpot could not return (unknown or merged ids).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRead {
    /// Found records.
    pub records: Vec<SimplePublicObject>,
    /// Ids HubSpot reported as not found (`OBJECT_NOT_FOUND`, `context.ids`).
    pub not_found: Vec<String>,
    /// Other row errors.
    pub errors: Vec<StandardError>,
}

/// One contact to update: absolute values; `""` clears a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRow {
    /// HubSpot record id.
    pub id: String,
    /// Property name → value.
    pub properties: PropertyInputs,
}

/// What happened to one row of a batch update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    /// Written.
    Updated,
    /// HubSpot refused this row.
    Failed {
        /// e.g. `OBJECT_NOT_FOUND`, `VALIDATION_ERROR`.
        category: String,
        /// HubSpot's message.
        message: String,
    },
    /// Neither a result nor an error named this row (treat as transient).
    Unknown,
}

/// One row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    /// The input id.
    pub id: String,
    /// Its result.
    pub result: RowResult,
}

/// Per-row outcomes of a batch update, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUpdate {
    /// One per input.
    pub rows: Vec<RowOutcome>,
}

impl BatchUpdate {
    /// Whether every row was written.
    pub fn all_updated(&self) -> bool {
        self.rows.iter().all(|r| r.result == RowResult::Updated)
    }
}

fn check_size(n: usize) -> Result<(), Error> {
    if n == 0 || n > MAX_BATCH_INPUTS {
        return Err(Error::Invalid(format!(
            "a batch takes 1 to {MAX_BATCH_INPUTS} inputs, got {n}"
        )));
    }
    Ok(())
}

/// Ids named by an error row (`context.ids` and `context.objectWriteTraceId`).
fn named_ids(e: &StandardError) -> impl Iterator<Item = &String> {
    ["ids", "objectWriteTraceId"]
        .into_iter()
        .filter_map(|k| e.context.get(k))
        .flatten()
}

impl HubSpot {
    /// `POST /crm/objects/2026-09/contacts/batch/read`: up to 100 ids with the given properties.
    pub async fn batch_read_contacts(
        &self,
        portal: i64,
        token: &SecretString,
        ids: &[String],
        properties: &[String],
    ) -> Result<Reply<BatchRead>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::CONTACTS_BATCH_READ;
        check_size(ids.len())?;
        let body = BatchReadInput {
            inputs: ids
                .iter()
                .map(|id| PublicObjectId { id: id.clone() })
                .collect(),
            properties: properties.to_vec(),
            properties_with_history: Vec::new(),
            id_property: None,
        };
        let mut url = self.api_url(&format!("{CONTACTS}/batch/read"));
        url.query_pairs_mut().append_pair("archived", "false");
        let request = self.request(Method::POST, url).json(&body);
        let reply: Reply<BatchResponseSimplePublicObject> =
            self.send_json(ENDPOINT, portal, token, request).await?;
        Ok(reply.map(|r| {
            let mut not_found = Vec::new();
            let mut errors = Vec::new();
            for e in r.errors.unwrap_or_default() {
                if e.category == "OBJECT_NOT_FOUND" {
                    not_found.extend(named_ids(&e).cloned());
                } else {
                    errors.push(e);
                }
            }
            BatchRead {
                records: r.results,
                not_found,
                errors,
            }
        }))
    }

    /// `POST /crm/objects/2026-09/contacts/batch/update`: up to 100 rows, each with its outcome. A
    /// whole-request refusal (400, 401, 429...) is an `Err`.
    pub async fn batch_update_contacts(
        &self,
        portal: i64,
        token: &SecretString,
        rows: &[UpdateRow],
    ) -> Result<Reply<BatchUpdate>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::CONTACTS_BATCH_UPDATE;
        check_size(rows.len())?;
        let body = BatchUpdateInput {
            inputs: rows
                .iter()
                .map(|r| BatchUpdateRow {
                    id: r.id.clone(),
                    properties: r.properties.clone(),
                    id_property: None,
                    object_write_trace_id: Some(r.id.clone()),
                })
                .collect(),
        };
        let request = self
            .request(
                Method::POST,
                self.api_url(&format!("{CONTACTS}/batch/update")),
            )
            .json(&body);
        let reply: Reply<BatchResponseSimplePublicObject> =
            self.send_json(ENDPOINT, portal, token, request).await?;
        Ok(reply.map(|r| {
            let mut outcome: HashMap<String, RowResult> = HashMap::new();
            for record in &r.results {
                let key = record
                    .object_write_trace_id
                    .clone()
                    .unwrap_or_else(|| record.id.clone());
                outcome.insert(key, RowResult::Updated);
            }
            for e in r.errors.iter().flatten() {
                for id in named_ids(e) {
                    outcome.insert(
                        id.clone(),
                        RowResult::Failed {
                            category: e.category.clone(),
                            message: crate::error::shorten(&e.message),
                        },
                    );
                }
            }
            let rows = rows
                .iter()
                .map(|row| RowOutcome {
                    id: row.id.clone(),
                    result: outcome.remove(&row.id).unwrap_or(RowResult::Unknown),
                })
                .collect();
            BatchUpdate { rows }
        }))
    }
}

/// Properties as a map (helper for callers building rows).
pub fn properties<I, K, V>(pairs: I) -> PropertyInputs
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect::<BTreeMap<_, _>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_over_100_are_refused_before_sending() {
        assert!(check_size(101).is_err());
        assert!(check_size(0).is_err());
        assert!(check_size(100).is_ok());
    }
}
