//! Contact records and how writes change them (docs/hubspot.md E.2–E.4): values are strings, `""`
//! clears, emails are unique, and a merge creates a new id. Value checks: `validation`.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use ember_hubspot::wire::crm::{PropertyValues, SimplePublicObject, ValueWithTimestamp};

use super::Portal;
use crate::clock::ms_to_datetime;

/// Properties returned when a read names none (docs/hubspot.md E.1).
pub(crate) const DEFAULT_PROPERTIES: &[&str] = &[
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];

/// One contact.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub(crate) id: u64,
    pub(crate) props: BTreeMap<String, String>,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) archived: bool,
    pub(crate) archived_ms: Option<i64>,
}

/// Something that happened to a record, to become webhook events.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Created(u64),
    Property {
        id: u64,
        name: String,
        value: String,
    },
    Deleted(u64),
    Restored(u64),
    PrivacyDeleted(u64),
    Merged {
        primary: u64,
        merged: Vec<u64>,
        new_id: u64,
        moved: u64,
    },
    Association {
        from: u64,
        to: u64,
        kind: String,
        removed: bool,
        primary: bool,
    },
}

/// Who made a change: `changeSource` and `sourceId` of the events, and whether it was the
/// app itself (through the API).
#[derive(Debug, Clone)]
pub(crate) struct ChangeSource {
    pub(crate) source: &'static str,
    pub(crate) source_id: Option<String>,
    pub(crate) by_app: bool,
}

impl ChangeSource {
    pub(crate) fn api(app_id: u64) -> Self {
        Self {
            source: "INTEGRATION",
            source_id: Some(app_id.to_string()),
            by_app: true,
        }
    }
    pub(crate) fn ui(user_id: u64) -> Self {
        Self {
            source: "CRM_UI",
            source_id: Some(format!("userId:{user_id}")),
            by_app: false,
        }
    }
    pub(crate) fn internal(source: &'static str) -> Self {
        Self {
            source,
            source_id: None,
            by_app: false,
        }
    }
}

/// Why a write was refused.
#[derive(Debug, Clone)]
pub(crate) enum WriteError {
    /// The email is taken by another record.
    Conflict { existing: u64, email: String },
}

impl Portal {
    /// Creates a contact from validated values.
    pub(crate) fn create_contact(
        &mut self,
        id: u64,
        values: Vec<(String, String)>,
        now_ms: i64,
    ) -> Result<(u64, Vec<Change>), WriteError> {
        let email = values
            .iter()
            .find(|(k, _)| k == "email")
            .map(|(_, v)| v.to_ascii_lowercase());
        if let Some(email) = email.as_ref().filter(|e| !e.is_empty())
            && let Some(existing) = self.by_email.get(email)
        {
            return Err(WriteError::Conflict {
                existing: *existing,
                email: email.clone(),
            });
        }
        let mut c = Contact {
            id,
            props: BTreeMap::new(),
            created_ms: now_ms,
            updated_ms: now_ms,
            archived: false,
            archived_ms: None,
        };
        let stamp = ms_to_datetime(now_ms).to_rfc3339_opts(SecondsFormat::Millis, true);
        c.props.insert("hs_object_id".into(), id.to_string());
        c.props.insert("createdate".into(), stamp.clone());
        c.props.insert("lastmodifieddate".into(), stamp);
        let mut changes = vec![Change::Created(id)];
        for (k, v) in values {
            if v.is_empty() {
                continue;
            }
            changes.push(Change::Property {
                id,
                name: k.clone(),
                value: v.clone(),
            });
            c.props.insert(k, v);
        }
        if let Some(email) = email.filter(|e| !e.is_empty()) {
            let domain = email.rsplit('@').next().unwrap_or_default().to_string();
            c.props.insert("hs_email_domain".into(), domain);
            self.by_email.insert(email, id);
        }
        self.contacts.insert(id, c);
        self.index_write(id, None, now_ms);
        Ok((id, changes))
    }

