//! The contact property definitions every portal starts with: HubSpot's defaults that matter
//! for scoring (read-only ones flagged as HubSpot flags them), plus the custom engagement
//! properties the generator writes (README: "Engagement as properties").

use ember_hubspot::wire::properties::{
    Property, PropertyGroup, PropertyModificationMetadata, PropertyOption,
};

/// Data types HubSpot validates values against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    String,
    Number,
    Bool,
    Date,
    DateTime,
    Enumeration,
}

impl ValueType {
    pub(crate) fn parse(type_: &str) -> Option<Self> {
        Some(match type_ {
            "string" | "phone_number" => Self::String,
            "number" => Self::Number,
            "bool" => Self::Bool,
            "date" => Self::Date,
            "datetime" => Self::DateTime,
            "enumeration" => Self::Enumeration,
            _ => return None,
        })
    }
}

/// The number-of-employees options of HubSpot's contact property.
pub(crate) const NUMEMPLOYEES: &[&str] = &[
    "1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+",
];
/// Lifecycle stages, in their forward order.
pub(crate) const LIFECYCLE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];
const LEAD_STATUS: &[&str] = &[
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
];
/// Owner ids: an enumeration whose values are numbers (a workflow-body quirk).
pub(crate) const OWNERS: &[&str] = &["76023669", "81234567", "90123456"];

pub(crate) const GROUPS: &[(&str, &str)] = &[
    ("contactinformation", "Contact information"),
    ("analyticsinformation", "Web analytics history"),
    ("emailinformation", "Email information"),
    ("conversioninformation", "Conversion information"),
    ("engagement_tracking", "Engagement tracking"),
];

// (name, label, type, fieldType, group, read-only value, unique, options)
type Def = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    &'static [&'static str],
);

const DEFS: &[Def] = &[
    (
        "email",
        "Email",
        "string",
        "text",
        "contactinformation",
        false,
        true,
        &[],
    ),
    (
        "firstname",
        "First Name",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "lastname",
        "Last Name",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "jobtitle",
        "Job Title",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "company",
        "Company Name",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "industry",
        "Industry",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "numemployees",
        "Number of Employees",
        "enumeration",
        "select",
        "contactinformation",
        false,
        false,
        NUMEMPLOYEES,
    ),
    (
        "annualrevenue",
        "Annual Revenue",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "country",
        "Country/Region",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "city",
        "City",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "phone",
        "Phone Number",
        "string",
        "phonenumber",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "website",
        "Website URL",
        "string",
        "text",
        "contactinformation",
        false,
        false,
        &[],
    ),
    (
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
        false,
        false,
        LIFECYCLE,
    ),
    (
        "hs_lead_status",
        "Lead Status",
        "enumeration",
        "radio",
        "contactinformation",
        false,
        false,
        LEAD_STATUS,
    ),
    (
        "hubspot_owner_id",
        "Contact owner",
        "enumeration",
        "select",
        "contactinformation",
        false,
        false,
        OWNERS,
    ),
    (
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "contactinformation",
        true,
        false,
        &[],
    ),
    (
        "lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "contactinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "contactinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_merged_object_ids",
        "Merged Contact IDs",
        "enumeration",
        "checkbox",
        "contactinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_email_domain",
        "Email Domain",
        "string",
        "text",
        "contactinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_analytics_num_page_views",
        "Number of Pageviews",
        "number",
        "number",
        "analyticsinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_analytics_last_url",
        "Last Page Seen",
        "string",
        "text",
        "analyticsinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_analytics_last_timestamp",
        "Time Last Seen",
        "datetime",
        "date",
        "analyticsinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_email_open",
        "Marketing emails opened",
        "number",
        "number",
        "emailinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_email_click",
        "Marketing emails clicked",
        "number",
        "number",
        "emailinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_email_last_open_date",
        "Last marketing email open date",
        "datetime",
        "date",
        "emailinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_email_last_click_date",
        "Last marketing email click date",
        "datetime",
        "date",
        "emailinformation",
        true,
        false,
        &[],
    ),
    (
        "hs_email_optout",
        "Unsubscribed from all email",
        "bool",
        "booleancheckbox",
        "emailinformation",
        true,
        false,
        &["true", "false"],
    ),
    (
        "recent_conversion_event_name",
        "Recent Conversion",
        "string",
        "text",
        "conversioninformation",
        true,
        false,
        &[],
    ),
    (
        "recent_conversion_date",
        "Recent Conversion Date",
        "datetime",
        "date",
        "conversioninformation",
        true,
        false,
        &[],
    ),
    (
        "num_conversion_events",
        "Number of Form Submissions",
        "number",
        "number",
        "conversioninformation",
        true,
        false,
        &[],
    ),
    (
        "ember_last_page_view",
        "Last page view (URL)",
        "string",
        "text",
        "engagement_tracking",
        false,
        false,
        &[],
    ),
    (
        "ember_last_page_view_date",
        "Last page view date",
        "datetime",
        "date",
        "engagement_tracking",
        false,
        false,
        &[],
    ),
    (
        "ember_last_webinar",
        "Last webinar attended",
        "string",
        "text",
        "engagement_tracking",
        false,
        false,
        &[],
    ),
    (
        "ember_last_webinar_date",
        "Last webinar attended date",
        "datetime",
        "date",
        "engagement_tracking",
        false,
        false,
        &[],
    ),
];

/// The property definitions a new portal starts with.
pub(crate) fn default_properties(created: chrono::DateTime<chrono::Utc>) -> Vec<Property> {
    DEFS.iter()
        .enumerate()
        .map(
            |(i, (name, label, type_, field_type, group, read_only, unique, options))| {
                let hubspot_defined = !name.starts_with("ember_");
                Property {
                    name: (*name).into(),
                    label: (*label).into(),
                    type_: (*type_).into(),
                    field_type: (*field_type).into(),
                    group_name: (*group).into(),
                    description: String::new(),
                    options: options
                        .iter()
                        .enumerate()
                        .map(|(j, v)| PropertyOption {
                            label: (*v).into(),
                            value: (*v).into(),
                            hidden: false,
                            description: None,
                            display_order: Some(j as i32),
                        })
                        .collect(),
                    display_order: Some(i as i32),
                    has_unique_value: Some(*unique),
                    hidden: Some(false),
                    form_field: Some(!read_only),
                    calculated: Some(*read_only),
                    external_options: Some(false),
                    hubspot_defined: Some(hubspot_defined),
                    modification_metadata: Some(PropertyModificationMetadata {
                        archivable: !hubspot_defined,
                        read_only_definition: hubspot_defined,
                        read_only_value: *read_only,
                        read_only_options: Some(*read_only),
                    }),
                    created_at: Some(created),
                    updated_at: Some(created),
                    created_user_id: None,
                    updated_user_id: None,
                    archived: Some(false),
                    archived_at: None,
                    data_sensitivity: Some("non_sensitive".into()),
                    sensitive_data_categories: None,
                    calculation_formula: None,
                    currency_property_name: None,
                    date_display_hint: None,
                    number_display_hint: None,
                    text_display_hint: None,
                    referenced_object_type: None,
                    show_currency_symbol: None,
                }
            },
        )
        .collect()
}

/// The property groups a new portal starts with.
pub(crate) fn default_groups() -> Vec<PropertyGroup> {
    GROUPS
        .iter()
        .enumerate()
        .map(|(i, (name, label))| PropertyGroup {
            name: (*name).into(),
            label: (*label).into(),
            display_order: i as i32,
            archived: false,
        })
        .collect()
}
