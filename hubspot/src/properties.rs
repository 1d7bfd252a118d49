//! Properties API (docs/hubspot.md F): list and create property groups and properties, and
//! [`HubSpot::ensure_properties`], which provisions a group and its properties idempotently:
//! existing ones with the same type are fine, a different type is reported as a conflict.

use reqwest::Method;
use secrecy::SecretString;

use crate::client::HubSpot;
use crate::error::Error;
use crate::telemetry::Reply;
use crate::wire::properties::{
    CollectionNoPaging, Property, PropertyCreate, PropertyGroup, PropertyGroupCreate,
};

/// Whether a create made something new or found it there already (409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Created now.
    New,
    /// Already existed (HubSpot answered 409).
    AlreadyExists,
}

impl Created {
    /// A create call's outcome from its status (409: the name was taken already).
    fn from_status(status: u16) -> Self {
        if status == 409 {
            Created::AlreadyExists
        } else {
            Created::New
        }
    }
}

/// An existing property whose definition differs from the one wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyConflict {
    /// Property name.
    pub name: String,
    /// Wanted `type/fieldType`.
    pub wanted: String,
    /// Found `type/fieldType`.
    pub found: String,
}

/// What [`HubSpot::ensure_properties`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// Whether the group was created now.
    pub group_created: bool,
    /// Properties created now.
    pub created: Vec<String>,
    /// Properties that already existed with the wanted type.
    pub existing: Vec<String>,
    /// Properties that exist with another type (left alone).
    pub conflicts: Vec<PropertyConflict>,
}

fn object_path(object_type: &str, rest: &str) -> String {
    format!("{}/{object_type}{rest}", crate::version::PROPERTIES)
}

impl HubSpot {
    /// `GET /crm/properties/2026-09/{objectType}` (no paging).
    pub async fn list_properties(
        &self,
        portal: i64,
        token: &SecretString,
        object_type: &str,
    ) -> Result<Reply<Vec<Property>>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::LIST_PROPERTIES;
        let request = self.request(Method::GET, self.api_url(&object_path(object_type, "")));
        let reply: Reply<CollectionNoPaging<Property>> =
            self.send_json(ENDPOINT, portal, token, request).await?;
        Ok(reply.map(|c| c.results))
    }

    /// `GET /crm/properties/2026-09/{objectType}/groups`.
    pub async fn list_property_groups(
        &self,
        portal: i64,
        token: &SecretString,
        object_type: &str,
    ) -> Result<Reply<Vec<PropertyGroup>>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::LIST_PROPERTY_GROUPS;
        let request = self.request(
            Method::GET,
            self.api_url(&object_path(object_type, "/groups")),
        );
        let reply: Reply<CollectionNoPaging<PropertyGroup>> =
            self.send_json(ENDPOINT, portal, token, request).await?;
        Ok(reply.map(|c| c.results))
    }

    /// `POST /crm/properties/2026-09/{objectType}/groups`; 409 means it exists.
    pub async fn create_property_group(
        &self,
        portal: i64,
        token: &SecretString,
        object_type: &str,
        group: &PropertyGroupCreate,
    ) -> Result<Reply<Created>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::CREATE_PROPERTY_GROUP;
        let request = self
            .request(
                Method::POST,
                self.api_url(&object_path(object_type, "/groups")),
            )
            .json(group);
        let (status, rate_limit, _) = self.send(ENDPOINT, portal, token, request, &[409]).await?;
        Ok(Reply {
            value: Created::from_status(status),
            rate_limit,
        })
    }

    /// `POST /crm/properties/2026-09/{objectType}`; 409 means a property of that name exists.
    pub async fn create_property(
        &self,
        portal: i64,
        token: &SecretString,
        object_type: &str,
        property: &PropertyCreate,
    ) -> Result<Reply<Created>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::CREATE_PROPERTY;
        let request = self
            .request(Method::POST, self.api_url(&object_path(object_type, "")))
            .json(property);
        let (status, rate_limit, _) = self.send(ENDPOINT, portal, token, request, &[409]).await?;
        Ok(Reply {
            value: Created::from_status(status),
            rate_limit,
        })
    }

    /// Makes sure `group` and `properties` exist on `object_type`. Idempotent: it lists what
    /// exists first, creates only what is missing, and reports type conflicts without touching
    /// them. Every property is put in `group`.
    pub async fn ensure_properties(
        &self,
        portal: i64,
        token: &SecretString,
        object_type: &str,
        group: &PropertyGroupCreate,
        properties: &[PropertyCreate],
    ) -> Result<ProvisionReport, Error> {
        let mut report = ProvisionReport::default();
        let groups = self
            .list_property_groups(portal, token, object_type)
            .await?
            .value;
        if !groups.iter().any(|g| g.name == group.name) {
            report.group_created = self
                .create_property_group(portal, token, object_type, group)
                .await?
                .value
                == Created::New;
        }
        let existing = self
            .list_properties(portal, token, object_type)
            .await?
            .value;
        for wanted in properties {
            let wanted_kind = format!("{}/{}", wanted.type_, wanted.field_type);
            match existing.iter().find(|p| p.name == wanted.name) {
                Some(found) if found.type_ == wanted.type_ => {
                    report.existing.push(wanted.name.clone())
                }
                Some(found) => report.conflicts.push(PropertyConflict {
                    name: wanted.name.clone(),
                    wanted: wanted_kind,
                    found: format!("{}/{}", found.type_, found.field_type),
                }),
                None => match self
                    .create_property(portal, token, object_type, wanted)
                    .await?
                    .value
                {
                    Created::New => report.created.push(wanted.name.clone()),
                    Created::AlreadyExists => report.existing.push(wanted.name.clone()),
                },
            }
        }
        Ok(report)
    }
}

impl HubSpot {
    /// `GET /account-info/2026-09/details`: the account a token belongs to (checks private-app
    /// tokens before they are stored).
    pub async fn account_details(
        &self,
        portal: i64,
        token: &SecretString,
    ) -> Result<Reply<crate::wire::account::PortalInformation>, Error> {
        const ENDPOINT: &str = crate::version::endpoint::ACCOUNT_DETAILS;
        let request = self.request(Method::GET, self.api_url(crate::version::ACCOUNT_DETAILS));
        self.send_json(ENDPOINT, portal, token, request).await
    }
}
