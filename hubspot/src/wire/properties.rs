//! Property definitions and groups (docs/hubspot.md F).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A property definition as HubSpot returns it (SPEC `Property`; required: `name`,
/// `label`, `type`, `fieldType`, `groupName`, `description`, `options`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Property {
    /// Internal name.
    pub name: String,
    /// Display label.
    pub label: String,
    /// `bool`, `date`, `datetime`, `enumeration`, `number`, `phone_number`, `string`.
    #[serde(rename = "type")]
    pub type_: String,
    /// UI field type, e.g. `text`, `select`, `number`, `booleancheckbox`, `date`.
    pub field_type: String,
    /// Its group.
    pub group_name: String,
    /// Description (may be empty).
    pub description: String,
    /// Options of an enumeration (empty otherwise).
    pub options: Vec<PropertyOption>,
    /// Display order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
    /// Whether values are unique (usable as `idProperty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_unique_value: Option<bool>,
    /// Hidden in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Usable in forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_field: Option<bool>,
    /// Calculated by HubSpot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculated: Option<bool>,
    /// Options come from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_options: Option<bool>,
    /// Defined by HubSpot rather than a user or app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot_defined: Option<bool>,
    /// Which operations are read-only: `readOnlyValue` means writes are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_metadata: Option<PropertyModificationMetadata>,
    /// Created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_user_id: Option<String>,
    /// Last editor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_user_id: Option<String>,
    /// Archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// When archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
    /// `non_sensitive`, `sensitive`, `highly_sensitive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sensitivity: Option<String>,
    /// Categories of sensitive data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive_data_categories: Option<Vec<String>>,
    /// Formula of a calculated property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation_formula: Option<String>,
    /// Currency property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_property_name: Option<String>,
    /// How a date is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_display_hint: Option<String>,
    /// How a number is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_display_hint: Option<String>,
    /// How a text is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_display_hint: Option<String>,
    /// Object type a reference points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_object_type: Option<String>,
    /// Show the currency symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_currency_symbol: Option<bool>,
}

/// An enumeration option (SPEC `Option` / `OptionInput`; `label`, `value`, `hidden`
/// required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyOption {
    /// Display label.
    pub label: String,
    /// Internal value, what property values hold.
    pub value: String,
    /// Hidden in the UI.
    pub hidden: bool,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Display order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
}

/// Read-only flags (SPEC `PropertyModificationMetadata`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyModificationMetadata {
    /// Can be archived.
    pub archivable: bool,
    /// Definition cannot change.
    pub read_only_definition: bool,
    /// Values cannot be written through the API.
    pub read_only_value: bool,
    /// Options cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_options: Option<bool>,
}

/// `POST /crm/properties/2026-09/{objectType}` (SPEC `PropertyCreate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyCreate {
    /// Internal name.
    pub name: String,
    /// Display label.
    pub label: String,
    /// Data type.
    #[serde(rename = "type")]
    pub type_: String,
    /// UI field type.
    pub field_type: String,
    /// Its group (must exist).
    pub group_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Options of an enumeration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<PropertyOption>>,
    /// Display order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
    /// Unique values (cannot change later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_unique_value: Option<bool>,
    /// Hidden in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Usable in forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_field: Option<bool>,
    /// Formula.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation_formula: Option<String>,
    /// Sensitivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sensitivity: Option<String>,
    /// Options come from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_options: Option<bool>,
    /// Referenced object type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_object_type: Option<String>,
    /// Number display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_display_hint: Option<String>,
    /// Text display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_display_hint: Option<String>,
    /// Show the currency symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_currency_symbol: Option<bool>,
    /// Currency property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_property_name: Option<String>,
}

/// A property group (SPEC `PropertyGroup`; all four fields required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyGroup {
    /// Internal name.
    pub name: String,
    /// Display label.
    pub label: String,
    /// Display order (-1 = after the others).
    pub display_order: i32,
    /// Archived.
    pub archived: bool,
}

/// `POST /crm/properties/2026-09/{objectType}/groups` (SPEC `PropertyGroupCreate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyGroupCreate {
    /// Internal name.
    pub name: String,
    /// Display label.
    pub label: String,
    /// Display order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i32>,
}

/// `{"results": [...]}` without paging (SPEC `CollectionResponse...NoPaging`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionNoPaging<T> {
    /// All items.
    pub results: Vec<T>,
}