    /// Writes validated values to an existing contact; unchanged values produce no event.
    pub(crate) fn update_contact(
        &mut self,
        id: u64,
        values: Vec<(String, String)>,
        now_ms: i64,
    ) -> Result<Vec<Change>, WriteError> {
        if let Some((_, new_email)) = values.iter().find(|(k, v)| k == "email" && !v.is_empty()) {
            let e = new_email.to_ascii_lowercase();
            if let Some(existing) = self.by_email.get(&e).filter(|x| **x != id) {
                return Err(WriteError::Conflict {
                    existing: *existing,
                    email: e,
                });
            }
        }
        let before = self.index_before(id);
        let Some(c) = self.contacts.get_mut(&id) else {
            return Ok(Vec::new());
        };
        let mut changes = Vec::new();
        let mut email_change = None;
        for (k, v) in values {
            let old = c.props.get(&k).map(String::as_str).unwrap_or("");
            if old == v {
                continue;
            }
            if k == "email" {
                email_change = Some((old.to_ascii_lowercase(), v.to_ascii_lowercase()));
            }
            if v.is_empty() {
                c.props.remove(&k);
            } else {
                c.props.insert(k.clone(), v.clone());
            }
            changes.push(Change::Property {
                id,
                name: k,
                value: v,
            });
        }
        if !changes.is_empty() {
            c.updated_ms = now_ms;
            c.props.insert(
                "lastmodifieddate".into(),
                ms_to_datetime(now_ms).to_rfc3339_opts(SecondsFormat::Millis, true),
            );
        }
        if let Some((old, new)) = email_change {
            self.by_email.remove(&old);
            if !new.is_empty() {
                let domain = new.rsplit('@').next().unwrap_or_default().to_string();
                if let Some(c) = self.contacts.get_mut(&id) {
                    c.props.insert("hs_email_domain".into(), domain);
                }
                self.by_email.insert(new, id);
            }
        }
        if !changes.is_empty() {
            self.index_write(id, before, now_ms);
        }
        Ok(changes)
    }

    /// Archives a contact (DELETE, batch archive).
    pub(crate) fn archive_contact(&mut self, id: u64, now_ms: i64) -> Vec<Change> {
        let before = self.index_before(id);
        let Some(c) = self.contacts.get_mut(&id).filter(|c| !c.archived) else {
            return Vec::new();
        };
        c.archived = true;
        c.archived_ms = Some(now_ms);
        if let Some(e) = c.props.get("email") {
            self.by_email.remove(&e.to_ascii_lowercase());
        }
        self.index_write(id, before, now_ms);
        vec![Change::Deleted(id)]
    }

    /// Permanently deletes a contact (GDPR): both `privacyDeletion` and `deletion` fire.
    pub(crate) fn privacy_delete(&mut self, id: u64, now_ms: i64) -> Vec<Change> {
        let before = self.index_before(id);
        let Some(c) = self.contacts.remove(&id) else {
            return Vec::new();
        };
        if let Some(e) = c.props.get("email") {
            self.by_email.remove(&e.to_ascii_lowercase());
        }
        self.index_write(id, before, now_ms);
        vec![Change::PrivacyDeleted(id), Change::Deleted(id)]
    }

    /// Restores an archived contact.
    pub(crate) fn restore_contact(&mut self, id: u64, now_ms: i64) -> Vec<Change> {
        let before = self.index_before(id);
        let Some(c) = self.contacts.get_mut(&id).filter(|c| c.archived) else {
            return Vec::new();
        };
        c.archived = false;
        c.archived_ms = None;
        c.updated_ms = now_ms;
        if let Some(e) = c.props.get("email") {
            self.by_email.insert(e.to_ascii_lowercase(), id);
        }
        self.index_write(id, before, now_ms);
        vec![Change::Restored(id)]
    }

