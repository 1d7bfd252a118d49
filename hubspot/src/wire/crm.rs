//! CRM object bodies for contacts: records, batch inputs and outputs, search, merge
//! (docs/hubspot.md E; the shapes are the same on the v3 and the dated paths).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::StandardError;

/// Property values of a record, by internal name. HubSpot sends every value as a string
/// (`"true"`, `"12877907025"`). The spec types them as plain strings and HubSpot documents
/// that a property without a value is left out, but some clients report `null` for a
/// requested empty property (docs/hubspot.md K.12), so a `null` parses as `None`.
pub type PropertyValues = BTreeMap<String, Option<String>>;

/// Property values in a write: a string per property; `""` clears a value (docs/hubspot.md E.2).
pub type PropertyInputs = BTreeMap<String, String>;

/// A CRM record (SPEC `SimplePublicObject`, `SimplePublicObjectWithAssociations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimplePublicObject {
    /// The record id, a **string** of digits.
    pub id: String,
    /// Property values.
    pub properties: PropertyValues,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When the record was last modified.
    pub updated_at: DateTime<Utc>,
    /// Whether the record is archived (deleted).
    pub archived: bool,
    /// When it was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
    /// History of the properties asked for in `propertiesWithHistory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties_with_history: Option<BTreeMap<String, Vec<ValueWithTimestamp>>>,
    /// Echo of the input's trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
    /// Link to the record in HubSpot's UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<PublicObjectWarning>>,
    /// Associations (single GET only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associations: Option<BTreeMap<String, CollectionResponseAssociatedId>>,
}

/// An upserted record (SPEC `SimplePublicUpsertObject`): a record plus `new`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimplePublicUpsertObject {
    /// The record id.
    pub id: String,
    /// Whether the upsert created the record.
    pub new: bool,
    /// Property values.
    pub properties: PropertyValues,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When the record was last modified.
    pub updated_at: DateTime<Utc>,
    /// Whether the record is archived.
    pub archived: bool,
    /// When it was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
    /// History, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties_with_history: Option<BTreeMap<String, Vec<ValueWithTimestamp>>>,
    /// Echo of the input's trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
    /// Link to the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<PublicObjectWarning>>,
}

/// One historic value (SPEC `ValueWithTimestamp`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValueWithTimestamp {
    /// The value.
    pub value: String,
    /// When it was set.
    pub timestamp: DateTime<Utc>,
    /// e.g. `CRM_UI`, `INTEGRATION`, `API`.
    pub source_type: String,
    /// e.g. `userId:1` or an app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Label of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_label: Option<String>,
    /// The user who changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by_user_id: Option<u64>,
}

/// A warning on a record (SPEC `PublicObjectWarning`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicObjectWarning {
    /// Category.
    pub category: String,
    /// Message.
    pub message: String,
    /// Context.
    pub context: BTreeMap<String, String>,
}

/// Associations of one type (SPEC `CollectionResponseAssociatedId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionResponseAssociatedId {
    /// Associated ids.
    pub results: Vec<AssociatedId>,
    /// Paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// One associated record (SPEC `AssociatedId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssociatedId {
    /// Its id.
    pub id: String,
    /// Association type, e.g. `contact_to_company`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `{"properties": {...}}`: the body of a single PATCH (SPEC `SimplePublicObjectInput`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimplePublicObjectInput {
    /// Values to write.
    pub properties: PropertyInputs,
}

/// The body of a single create (SPEC `SimplePublicObjectInputForCreate`). `associations`
/// is required by the spec; HubSpot accepts it absent, so it defaults to empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimplePublicObjectInputForCreate {
    /// Values to write.
    pub properties: PropertyInputs,
    /// Associations to create.
    #[serde(default)]
    pub associations: Vec<PublicAssociationsForObject>,
}

/// An association to create with a record (SPEC `PublicAssociationsForObject`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicAssociationsForObject {
    /// The other record.
    pub to: PublicObjectId,
    /// Association types.
    pub types: Vec<AssociationSpec>,
}

/// An association type (SPEC `AssociationSpec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssociationSpec {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED`, `INTEGRATOR_DEFINED` or `WORK`.
    pub association_category: String,
    /// e.g. 279.
    pub association_type_id: i32,
}

/// `{"id": "..."}` (SPEC `PublicObjectId`, `SimplePublicObjectId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicObjectId {
    /// The id (or the `idProperty` value).
    pub id: String,
}

/// `POST .../batch/read` (SPEC `BatchReadInputSimplePublicObjectId`). The spec requires
/// `properties` and `propertiesWithHistory`; HubSpot accepts them absent, so they default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchReadInput {
    /// Ids (or `idProperty` values) to read, at most 100.
    pub inputs: Vec<PublicObjectId>,
    /// Properties to return.
    #[serde(default)]
    pub properties: Vec<String>,
    /// Properties to return with history.
    #[serde(default)]
    pub properties_with_history: Vec<String>,
    /// A unique-valued property (e.g. `email`) the ids refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
}

/// `POST .../batch/update` (SPEC `BatchInputSimplePublicObjectBatchInput`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchUpdateInput {
    /// At most 100 rows.
    pub inputs: Vec<BatchUpdateRow>,
}