    /// Merges `secondary` into `primary`: a **new** record with a new id takes the primary's
    /// values (the secondary's fill gaps), both old ids keep resolving to it, and
    /// `hs_merged_object_ids` lists the absorbed ids (docs/hubspot.md E.4).
    pub(crate) fn merge_contacts(
        &mut self,
        primary: u64,
        secondary: u64,
        new_id: u64,
        now_ms: i64,
    ) -> Option<Vec<Change>> {
        if primary == secondary {
            return None;
        }
        let seen = (self.index_before(primary), self.index_before(secondary));
        let p = self.contacts.remove(&primary)?;
        let Some(s) = self.contacts.remove(&secondary) else {
            self.contacts.insert(primary, p);
            return None;
        };
        let mut props = p.props.clone();
        let mut moved = 0u64;
        for (k, v) in &s.props {
            if !props.contains_key(k) {
                props.insert(k.clone(), v.clone());
                moved += 1;
            }
        }
        let mut merged_ids: Vec<String> = Vec::new();
        for old in [&p, &s] {
            if let Some(prev) = old.props.get("hs_merged_object_ids") {
                merged_ids.extend(prev.split(';').filter(|x| !x.is_empty()).map(String::from));
            }
            merged_ids.push(old.id.to_string());
        }
        props.insert("hs_merged_object_ids".into(), merged_ids.join(";"));
        props.insert("hs_object_id".into(), new_id.to_string());
        let stamp = ms_to_datetime(now_ms).to_rfc3339_opts(SecondsFormat::Millis, true);
        props.insert("lastmodifieddate".into(), stamp);
        for e in [p.props.get("email"), s.props.get("email")]
            .into_iter()
            .flatten()
        {
            self.by_email.remove(&e.to_ascii_lowercase());
        }
        if let Some(e) = props.get("email") {
            self.by_email.insert(e.to_ascii_lowercase(), new_id);
        }
        let created_ms = p.created_ms.min(s.created_ms);
        self.contacts.insert(
            new_id,
            Contact {
                id: new_id,
                props,
                created_ms,
                updated_ms: now_ms,
                archived: false,
                archived_ms: None,
            },
        );
        self.merged.insert(primary, new_id);
        self.merged.insert(secondary, new_id);
        self.index_write(primary, seen.0, now_ms);
        self.index_write(secondary, seen.1, now_ms);
        self.index_write(new_id, None, now_ms);
        Some(vec![Change::Merged {
            primary,
            merged: vec![secondary],
            new_id,
            moved,
        }])
    }
}

/// Properties every read returns, asked for or not (docs/hubspot.md E.1).
pub(crate) const ALWAYS_RETURNED: &[&str] = &["createdate", "hs_object_id", "lastmodifieddate"];

impl Portal {
    /// The wire record of `c` with the requested properties (the defaults when none), plus
    /// [`ALWAYS_RETURNED`]. A requested property the portal defines but the record has no value
    /// for is `null`; one it does not define is left out (docs/hubspot.md K.12).
    pub(crate) fn record(
        &self,
        c: &Contact,
        properties: &[String],
        with_history: &[String],
    ) -> SimplePublicObject {
        let mut out = PropertyValues::new();
        if properties.is_empty() {
            for name in DEFAULT_PROPERTIES {
                if let Some(v) = c.props.get(*name) {
                    out.insert((*name).to_string(), Some(v.clone()));
                }
            }
        } else {
            for name in properties {
                match c.props.get(name) {
                    Some(v) => {
                        out.insert(name.clone(), Some(v.clone()));
                    }
                    None if self.property(name).is_some() => {
                        out.insert(name.clone(), None);
                    }
                    None => {}
                }
            }
        }
        for name in ALWAYS_RETURNED {
            if let Some(v) = c.props.get(*name) {
                out.insert((*name).to_string(), Some(v.clone()));
            }
        }
        c.to_wire(out, with_history)
    }
}

impl Contact {
    /// The wire record with the given property values.
    fn to_wire(&self, out: PropertyValues, with_history: &[String]) -> SimplePublicObject {
        let history = (!with_history.is_empty()).then(|| {
            with_history
                .iter()
                .filter_map(|name| {
                    let v = self.props.get(name)?;
                    Some((
                        name.clone(),
                        vec![ValueWithTimestamp {
                            value: v.clone(),
                            timestamp: ms_to_datetime(self.updated_ms),
                            source_type: "API".into(),
                            source_id: None,
                            source_label: None,
                            updated_by_user_id: None,
                        }],
                    ))
                })
                .collect()
        });
        SimplePublicObject {
            id: self.id.to_string(),
            properties: out,
            created_at: ms_to_datetime(self.created_ms),
            updated_at: ms_to_datetime(self.updated_ms),
            archived: self.archived,
            archived_at: self.archived_ms.map(ms_to_datetime),
            properties_with_history: history,
            object_write_trace_id: None,
            url: None,
            warnings: None,
            associations: None,
        }
    }
}