/// One row of a batch update or upsert (SPEC `SimplePublicObjectBatchInput`,
/// `SimplePublicObjectBatchInputUpsert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchUpdateRow {
    /// Record id, or the `idProperty` value.
    pub id: String,
    /// Values to write.
    pub properties: PropertyInputs,
    /// A unique-valued property the id refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
    /// Unique per row: opts in to a 207 for rows that fail validation (docs/hubspot.md E.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

/// `POST .../batch/upsert` (SPEC `BatchInputSimplePublicObjectBatchInputUpsert`).
pub type BatchUpsertInput = BatchUpdateInput;

/// `POST .../batch/create` (SPEC `BatchInputSimplePublicObjectBatchInputForCreate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchCreateInput {
    /// At most 100 rows.
    pub inputs: Vec<BatchCreateRow>,
}

/// One row of a batch create (SPEC `SimplePublicObjectBatchInputForCreate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchCreateRow {
    /// Values to write.
    pub properties: PropertyInputs,
    /// Associations (required by the spec, accepted absent).
    #[serde(default)]
    pub associations: Vec<PublicAssociationsForObject>,
    /// Opts in to a 207 for rows that fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

/// `POST .../batch/archive` (SPEC `BatchInputSimplePublicObjectId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchArchiveInput {
    /// Ids to archive.
    pub inputs: Vec<PublicObjectId>,
}

/// Status of a batch (SPEC enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BatchStatus {
    /// Not started.
    Pending,
    /// Running.
    Processing,
    /// Canceled.
    Canceled,
    /// Done (what synchronous batch calls return).
    Complete,
}

/// A batch answer, 200/201 or 207 (SPEC `BatchResponseSimplePublicObject` and its
/// `...WithErrors` variant; `numErrors`/`errors` only on 207).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchResponse<T> {
    /// `COMPLETE` for synchronous calls.
    pub status: BatchStatus,
    /// Rows that succeeded, **in no guaranteed order** (docs/hubspot.md E.3): match by id.
    pub results: Vec<T>,
    /// When processing started.
    pub started_at: DateTime<Utc>,
    /// When processing completed.
    pub completed_at: DateTime<Utc>,
    /// When it was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<DateTime<Utc>>,
    /// Links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<BTreeMap<String, String>>,
    /// Number of failed rows (207 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_errors: Option<u32>,
    /// The failed rows (207 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<StandardError>>,
}

/// Batch answer of read, update and create.
pub type BatchResponseSimplePublicObject = BatchResponse<SimplePublicObject>;
/// Batch answer of upsert.
pub type BatchResponseSimplePublicUpsertObject = BatchResponse<SimplePublicUpsertObject>;

/// `POST /crm/objects/2026-09/contacts/merge` (SPEC `PublicMergeInput`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublicMergeInput {
    /// The record that wins.
    pub primary_object_id: String,
    /// The record merged into it.
    pub object_id_to_merge: String,
}

/// `POST .../search` (SPEC `PublicObjectSearchRequest`). The spec marks every field but
/// `query` required; HubSpot's own examples omit several, so they default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchRequest {
    /// OR of AND groups.
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    /// One sort at most. The spec types these as strings, the docs as objects: both parse.
    #[serde(default)]
    pub sorts: Vec<SearchSort>,
    /// Free-text query over default searchable properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Properties to return.
    #[serde(default)]
    pub properties: Vec<String>,
    /// Page size, default 10, at most 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Paging cursor from `paging.next.after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A sort: a bare property name (spec) or `{"propertyName","direction"}` (docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SearchSort {
    /// `"createdate"` (ascending).
    Name(String),
    /// `{"propertyName":"createdate","direction":"DESCENDING"}`.
    Object {
        /// The property.
        #[serde(rename = "propertyName")]
        property_name: String,
        /// `ASCENDING` or `DESCENDING`.
        #[serde(default)]
        direction: Option<String>,
    },
}

/// An AND group of filters (SPEC `FilterGroup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterGroup {
    /// The filters.
    pub filters: Vec<Filter>,
}

/// One filter (SPEC `Filter`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Filter {
    /// The property.
    pub property_name: String,
    /// `EQ`, `NEQ`, `LT`, `LTE`, `GT`, `GTE`, `BETWEEN`, `IN`, `NOT_IN`, `HAS_PROPERTY`,
    /// `NOT_HAS_PROPERTY`, `CONTAINS_TOKEN`, `NOT_CONTAINS_TOKEN`.
    pub operator: String,
    /// Operand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Upper bound of `BETWEEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_value: Option<String>,
    /// Operands of `IN`/`NOT_IN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// A search answer (SPEC `CollectionResponseWithTotalSimplePublicObject`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchResponse {
    /// Total matches.
    pub total: u32,
    /// This page.
    pub results: Vec<SimplePublicObject>,
    /// Next page, absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// A page of records (SPEC `CollectionResponseSimplePublicObjectWithAssociationsForwardPaging`):
/// `GET /crm/objects/2026-09/contacts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionResponse {
    /// This page.
    pub results: Vec<SimplePublicObject>,
    /// Next page, absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// Paging (SPEC `Paging`, `ForwardPaging`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// The next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextPage>,
    /// The previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<PreviousPage>,
}

/// Cursor to the next page (SPEC `NextPage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextPage {
    /// Pass back as `after`.
    pub after: String,
    /// Link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Cursor to the previous page (SPEC `PreviousPage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousPage {
    /// Pass back as `before`.
    pub before: String,
    /// Link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}
